//! Every example in `workflows/` run through `harmonia run` with the real bundled plugins,
//! from the repository root as a user would.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

use crate::support::repo;

pub(crate) fn harmonia(args: &[&str]) -> Output {
    crate::support::harmonia_command()
        .current_dir(repo())
        .args(args)
        .env_remove("HARMONIA_PLUGINS")
        .output()
        .expect("run harmonia")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a workflow that must succeed; returns its output.
pub(crate) fn run_ok(args: &[&str]) -> Value {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = harmonia(&all);
    assert!(
        out.status.success(),
        "harmonia {all:?} failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn document_processing_prints_text_and_sentiment() {
    let out =
        run_ok(&["workflows/document_processing.yaml", "--input", "document_path=workflows/examples-data/review.txt"]);
    assert_eq!(out["sentiment"], "positive");
    assert!(out["text"].as_str().unwrap().starts_with("I love this product."), "{out}");
    // An absolute path works the same.
    let abs = repo().join("workflows/examples-data/complaint.txt");
    let out = run_ok(&["workflows/document_processing.yaml", "--input", &format!("document_path={}", abs.display())]);
    assert_eq!(out["sentiment"], "negative");
}

#[test]
fn parallel_scores_each_review() {
    let out = run_ok(&["workflows/parallel.yaml"]);
    assert_eq!(out, json!({"first": "positive", "second": "negative", "third": "neutral"}));
}

#[test]
fn conditions_pick_the_branch_that_applies() {
    let out = run_ok(&["workflows/conditions.yaml", "--input", "text=I love it, wonderful"]);
    assert_eq!(out["reply"], "Thank you for the kind words!");
    assert_eq!(out["thanked"], "succeeded");
    let out = run_ok(&["workflows/conditions.yaml", "--input", "text=This is awful"]);
    assert_eq!(out["reply"], "Sorry to hear that. A ticket was opened.");
    assert_eq!(out["thanked"], "skipped");
}

#[test]
fn joins_and_or_xor() {
    let out = run_ok(&["workflows/joins.yaml"]);
    assert_eq!(out["xor"], json!({"fast": "succeeded", "slow": "cancelled"}));
    assert_eq!(out["or"], json!({"got": "left"}));
    assert_eq!(out["and"], json!({"right_status": "failed", "right_error": "right side is down"}));
}

#[test]
fn switch_routes_by_a_task_output() {
    for (input, action) in [("I love it", "publish"), ("I hate it, terrible", "escalate"), ("It is a chair", "archive")]
    {
        let out = run_ok(&["workflows/switch.yaml", "--input", &format!("text={input}")]);
        assert_eq!(out["action"], action, "{input}: {out}");
    }
}

#[test]
fn for_each_fans_out_over_data_and_keeps_order() {
    let out = run_ok(&["workflows/for_each.yaml"]);
    assert_eq!(out, json!({"sentences": 3, "sentiments": ["positive", "negative", "neutral"]}));
}

#[test]
fn repeat_loops_until_done() {
    assert_eq!(run_ok(&["workflows/repeat.yaml"]), json!({"iterations": 3}));
    assert_eq!(run_ok(&["workflows/repeat.yaml", "--input", "target=5"]), json!({"iterations": 5}));
}

#[test]
fn retries_and_timeouts() {
    let out = run_ok(&["workflows/retries.yaml"]);
    assert_eq!(out, json!({"flaky_calls": 3, "slow_status": "failed", "slow_error": "timeout"}));
}

#[test]
fn a_fallback_recovers() {
    let out = run_ok(&["workflows/error_handling.yaml"]);
    assert_eq!(
        out,
        json!({"sentiment": "positive", "recovered_from": "primary source unavailable", "primary_status": "succeeded"})
    );
}

#[test]
fn a_failing_workflow_exits_1_after_on_failure() {
    let out = harmonia(&["run", "workflows/on_failure.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("in task broken") && stderr.contains("the data is corrupt"), "{stderr}");
    assert!(stderr.contains("cleaning up after broken: the data is corrupt"), "on_failure ran and logged:\n{stderr}");
}

#[test]
fn sub_workflows_run_as_children() {
    let paths = r#"{"paths": ["workflows/examples-data/review.txt", "workflows/examples-data/complaint.txt"]}"#;
    let out = run_ok(&["workflows/subworkflow.yaml", "--input-json", paths]);
    assert_eq!(out, json!({"sentiments": ["positive", "negative"]}));
}

#[test]
fn json_flag_prints_the_whole_execution() {
    let out = run_ok(&["workflows/repeat.yaml", "--json"]);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["tasks"]["poll"]["iteration"], 3);
    assert_eq!(out["output"], json!({"iterations": 3}));
}

#[test]
fn every_example_validates() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.strip_prefix(repo()).unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = harmonia(&args);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn invalid_workflows_and_inputs_exit_2_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "name: bad\nversion: 1\ntasks:\n  a:\n    component: nosuch\n    action: x\n  b:\n    component: core\n    action: echo\n    depends_on: [zzz]\n").unwrap();
    let out = harmonia(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.yaml:10:") && stderr.contains("zzz"), "{stderr}");

    let out = harmonia(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    let out = harmonia(&["run", "workflows/repeat.yaml", "--input", "target=many"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = harmonia(&["run", "workflows/document_processing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("document_path"), "{}", text(&out.stderr));
}

#[test]
fn unknown_plugin_is_rejected_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ghost.yaml");
    std::fs::write(&file, "name: ghost\nversion: 1\ntasks:\n  a:\n    component: ghost\n    action: boo\n").unwrap();
    let out = harmonia(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ghost.yaml:4:") && stderr.contains("unknown plugin `ghost`"), "{stderr}");
}

#[test]
fn template_renders_to_a_runnable_workflow() {
    let out = harmonia(&[
        "template",
        "render",
        "workflows/templates/sentiment_check.yaml",
        "--param",
        "name=review_check",
        "--param",
        "threshold=0.5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(yaml.contains("review_check") && !yaml.contains("params."), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("review_check.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let out = run_ok(&[file.to_str().unwrap(), "--input", "text=I love it, it is wonderful"]);
    assert_eq!(out, json!({"sentiment": "positive", "positive": true}));

    let out =
        harmonia(&["template", "render", "workflows/templates/sentiment_check.yaml", "--param", "threshold=high"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("name") && stderr.contains("threshold"),
        "missing name and bad threshold both reported: {stderr}"
    );
}

#[test]
fn polyglot_passes_data_through_rust_python_c_and_javascript() {
    use sha2::{Digest, Sha256};
    let document = "workflows/examples-data/complaint.txt";
    let text = std::fs::read_to_string(repo().join(document)).unwrap();
    let out = run_ok(&["workflows/polyglot.yaml", "--input", &format!("document_path={document}")]);
    // Rust (ergon, sophia)
    assert_eq!(out["sentiment"], "negative");
    // Python (textstats): the same word count as a whitespace split, keywords from the text.
    assert_eq!(out["words"], text.split_whitespace().count());
    let keywords = out["keywords"].as_array().unwrap();
    assert!(!keywords.is_empty() && keywords.len() <= 5, "{out}");
    for k in keywords {
        assert!(text.to_lowercase().contains(k.as_str().unwrap()), "{k} is not in the text");
    }
    // C (digest): SHA-256 of the text, as the host computes it.
    assert_eq!(out["sha256"], hex(&Sha256::digest(text.as_bytes())));
    // JavaScript (report) renders what the others produced...
    let markdown = out["markdown"].as_str().unwrap();
    assert!(markdown.starts_with(&format!("# Report on {document}\n")), "{markdown}");
    for part in
        ["## Statistics", "## Keywords", "## Sentiment", "**sentiment:** negative", out["sha256"].as_str().unwrap()]
    {
        assert!(markdown.contains(part), "{part:?} missing from {markdown}");
    }
    assert!(out["html"].as_str().unwrap().contains("<h2>Fingerprint</h2>"), "{out}");
    // ...and C checksums the JavaScript output.
    assert_eq!(out["report_crc32"], format!("{:08x}", crc32(markdown.as_bytes())));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// CRC-32 (IEEE), bit by bit: slow and obviously right.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn every_example_kept_in_a_data_dir_replays_to_its_stored_state() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let inputs: &[(&str, &[&str])] = &[
        ("conditions.yaml", &["--input", "text=I love it"]),
        ("document_processing.yaml", &["--input", "document_path=workflows/examples-data/review.txt"]),
        ("polyglot.yaml", &["--input", "document_path=workflows/examples-data/complaint.txt"]),
        ("subworkflow.yaml", &["--input-json", r#"{"paths": ["workflows/examples-data/review.txt"]}"#]),
        ("switch.yaml", &["--input", "text=This is awful"]),
        ("document_events.yaml", &["--input", "document_path=workflows/examples-data/review.txt"]),
        ("nightly_report.yaml", &["--input", "started=2026-12-05T02:30:00+01:00"]),
    ];
    // Waits a day for a person's signal (events::an_approval_signal_... runs that pattern).
    // open_items.yaml waits for items over the API (patterns:: runs it on a server).
    let waits_for_a_person = ["approval.yaml", "open_items.yaml"];
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !waits_for_a_person.contains(&p.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let mut args = vec!["run", file.to_str().unwrap(), "--json", "--data", data_dir];
        args.extend(inputs.iter().find(|(f, _)| *f == name).map_or(&[][..], |(_, a)| *a));
        let out = harmonia(&args);
        let exec: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)));
        assert!(["completed", "failed"].contains(&exec["status"].as_str().unwrap()), "{name} ended: {exec}");
        ids.push(exec["id"].as_str().unwrap().to_string());
    }
    // Every execution stored, sub-workflow children included, replays to its stored state.
    let list = harmonia(&["exec", "list", "--data", data_dir]);
    let listed: Vec<String> = text(&list.stdout).lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    for id in &ids {
        assert!(listed.contains(id), "{id} not listed: {listed:?}");
    }
    assert!(listed.len() > ids.len(), "the sub-workflow's children are stored too: {listed:?}");
    // The filtered listings (read through the execution indexes) are the whole listing's
    // lines of that workflow or status, in the same (id) order.
    let rows: Vec<Vec<String>> =
        text(&list.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
    let workflow_of = |row: &Vec<String>| row[1].split('@').next().unwrap().to_string();
    let filters = [
        ("--status", "completed".to_string(), 2),
        ("--status", "failed".to_string(), 2),
        ("--workflow", workflow_of(&rows[0]), 1),
        ("--workflow", "document_processing".to_string(), 1),
    ];
    for (flag, value, column) in filters {
        let expected: Vec<&Vec<String>> =
            rows.iter().filter(|row| if column == 1 { workflow_of(row) == value } else { row[2] == value }).collect();
        let out = harmonia(&["exec", "list", flag, &value, "--data", data_dir]);
        assert!(out.status.success(), "exec list {flag} {value}: {}", text(&out.stderr));
        let got: Vec<Vec<String>> =
            text(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "exec list {flag} {value}");
        assert!(value == "failed" || !got.is_empty(), "exec list {flag} {value} found nothing");
    }
    for id in &listed {
        let out = harmonia(&["exec", "replay", id, "--data", data_dir]);
        assert!(out.status.success(), "replay of {id}: {}{}", text(&out.stdout), text(&out.stderr));
        assert!(text(&out.stdout).contains("the state matches the stored one"), "{}", text(&out.stdout));
    }
    // An execution exported and imported into another data directory replays the same.
    let export = harmonia(&["exec", "export", &ids[0], "--data", data_dir]);
    assert!(export.status.success(), "{}", text(&export.stderr));
    let file = data.path().join("export.json");
    std::fs::write(&file, &export.stdout).unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_dir = other.path().to_str().unwrap();
    let import = harmonia(&["exec", "import", file.to_str().unwrap(), "--data", other_dir]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    let again = harmonia(&["exec", "import", file.to_str().unwrap(), "--data", other_dir]);
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));
    let replayed = harmonia(&["exec", "replay", &ids[0], "--data", other_dir]);
    assert!(replayed.status.success(), "{}{}", text(&replayed.stdout), text(&replayed.stderr));
    let history = |dir: &str| text(&harmonia(&["exec", "history", &ids[0], "--data", dir]).stdout);
    assert_eq!(history(other_dir), history(data_dir));

    // The history reads back in order, sequence numbers without gaps.
    let out = harmonia(&["exec", "history", &ids[0], "--data", data_dir]);
    let seqs: Vec<u64> =
        text(&out.stdout).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() >= 3);
}
