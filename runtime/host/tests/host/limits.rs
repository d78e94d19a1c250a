//! A misbehaving plugin fails its own call, never the host or other calls.

use std::time::{Duration, Instant};

use harmonia_host::{CallError, Host, TaskCall};
use serde_json::json;

use crate::support::Dir;
use crate::wat;

async fn echo_still_works(host: &Host) {
    let outcome = host.invoke(TaskCall::new("core", "echo", json!({"still": "alive"}))).await.expect("echo");
    assert_eq!(outcome.output.unwrap(), json!({"still": "alive"}));
}

#[tokio::test]
async fn endless_loop_is_stopped_at_its_timeout() {
    let dir = Dir::new();
    dir.add_bundled("core").write("looper.wasm", &wat::endless_loop("looper"));
    let host = dir.host().await;
    let started = Instant::now();
    let timeout = Duration::from_millis(300);
    let err = host.invoke(TaskCall::new("looper", "run", json!({})).with_timeout(timeout)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out after 300 ms"), "{err}");
    assert!(elapsed >= timeout, "stopped early: {elapsed:?}");
    assert!(elapsed < timeout + Duration::from_millis(100), "stopped late: {elapsed:?}");
    echo_still_works(&host).await;
}

#[tokio::test]
async fn a_loop_does_not_block_other_calls() {
    let dir = Dir::new();
    dir.add_bundled("core").write("looper.wasm", &wat::endless_loop("looper"));
    let host = dir.host().await;
    let looping = {
        let host = host.clone();
        tokio::spawn(async move {
            host.invoke(TaskCall::new("looper", "run", json!({})).with_timeout(Duration::from_secs(2))).await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the loop occupies a worker, other calls go on.
    for _ in 0..10 {
        echo_still_works(&host).await;
    }
    assert!(!looping.is_finished(), "the loop should still be running");
    assert!(matches!(looping.await.unwrap(), Err(CallError::Timeout { .. })));
}

#[tokio::test]
async fn memory_bomb_is_stopped_at_the_limit() {
    let dir = Dir::new();
    dir.add_bundled("core").write("bomb.wasm", &wat::memory_bomb("bomb")).write("bomb.toml", b"memory_mb = 16\n");
    let host = dir.host().await;
    let err = host.invoke(TaskCall::new("bomb", "run", json!({}))).await.unwrap_err();
    assert_eq!(err, CallError::MemoryLimit { plugin: "bomb".into(), action: "run".into(), limit_bytes: 16 << 20 });
    assert!(err.to_string().contains("memory limit of 16 MiB"), "{err}");
    echo_still_works(&host).await;
}

#[tokio::test]
async fn default_memory_limit_is_64_mib() {
    let dir = Dir::new();
    dir.write("bomb.wasm", &wat::memory_bomb("bomb"));
    let host = dir.host().await;
    let err = host.invoke(TaskCall::new("bomb", "run", json!({}))).await.unwrap_err();
    assert!(matches!(err, CallError::MemoryLimit { limit_bytes, .. } if limit_bytes == 64 << 20), "{err}");
}

#[tokio::test]
async fn trap_fails_the_call_with_a_clear_error() {
    let dir = Dir::new();
    dir.add_bundled("core").write("trapper.wasm", &wat::trap("trapper"));
    let host = dir.host().await;
    let err = host.invoke(TaskCall::new("trapper", "run", json!({}))).await.unwrap_err();
    let CallError::Trap { plugin, message, .. } = &err else { panic!("expected a trap, got {err}") };
    assert_eq!(plugin, "trapper");
    assert!(message.contains("unreachable"), "{message}");
    echo_still_works(&host).await;
}

#[tokio::test]
async fn a_rust_guests_panic_is_the_calls_error_without_a_backtrace() {
    // The task used to see a 20-frame wasm backtrace ending in "unreachable", and the panic
    // message only reached the server's log.
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    let err = host
        .invoke(TaskCall::new("core", "crash", json!({ "message": "the ledger is unbalanced" })))
        .await
        .unwrap_err();
    let CallError::Trap { message, .. } = &err else { panic!("expected a trap, got {err}") };
    assert!(
        message.starts_with(
            "wasm trap: wasm `unreachable` instruction executed; the plugin panicked at core/src/control.rs:"
        ),
        "{message}"
    );
    assert!(message.ends_with(": the ledger is unbalanced"), "{message}");
    assert!(!message.contains("backtrace") && !message.contains("0x"), "{message}");
    echo_still_works(&host).await;
}

#[tokio::test]
async fn fuel_budget_stops_a_loop() {
    let dir = Dir::new();
    dir.write("looper.wasm", &wat::endless_loop("looper")).write("looper.toml", b"fuel = 100000\n");
    let mut config = dir.config();
    config.fuel = true;
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let err = host.invoke(TaskCall::new("looper", "run", json!({}))).await.unwrap_err();
    assert!(matches!(err, CallError::FuelExhausted { .. }), "{err}");
}

#[tokio::test]
async fn guest_sleep_past_the_timeout_is_stopped() {
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    let started = Instant::now();
    let call = TaskCall::new("core", "sleep", json!({"ms": 5_000})).with_timeout(Duration::from_millis(200));
    let err = host.invoke(call).await.unwrap_err();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn concurrency_limit_holds() {
    let dir = Dir::new();
    dir.add_bundled("core").write("core.toml", b"max_concurrency = 2\n");
    let host = dir.host().await;
    assert_eq!(host.plugin("core").unwrap().max_concurrency, 2);
    let started = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.invoke(TaskCall::new("core", "sleep", json!({"ms": 200}))).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("sleep call");
    }
    // Six 200 ms calls, two at a time, need at least three rounds.
    assert!(started.elapsed() >= Duration::from_millis(600), "ran more than 2 at once: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_output_over_the_limit_fails_the_call_and_a_manifest_only_lowers_it() {
    // A 120 MB output used to succeed and then stall every other call while it was parsed,
    // stored and sent.
    let dir = Dir::new();
    dir.add_bundled("core").write("core.toml", b"max_output_bytes = 2000\n");
    let host = dir.host().await;
    let range = |end: u32| TaskCall::new("core", "range", json!({ "end": end }));
    let big = host.invoke(range(1_000)).await.unwrap().output.unwrap_err();
    assert_eq!((big.kind.as_str(), big.code.as_deref()), ("fatal", Some("output_too_large")), "{big:?}");
    assert!(big.message.contains("over the limit of 2000"), "{}", big.message);
    assert!(host.invoke(range(10)).await.unwrap().output.is_ok());

    // The manifest cannot raise the host's limit.
    dir.write("core.toml", b"max_output_bytes = 100000000\n");
    let mut config = dir.config();
    config.call_limits.max_output_bytes = 1_000;
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    assert_eq!(host.plugin("core").unwrap().limits.max_output_bytes, 1_000);
    assert!(host.invoke(range(1_000)).await.unwrap().output.is_err());
    echo_still_works(&host).await;
}

#[tokio::test]
async fn log_lines_and_events_past_the_limit_are_dropped_and_counted_in_one_line() {
    // 1,000,000 events grew the server by 512 MB; 628,000 log lines went to the log in 2 s.
    let dir = Dir::new();
    dir.add_bundled("core").write("core.toml", b"max_log_lines = 5\nmax_events = 3\n");
    let host = dir.host().await;
    let recorder = crate::support::Recorder::arc();
    let mut call =
        TaskCall::new("core", "log", json!({ "message": "again", "times": 50, "event": { "type": "tick" } }));
    call.observer = Some(recorder.clone());
    let outcome = host.invoke(call).await.unwrap();
    assert!(outcome.output.is_ok());
    assert_eq!(outcome.events.len(), 3, "events past the limit are dropped");
    let logs = recorder.logs.lock().unwrap().clone();
    assert_eq!(logs.iter().filter(|(_, _, m)| m == "again").count(), 5, "{logs:?}");
    let note = logs.last().unwrap();
    assert!(note.2.starts_with("45 log lines and 47 events of this call were dropped"), "{note:?}");

    // Lines printed to stdout count too.
    let mut call = TaskCall::new("core", "stdout", json!({ "text": "a\nb\nc\nd\ne\nf\ng" }));
    let recorder = crate::support::Recorder::arc();
    call.observer = Some(recorder.clone());
    host.invoke(call).await.unwrap().output.unwrap();
    let logs = recorder.logs.lock().unwrap().clone();
    assert!(logs.last().unwrap().2.contains("log lines and 0 events of this call were dropped"), "{logs:?}");
}

#[tokio::test]
async fn a_rust_guests_stack_overflow_is_called_so() {
    // It was reported as "out of bounds memory access": a Rust guest's stack is in its
    // linear memory, and running off it is an access below address 0.
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    let err = host.invoke(TaskCall::new("core", "crash", json!({ "overflow": true }))).await.unwrap_err();
    let CallError::Trap { message, .. } = &err else { panic!("expected a trap, got {err}") };
    // (The bundled plugins are built without a name section: no function name.)
    assert_eq!(message, "stack overflow: the plugin recursed deeper than its stack allows");
    echo_still_works(&host).await;
}

/// A host with `core` (and `manifest` as its core.toml), its kv space in `kv`, and the
/// operator's limits changed by `limits`.
async fn core_host(
    manifest: &str,
    kv: std::sync::Arc<harmonia_host::MemKv>,
    limits: impl FnOnce(&mut harmonia_host::CallLimits),
) -> (Dir, Host) {
    let dir = Dir::new();
    dir.add_bundled("core");
    dir.write("core.toml", manifest.as_bytes());
    let mut config = dir.config();
    config.kv = kv;
    limits(&mut config.call_limits);
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    (dir, host)
}

#[tokio::test]
async fn the_kv_writes_of_a_call_that_times_out_are_dropped() {
    // They used to persist: a call cut short by its deadline had written half its work.
    let kv = std::sync::Arc::new(harmonia_host::MemKv::default());
    let (_dir, host) = core_host("", kv.clone(), |_| {}).await;
    let mut call = TaskCall::new("core", "kv_set", json!({ "key": "k", "value": "late", "then_sleep_ms": 5000 }));
    call.timeout = Some(Duration::from_millis(300));
    let err = host.invoke(call).await.unwrap_err();
    assert!(matches!(err, CallError::Timeout { .. }), "{err}");
    assert_eq!(harmonia_host::KvStore::get(&*kv, "core", "k").unwrap(), None);
    // A call that returns writes, and reads its own writes before it returns.
    host.invoke(TaskCall::new("core", "kv_set", json!({ "key": "k", "value": "kept" }))).await.unwrap().output.unwrap();
    assert_eq!(harmonia_host::KvStore::get(&*kv, "core", "k").unwrap(), Some(b"\"kept\"".to_vec()));
}

#[tokio::test]
async fn a_plugins_kv_space_is_held_to_its_quota() {
    let kv = std::sync::Arc::new(harmonia_host::MemKv::default());
    // The operator allows 1 MiB; the manifest lowers it to 100 bytes (it cannot raise it).
    let (_dir, host) = core_host("max_kv_bytes = 100\n", kv.clone(), |l| l.max_kv_bytes = 1 << 20).await;
    assert_eq!(host.plugin("core").unwrap().limits.max_kv_bytes, 100);
    let set = |key: &str, len: usize| TaskCall::new("core", "kv_set", json!({ "key": key, "value": "x".repeat(len) }));
    host.invoke(set("a", 40)).await.unwrap().output.unwrap();
    // 43 bytes held; 43 more would be 86, within; then 129 would not be.
    host.invoke(set("b", 40)).await.unwrap().output.unwrap();
    let refused = host.invoke(set("c", 40)).await.unwrap().output.unwrap_err();
    assert_eq!(refused.code.as_deref(), Some("kv_quota"), "{refused:?}");
    assert!(refused.message.contains("over its limit of 100 (max_kv_bytes"), "{}", refused.message);
    assert_eq!(harmonia_host::KvStore::get(&*kv, "core", "c").unwrap(), None, "nothing of the refused call is written");
    // Deleting makes room again.
    host.invoke(TaskCall::new("core", "kv_delete", json!({ "key": "a" }))).await.unwrap().output.unwrap();
    host.invoke(set("c", 40)).await.unwrap().output.unwrap();
    // One call's writes cannot hold more than the quota either: it fails while it writes.
    let err = host.invoke(set("d", 200)).await.unwrap_err();
    let CallError::Trap { message, .. } = &err else { panic!("expected a trap, got {err}") };
    assert!(message.contains("over the plugin's limit of 100 (max_kv_bytes)"), "{message}");
}

#[tokio::test]
async fn a_manifest_cannot_give_its_plugin_more_memory_or_concurrency_than_the_operator_allows() {
    // A manifest gave its own plugin 4 GiB per instance and 256 instances at once.
    let kv = std::sync::Arc::new(harmonia_host::MemKv::default());
    let (_dir, host) = core_host("memory_mb = 4096\nmax_concurrency = 256\n", kv, |l| {
        l.max_memory_bytes = 128 << 20;
        l.max_concurrency = 4;
    })
    .await;
    let core = host.plugin("core").unwrap();
    assert_eq!((core.memory_limit_bytes, core.max_concurrency), (128 << 20, 4));
    echo_still_works(&host).await;
    // Below the operator's caps, the manifest's own values hold.
    let kv = std::sync::Arc::new(harmonia_host::MemKv::default());
    let (_dir, host) = core_host("memory_mb = 32\nmax_concurrency = 2\n", kv, |_| {}).await;
    let core = host.plugin("core").unwrap();
    assert_eq!((core.memory_limit_bytes, core.max_concurrency), (32 << 20, 2));
}
