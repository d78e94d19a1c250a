//! Warm instances (manifest `reuse_instance`): reused for up to N calls of one plugin,
//! never shared between plugins, dropped after a trap.

use harmonia_host::{CallError, Host, TaskCall};
use serde_json::{Value, json};

use crate::support::{Dir, Recorder};
use crate::wat;

async fn count(host: &Host, plugin: &str) -> Value {
    host.invoke(TaskCall::new(plugin, "run", json!({}))).await.expect("call runs").output.expect("ok")
}

async fn counts(host: &Host, plugin: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(count(host, plugin).await);
    }
    out
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance_by_default() {
    let dir = Dir::new();
    dir.write("counter.wasm", &wat::counter("counter"));
    let host = dir.host().await;
    assert_eq!(counts(&host, "counter", 3).await, [json!(1), json!(1), json!(1)]);
    assert_eq!(host.plugin("counter").unwrap().warm_instances(), 0);
}

#[tokio::test]
async fn a_warm_instance_serves_up_to_reuse_instance_calls() {
    let dir = Dir::new();
    dir.write("counter.wasm", &wat::counter("counter")).write("counter.toml", b"reuse_instance = 3\n");
    let host = dir.host().await;
    // The instance that answered `describe` at load is the first warm one: two calls left.
    let plugin = host.plugin("counter").unwrap();
    assert_eq!(plugin.reuse_instance, 3);
    assert_eq!(counts(&host, "counter", 7).await, [1, 2, 1, 2, 3, 1, 2].map(|n| json!(n)));
}

#[tokio::test]
async fn warm_state_never_crosses_plugins() {
    let dir = Dir::new();
    for name in ["left", "right"] {
        dir.write(&format!("{name}.wasm"), &wat::counter(name)).write(&format!("{name}.toml"), b"reuse_instance = 9\n");
    }
    let host = dir.host().await;
    let _ = (count(&host, "left").await, count(&host, "right").await); // past the describe instances
    assert_eq!(counts(&host, "left", 3).await, [2, 3, 4].map(|n| json!(n)));
    assert_eq!(count(&host, "right").await, json!(2));
    assert_eq!(count(&host, "left").await, json!(5));
}

#[tokio::test]
async fn a_trap_drops_the_warm_instance() {
    let dir = Dir::new();
    dir.write("counter.wasm", &wat::counter("counter")).write("counter.toml", b"reuse_instance = 9\n");
    let host = dir.host().await;
    assert_eq!(counts(&host, "counter", 2).await, [1, 2].map(|n| json!(n)));
    let err = host.invoke(TaskCall::new("counter", "run", Value::Null)).await.unwrap_err();
    assert!(matches!(err, CallError::Trap { .. }), "{err}");
    assert_eq!(host.plugin("counter").unwrap().warm_instances(), 0);
    assert_eq!(count(&host, "counter").await, json!(1), "the next call starts afresh");
}

#[tokio::test]
async fn a_reused_instance_reports_each_call_to_its_own_caller() {
    let dir = Dir::new();
    dir.add_bundled("core").write("core.toml", b"reuse_instance = 10\n");
    let host = dir.host().await;
    for text in ["first line", "second line", "third line"] {
        let recorder = Recorder::arc();
        let mut call = TaskCall::new("core", "stdout", json!({ "text": text }));
        call.observer = Some(recorder.clone());
        host.invoke(call).await.unwrap().output.unwrap();
        let logs: Vec<String> = recorder.logs.lock().unwrap().iter().map(|(_, _, m)| m.clone()).collect();
        // `stdout` prints the text to stdout and to stderr.
        assert_eq!(logs, [text, text], "each call logs its own output once");
    }
    assert_eq!(host.plugin("core").unwrap().warm_instances(), 1);
}

#[tokio::test]
async fn an_instance_that_reached_its_memory_limit_is_not_kept() {
    let dir = Dir::new();
    dir.write("greedy.wasm", &wat::greedy("greedy")).write("greedy.toml", b"reuse_instance = 9\nmemory_mb = 8\n");
    let host = dir.host().await;
    assert_eq!(host.plugin("greedy").unwrap().warm_instances(), 1, "the describe instance is parked");
    let output = host.invoke(TaskCall::new("greedy", "run", json!({}))).await.unwrap().output.unwrap();
    assert_eq!(output, json!({"ok": true}), "the guest handled the refused growth");
    assert_eq!(host.plugin("greedy").unwrap().warm_instances(), 0);
}

#[tokio::test]
async fn a_single_slot_host_never_parks_its_only_slot() {
    let dir = Dir::new();
    for name in ["left", "right"] {
        dir.write(&format!("{name}.wasm"), &wat::counter(name)).write(&format!("{name}.toml"), b"reuse_instance = 9\n");
    }
    let mut config = dir.config();
    config.slots = 1;
    let host = harmonia_host::Host::new(config).unwrap();
    // Were an instance parked, loading or calling the other plugin would wait forever.
    let calls = async {
        host.load_all().await.unwrap();
        assert_eq!(count(&host, "left").await, json!(1));
        assert_eq!(count(&host, "right").await, json!(1));
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), calls).await.expect("nothing waits for a parked slot");
}
