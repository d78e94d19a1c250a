//! Every example workflow of the repository parses, and every invalid one fails as its
//! first line says.

use std::path::{Path, PathBuf};

use harmonia_model::{load_workflow, render_template};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")));
    files.sort();
    files
}

#[test]
fn example_workflows_parse() {
    let mut failures = Vec::new();
    for file in files(&repo().join("workflows")) {
        if let Err(e) = load_workflow(&file) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn example_templates_render() {
    for file in files(&repo().join("workflows/templates")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let params = [("name".to_string(), "rendered_example".to_string())];
        if let Err(e) = render_template(&text, Some(&file), &params) {
            panic!("{e}");
        }
    }
}

/// `# expect: <line>:<column>: <part of the message>` on the first line of each file.
#[test]
fn invalid_workflows_fail_as_expected() {
    let files = files(&repo().join("workflows/invalid"));
    assert!(files.len() >= 10, "expected the invalid examples in workflows/invalid");
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", file.display()));
        let mut parts = expect.splitn(3, ':');
        let line: u32 = parts.next().unwrap().trim().parse().unwrap();
        let column: u32 = parts.next().unwrap().trim().parse().unwrap();
        let message = parts.next().unwrap().trim();
        match load_workflow(&file) {
            Ok(_) => failures.push(format!("{}: parsed, expected {expect}", file.display())),
            Err(diags) => {
                let found = diags.0.iter().any(|d| d.line == line && d.column == column && d.message.contains(message));
                if !found || diags.0.len() != 1 {
                    failures.push(format!("{}: expected only {expect}, got:\n{diags}", file.display()));
                }
                assert!(diags.0.iter().all(|d| d.file.as_deref() == Some(file.as_path())));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
