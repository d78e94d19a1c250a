//! python plugins through the host: the example plugin built from source by its SDK.
//!
//! `plugins/textstats` is written with `sdk/python` and built by componentize-py
//! (`bash plugins/build.sh textstats`): an 18 MB component with a whole CPython inside,
//! run with the default 64 MiB memory limit.

use std::sync::Arc;

use harmonia_host::{CallError, Failure, Host, KvStore, MemKv, TaskCall};
use serde_json::{Value, json};

use crate::support::{Dir, Recorder};

const TEXT: &str = "The cat sat on the mat. The cat is happy! Dogs, however, don't bark at cats?";

async fn textstats() -> (Dir, Host) {
    let dir = Dir::new();
    dir.add_bundled("textstats");
    let host = dir.host().await;
    (dir, host)
}

async fn call(host: &Host, action: &str, input: Value) -> Result<Value, Failure> {
    host.invoke(TaskCall::new("textstats", action, input)).await.expect("call runs").output
}

#[tokio::test]
async fn textstats_describes_its_actions() {
    let (_d, host) = textstats().await;
    let plugin = host.plugin("textstats").expect("textstats is loaded");
    assert_eq!(plugin.version, "0.1.0");
    let names: Vec<&str> = plugin.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["analyze", "keywords", "corpus_add", "corpus_stats", "corpus_reset"]);
    let analyze = &plugin.actions[0];
    assert!(analyze.description.starts_with("Counts words"), "{analyze:?}");
    assert_eq!(analyze.input_schema.as_ref().unwrap()["required"], json!(["text"]));
}

#[tokio::test]
async fn textstats_analyzes_text_and_logs_through_the_host() {
    let (_d, host) = textstats().await;
    let recorder = Recorder::arc();
    let mut c = TaskCall::new("textstats", "analyze", json!({ "text": TEXT, "top": 3 }));
    c.observer = Some(recorder.clone());
    let out = host.invoke(c).await.unwrap().output.unwrap();
    assert_eq!(
        out,
        json!({
            "words": 16, "sentences": 3, "characters": 76, "avg_word_length": 3.5,
            "lexical_diversity": 0.812, "reading_minutes": 0.08,
            "top_words": [{"word": "cat", "count": 2}, {"word": "bark", "count": 1}, {"word": "cats", "count": 1}]
        })
    );
    let logs = recorder.logs.lock().unwrap().clone();
    assert_eq!(
        logs,
        [("textstats".to_string(), tracing::Level::INFO, "analyze: 16 words, 3 sentences, 76 characters".to_string())]
    );

    let out =
        call(&host, "keywords", json!({ "text": format!("{TEXT} Cats purr. A cat naps."), "n": 2 })).await.unwrap();
    assert_eq!(out, json!({ "keywords": ["cat", "cats"] }));
}

#[tokio::test]
async fn textstats_handles_a_large_text_within_the_default_memory() {
    let (_d, host) = textstats().await;
    let text = TEXT.repeat(20_000); // 1.5 MB, 320 000 words
    let out = call(&host, "analyze", json!({ "text": text })).await.unwrap();
    assert_eq!(out["words"], 320_000);
    assert_eq!(out["top_words"][0], json!({"word": "cat", "count": 40_000}));
}

#[tokio::test]
async fn textstats_rejects_bad_input_naming_the_field() {
    let (_d, host) = textstats().await;
    let err = call(&host, "analyze", json!({ "txt": "hello" })).await.unwrap_err();
    assert_eq!(err.kind, "invalid_input");
    assert!(err.message.contains("`text`"), "{err:?}");
    assert_eq!(err.code.as_deref(), Some("missing-field"));
    assert_eq!(err.details, Some(json!({ "field": "text", "expected": "a string" })));

    let err = call(&host, "analyze", json!({ "text": "hello", "top": "three" })).await.unwrap_err();
    assert_eq!((err.kind.as_str(), err.code.as_deref()), ("invalid_input", Some("wrong-type")));
    assert!(err.message.contains("`top`"), "{err:?}");

    let err = host.invoke(TaskCall::new("textstats", "summarize", json!({}))).await.unwrap_err();
    assert!(
        matches!(&err, CallError::UnknownAction { available, .. } if available.len() == 5 && available[0] == "analyze"),
        "{err}"
    );
}

#[tokio::test]
async fn textstats_keeps_a_corpus_in_the_kv_store() {
    let dir = Dir::new();
    dir.add_bundled("textstats");
    let kv = Arc::new(MemKv::default());
    let mut config = dir.config();
    config.kv = kv.clone();
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();

    let first =
        host.invoke(TaskCall::new("textstats", "corpus_add", json!({"text": "red fish, blue fish"}))).await.unwrap();
    assert_eq!(first.output.unwrap(), json!({"corpus": "default", "documents": 1, "words": 4}));
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].event_type, "textstats.corpus_updated");
    assert_eq!(first.events[0].data, json!({"corpus": "default", "documents": 1}));
    call(&host, "corpus_add", json!({"text": "one fish"})).await.unwrap();
    assert_eq!(
        call(&host, "corpus_stats", json!({"top": 2})).await.unwrap(),
        json!({"corpus": "default", "documents": 2, "words": 6,
               "top_words": [{"word": "fish", "count": 3}, {"word": "blue", "count": 1}]})
    );
    let stored: Value = serde_json::from_slice(&kv.get("textstats", "corpus/default").unwrap().unwrap()).unwrap();
    assert_eq!(stored["counts"]["fish"], 3);

    // An error with a code and details, after kv-delete.
    call(&host, "corpus_reset", json!({})).await.unwrap();
    assert!(kv.get("textstats", "corpus/default").unwrap().is_none());
    let err = call(&host, "corpus_stats", json!({})).await.unwrap_err();
    assert_eq!((err.kind.as_str(), err.code.as_deref()), ("invalid_input", Some("unknown-corpus")));
    assert_eq!(err.details, Some(json!({"corpus": "default"})));

    // A Python exception the plugin did not handle is a fatal task error naming it, not a trap.
    kv.write("textstats", &[("corpus/broken".to_string(), Some(b"[1, 2]".to_vec()))].into(), u64::MAX).unwrap();
    let err = call(&host, "corpus_add", json!({"text": "x", "corpus": "broken"})).await.unwrap_err();
    assert_eq!((err.kind.as_str(), err.code.as_deref()), ("fatal", Some("exception")));
    assert!(err.message.starts_with("action `corpus_add` raised TypeError: "), "{err:?}");
    assert!(err.details.unwrap()["traceback"].as_str().unwrap().contains("plugin.py"));
}

#[tokio::test]
async fn a_key_over_the_host_limit_is_a_task_error_not_a_trap() {
    let (_d, host) = textstats().await;
    // The host aborts a call whose kv key is over 1024 bytes; the SDK refuses it first.
    let corpus = "c".repeat(2000);
    let err = call(&host, "corpus_add", json!({"text": "some words", "corpus": corpus})).await.unwrap_err();
    assert_eq!(err.kind, "fatal", "{err}");
    assert_eq!(err.code.as_deref(), Some("kv-key-too-long"), "{err}");
    // The plugin goes on working.
    let out = call(&host, "keywords", json!({"text": "alpha beta alpha", "n": 1})).await.unwrap();
    assert_eq!(out, json!({"keywords": ["alpha"]}));
}
