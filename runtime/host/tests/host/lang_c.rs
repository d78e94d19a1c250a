//! C plugins through the host: `plugins/digest`, built from source by `sdk/c` (clang,
//! wasi-libc and the preview-1 reactor adapter), as a user's plugin would be.

use std::sync::Arc;

use harmonia_host::{CallError, Host, KvStore, MemKv, TaskCall};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Dir, Recorder};

async fn digest_host() -> (Dir, Host) {
    let dir = Dir::new();
    dir.add_bundled("digest");
    let host = dir.host().await;
    (dir, host)
}

async fn call(host: &Host, action: &str, input: Value) -> Result<Value, harmonia_host::Failure> {
    host.invoke(TaskCall::new("digest", action, input)).await.expect("call runs").output
}

#[tokio::test]
async fn c_plugin_describes_its_actions() {
    let (_d, host) = digest_host().await;
    let plugin = host.plugin("digest").expect("digest loaded");
    assert_eq!(plugin.version, "0.1.0");
    assert!(plugin.description.contains("SHA-256"), "{}", plugin.description);
    let names: Vec<&str> = plugin.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["hash", "stats", "seen", "forget"]);
    let schema = plugin.actions[0].input_schema.as_ref().expect("hash publishes a schema");
    assert_eq!(schema["required"], json!(["text"]));
    let schema = plugin.actions[2].input_schema.as_ref().expect("seen publishes a schema");
    assert_eq!(schema["properties"]["text"]["type"], "string");
}

#[tokio::test]
async fn c_plugin_hashes_known_vectors() {
    let (_d, host) = digest_host().await;
    assert_eq!(
        call(&host, "hash", json!({ "text": "abc" })).await.unwrap(),
        json!({
            "algorithm": "sha256",
            "hex": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "bytes": 3
        })
    );
    let crc = call(&host, "hash", json!({ "text": "123456789", "algorithm": "crc32" })).await.unwrap();
    assert_eq!(crc, json!({ "algorithm": "crc32", "hex": "cbf43926", "bytes": 9 }));
    let fnv = call(&host, "hash", json!({ "text": "a", "algorithm": "fnv1a" })).await.unwrap();
    assert_eq!(fnv["hex"], "e40c292c");
}

#[tokio::test]
async fn c_plugin_hashes_a_large_unicode_text_like_sha2() {
    let (_d, host) = digest_host().await;
    // Escapes, quotes, a NUL, 2-, 3- and 4-byte characters, over several hundred KiB.
    let text: String = (0..20_000).map(|i| format!("line {i}: café € 😀 \"q\" \\ \t\u{0}\n")).collect();
    let out = call(&host, "hash", json!({ "text": text })).await.unwrap();
    assert_eq!(out["hex"], hex(&Sha256::digest(text.as_bytes())));
    assert_eq!(out["bytes"], text.len());
    let stats = call(&host, "stats", json!({ "text": text })).await.unwrap();
    assert_eq!(
        stats,
        json!({ "bytes": text.len(), "lines": 20_000, "ascii": false, "utf8_chars": text.chars().count() })
    );
}

#[tokio::test]
async fn c_plugin_names_the_field_of_invalid_input() {
    let (_d, host) = digest_host().await;
    let err = call(&host, "hash", json!({ "text": "x", "algorithm": "md5" })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert!(err.message.contains("`algorithm`") && err.message.contains("md5"), "{err:?}");
    assert_eq!(err.code.as_deref(), Some("unknown-algorithm"));
    assert_eq!(err.details, Some(json!({ "supported": ["sha256", "crc32", "fnv1a"] })));

    let err = call(&host, "hash", json!({ "algorithm": "crc32" })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert!(err.message.contains("`text`"), "{err:?}");
    let err = call(&host, "stats", json!({ "text": ["not", "a", "string"] })).await.unwrap_err();
    assert_eq!(err.message, "field `text` must be a string, not array");
}

#[tokio::test]
async fn c_plugin_unknown_action_lists_the_available_ones() {
    let (_d, host) = digest_host().await;
    let err = host.invoke(TaskCall::new("digest", "sign", json!({}))).await.unwrap_err();
    assert!(
        matches!(&err, CallError::UnknownAction { available, .. } if available == &["hash", "stats", "seen", "forget"]),
        "{err}"
    );
}

#[tokio::test]
async fn c_plugin_logs_one_info_line_per_call() {
    let (_d, host) = digest_host().await;
    let recorder = Recorder::arc();
    let mut c = TaskCall::new("digest", "hash", json!({ "text": "abc", "algorithm": "crc32" }));
    c.observer = Some(recorder.clone());
    host.invoke(c).await.unwrap().output.unwrap();
    let logs = recorder.logs.lock().unwrap().clone();
    assert_eq!(logs, [("digest".to_string(), tracing::Level::INFO, "crc32 of 3 bytes: 352441c2".to_string())]);
}

#[tokio::test]
async fn c_plugin_keeps_state_in_the_key_value_space() {
    let dir = Dir::new();
    dir.add_bundled("digest");
    let kv = Arc::new(MemKv::default());
    let mut config = dir.config();
    config.kv = kv.clone();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    let first = host.invoke(TaskCall::new("digest", "seen", json!({ "text": "abc" }))).await.unwrap();
    assert_eq!(first.output.unwrap(), json!({ "hex": sha_abc, "duplicate": false, "count": 1 }));
    assert!(first.events.is_empty());
    // A fresh instance serves the second call: the count comes from the host's store.
    let second = host.invoke(TaskCall::new("digest", "seen", json!({ "text": "abc" }))).await.unwrap();
    assert_eq!(second.output.unwrap(), json!({ "hex": sha_abc, "duplicate": true, "count": 2 }));
    assert_eq!(second.events.len(), 1);
    assert_eq!(second.events[0].event_type, "digest.duplicate");
    assert_eq!(second.events[0].data["count"], 2);
    assert_eq!(kv.get("digest", &format!("seen/{sha_abc}")).unwrap().as_deref(), Some(&b"2"[..]));

    let forget = call(&host, "forget", json!({ "text": "abc" })).await.unwrap();
    assert_eq!(forget, json!({ "hex": sha_abc, "removed": true }));
    assert!(kv.get("digest", &format!("seen/{sha_abc}")).unwrap().is_none());
    assert_eq!(call(&host, "forget", json!({ "text": "abc" })).await.unwrap()["removed"], false);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
