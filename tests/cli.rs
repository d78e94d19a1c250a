//! The `harmonia` binary as a user runs it, against the bundled plugins.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins")
}

fn harmonia(args: &[&str]) -> Output {
    crate::support::harmonia_command().args(args).env("HARMONIA_PLUGINS", plugins_dir()).output().expect("run harmonia")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn invoke_sophia_prints_a_positive_sentiment() {
    let out = harmonia(&[
        "plugin",
        "invoke",
        "sophia",
        "analyze_sentiment",
        "--input",
        r#"{"text":"I love this, it is wonderful"}"#,
    ]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!(json["sentiment"], "positive", "{json}");
}

#[test]
fn invoke_with_a_task_error_prints_it_and_exits_1() {
    let out = harmonia(&["plugin", "invoke", "core", "fail", "--input", r#"{"kind":"fatal","message":"no way"}"#]);
    assert_eq!(out.status.code(), Some(1));
    let json = stdout_json(&out);
    assert_eq!(json["error"]["kind"], "fatal");
    assert_eq!(json["error"]["message"], "no way");
}

#[test]
fn invoke_with_bad_input_json_says_so() {
    let out = harmonia(&["plugin", "invoke", "core", "echo", "--input", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--input is not valid JSON"), "{stderr}");
}

#[test]
fn list_shows_every_bundled_plugin() {
    let out = harmonia(&["plugin", "list"]);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    for name in ["core", "ergon", "http", "sophia"] {
        assert!(table.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{table}");
    }
    assert!(table.contains("analyze_sentiment") && table.contains("KiB"), "{table}");

    let out = harmonia(&["plugin", "list", "--json"]);
    let json = stdout_json(&out);
    let plugins = json["plugins"].as_array().unwrap();
    let ergon = plugins.iter().find(|p| p["name"] == "ergon").unwrap();
    assert!(ergon["size_bytes"].as_u64().unwrap() > 0);
    assert!(ergon["grants"].as_array().unwrap().iter().any(|g| g.as_str().unwrap().starts_with("fs-ro:")));
}

#[test]
fn describe_shows_actions() {
    let out = harmonia(&["plugin", "describe", "ergon"]);
    assert!(out.status.success());
    let json = stdout_json(&out);
    assert_eq!(json["name"], "ergon");
    assert_eq!(json["actions"][0]["name"], "extract_text_from_document");
    let out = harmonia(&["plugin", "describe", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin named \"nobody\""));
}

#[test]
fn plugins_flag_and_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugins_dir().join("core.wasm"), dir.path().join("core.wasm")).unwrap();
    std::fs::write(dir.path().join("junk.wasm"), b"junk").unwrap();
    let out =
        crate::support::harmonia_command().args(["plugin", "list", "--plugins"]).arg(dir.path()).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().any(|l| l.starts_with("core")), "{table}");
    assert!(table.contains("FAILED") && table.contains("junk.wasm"), "{table}");
    assert_eq!(out.status.code(), Some(1), "a broken plugin makes `list` exit 1");
}

#[test]
fn ergon_reads_a_relative_path_in_its_documents_directory() {
    let work = tempfile::tempdir().unwrap();
    let documents = work.path().join("workflows/examples-data");
    std::fs::create_dir_all(&documents).unwrap();
    std::fs::write(documents.join("doc.txt"), "one two three").unwrap();
    let input = r#"{"document_path":"workflows/examples-data/doc.txt"}"#;
    let out = crate::support::harmonia_command()
        .current_dir(work.path())
        .args(["plugin", "invoke", "ergon", "extract_text_from_document", "--input", input])
        .env("HARMONIA_PLUGINS", plugins_dir().canonicalize().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json = stdout_json(&out);
    assert_eq!(json["text"], "one two three");
    assert_eq!(json["words"], 3);
}

#[test]
fn output_cut_short_by_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    // As `harmonia openapi | head -c 0`: nobody reads the pipe by the time it writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = crate::support::harmonia_command().arg("openapi").stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE, like other tools: {:?}", out.status);
}
