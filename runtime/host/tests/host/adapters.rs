//! Every bundled adapter through the host, and the host interface they use.

use std::sync::Arc;

use harmonia_host::{CallError, Host, KvStore, MemKv, TaskCall};
use serde_json::{Value, json};

use crate::support::{Dir, Recorder};

async fn host_with(plugins: &[&str]) -> (Dir, Host) {
    let dir = Dir::new();
    for p in plugins {
        dir.add_bundled(p);
    }
    let host = dir.host().await;
    (dir, host)
}

async fn call(host: &Host, plugin: &str, action: &str, input: Value) -> Result<Value, harmonia_host::Failure> {
    host.invoke(TaskCall::new(plugin, action, input)).await.expect("call runs").output
}

#[tokio::test]
async fn sophia_scores_sentiment() {
    let (_d, host) = host_with(&["sophia"]).await;
    for (text, expected) in [
        ("I love this, it is wonderful", "positive"),
        ("This is terrible and I hate it", "negative"),
        ("The box is on the table", "neutral"),
        ("This is not good", "negative"),
    ] {
        let out = call(&host, "sophia", "analyze_sentiment", json!({ "text": text })).await.unwrap();
        assert_eq!(out["sentiment"], expected, "{text}: {out}");
        let score = out["score"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&score));
    }
    let err = call(&host, "sophia", "analyze_sentiment", json!({ "txt": "x" })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert!(err.message.contains("text"), "{err}");
}

#[tokio::test]
async fn core_echo_and_json_transforms() {
    let (_d, host) = host_with(&["core"]).await;
    let value = json!({"nested": {"list": [1, "two", null, true]}, "n": 1.5});
    assert_eq!(call(&host, "core", "echo", value.clone()).await.unwrap(), value);
    assert_eq!(
        call(&host, "core", "merge", json!({"objects": [{"a": 1, "b": 1}, {"b": 2}]})).await.unwrap(),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        call(&host, "core", "pick", json!({"value": {"a": 1, "b": 2, "c": 3}, "keys": ["a", "c"]})).await.unwrap(),
        json!({"a": 1, "c": 3})
    );
    assert_eq!(call(&host, "core", "get", json!({"value": {"a": [5, 6]}, "pointer": "/a/1"})).await.unwrap(), json!(6));
    assert_eq!(call(&host, "core", "length", json!({"value": [1, 2, 3]})).await.unwrap(), json!({"length": 3}));
    assert_eq!(call(&host, "core", "range", json!({"end": 3})).await.unwrap(), json!({"items": [0, 1, 2]}));
    assert_eq!(
        call(&host, "core", "split", json!({"text": "a,b", "separator": ","})).await.unwrap(),
        json!({"items": ["a", "b"]})
    );
}

#[tokio::test]
async fn core_fail_reports_each_error_kind() {
    let (_d, host) = host_with(&["core"]).await;
    for (kind, expected) in [("retryable", "retryable"), ("fatal", "fatal"), ("invalid_input", "invalid_input")] {
        let err =
            call(&host, "core", "fail", json!({"kind": kind, "message": "boom", "code": "E42"})).await.unwrap_err();
        assert_eq!(err.kind, expected);
        assert_eq!(err.message, "boom");
        assert_eq!(err.code.as_deref(), Some("E42"));
    }
}

#[tokio::test]
async fn core_fail_times_counts_calls_per_idempotency_key() {
    let (_d, host) = host_with(&["core"]).await;
    let attempt = |n: u32, key: &str| {
        let mut c = TaskCall::new("core", "fail", json!({"kind": "retryable", "times": 2}));
        c.attempt = n;
        c.idempotency_key = key.to_string();
        host.invoke(c)
    };
    assert!(attempt(1, "exec-1/task-a").await.unwrap().output.is_err());
    assert!(attempt(2, "exec-1/task-a").await.unwrap().output.is_err());
    assert_eq!(attempt(3, "exec-1/task-a").await.unwrap().output.unwrap(), json!({"calls": 3}));
    // Another task has its own count.
    assert!(attempt(1, "exec-1/task-b").await.unwrap().output.is_err());
}

#[tokio::test]
async fn unknown_action_lists_the_available_ones() {
    let (_d, host) = host_with(&["sophia"]).await;
    let err = host.invoke(TaskCall::new("sophia", "nope", json!({}))).await.unwrap_err();
    assert!(matches!(&err, CallError::UnknownAction { available, .. } if available == &["analyze_sentiment"]), "{err}");
    let err = host.invoke(TaskCall::new("nobody", "x", json!({}))).await.unwrap_err();
    assert_eq!(err, CallError::UnknownPlugin("nobody".into()));
}

#[tokio::test]
async fn host_interface_log_progress_events_and_stdio() {
    let (_d, host) = host_with(&["core"]).await;
    let recorder = Recorder::arc();
    let mut c = TaskCall::new(
        "core",
        "log",
        json!({"level": "warn", "message": "disk almost full", "progress": [40, "halfway"],
               "event": {"type": "doc.ready", "data": {"id": 7}}}),
    );
    c.observer = Some(recorder.clone());
    let outcome = host.invoke(c).await.unwrap();
    assert!(outcome.output.is_ok());
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].event_type, "doc.ready");
    assert_eq!(outcome.events[0].data, json!({"id": 7}));
    let logs = recorder.logs.lock().unwrap().clone();
    assert!(logs.contains(&("core".into(), tracing::Level::WARN, "disk almost full".into())), "{logs:?}");
    assert_eq!(recorder.progress.lock().unwrap().as_slice(), [(40, "halfway".to_string())]);
    assert_eq!(recorder.events.lock().unwrap().len(), 1);

    let mut c = TaskCall::new("core", "stdout", json!({"text": "printed line"}));
    c.observer = Some(recorder.clone());
    host.invoke(c).await.unwrap().output.unwrap();
    let logs = recorder.logs.lock().unwrap().clone();
    assert!(logs.iter().any(|(p, _, m)| p == "core" && m == "printed line"), "{logs:?}");
}

#[tokio::test]
async fn kv_is_scoped_to_the_plugin() {
    let dir = Dir::new();
    dir.add_bundled("core");
    let kv = Arc::new(MemKv::default());
    let mut config = dir.config();
    config.kv = kv.clone();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    call(&host, "core", "kv_set", json!({"key": "greeting", "value": {"hi": [1]}})).await.unwrap();
    assert_eq!(call(&host, "core", "kv_get", json!({"key": "greeting"})).await.unwrap(), json!({"value": {"hi": [1]}}));
    assert_eq!(call(&host, "core", "kv_get", json!({"key": "missing"})).await.unwrap(), json!({"value": null}));
    assert!(kv.get("core", "greeting").unwrap().is_some());
    assert!(kv.get("sophia", "greeting").unwrap().is_none());
}
