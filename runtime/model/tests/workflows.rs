//! Workflows that parse, and what they parse to.

use std::path::Path;
use std::time::Duration;

use harmonia_model::*;
use serde_json::json;

/// The plan's example, exactly as DESIGN.md writes it (unquoted `${...}` in flow mappings).
const DESIGN_EXAMPLE: &str = r#"name: document_processing
version: 1.0
input: { document_path: { type: string, description: Path to document } }
tasks:
  extract_text:
    component: ergon
    action: extract_text_from_document
    input: { document_path: ${input.document_path} }
  analyze_sentiment:
    component: sophia
    action: analyze_sentiment
    input: { text: ${tasks.extract_text.output.text} }
    depends_on: [extract_text]
output:
  sentiment: ${tasks.analyze_sentiment.output.sentiment}
"#;

const DESIGN_EXAMPLE_JSON: &str = r#"{
  "name": "document_processing",
  "version": "1.0",
  "input": { "document_path": { "type": "string", "description": "Path to document" } },
  "tasks": {
    "extract_text": {
      "component": "ergon",
      "action": "extract_text_from_document",
      "input": { "document_path": "${input.document_path}" }
    },
    "analyze_sentiment": {
      "component": "sophia",
      "action": "analyze_sentiment",
      "input": { "text": "${tasks.extract_text.output.text}" },
      "depends_on": ["extract_text"]
    }
  },
  "output": { "sentiment": "${tasks.analyze_sentiment.output.sentiment}" }
}"#;

/// A summary that does not depend on positions, to compare the YAML and JSON forms.
fn summary(wf: &Workflow) -> String {
    let tasks: Vec<String> = wf
        .tasks
        .values()
        .map(|t| {
            let action = match &t.action {
                TaskAction::Call { component, action, input } => {
                    let exprs: Vec<&str> = input.exprs().map(|e| e.source.as_str()).collect();
                    format!("{component}.{action} {exprs:?}")
                }
                other => format!("{other:?}"),
            };
            format!("{} {action} after {:?}", t.id, t.depends_on)
        })
        .collect();
    let output: Vec<&str> = wf.output.iter().flat_map(|o| o.exprs()).map(|e| e.source.as_str()).collect();
    format!("{} {} {:?} {tasks:?} {output:?}", wf.name, wf.version, wf.input.keys().collect::<Vec<_>>())
}

#[test]
fn design_example_parses_unchanged() {
    let wf = parse_workflow(DESIGN_EXAMPLE, Some(Path::new("document_processing.yaml"))).unwrap();
    assert_eq!(wf.id(), "document_processing@1.0");
    assert_eq!(wf.source.as_deref(), Some(Path::new("document_processing.yaml")));
    let param = &wf.input["document_path"];
    assert_eq!(
        (param.kind, param.required, param.description.as_deref()),
        (ParamType::String, true, Some("Path to document"))
    );
    let extract = &wf.tasks["extract_text"];
    assert_eq!(extract.span, Span { line: 5, column: 3 });
    let TaskAction::Call { component, action, input } = &extract.action else { panic!() };
    assert_eq!((component.as_str(), action.as_str()), ("ergon", "extract_text_from_document"));
    let expr = input.exprs().next().unwrap();
    assert_eq!((expr.source.as_str(), expr.span), ("input.document_path", Span { line: 8, column: 29 }));
    assert_eq!(wf.tasks["analyze_sentiment"].depends_on, ["extract_text"]);

    // It also runs: render the inputs and the output as the engine would.
    let input = check_input(&wf, &json!({ "document_path": "/tmp/a.pdf" })).unwrap();
    let tasks = json!({
        "extract_text": { "status": "succeeded", "output": { "text": "great" } },
        "analyze_sentiment": { "status": "succeeded", "output": { "sentiment": "positive" } },
    });
    let (vars, meta) = (json!({}), json!({ "id": "x", "name": wf.name, "version": wf.version }));
    let scope = Scope::new(&input, &vars, &tasks, &meta);
    let TaskAction::Call { input: template, .. } = &extract.action else { panic!() };
    assert_eq!(template.render(&scope).unwrap(), json!({ "document_path": "/tmp/a.pdf" }));
    assert_eq!(wf.output.as_ref().unwrap().render(&scope).unwrap(), json!({ "sentiment": "positive" }));
}

#[test]
fn design_example_as_json_is_the_same_workflow() {
    let yaml = parse_workflow(DESIGN_EXAMPLE, None).unwrap();
    let json = parse_workflow(DESIGN_EXAMPLE_JSON, None).unwrap();
    assert_eq!(summary(&yaml), summary(&json));
    assert_eq!(json.version, "1.0");
    // Compact JSON on one line works too.
    let compact: serde_json::Value = serde_json::from_str(DESIGN_EXAMPLE_JSON).unwrap();
    let wf = parse_workflow(&compact.to_string(), None).unwrap();
    assert_eq!(wf.tasks.len(), 2);
    assert_eq!(wf.tasks["analyze_sentiment"].depends_on, ["extract_text"]);
}

#[test]
fn version_is_kept_as_written() {
    for (written, version) in
        [("1.0", "1.0"), ("2", "2"), ("1.10", "1.10"), ("\"3.0\"", "3.0"), ("2024-01-02", "2024-01-02")]
    {
        let text = format!("name: v\nversion: {written}\ntasks:\n  a: {{ component: core, action: echo }}\n");
        assert_eq!(parse_workflow(&text, None).unwrap().version, version);
    }
}

/// Every feature of the format in one file.
const FULL: &str = r#"
name: example
version: 1.0
description: Everything at once
input:
  document_path: { type: string, description: Path, required: true }
  limit: { type: integer, default: 10 }
  tags: { type: array, required: false }
  anything: any
vars: { counter: 0, label: "${input.document_path}" }
timeout: 5m
task_timeout: 30s
retry: { max_attempts: 3, delay: 1s, backoff: exponential, factor: 2, max_delay: 30s, jitter: 0.1, retry_on: [retryable, timeout] }
max_parallel: 8
tasks:
  split:
    component: core
    action: split
    input: { text: "${input.document_path}" }
  extract:
    description: Extract the text
    component: ergon
    action: extract_text_from_document
    input: { document_path: "${input.document_path}", piece: "${item}", at: "${index}" }
    depends_on: split
    join: any
    when: "${input.limit > 0}"
    for_each: "${tasks.split.output.items}"
    concurrency: 4
    retry: 5
    timeout: 1h30m
    on_error: continue
  poll:
    component: core
    action: echo
    depends_on: [extract]
    input: { n: "${iteration}" }
    repeat: { until: "${output.done || iteration > 3}", max_iterations: 100 }
    on_error: { fallback: rescue }
    set_vars: { counter: "${vars.counter + 1}", last: "${output}" }
  rescue:
    component: core
    action: echo
    input: { failed: "${failure.task}", from: "${tasks.poll.status} ${tasks.extract.status}" }
  classify:
    component: sophia
    action: classify
    depends_on: [extract]
    on_error: fail
  route:
    switch:
      cases:
        - when: "${tasks.classify.output.kind == 'invoice'}"
          then: [invoice]
        - when: "${tasks.classify.output.kind == 'letter'}"
          then: letter
      default: [other]
    depends_on: [classify]
  invoice: { component: core, action: echo, depends_on: [route] }
  letter: { component: core, action: echo, depends_on: [route] }
  other: { component: core, action: echo, depends_on: [route] }
  child:
    workflow: other_flow@2
    input: { text: "${tasks.classify.output.kind}" }
    depends_on: [classify]
  child_latest:
    workflow: other_flow
    depends_on: [child]
output: { sentiment: "${tasks.classify.output.sentiment}", all: ["${tasks.child.output}", 1] }
on_failure: { component: core, action: echo, input: { failed: "${failure.task}", out: "${tasks.extract.output}" } }
"#;

#[test]
fn every_feature_parses() {
    let wf = parse_workflow(FULL, None).unwrap();
    assert_eq!(wf.description.as_deref(), Some("Everything at once"));
    assert_eq!(
        wf.input["limit"],
        InputParam {
            kind: ParamType::Integer,
            description: None,
            required: false,
            default: Some(json!(10)),
            span: Span { line: 7, column: 3 }
        }
    );
    assert!(!wf.input["tags"].required);
    assert_eq!(wf.input["anything"].kind, ParamType::Any);
    assert!(wf.vars["counter"].is_literal());
    assert_eq!(wf.timeout, Some(Duration::from_secs(300)));
    assert_eq!(wf.task_timeout, Some(Duration::from_secs(30)));
    let retry = wf.retry.as_ref().unwrap();
    assert_eq!(
        *retry,
        RetryPolicy {
            max_attempts: 3,
            delay: Duration::from_secs(1),
            backoff: Backoff::Exponential,
            factor: 2.0,
            max_delay: Some(Duration::from_secs(30)),
            jitter: 0.1,
            retry_on: vec!["retryable".into(), "timeout".into()],
        }
    );
    assert_eq!(wf.max_parallel, Some(8));

    let extract = &wf.tasks["extract"];
    assert_eq!(extract.depends_on, ["split"]);
    assert_eq!(extract.join, Join::ANY);
    assert_eq!(extract.when.as_ref().unwrap().source, "input.limit > 0");
    let for_each = extract.for_each.as_ref().unwrap();
    assert_eq!((for_each.items.source.as_str(), for_each.concurrency), ("tasks.split.output.items", 4));
    assert_eq!(extract.retry.as_ref().unwrap().max_attempts, 5);
    assert_eq!(extract.timeout, Some(Duration::from_secs(5400)));
    assert_eq!(extract.on_error, OnError::Continue);

    let poll = &wf.tasks["poll"];
    assert_eq!(poll.repeat.as_ref().unwrap().max_iterations, 100);
    assert_eq!(poll.on_error, OnError::Fallback("rescue".into()));
    assert_eq!(poll.set_vars.keys().collect::<Vec<_>>(), ["counter", "last"]);
    assert_eq!(wf.fallback_tasks().into_iter().collect::<Vec<_>>(), ["rescue"]);

    let TaskAction::Switch { cases, default } = &wf.tasks["route"].action else { panic!() };
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1].then, ["letter"]);
    assert_eq!(default, &["other"]);
    let TaskAction::Workflow { name, version, .. } = &wf.tasks["child"].action else { panic!() };
    assert_eq!((name.as_str(), version.as_deref()), ("other_flow", Some("2")));
    let TaskAction::Workflow { version, .. } = &wf.tasks["child_latest"].action else { panic!() };
    assert_eq!(*version, None);

    let on_failure = wf.on_failure.as_ref().unwrap();
    assert_eq!(on_failure.id, ON_FAILURE);
    assert_eq!(wf.output.as_ref().unwrap().task_refs().into_iter().collect::<Vec<_>>(), ["child", "classify"]);
}

#[test]
fn defaults_of_optional_settings() {
    let wf = parse_workflow(
        "name: d\nversion: 1\ntasks:\n  a: { component: c, action: x, for_each: [1, 2], retry: { delay: 2s }, repeat_not: 1 }\n",
        None,
    );
    // `repeat_not` is unknown: everything else still reads.
    let err = wf.unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].message, "unknown key `repeat_not` in task `a`");

    let wf = parse_workflow(
        "name: d\nversion: 1\ntasks:\n  a: { component: c, action: x, for_each: [1, 2], retry: { delay: 2s } }\n",
        None,
    )
    .unwrap();
    let a = &wf.tasks["a"];
    assert_eq!(a.for_each.as_ref().unwrap().concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(a.for_each.as_ref().unwrap().items.eval(&Scope::empty()).unwrap(), json!([1, 2]));
    let retry = a.retry.as_ref().unwrap();
    assert_eq!(
        (retry.max_attempts, retry.delay, retry.backoff, retry.factor),
        (3, Duration::from_secs(2), Backoff::Exponential, 2.0)
    );
    assert_eq!(a.join, Join::All);
    assert_eq!(a.on_error, OnError::Fail);
    let TaskAction::Call { input, .. } = &a.action else { panic!() };
    assert_eq!(input, &Template::Literal(json!({})));
}

#[test]
fn durations() {
    for (written, secs) in [
        ("30s", 30.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("45", 45.0),
        ("1.5s", 1.5),
        ("1d", 86400.0),
    ] {
        let text = format!("name: d\nversion: 1\ntimeout: {written}\ntasks:\n  a: {{ component: c, action: x }}\n");
        assert_eq!(parse_workflow(&text, None).unwrap().timeout, Some(Duration::from_secs_f64(secs)), "{written}");
    }
}

struct Catalog;
impl PluginCatalog for Catalog {
    fn check(&self, component: &str, action: &str) -> Result<(), String> {
        match (component, action) {
            ("ergon", "extract_text_from_document") => Ok(()),
            ("ergon", other) => Err(format!("plugin `ergon` has no action `{other}`")),
            (other, _) => Err(format!("unknown plugin `{other}`")),
        }
    }
}
impl WorkflowCatalog for Catalog {
    fn exists(&self, name: &str, version: Option<&str>) -> bool {
        name == "known" && version.is_none_or(|v| v == "1")
    }
}

#[test]
fn plugins_and_workflows_are_checked_against_catalogs() {
    let wf = parse_workflow(DESIGN_EXAMPLE, Some(Path::new("doc.yaml"))).unwrap();
    let err = check_plugins(&wf, &Catalog).unwrap_err();
    assert_eq!(err.to_string(), "doc.yaml:9:3: task `analyze_sentiment`: unknown plugin `sophia`");

    let text = "name: w\nversion: 1\ntasks:\n  a: { workflow: known@1 }\n  b: { workflow: known@2 }\n  c: { workflow: nope }\n";
    let wf = parse_workflow(text, None).unwrap();
    assert!(check_plugins(&wf, &Catalog).is_ok(), "no call tasks");
    let err = check_workflows(&wf, &Catalog).unwrap_err();
    assert_eq!(
        err.to_string(),
        "5:3: task `b` runs unknown workflow `known@2`\n6:3: task `c` runs unknown workflow `nope`"
    );
}

#[test]
fn input_is_checked_and_defaults_filled() {
    let wf = parse_workflow(FULL, None).unwrap();
    let input = check_input(&wf, &json!({ "document_path": "/a", "anything": null })).unwrap();
    assert_eq!(input, json!({ "document_path": "/a", "limit": 10, "anything": null }));
    let input =
        check_input(&wf, &json!({ "document_path": "/a", "limit": 3, "tags": ["x"], "anything": { "k": 1 } })).unwrap();
    assert_eq!(input["limit"], json!(3));

    let err = check_input(&wf, &json!({ "limit": 2.5, "tag": [], "document_path": 1, "anything": 0 })).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "unknown input `tag` (hint: did you mean `tags`?)",
            "input `document_path` must be a string, got an integer",
            "input `limit` must be an integer, got a number",
        ]
    );
    assert!(err.0.iter().all(|d| d.line == 0));
    let err = check_input(&wf, &json!({ "anything": "" })).unwrap_err();
    assert_eq!(err.to_string(), "missing required input `document_path` (hint: `document_path`: Path)");
    let err = check_input(&wf, &json!([1])).unwrap_err();
    assert_eq!(err.to_string(), "the input must be an object, got a list");
    // A number parameter takes integers.
    let wf = parse_workflow(
        "name: n\nversion: 1\ninput: { x: { type: number } }\ntasks:\n  a: { component: c, action: x }\n",
        None,
    )
    .unwrap();
    assert_eq!(check_input(&wf, &json!({ "x": 2 })).unwrap(), json!({ "x": 2 }));
}
