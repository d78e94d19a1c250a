//! js plugins through the host: the example plugin built from source by its SDK.
//!
//! `plugins/report` is written with `sdk/js` and built with QuickJS (componentize-qjs) by
//! `bash plugins/build.sh report`: a 1.8 MB component, run with the default 64 MiB limit.
//! The SDK's test plugin `sdk/js/test/fixtures/probe` is built here from source (a few
//! seconds; skipped when nothing changed) to check inside the engine what the SDK promises:
//! a thrown error is a task error and never a trap, console goes to the log, kv holds bytes,
//! every fresh instance draws its own random numbers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use harmonia_host::{CallError, Failure, Host, KvStore, MemKv, TaskCall};
use serde_json::{Value, json};

use crate::support::{Dir, Recorder};

async fn report() -> (Dir, Host) {
    let dir = Dir::new();
    dir.add_bundled("report");
    let host = dir.host().await;
    (dir, host)
}

async fn call(host: &Host, plugin: &str, action: &str, input: Value) -> Result<Value, Failure> {
    host.invoke(TaskCall::new(plugin, action, input)).await.expect("call runs").output
}

fn sections() -> Value {
    json!([
        { "heading": "Rust", "text": "Sentiment: positive\n\nScore & more", "fields": { "score": 0.8 } },
        { "heading": "C <digest>", "items": ["crc32", 891568578] },
        { "heading": "Python", "fields": { "words": 16, "top": ["cat", "mat"] } }
    ])
}

#[tokio::test]
async fn report_describes_its_actions() {
    let (_d, host) = report().await;
    let plugin = host.plugin("report").expect("report is loaded");
    assert_eq!(
        (plugin.version.as_str(), plugin.description.as_str()),
        ("0.1.0", "Renders reports as Markdown and HTML")
    );
    let names: Vec<&str> = plugin.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["render", "slugify", "get"]);
    let render = &plugin.actions[0];
    assert!(render.description.starts_with("Renders a title and sections"), "{render:?}");
    assert_eq!(render.input_schema.as_ref().unwrap()["required"], json!(["title", "sections"]));
    assert_eq!(render.output_schema.as_ref().unwrap()["properties"]["length"]["type"], "integer");
}

#[tokio::test]
async fn report_renders_markdown_and_escaped_html_and_logs_once() {
    let (_d, host) = report().await;
    let recorder = Recorder::arc();
    let mut c = TaskCall::new("report", "render", json!({ "title": "Polyglot <run> & co", "sections": sections() }));
    c.observer = Some(recorder.clone());
    let out = host.invoke(c).await.unwrap().output.unwrap();
    let markdown = out["markdown"].as_str().unwrap();
    assert_eq!(
        markdown,
        "# Polyglot <run> & co\n\n## Rust\n\nSentiment: positive\n\nScore & more\n\n- **score:** 0.8\n\n\
         ## C <digest>\n\n- crc32\n- 891568578\n\n## Python\n\n- **top:** [\"cat\",\"mat\"]\n- **words:** 16\n"
    );
    let html = out["html"].as_str().unwrap();
    assert!(html.starts_with("<article>\n<h1>Polyglot &lt;run&gt; &amp; co</h1>\n"), "{html}");
    assert!(html.contains("<h2>C &lt;digest&gt;</h2>"), "{html}");
    assert!(html.contains("<p>Score &amp; more</p>"), "{html}");
    assert!(html.contains("<ul><li>crc32</li><li>891568578</li></ul>"), "{html}");
    assert!(html.contains("<dt>top</dt><dd>[&quot;cat&quot;,&quot;mat&quot;]</dd>"), "{html}");
    assert_eq!(out["slug"], "polyglot-run-co");
    assert_eq!(out["length"], markdown.chars().count());
    let logs = recorder.logs.lock().unwrap().clone();
    let line = format!("rendered \"Polyglot <run> & co\": 3 section(s), {} characters", markdown.chars().count());
    assert_eq!(logs, [("report".to_string(), tracing::Level::INFO, line)]);
}

#[tokio::test]
async fn report_slugifies() {
    let (_d, host) = report().await;
    for (text, slug) in
        [("Hello, World", "hello-world"), ("Über Café – Straße 2024!", "uber-cafe-strasse-2024"), ("日本", "")]
    {
        assert_eq!(
            call(&host, "report", "slugify", json!({ "text": text })).await.unwrap(),
            json!({ "slug": slug }),
            "{text}"
        );
    }
}

#[tokio::test]
async fn report_rejects_bad_input_naming_the_field() {
    let (_d, host) = report().await;
    let err = call(&host, "report", "render", json!({ "sections": [] })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert_eq!(err.message, "invalid input for action `render`: `title` is required");
    assert_eq!(err.details, Some(json!({ "path": "title" })));

    let err =
        call(&host, "report", "render", json!({ "title": "t", "sections": { "heading": "h" } })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert_eq!(err.message, "invalid input for action `render`: `sections` must be an array, not an object");

    let err = call(&host, "report", "render", json!({ "title": "t", "sections": [{ "heading": "h", "items": [{}] }] }))
        .await
        .unwrap_err();
    assert!(err.message.contains("`sections[0].items[0]` must be a string or a number or a boolean"), "{err:?}");

    let err = call(&host, "report", "slugify", json!({})).await.unwrap_err();
    assert_eq!(
        (err.kind.as_str(), err.message.as_str()),
        ("invalid_input", "invalid input for action `slugify`: `text` is required")
    );
}

#[tokio::test]
async fn report_unknown_action_lists_the_available_ones() {
    let (_d, host) = report().await;
    let err = host.invoke(TaskCall::new("report", "publish", json!({}))).await.unwrap_err();
    assert!(
        matches!(&err, CallError::UnknownAction { available, .. } if available == &["render", "slugify", "get"]),
        "{err}"
    );
}

#[tokio::test]
async fn report_saves_through_the_kv_store_and_reports_a_missing_one_with_code_and_details() {
    let dir = Dir::new();
    dir.add_bundled("report");
    let kv = Arc::new(MemKv::default());
    let mut config = dir.config();
    config.kv = kv.clone();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();

    let input = json!({ "title": "Weekly", "sections": sections(), "save": true });
    let rendered = call(&host, "report", "render", input).await.unwrap();
    let stored = kv.get("report", "report:weekly").unwrap().expect("saved under its slug");
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap()["markdown"], rendered["markdown"]);

    // Another call, so another fresh instance: what it reads came through the store.
    let got = call(&host, "report", "get", json!({ "slug": "weekly" })).await.unwrap();
    assert_eq!(got["html"], rendered["html"]);
    assert_eq!(got["title"], "Weekly");

    let err = call(&host, "report", "get", json!({ "slug": "monthly" })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert_eq!(err.code.as_deref(), Some("not-found"));
    assert_eq!(err.details, Some(json!({ "slug": "monthly" })));
    assert_eq!(err.message, "no saved report with slug `monthly`");
}

#[tokio::test]
async fn report_renders_a_large_report_within_the_default_memory() {
    let (_d, host) = report().await;
    let paragraph = "Tasks in any WASM language, built and tested in CI. ".repeat(20);
    let sections: Vec<Value> = (0..1_000)
        .map(|i| json!({ "heading": format!("Part {i}"), "text": paragraph, "items": [i, "x"], "fields": { "n": i } }))
        .collect();
    let out = call(&host, "report", "render", json!({ "title": "Big", "sections": sections })).await.unwrap();
    assert!(out["length"].as_u64().unwrap() > 1_000_000, "{}", out["length"]);
    assert!(out["html"].as_str().unwrap().ends_with("</section>\n</article>\n"));
}

/// The probe plugin, built from `sdk/js/test/fixtures/probe` once per test run into the
/// target directory (a stable path, so an unchanged build is skipped and compiled once).
fn probe_wasm() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo dir");
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("target"));
        let out = target.join("guest-plugins").join("sdk-js-probe.wasm");
        let status = Command::new("bash")
            .arg(repo.join("sdk/js/build-plugin.sh"))
            .arg(repo.join("sdk/js/test/fixtures/probe"))
            .arg(&out)
            .status()
            .expect("run bash sdk/js/build-plugin.sh (needs node and npm)");
        assert!(status.success(), "building the JS probe plugin failed: {status}");
        out
    })
}

async fn probe_with(kv: Option<Arc<MemKv>>) -> (Dir, Host) {
    let dir = Dir::new();
    dir.write("probe.wasm", &std::fs::read(probe_wasm()).expect("built probe"));
    dir.write("probe.toml", b"secrets = [\"token\"]\n");
    let mut config = dir.config();
    config.secrets.insert("token".into(), "s3cret".into());
    if let Some(kv) = kv {
        config.kv = kv;
    }
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    assert!(host.plugin("probe").is_some(), "probe not loaded: {:?}", host.failures());
    (dir, host)
}

#[tokio::test]
async fn js_thrown_errors_promises_and_non_json_output_are_fatal_task_errors_not_traps() {
    let (_d, host) = probe_with(None).await;
    for (action, message) in [
        ("throw-error", "action `throw-error` threw TypeError: boom"),
        ("throw-value", "action `throw-value` threw a plain string"),
        ("missing-property", "action `missing-property` threw TypeError: "),
        ("promise", "action `promise` returned a Promise; actions must be synchronous"),
        ("bad-output", "the output of action `bad-output` is not JSON: "),
        ("require-secret", "secret `absent` is not granted"),
    ] {
        let outcome = host.invoke(TaskCall::new("probe", action, json!({}))).await;
        let err =
            outcome.unwrap_or_else(|e| panic!("{action}: the call failed instead of returning a task error: {e}"));
        let err = err.output.unwrap_err();
        assert_eq!(err.kind, "fatal", "{action}: {err:?}");
        assert!(err.message.starts_with(message), "{action}: {err:?}");
    }
    let err = call(&host, "probe", "throw-error", json!({})).await.unwrap_err();
    let details = err.details.expect("details");
    assert_eq!(details["error"], "TypeError");
    assert!(details["stack"].as_str().unwrap().contains("throw-error"), "{details}");
    let err = call(&host, "probe", "require-secret", json!({})).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("missing-secret"));
}

#[tokio::test]
async fn js_task_errors_keep_code_details_and_retry_after() {
    let (_d, host) = probe_with(None).await;
    let err = call(&host, "probe", "task-error", json!({})).await.unwrap_err();
    assert_eq!(
        err,
        Failure {
            kind: "retryable".into(),
            message: "the service is down".into(),
            code: Some("http-503".into()),
            details: Some(json!({ "body": "later" })),
            retry_after_ms: Some(1500),
            task: None,
        }
    );
}

#[tokio::test]
async fn js_context_carries_the_invocation() {
    let (_d, host) = probe_with(None).await;
    let mut c = TaskCall::new("probe", "context", json!({}));
    c.execution_id = "exec-1".into();
    c.task_id = "render".into();
    c.attempt = 3;
    c.idempotency_key = "exec-1/render".into();
    c.timeout = Some(Duration::from_secs(30));
    let out = host.invoke(c).await.unwrap().output.unwrap();
    assert_eq!(
        out,
        json!({
            "action": "context", "executionId": "exec-1", "taskId": "render", "attempt": 3,
            "idempotencyKey": "exec-1/render", "deadlineType": "number", "remainingOk": true,
            "encoderAtBuild": "function", "now": true
        })
    );
    let echoed = json!({ "nested": { "list": [1, "two", null, true, 2.5] }, "text": "é𝄞" });
    assert_eq!(call(&host, "probe", "echo", echoed.clone()).await.unwrap(), echoed);
    let out = call(&host, "probe", "utf8", json!({ "text": "héllo €𝄞" })).await.unwrap();
    assert_eq!(out, json!({ "bytes": 14, "back": "héllo €𝄞" }));
}

#[tokio::test]
async fn js_console_progress_events_and_secrets_reach_the_host() {
    let (_d, host) = probe_with(None).await;
    let recorder = Recorder::arc();
    let mut c = TaskCall::new("probe", "host", json!({}));
    c.observer = Some(recorder.clone());
    let outcome = host.invoke(c).await.unwrap();
    assert_eq!(outcome.output.unwrap(), json!({ "secret": "s3cret" }));
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(
        (outcome.events[0].event_type.as_str(), &outcome.events[0].data),
        ("probe.ready", &json!({ "id": 7, "tags": ["a"] }))
    );
    assert_eq!(recorder.progress.lock().unwrap().as_slice(), [(40, "almost halfway".to_string())]);
    let logs = recorder.logs.lock().unwrap().clone();
    let probe = |level, message: &str| ("probe".to_string(), level, message.to_string());
    for line in [
        probe(tracing::Level::WARN, "a warning"),
        probe(tracing::Level::DEBUG, "a debug line"),
        probe(tracing::Level::INFO, "console.log {\"n\":1}"),
        probe(tracing::Level::ERROR, "console.error"),
    ] {
        assert!(logs.contains(&line), "{line:?} not in {logs:?}");
    }
    assert!(!logs.iter().any(|(_, _, m)| m.contains("build time")), "{logs:?}");
}

#[tokio::test]
async fn js_kv_holds_bytes_text_and_json_across_calls() {
    let kv = Arc::new(MemKv::default());
    let (_d, host) = probe_with(Some(kv.clone())).await;
    let out = call(&host, "probe", "kv", json!({})).await.unwrap();
    assert_eq!(
        out,
        json!({
            "bytes": [0, 1, 255], "text": "héllo €𝄞", "json": { "list": [1, "two"] },
            "missing": null, "counter": 1, "deleted": true
        })
    );
    assert_eq!(kv.get("probe", "text").unwrap().unwrap(), "héllo €𝄞".as_bytes());
    assert_eq!(kv.get("probe", "bytes").unwrap(), None);
    let out = call(&host, "probe", "kv", json!({})).await.unwrap();
    assert_eq!(out["counter"], 2);
}

#[tokio::test]
async fn js_fresh_instances_draw_different_random_numbers() {
    let (_d, host) = probe_with(None).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let out = call(&host, "probe", "random", json!({})).await.unwrap();
        let x = out["random"].as_f64().unwrap();
        assert!((0.0..1.0).contains(&x), "{x}");
        seen.push(x.to_bits());
    }
    seen.dedup();
    assert_eq!(seen.len(), 3, "every fresh instance must reseed Math.random");
}
