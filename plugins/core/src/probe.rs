//! Actions that exercise the host interface and the WASI sandbox, for host tests.

use std::io::Write;

use harmonia_sdk::prelude::*;

/// Input of `log`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    #[serde(default = "info")]
    level: Level,
    message: String,
    progress: Option<(u8, String)>,
    event: Option<EventInput>,
    /// Log the line (and emit the event) this many times (default 1): a flood on demand.
    #[serde(default = "once")]
    times: u32,
}

fn once() -> u32 {
    1
}

fn info() -> Level {
    Level::Info
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventInput {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: Value,
}

pub fn log(ctx: &Context, input: LogInput) -> Result<Value, TaskError> {
    for _ in 0..input.times {
        ctx.log(input.level, &input.message);
        if let Some(event) = &input.event {
            ctx.emit_event(&event.event_type, &event.data)?;
        }
    }
    if let Some((percent, message)) = input.progress {
        ctx.progress(percent, message);
    }
    Ok(json!({ "ok": true }))
}

/// Input of `kv_set`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvSetInput {
    key: String,
    value: Value,
    /// Then sleeps this long before returning (to see what a call that times out after a
    /// write leaves).
    #[serde(default)]
    then_sleep_ms: u64,
}

pub fn kv_set(ctx: &Context, input: KvSetInput) -> Result<Value, TaskError> {
    ctx.kv_set_json(&input.key, &input.value)?;
    std::thread::sleep(std::time::Duration::from_millis(input.then_sleep_ms));
    Ok(json!({ "ok": true }))
}

/// Input of `kv_get`, `kv_delete`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    key: String,
}

/// The stored JSON value; bytes that are not JSON (written by another version of the
/// plugin, say) come back as a string, lossily decoded.
pub fn kv_get(ctx: &Context, input: KeyInput) -> Result<Value, TaskError> {
    let value = match ctx.kv_get(&input.key) {
        None => Value::Null,
        Some(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    };
    Ok(json!({ "value": value }))
}

pub fn kv_delete(ctx: &Context, input: KeyInput) -> Result<Value, TaskError> {
    ctx.kv_delete(&input.key);
    Ok(json!({ "ok": true }))
}

/// Input of `secret` and `env`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameInput {
    name: String,
}

pub fn secret(ctx: &Context, input: NameInput) -> Result<Value, TaskError> {
    Ok(json!({ "value": ctx.secret(&input.name) }))
}

pub fn env(_: &Context, input: NameInput) -> Result<Value, TaskError> {
    let value = std::env::var_os(&input.name).map(|v| v.to_string_lossy().into_owned());
    Ok(json!({ "value": value }))
}

/// Input of `read_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathInput {
    path: String,
}

/// Reads a file with `std::fs` exactly as given: any failure (missing, outside the granted
/// directories, not UTF-8) is a fatal error carrying the OS message.
pub fn read_file(_: &Context, input: PathInput) -> Result<Value, TaskError> {
    match std::fs::read_to_string(&input.path) {
        Ok(content) => Ok(json!({ "content": content })),
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => "not-found",
                std::io::ErrorKind::PermissionDenied => "permission-denied",
                std::io::ErrorKind::InvalidData => "not-utf8",
                _ => "io-error",
            };
            Err(TaskError::fatal(format_args!("cannot read `{}`: {e}", input.path)).with_code(code))
        }
    }
}

/// Input of `journal`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalInput {
    path: String,
    #[serde(default)]
    value: Value,
}

/// Records this run (which call, which attempt, under which idempotency key) as one line
/// appended to a file: a log of every time a task really ran, for crash tests and audits.
pub fn journal(ctx: &Context, input: JournalInput) -> Result<Value, TaskError> {
    let line = json!({
        "execution": ctx.execution_id(),
        "task": ctx.task_id(),
        "attempt": ctx.attempt(),
        "key": ctx.idempotency_key(),
        "value": input.value,
    });
    let append = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&input.path)?;
        // One write per line, so that concurrent runs never interleave inside a line.
        file.write_all(format!("{line}\n").as_bytes())
    };
    append()
        .map_err(|e| TaskError::fatal(format_args!("cannot append to `{}`: {e}", input.path)).with_code("io-error"))?;
    Ok(json!({ "value": input.value }))
}

/// Input of `stdout`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    text: String,
}

pub fn stdout(_: &Context, input: TextInput) -> Result<Value, TaskError> {
    // Errors writing to a closed stdout are not the task's failure.
    let _ = writeln!(std::io::stdout(), "{}", input.text);
    let _ = std::io::stdout().flush();
    let _ = writeln!(std::io::stderr(), "{}", input.text);
    Ok(json!({ "ok": true }))
}

#[cfg(test)]
mod tests {
    use super::journal;
    use crate::Core;
    use harmonia_sdk::prelude::*;
    use harmonia_sdk::testing;

    #[test]
    fn log_reports_progress_and_events() {
        let input = json!({ "level": "warn", "message": "hi", "progress": [50, "half"], "event": { "type": "t", "data": [1] } });
        assert_eq!(testing::call::<Core>("log", input).unwrap(), json!({ "ok": true }));
        assert_eq!(testing::logs(), vec![(Level::Warn, "hi".to_owned())]);
        assert_eq!(testing::progress(), vec![(50, "half".to_owned())]);
        assert_eq!(testing::events(), vec![("t".to_owned(), json!([1]))]);
        testing::call::<Core>("log", json!({ "message": "default level" })).unwrap();
        assert_eq!(testing::logs()[1].0, Level::Info);
        let err = testing::call::<Core>("log", json!({ "level": "loud", "message": "x" })).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn kv_round_trip() {
        assert_eq!(testing::call::<Core>("kv_get", json!({ "key": "k" })).unwrap(), json!({ "value": null }));
        testing::call::<Core>("kv_set", json!({ "key": "k", "value": { "n": [1, "x"] } })).unwrap();
        assert_eq!(
            testing::call::<Core>("kv_get", json!({ "key": "k" })).unwrap(),
            json!({ "value": { "n": [1, "x"] } })
        );
        testing::call::<Core>("kv_delete", json!({ "key": "k" })).unwrap();
        assert_eq!(testing::call::<Core>("kv_get", json!({ "key": "k" })).unwrap(), json!({ "value": null }));
    }

    #[test]
    fn secrets_only_when_granted() {
        assert_eq!(testing::call::<Core>("secret", json!({ "name": "token" })).unwrap(), json!({ "value": null }));
        testing::set_secret("token", "s3cr3t");
        assert_eq!(testing::call::<Core>("secret", json!({ "name": "token" })).unwrap(), json!({ "value": "s3cr3t" }));
    }

    #[test]
    fn journal_appends_one_line_per_run_with_the_call_identity() {
        let dir = std::env::temp_dir().join(format!("core-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runs.log");
        let _ = std::fs::remove_file(&path);
        let ctx = Context::new("journal")
            .with_execution_id("e1")
            .with_task_id("t")
            .with_attempt(2)
            .with_idempotency_key("e1/t");
        for n in [1, 2] {
            let input = serde_json::from_value(json!({ "path": path.to_str().unwrap(), "value": n })).unwrap();
            assert_eq!(journal(&ctx, input).unwrap(), json!({ "value": n }));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            lines,
            [1, 2].map(|n| json!({ "execution": "e1", "task": "t", "attempt": 2, "key": "e1/t", "value": n }))
        );
        let bad = serde_json::from_value(json!({ "path": "/definitely/not/here/x.log" })).unwrap();
        assert_eq!(journal(&ctx, bad).unwrap_err().code(), Some("io-error"));
    }

    #[test]
    fn read_file_errors_are_fatal_with_the_os_message() {
        let err = testing::call::<Core>("read_file", json!({ "path": "/definitely/not/here" })).unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Fatal, Some("not-found")));
        assert!(err.message().contains("/definitely/not/here"), "{err}");
        let out =
            testing::call::<Core>("read_file", json!({ "path": concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml") }));
        assert!(out.unwrap()["content"].as_str().unwrap().contains("[package]"));
    }
}
