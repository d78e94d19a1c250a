//! Workflow templates: `parameters:` + `${params.x}`, rendered into a workflow.

use std::path::Path;

use harmonia_model::{Scope, TaskAction, Template, parse_workflow, render_template};
use serde_json::json;

const TEMPLATE: &str = r#"# A template
parameters:
  name: { type: string, description: Name of the workflow }
  threshold: { type: number, default: 0.3 }
  retries: { type: integer, default: 2 }
  strict: { type: boolean, default: false }
  labels: { type: array, default: [] }
  options: { type: object, required: false }
  plugin: { type: string, default: sophia }
name: ${params.name}
version: 1.0
input:
  text: { type: string }
vars:
  threshold: ${params.threshold}
  labels: "${params.labels}"
  options: "${params.options}"
  strict: "${params.strict}"
tasks:
  score:
    component: ${params.plugin}
    action: analyze_sentiment
    retry: { max_attempts: "${params.retries + 1}" }
    input: { text: "${input.text}", note: "by ${params.plugin}: ${input.text} costs $${money}" }
output:
  positive: "${tasks.score.output.score > vars.threshold}"
"#;

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn renders_typed_parameters_and_keeps_run_time_expressions() {
    let given = params(&[
        ("name", "review_check"),
        ("threshold", "0.5"),
        ("labels", r#"["a", "b"]"#),
        ("options", r#"{"k": 1}"#),
        ("strict", "true"),
    ]);
    let text = render_template(TEMPLATE, Some(Path::new("t.yaml")), &given).unwrap();
    assert!(!text.contains("parameters"), "{text}");
    let wf = parse_workflow(&text, None).unwrap();
    assert_eq!(wf.name, "review_check");
    assert_eq!(wf.version, "1.0", "the version stays as written:\n{text}");
    let vars: Vec<_> = wf.vars.iter().map(|(k, t)| (k.as_str(), t.render(&Scope::empty()).unwrap())).collect();
    assert_eq!(
        vars,
        [
            ("threshold", json!(0.5)),
            ("labels", json!(["a", "b"])),
            ("options", json!({ "k": 1 })),
            ("strict", json!(true))
        ]
    );
    let score = &wf.tasks["score"];
    assert_eq!(score.retry.as_ref().unwrap().max_attempts, 3, "expressions over params are evaluated");
    let TaskAction::Call { component, input, .. } = &score.action else { panic!() };
    assert_eq!(component, "sophia", "defaults fill in");
    let Template::Object(input) = input else { panic!("{input:?}") };
    assert_eq!(input["text"].exprs().next().unwrap().source, "input.text");
    let Template::Interpolated(_) = &input["note"] else { panic!() };
    let rendered =
        input["note"].render(&Scope::new(&json!({ "text": "hi" }), &json!({}), &json!({}), &json!({}))).unwrap();
    assert_eq!(rendered, json!("by sophia: hi costs ${money}"));
    assert!(wf.output.unwrap().task_refs().contains("score"));
}

#[test]
fn optional_parameter_without_value_is_null() {
    let text = render_template(TEMPLATE, None, &params(&[("name", "x")])).unwrap();
    let wf = parse_workflow(&text, None).unwrap();
    assert_eq!(wf.vars["options"].render(&Scope::empty()).unwrap(), json!(null));
}

#[test]
fn parameter_errors() {
    let err = render_template(
        TEMPLATE,
        Some(Path::new("t.yaml")),
        &params(&[("nme", "x"), ("threshold", "high"), ("retries", "2.5")]),
    )
    .unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "t.yaml: unknown parameter `nme` (hint: did you mean `name`?)",
            "t.yaml: parameter `threshold` must be a number, got `high`",
            "t.yaml: parameter `retries` must be an integer, got `2.5`",
            "t.yaml: missing required parameter `name` (hint: `name`: Name of the workflow)",
        ]
    );
    let err =
        render_template(TEMPLATE, None, &params(&[("name", "x"), ("labels", "{}"), ("strict", "yes")])).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        ["parameter `labels` must be a JSON list, got `{}`", "parameter `strict` must be true or false, got `yes`"]
    );
}

#[test]
fn placeholder_errors_point_into_the_template() {
    let text = "parameters:\n  n: { type: integer }\nname: t\nversion: 1\ntasks:\n  a: { component: c, action: x, input: { v: \"${params.m}\", w: \"${params.n + input.k}\" } }\n";
    let err = render_template(text, None, &params(&[("n", "1")])).unwrap_err();
    let found: Vec<(u32, u32, &str)> = err.0.iter().map(|d| (d.line, d.column, d.message.as_str())).collect();
    assert_eq!(
        found,
        [
            (6, 46, "unknown parameter `m` in `${params.m}`"),
            (6, 64, "`${params.n + input.k}` mixes `params` with `input`"),
        ]
    );
    assert_eq!(err.0[0].hint.as_deref(), Some("known: n"));
    let err = render_template("name: t\nversion: 1\ntasks: {}\n", None, &[]).unwrap_err();
    assert_eq!(err.0[0].message, "a template needs `parameters:` (without it, it is a plain workflow)");
}

#[test]
fn a_rendered_workflow_that_does_not_validate_is_an_error() {
    let text = "parameters:\n  dep: { type: string }\nname: t\nversion: 1\ntasks:\n  a: { component: c, action: x, depends_on: [\"${params.dep}\"] }\n";
    let err = render_template(text, None, &params(&[("dep", "ghost")])).unwrap_err();
    assert_eq!(err.to_string(), "in the rendered workflow: task `a` depends on unknown task `ghost`");
}

#[test]
fn strings_that_need_quotes_survive_rendering() {
    let text = "parameters:\n  d: { type: string }\nname: t\nversion: 1\ndescription: \"${params.d}\"\ntasks:\n  a: { component: c, action: x }\n";
    for d in [
        "true",
        "123",
        "a: b",
        "# not a comment",
        "- item",
        "multi\nline",
        "  padded ",
        "${input.x}",
        "'quoted'",
        "null",
        "",
    ] {
        let rendered = render_template(text, None, &params(&[("d", d)])).unwrap();
        let wf = parse_workflow(&rendered, None).unwrap();
        assert_eq!(wf.description.as_deref(), Some(d), "{rendered}");
    }
}
