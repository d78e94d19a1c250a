//! Control actions: `fail`, `crash`, `sleep` and `spin`, for testing retries, timeouts and
//! what the host reports of a plugin that breaks.

use std::time::{Duration, Instant};

use harmonia_sdk::prelude::*;

/// Input of `fail`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    kind: FailKind,
    message: Option<String>,
    code: Option<String>,
    /// Fail only the first `times` calls of the same task, then succeed.
    times: Option<u32>,
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum FailKind {
    Retryable,
    Fatal,
    #[serde(alias = "invalid-input")]
    InvalidInput,
}

pub fn fail(ctx: &Context, input: FailInput) -> Result<Value, TaskError> {
    let mut calls = None;
    if let Some(times) = input.times {
        // Every attempt of one task shares the idempotency key; the count outlives the
        // instance in the host's key-value store.
        let key = format!("fail/{}/calls", ctx.idempotency_key());
        let n = ctx.kv_get_json::<u32>(&key)?.unwrap_or(0).saturating_add(1);
        ctx.kv_set_json(&key, &n)?;
        if n > times {
            return Ok(json!({ "calls": n }));
        }
        calls = Some((n, times));
    }
    let kind = match input.kind {
        FailKind::Retryable => ErrorKind::Retryable,
        FailKind::Fatal => ErrorKind::Fatal,
        FailKind::InvalidInput => ErrorKind::InvalidInput,
    };
    let message = match (input.message, calls) {
        (Some(message), _) => message,
        (None, Some((n, times))) => format!("failing as asked: call {n} of the first {times}"),
        (None, None) => "failing as asked".to_owned(),
    };
    let mut err = TaskError::new(kind, message);
    if let Some(code) = input.code {
        err = err.with_code(code);
    }
    if let Some((n, times)) = calls {
        err = err.with_details(json!({ "calls": n, "times": times }));
    }
    Err(err)
}

/// Input of `sleep` and `spin`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Millis {
    ms: u64,
}

pub fn sleep(_: &Context, input: Millis) -> Result<Value, TaskError> {
    std::thread::sleep(Duration::from_millis(input.ms));
    Ok(json!({ "slept_ms": input.ms }))
}

/// Input of `crash`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrashInput {
    #[serde(default)]
    message: String,
    /// Recurse until the stack runs out instead of panicking.
    #[serde(default)]
    overflow: bool,
}

/// A bug on demand: panics with `message`, which a Rust guest prints to stderr before it
/// traps, or with `overflow`, recurses without end (a Rust guest's stack is in its linear
/// memory: running off it is an out-of-bounds access).
pub fn crash(_: &Context, input: CrashInput) -> Result<Value, TaskError> {
    if input.overflow {
        return Ok(json!(recurse(std::hint::black_box(1))));
    }
    panic!("{}", input.message)
}

/// Calls itself with a frame of 1 KiB until the stack runs out.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 128]);
    recurse(depth + 1).wrapping_add(frame[depth as usize % 128])
}

pub fn spin(_: &Context, input: Millis) -> Result<Value, TaskError> {
    let until = Duration::from_millis(input.ms);
    let start = Instant::now();
    let mut rounds: u64 = 0;
    while start.elapsed() < until {
        rounds = std::hint::black_box(rounds.wrapping_add(1));
    }
    Ok(json!({ "spun_ms": input.ms }))
}

#[cfg(test)]
mod tests {
    use crate::Core;
    use harmonia_sdk::prelude::*;
    use harmonia_sdk::testing;

    #[test]
    fn fail_always_fails_with_the_kind_asked() {
        for (kind, expected) in [
            ("retryable", ErrorKind::Retryable),
            ("fatal", ErrorKind::Fatal),
            ("invalid_input", ErrorKind::InvalidInput),
        ] {
            let err = testing::call::<Core>("fail", json!({ "kind": kind, "message": "m", "code": "c" })).unwrap_err();
            assert_eq!((err.kind(), err.message(), err.code()), (expected, "m", Some("c")));
        }
        let err = testing::call::<Core>("fail", json!({ "kind": "weird" })).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn fail_times_counts_per_idempotency_key() {
        let task = |key: &str| Context::new("fail").with_idempotency_key(key);
        let input = json!({ "kind": "retryable", "times": 2 });
        assert!(testing::call_with::<Core>(&task("a"), input.clone()).is_err());
        assert!(testing::call_with::<Core>(&task("b"), input.clone()).is_err());
        assert!(testing::call_with::<Core>(&task("a"), input.clone()).is_err());
        assert_eq!(testing::call_with::<Core>(&task("a"), input.clone()).unwrap(), json!({ "calls": 3 }));
        assert_eq!(testing::call_with::<Core>(&task("a"), input.clone()).unwrap(), json!({ "calls": 4 }));
        assert!(testing::call_with::<Core>(&task("b"), input).is_err());
    }

    #[test]
    fn sleep_and_spin_take_their_time() {
        let start = std::time::Instant::now();
        assert_eq!(testing::call::<Core>("sleep", json!({ "ms": 20 })).unwrap(), json!({ "slept_ms": 20 }));
        assert_eq!(testing::call::<Core>("spin", json!({ "ms": 20 })).unwrap(), json!({ "spun_ms": 20 }));
        assert!(start.elapsed() >= std::time::Duration::from_millis(40));
    }
}
