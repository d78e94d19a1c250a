//! Every error of a workflow file: message, line and column, and all of a file at once.

use std::path::Path;

use harmonia_model::{Diagnostic, parse_workflow};

/// `name`, `version` and `tasks:` on lines 1-3; `body` starts on line 4.
fn with_tasks(body: &str) -> String {
    format!("name: t\nversion: 1\ntasks:\n{body}")
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse_workflow(text, None) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(d) => d.0,
    }
}

/// The only error of `text`.
#[track_caller]
fn only(text: &str) -> Diagnostic {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.into_iter().next().unwrap()
}

#[track_caller]
fn assert_error(text: &str, line: u32, column: u32, message: &str) -> Diagnostic {
    let d = only(text);
    assert_eq!((d.line, d.column, d.message.as_str()), (line, column, message), "{d}");
    d
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let d = assert_error(
        "nmae: x\nname: t\nversion: 1\ntasks:\n  a: { component: c, action: x }\n",
        1,
        1,
        "unknown key `nmae` in the workflow",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `name`?"));
    let d = assert_error(
        &with_tasks("  a:\n    component: c\n    action: x\n    dependson: []\n"),
        7,
        5,
        "unknown key `dependson` in task `a`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `depends_on`?"));
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { max_attempt: 2 } }\n"),
        4,
        42,
        "unknown key `max_attempt` in `retry`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `max_attempts`?"));
    let d =
        assert_error(&with_tasks("  a: { component: c, action: x, zzz: 1 }\n"), 4, 33, "unknown key `zzz` in task `a`");
    assert!(d.hint.unwrap().starts_with("valid keys: description, component, action"));
    let d = assert_error(
        "parameters: {}\nname: t\nversion: 1\ntasks:\n  a: { component: c, action: x }\n",
        1,
        1,
        "unknown key `parameters` in the workflow",
    );
    assert!(d.hint.unwrap().contains("template"));
}

#[test]
fn duplicates_name_both_lines() {
    let text = with_tasks("  a:\n    component: c\n    action: x\n  a:\n    component: c\n    action: y\n");
    assert_error(&text, 7, 3, "duplicate task id `a` (first defined at line 4)");
    let text = with_tasks("  a:\n    component: c\n    action: x\n    input: { k: 1, k: 2 }\n");
    assert_error(&text, 7, 20, "duplicate key `k` (first defined at line 7)");
    let text = "name: t\nversion: 1\nname: u\ntasks:\n  a: { component: c, action: x }\n";
    assert_error(text, 3, 1, "duplicate key `name` (first defined at line 1)");
}

#[test]
fn dependencies() {
    let d = assert_error(
        &with_tasks("  extract: { component: c, action: x }\n  b: { component: c, action: x, depends_on: [extrct] }\n"),
        5,
        46,
        "task `b` depends on unknown task `extrct`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `extract`?"));
    assert_error(&with_tasks("  a: { component: c, action: x, depends_on: a }\n"), 4, 45, "task `a` depends on itself");
}

#[test]
fn cycles_name_their_path() {
    let text = with_tasks(concat!(
        "  start: { component: c, action: x }\n",
        "  a: { component: c, action: x, depends_on: [start, c] }\n",
        "  b: { component: c, action: x, depends_on: [a] }\n",
        "  c: { component: c, action: x, depends_on: [b] }\n",
        "  d: { component: c, action: x, depends_on: [e] }\n",
        "  e: { component: c, action: x, depends_on: [d] }\n",
    ));
    let errors = errors(&text);
    let messages: Vec<(u32, &str)> = errors.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(messages, [(5, "dependency cycle: a -> c -> b -> a"), (8, "dependency cycle: d -> e -> d")]);
    assert_eq!(errors[0].column, 3);
}

#[test]
fn types_and_values() {
    assert_error(
        &with_tasks("  a: { component: c, action: x, depends_on: 3 }\n"),
        4,
        45,
        "`depends_on` must be a list of task ids, got an integer",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, depends_on: [b: 1] }\n"),
        4,
        46,
        "`depends_on` must be a list of task ids, got a mapping in it",
    );
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, timeout: soon }\n"),
        4,
        42,
        "`timeout` must be a duration, got `soon`",
    );
    assert!(d.hint.unwrap().contains("30s"));
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, join: both }\n"),
        4,
        39,
        "`join` must be one of all, any, one, merge or {at_least: N}, got `both`",
    );
    assert_eq!(d.hint.as_deref(), Some("`join` is all, any, one, merge, or {at_least: N, rest: finish|cancel}"));
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { backoff: quadratic } }\n"),
        4,
        51,
        "`backoff` must be one of fixed, linear, exponential, got `quadratic`",
    );
    assert_eq!(d.hint.as_deref(), Some("`backoff` is one of: fixed, linear, exponential"));
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, on_error: retry }\n"),
        4,
        43,
        "`on_error` must be fail, continue or a fallback, got `retry`",
    );
    assert!(d.hint.unwrap().contains("fallback"));
    assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { max_attempts: -1 } }\n"),
        4,
        56,
        "`max_attempts` must be a whole number, got `-1`",
    );
    assert_error(
        "name: t\nversion: 1\ninput: { n: { type: int } }\ntasks:\n  a: { component: c, action: x }\n",
        3,
        21,
        "`type` must be one of string, number, integer, boolean, object, array, any, got `int`",
    );
    assert_error(
        "name: a b\nversion: 1\ntasks:\n  a: { component: c, action: x }\n",
        1,
        7,
        "`name` may only hold letters, digits, `_` and `-`, got `a b`",
    );
    assert_error(
        "name: t\nversion: [1]\ntasks:\n  a: { component: c, action: x }\n",
        2,
        10,
        "`version` must be a version like 1.0, got a list",
    );
    assert_error(
        &with_tasks("  a.b: { component: c, action: x }\n"),
        4,
        3,
        "task id `a.b` may only hold letters, digits, `_` and `-`",
    );
    assert_error("name: t\nversion: 1\n", 1, 1, "the workflow has no `tasks`");
    assert_error("name: t\nversion: 1\ntasks: {}\n", 3, 8, "the workflow has no tasks");
    assert_error("- a\n- b\n", 1, 1, "a workflow must be a mapping, got a list");
    assert_error("", 1, 1, "the file is empty");
}

#[test]
fn ranges() {
    assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { max_attempts: 0 } }\n"),
        4,
        56,
        "`max_attempts` must be at least 1 (1 means no retry)",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { jitter: 1.5 } }\n"),
        4,
        50,
        "`jitter` must be between 0 and 1, got 1.5",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, retry: { factor: 0 } }\n"),
        4,
        50,
        "`factor` must be more than 0, got 0",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, repeat: { until: \"${output.done}\", max_iterations: 0 } }\n"),
        4,
        84,
        "`max_iterations` must be at least 1",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, for_each: [1], concurrency: 0 }\n"),
        4,
        61,
        "`concurrency` must be at least 1",
    );
    assert_error(
        "name: t\nversion: 1\nmax_parallel: 0\ntasks:\n  a: { component: c, action: x }\n",
        3,
        15,
        "`max_parallel` must be at least 1",
    );
    assert_error(
        "name: t\nversion: 1\nretry: { jitter: -1 }\ntasks:\n  a: { component: c, action: x }\n",
        3,
        18,
        "`jitter` must be between 0 and 1, got -1",
    );
    assert_error(
        "name: t\nversion: 1\ninput: { n: { type: integer, default: 1.5 } }\ntasks:\n  a: { component: c, action: x }\n",
        3,
        39,
        "the default of input `n` must be an integer, got a number",
    );
    assert_error(
        "name: t\nversion: 1\ninput: { n: { type: integer, default: 1, required: true } }\ntasks:\n  a: { component: c, action: x }\n",
        3,
        42,
        "input `n` is `required` but has a default, which would never be used",
    );
}

#[test]
fn task_shapes() {
    assert_error(&with_tasks("  a: { description: nothing }\n"), 4, 3, "task `a` does nothing");
    assert_error(&with_tasks("  a: { component: c }\n"), 4, 8, "task `a` has `component` but no `action`");
    assert_error(&with_tasks("  a: { action: x }\n"), 4, 8, "task `a` has `action` but no `component`");
    assert_error(
        &with_tasks("  a: { component: c, action: x, workflow: w }\n"),
        4,
        33,
        "task `a` has both `component` and `workflow`: a task does one thing",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, for_each: [1], repeat: { until: \"${output.done}\" } }\n"),
        4,
        48,
        "task `a` has both `for_each` and `repeat`: use one",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, concurrency: 2 }\n"),
        4,
        33,
        "task `a` has `concurrency` but no `for_each`",
    );
    assert_error(
        &with_tasks("  a: { workflow: \"bad name@\" }\n"),
        4,
        18,
        "`workflow` must be a workflow name or name@version, got `bad name@`",
    );
    assert_error(
        &with_tasks("  a: { switch: { cases: [] }, input: { x: 1 } }\n"),
        4,
        38,
        "switch task `a` takes no `input`",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, when: input.x }\n"),
        4,
        39,
        "`when` must be a `${...}` expression, got plain text",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, when: \"${input.x} and more\" }\n"),
        4,
        39,
        "`when` must be exactly one `${...}` expression",
    );
    assert_error(
        "name: t\nversion: 1\ntasks:\n  a: { component: c, action: x }\non_failure: { component: c, action: x, depends_on: [a] }\n",
        5,
        52,
        "`on_failure` cannot have `depends_on`: it runs once, when the execution fails",
    );
    assert_error(
        &with_tasks("  on_failure: { component: c, action: x }\n"),
        4,
        3,
        "the task id `on_failure` is reserved",
    );
}

#[test]
fn expression_errors() {
    // The column of a syntax error is where CEL found it, inside the expression.
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, input: { v: \"${1 + }\" } }\n"),
        4,
        52,
        "syntax error in `${1 + }`: mismatched input '<EOF>'",
    );
    assert_eq!(d.hint, None);
    assert_error(
        &with_tasks("  a: { component: c, action: x, input: { v: \"${input.x\" } }\n"),
        4,
        46,
        "`${` is not closed by `}`",
    );
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, input: { v: \"${inptu.x}\" } }\n"),
        4,
        48,
        "unknown variable `inptu` in `${inptu.x}`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `input`?"));
    let d = assert_error(
        &with_tasks(
            "  extract: { component: c, action: x }\n  b: { component: c, action: x, depends_on: [extract], input: { t: \"${tasks.extrct.output}\" } }\n",
        ),
        5,
        69,
        "`${tasks.extrct.output}` refers to unknown task `extrct`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `extract`?"));
}

#[test]
fn expressions_only_see_what_has_run() {
    let text = with_tasks(concat!(
        "  a: { component: c, action: x }\n",
        "  b: { component: c, action: x, input: { t: \"${tasks.a.output}\" } }\n",
    ));
    assert_error(&text, 5, 46, "task `b` uses tasks.a but does not depend on it (add it to depends_on)");
    // Ancestors through other tasks are fine, and so are `output` and `on_failure`.
    let text = with_tasks(concat!(
        "  a: { component: c, action: x }\n",
        "  b: { component: c, action: x, depends_on: [a] }\n",
        "  c: { component: c, action: x, depends_on: [b], when: \"${tasks.a.status == 'succeeded'}\" }\n",
    )) + "output: \"${tasks.c.output}\"\non_failure: { component: c, action: x, input: \"${tasks.c.output} ${failure.task}\" }\n";
    parse_workflow(&text, None).unwrap();
    let text = with_tasks("  a: { component: c, action: x, set_vars: { v: \"${tasks.a.output}\" } }\n");
    let d = assert_error(&text, 4, 49, "task `a` uses tasks.a, its own result");
    assert_eq!(d.hint.as_deref(), Some("use `output` in set_vars and repeat.until"));
}

#[test]
fn roots_only_where_they_are_bound() {
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, input: { v: \"${item}\" } }\n"),
        4,
        46,
        "`item` cannot be used in `input` of task `a`",
    );
    assert_eq!(d.hint.as_deref(), Some("it is only defined in the `input` of a task with `for_each`"));
    assert_error(
        &with_tasks("  a: { component: c, action: x, for_each: [1], when: \"${index > 0}\" }\n"),
        4,
        55,
        "`index` cannot be used in `when` of task `a`",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, input: { v: \"${output.x}\" } }\n"),
        4,
        46,
        "`output` cannot be used in `input` of task `a`",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, when: \"${iteration > 1}\" }\n"),
        4,
        40,
        "`iteration` cannot be used in `when` of task `a`",
    );
    assert_error(
        &with_tasks("  a: { component: c, action: x, input: \"${failure.task}\" }\n"),
        4,
        41,
        "`failure` cannot be used in `input` of task `a`",
    );
    let d = assert_error(
        &with_tasks("  a: { component: c, action: x, input: \"${params.x}\" }\n"),
        4,
        41,
        "`params` cannot be used in `input` of task `a`",
    );
    assert!(d.hint.unwrap().contains("template"));
    let text = "name: t\nversion: 1\nvars: { v: \"${tasks.a.output}\" }\ntasks:\n  a: { component: c, action: x }\n";
    let d = assert_error(text, 3, 13, "`tasks` cannot be used in workflow var `v`");
    assert!(d.hint.unwrap().contains("before any task runs"));
    // Where they are bound, they are fine.
    let text = with_tasks(concat!(
        "  a: { component: c, action: x, for_each: [1], input: \"${item} ${index}\" }\n",
        "  b:\n    component: c\n    action: x\n",
        "    input: \"${iteration}\"\n",
        "    repeat: { until: \"${output.done && iteration > 2}\" }\n",
        "    set_vars: { v: \"${output.x + iteration}\" }\n",
    ));
    parse_workflow(&text, None).unwrap();
}

#[test]
fn switch_targets() {
    let text = with_tasks(concat!(
        "  s:\n    switch:\n      cases:\n",
        "        - { when: \"${true}\", then: [yes, nope] }\n",
        "      default: s\n",
        "  yes: { component: c, action: x }\n",
    ));
    let errors = errors(&text);
    let found: Vec<(u32, u32, &str)> = errors.iter().map(|d| (d.line, d.column, d.message.as_str())).collect();
    assert_eq!(
        found,
        [
            (7, 37, "task `yes` is a target of switch `s` but does not list it in depends_on"),
            (7, 42, "switch `s` selects unknown task `nope`"),
            (8, 16, "switch `s` cannot select itself"),
        ]
    );
    assert_eq!(errors[0].hint.as_deref(), Some("add `s` to the depends_on of `yes`"));
}

#[test]
fn fallbacks() {
    let text =
        with_tasks("  a: { component: c, action: x, on_error: { fallback: b } }\n  bb: { component: c, action: x }\n");
    let d = assert_error(&text, 4, 43, "task `a` falls back to unknown task `b`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `bb`?"));
    assert_error(
        &with_tasks("  a: { component: c, action: x, on_error: { fallback: a } }\n"),
        4,
        43,
        "task `a` cannot be its own fallback",
    );
    let text = with_tasks(concat!(
        "  a: { component: c, action: x, on_error: { fallback: fb } }\n",
        "  fb: { component: c, action: x, input: \"${failure.error} ${tasks.a.status} ${tasks.b.output}\" }\n",
        "  b: { component: c, action: x }\n",
    ));
    assert_error(&text, 5, 77, "fallback task `fb` uses tasks.b, which has not run when `fb` runs");
    let text = with_tasks(concat!(
        "  a: { component: c, action: x, on_error: { fallback: fb } }\n",
        "  fb: { component: c, action: x }\n",
        "  c: { component: c, action: x, depends_on: [fb] }\n",
    ));
    assert_error(&text, 6, 46, "task `c` depends on `fb`, a fallback task: it only runs in place of a failed task");
}

#[test]
fn all_errors_of_a_file_come_out_together_in_order() {
    let text = concat!(
        "name: t\n",
        "version: 1\n",
        "timeout: later\n",
        "tasks:\n",
        "  a:\n",
        "    component: c\n",
        "    action: x\n",
        "    depends_on: [zz]\n",
        "    joinn: any\n",
        "  b:\n",
        "    component: c\n",
        "    action: x\n",
        "    input: { v: \"${tasks.a.output} ${1 +}\" }\n",
    );
    let err = parse_workflow(text, Some(Path::new("flow.yaml"))).unwrap_err();
    let lines: Vec<String> = err.0.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "flow.yaml:3:10: `timeout` must be a duration, got `later` (hint: write e.g. 30s, 500ms, 2m, 1h30m, or a number of seconds)",
            "flow.yaml:8:18: task `a` depends on unknown task `zz`",
            "flow.yaml:9:5: unknown key `joinn` in task `a` (hint: did you mean `join`?)",
            "flow.yaml:13:41: syntax error in `${1 +}`: mismatched input '<EOF>'",
        ]
    );
    assert_eq!(err.to_string(), lines.join("\n"));
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let d = assert_error(
        "name: t\nversion: 1\ntasks:\n  a: { component: c\n",
        5,
        1,
        "YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'",
    );
    assert_eq!(d.hint, None);
    let d = only("name: t\nversion: 1\n---\nname: u\n");
    assert_eq!((d.line, d.message.as_str()), (3, "a workflow file holds one YAML document, this is a second one"));
}

#[test]
fn control_flow_mistakes_name_line_and_column() {
    assert_error(
        &with_tasks(
            "  a: { component: c, action: x }\n  b: { component: c, action: x, depends_on: [a], join: some }\n",
        ),
        5,
        56,
        "`join` must be one of all, any, one, merge or {at_least: N}, got `some`",
    );
    assert_error(
        &with_tasks(
            "  a: { component: c, action: x }\n  b: { component: c, action: x, depends_on: [a], join: { at_least: 2 } }\n",
        ),
        5,
        56,
        "task `b` joins at least 2 of its 1 dependencies",
    );
    assert_error(
        &with_tasks(
            "  a: { component: c, action: x }\n  b: { component: c, action: x, depends_on: [a], join: { at_least: 0 } }\n",
        ),
        5,
        68,
        "`at_least` must be 1 or more",
    );
    assert_error(
        &with_tasks("  stop: { terminate: { output: 1, error: no } }\n"),
        4,
        35,
        "`terminate` has both `output` and `error`: it completes or fails the execution",
    );
    assert_error(
        &with_tasks("  stop: { terminate: {} }\n  after: { component: c, action: x, depends_on: [stop] }\n"),
        5,
        50,
        "task `after` depends on `stop`, a terminate task: the execution ends when it runs",
    );
    assert_error(
        &with_tasks("  stop: { terminate: {}, retry: 3 }\n"),
        4,
        26,
        "terminate task `stop` cannot have `retry`",
    );
    let d = assert_error(
        &with_tasks("  pack: { component: c, action: x }\n  halt: { cancel: [pakc] }\n"),
        5,
        20,
        "task `halt` cancels unknown task `pakc`",
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `pack`?"));
    assert_error(
        &with_tasks("  a: { component: c, action: x, for_each: { items: [1], at_least: 1, concurency: 2 } }\n"),
        4,
        70,
        "unknown key `concurency` in `for_each`",
    );
}

#[test]
fn a_goto_goes_back_to_a_dependency_and_only_its_task_leaves_the_loop() {
    let a = "  a: { component: c, action: x }\n";
    assert_error(
        &with_tasks(&format!("{a}  b: {{ component: c, action: x, goto: {{ task: a, when: \"${{true}}\" }} }}\n")),
        5,
        47,
        "task `b` goes back to `a`, which it does not depend on: a goto goes back to the task itself or one of its dependencies",
    );
    let d = assert_error(
        &with_tasks(&format!(
            "{a}  b: {{ component: c, action: x, depends_on: [a], goto: {{ task: zz, when: \"${{true}}\" }} }}\n"
        )),
        5,
        64,
        "task `b` goes back to unknown task `zz`",
    );
    assert_eq!(d.hint, None);
    let d = assert_error(
        &with_tasks(&format!(
            "{a}  c: {{ component: c, action: x, depends_on: [a] }}\n  d: {{ component: c, action: x, depends_on: [c], goto: {{ task: a, when: \"${{true}}\" }} }}\n  e: {{ component: c, action: x, depends_on: [c] }}\n"
        )),
        7,
        45,
        "task `e` depends on `c`, inside the loop from `d` back to `a`: only `d` may have dependants outside its loop",
    );
    assert_eq!(d.hint.as_deref(), Some("make `e` depend on `d`, which ends the loop"));
}
