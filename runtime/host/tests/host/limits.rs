//! A misbehaving plugin fails its own call, never the host or other calls.

use std::time::{Duration, Instant};

use harmonia_host::{Call, CallError, Host};
use serde_json::json;

use crate::support::Dir;
use crate::wat;

async fn echo_still_works(host: &Host) {
    let outcome = host.invoke("core", Call::new("echo", json!({"still": "alive"}))).await.expect("echo");
    assert_eq!(outcome.output.unwrap(), json!({"still": "alive"}));
}

#[tokio::test]
async fn endless_loop_is_stopped_at_its_timeout() {
    let dir = Dir::new();
    dir.add_bundled("core").write("looper.wasm", &wat::endless_loop("looper"));
    let host = dir.host().await;
    let started = Instant::now();
    let timeout = Duration::from_millis(300);
    let err = host.invoke("looper", Call::new("run", json!({})).with_timeout(timeout)).await.unwrap_err();
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
            host.invoke("looper", Call::new("run", json!({})).with_timeout(Duration::from_secs(2))).await
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
    let err = host.invoke("bomb", Call::new("run", json!({}))).await.unwrap_err();
    assert_eq!(
        err,
        CallError::MemoryLimit { plugin: "bomb".into(), action: "run".into(), limit_bytes: 16 << 20 }
    );
    assert!(err.to_string().contains("memory limit of 16 MiB"), "{err}");
    echo_still_works(&host).await;
}

#[tokio::test]
async fn default_memory_limit_is_64_mib() {
    let dir = Dir::new();
    dir.write("bomb.wasm", &wat::memory_bomb("bomb"));
    let host = dir.host().await;
    let err = host.invoke("bomb", Call::new("run", json!({}))).await.unwrap_err();
    assert!(matches!(err, CallError::MemoryLimit { limit_bytes, .. } if limit_bytes == 64 << 20), "{err}");
}

#[tokio::test]
async fn trap_fails_the_call_with_a_clear_error() {
    let dir = Dir::new();
    dir.add_bundled("core").write("trapper.wasm", &wat::trap("trapper"));
    let host = dir.host().await;
    let err = host.invoke("trapper", Call::new("run", json!({}))).await.unwrap_err();
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
    let err = host.invoke("core", Call::new("crash", json!({ "message": "the ledger is unbalanced" }))).await.unwrap_err();
    let CallError::Trap { message, .. } = &err else { panic!("expected a trap, got {err}") };
    assert!(message.starts_with("wasm trap: wasm `unreachable` instruction executed; the plugin panicked at core/src/control.rs:"), "{message}");
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
    let err = host.invoke("looper", Call::new("run", json!({}))).await.unwrap_err();
    assert!(matches!(err, CallError::FuelExhausted { .. }), "{err}");
}

#[tokio::test]
async fn guest_sleep_past_the_timeout_is_stopped() {
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    let started = Instant::now();
    let call = Call::new("sleep", json!({"ms": 5_000})).with_timeout(Duration::from_millis(200));
    let err = host.invoke("core", call).await.unwrap_err();
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
            tokio::spawn(async move { host.invoke("core", Call::new("sleep", json!({"ms": 200}))).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("sleep call");
    }
    // Six 200 ms calls, two at a time, need at least three rounds.
    assert!(started.elapsed() >= Duration::from_millis(600), "ran more than 2 at once: {:?}", started.elapsed());
}
