//! Documents that used to crash or exhaust the process that parsed them (a server, or
//! `harmonia validate`): each is refused within its limit with an error that names it, or
//! accepted at a cost that grows with its size, not faster.

use std::time::Instant;

use harmonia_model::{Limits, parse_workflow, parse_workflow_with};

/// A chain of `n` tasks, each depending on the one before and using its output.
fn chain(n: usize) -> String {
    let mut text =
        String::from("name: chain\nversion: 1\ntasks:\n  t0: { component: core, action: echo, input: {} }\n");
    for i in 1..n {
        text.push_str(&format!(
            "  t{i}: {{ component: core, action: echo, input: {{ v: \"${{tasks.t{}.output}}\" }}, depends_on: [t{}] }}\n",
            i - 1,
            i - 1
        ));
    }
    text
}

#[test]
fn more_tasks_than_the_limit_are_refused_before_they_are_read() {
    let e = parse_workflow(&chain(20_000), None).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    let d = &e.0[0];
    assert_eq!((d.line, d.column), (4, 3), "{d}");
    assert_eq!(
        d.message,
        "the number of tasks (20000) exceeds the limit of 10000 (workflow_max_tasks; an operator can raise it)"
    );
}

#[test]
fn a_long_chain_validates_without_recursion_or_quadratic_memory() {
    // 20,000 tasks overflowed the stack in the cycle check; 10,000 held 50 million
    // ancestor names (2.7 GB) to check what each expression may use.
    let limits = Limits { max_tasks: 20_000, ..Limits::default() };
    let started = Instant::now();
    let workflow = parse_workflow_with(&chain(20_000), None, &limits).unwrap();
    assert_eq!(workflow.tasks.len(), 20_000);
    eprintln!("a chain of 20,000 tasks validated in {:?}", started.elapsed());
    // What an expression may use is still checked all along the chain.
    let mut text = chain(3_000);
    text.push_str("  last: { component: core, action: echo, input: { v: \"${tasks.t0.output} ${tasks.t2999.output}\" }, depends_on: [t2999] }\n");
    text.push_str("  loose: { component: core, action: echo, input: { v: \"${tasks.t1500.output}\" } }\n");
    let e = parse_workflow(&text, None).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].message.contains("task `loose` uses tasks.t1500 but does not depend on it"), "{e}");
}

#[test]
fn a_cycle_at_the_end_of_a_long_chain_is_found() {
    let text = chain(5_000).replace(
        "t0: { component: core, action: echo, input: {} }",
        "t0: { component: core, action: echo, input: {}, depends_on: [t4999] }",
    );
    let e = parse_workflow(&text, None).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].message.starts_with("dependency cycle: t0 -> t4999 -> t4998"), "{}", &e.0[0].message[..80]);
}

#[test]
fn names_versions_and_task_ids_are_bounded() {
    let long = "n".repeat(129);
    let e =
        parse_workflow(&format!("name: {long}\nversion: 1\ntasks:\n  a: {{ component: core, action: echo }}\n"), None)
            .unwrap_err();
    assert!(e.0[0].message.contains("`name` is 129 characters long, over the limit of 128"), "{e}");
    let e =
        parse_workflow(&format!("name: w\nversion: 1\ntasks:\n  {long}: {{ component: core, action: echo }}\n"), None)
            .unwrap_err();
    assert!(e.0[0].message.contains("is 129 characters long, over the limit of 128"), "{e}");
    for version in ["\"1\\0\"", "\"1 2\"", "\"a/b\"", &"9".repeat(65)] {
        let e = parse_workflow(
            &format!("name: w\nversion: {version}\ntasks:\n  a: {{ component: core, action: echo }}\n"),
            None,
        )
        .unwrap_err();
        assert!(e.0[0].message.contains("`version` may only hold letters, digits"), "{version}: {e}");
    }
    for version in ["1", "1.0", "2024-01-01", "1.0.0-rc.1+build.5", "v2_beta"] {
        let text = format!("name: w\nversion: {version}\ntasks:\n  a: {{ component: core, action: echo }}\n");
        assert_eq!(parse_workflow(&text, None).unwrap().version, version);
    }
}

/// Evaluates `source` over `input` within `budget`.
fn eval_within(
    source: &str,
    input: &serde_json::Value,
    budget: harmonia_model::Budget,
) -> Result<serde_json::Value, String> {
    let empty = serde_json::json!({});
    let mut scope = harmonia_model::Scope::new(input, &empty, &harmonia_model::NoTasks, &empty);
    scope.budget = budget;
    let expr = harmonia_model::Expr::parse(source, harmonia_model::Span::default())?;
    expr.eval(&scope).map_err(|e| e.message)
}

const OVER_COST: &str =
    "the expression's cost exceeds the limit of 10000000 (expression_max_cost; an operator can raise it)";

#[test]
fn an_expression_that_would_run_for_half_a_minute_is_stopped_by_its_cost() {
    // 30,000 lists of 30,000 elements: 27 s of one core, on the thread serving requests.
    let no_time = harmonia_model::Budget { max_time: std::time::Duration::from_secs(3600), ..Default::default() };
    let e = eval_within(
        "lists.range(input.n).map(x, lists.range(input.n).size()).size()",
        &serde_json::json!({ "n": 30000 }),
        no_time,
    )
    .unwrap_err();
    assert_eq!(e, OVER_COST);
}

#[test]
fn nested_maps_that_would_fill_the_memory_are_stopped_by_their_cost() {
    // Nine `map`s over ten items: a billion values.
    let mut source = String::from("x8");
    for depth in (0..9).rev() {
        source = format!("lists.range(input.n).map(x{depth}, {source})");
    }
    // (Without a time limit, which a debug build could reach first.)
    let no_time = harmonia_model::Budget { max_time: std::time::Duration::from_secs(3600), ..Default::default() };
    let e = eval_within(&source, &serde_json::json!({ "n": 10 }), no_time).unwrap_err();
    assert_eq!(e, OVER_COST);
    // Values that double at each level are charged as they are made.
    let mut doubling = String::from("input.s");
    for _ in 0..40 {
        doubling = format!("[{doubling}].map(a, a + a)[0]");
    }
    let e = with_stack(move || {
        eval_within(&format!("size({doubling})"), &serde_json::json!({ "s": "0123456789abcdef" }), no_time)
    })
    .unwrap_err();
    assert_eq!(e, OVER_COST);
}

#[test]
fn the_cost_limit_holds_when_exists_would_absorb_its_error() {
    // `exists` takes `error || true` as true: the limit must still be reported.
    let e = eval_within(
        "[2, 1].exists(x, x == 1 || lists.range(input.n).size() > 0)",
        &serde_json::json!({ "n": 20000000 }),
        Default::default(),
    )
    .unwrap_err();
    assert_eq!(e, OVER_COST);
}

#[test]
fn work_the_cost_does_not_see_is_stopped_by_the_cpu_time_limit() {
    // Comparing two large lists is one operator, not charged by size; a loop of them is
    // stopped by the CPU time.
    let input = serde_json::json!({ "big": (0..20_000).collect::<Vec<_>>() });
    let budget = harmonia_model::Budget { max_cost: u64::MAX, max_time: std::time::Duration::from_millis(100) };
    let e = eval_within("lists.range(1000000).all(x, input.big == input.big)", &input, budget).unwrap_err();
    assert_eq!(
        e,
        "the expression's CPU time exceeds the limit of 100 ms (expression_max_time; an operator can raise it)"
    );
}

#[test]
fn expressions_within_their_budget_give_their_results() {
    let input = serde_json::json!({ "items": (0..10_000).map(|i| serde_json::json!({ "id": i, "name": format!("item {i}") })).collect::<Vec<_>>() });
    let none = Default::default();
    assert_eq!(
        eval_within("input.items.filter(i, i.id % 2 == 0).map(i, i.name).size()", &input, none).unwrap(),
        serde_json::json!(5000)
    );
    assert_eq!(
        eval_within("lists.range(1000).map(x, lists.range(100).size()).size()", &input, none).unwrap(),
        serde_json::json!(1000)
    );
    assert_eq!(
        eval_within("input.items.exists(i, i.name == 'item 9999')", &input, none).unwrap(),
        serde_json::json!(true)
    );
    assert_eq!(
        eval_within("input.items.map(i, i.id).sortBy(i, -i)[0]", &input, none).unwrap(),
        serde_json::json!(9999)
    );
    // The result is charged too: a small budget refuses a large result.
    let small = harmonia_model::Budget { max_cost: 1_000, ..Default::default() };
    assert_eq!(eval_within("lists.range(400)", &input, small).unwrap().as_array().unwrap().len(), 400);
    let e = eval_within("lists.range(400) + lists.range(400)", &input, small).unwrap_err();
    assert!(e.contains("limit of 1000 (expression_max_cost"), "{e}");
}

/// Runs `f` on a thread with a large stack: CEL's parser, in a debug build, needs more than
/// a test thread's 2 MiB for an expression nested 40 deep (a release build does not).
fn with_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 << 20).spawn(f).unwrap().join().unwrap()
}

#[test]
fn expressions_too_long_or_too_deep_for_the_parser_are_refused() {
    // 10,000 `+` overflowed the parser's stack, 2,000 the evaluator's.
    let e =
        with_stack(|| eval_within(&format!("1{}", " + 1".repeat(10_000)), &serde_json::json!({}), Default::default()))
            .unwrap_err();
    assert_eq!(
        e,
        "the expression is 40001 characters long, over the limit of 8192 (compute large values in a task, or split the expression)"
    );
    let e = with_stack(|| eval_within(&format!("1{}", "+1".repeat(2_000)), &serde_json::json!({}), Default::default()))
        .unwrap_err();
    assert_eq!(e, "the expression nests deeper than 250 levels (split it, or compute the value in a task)");
    // In a workflow, the error points at the expression.
    let text = format!(
        "name: deep\nversion: 1\ntasks:\n  a: {{ component: core, action: echo, input: {{ v: \"${{1{}}}\" }} }}\n",
        "+1".repeat(2_000)
    );
    let e = with_stack(move || parse_workflow(&text, None).unwrap_err());
    assert_eq!((e.0[0].line, e.0[0].column), (4, 52), "{e}");
    assert!(e.0[0].message.contains("nests deeper than 250 levels"), "{e}");
}

#[test]
fn an_expression_certain_to_pass_its_budget_is_refused_when_its_workflow_is_read() {
    // Literal sizes fix its cost: 30,000 lists of 30,000 elements.
    let e = eval_within(
        "lists.range(30000).map(x, lists.range(30000).size()).size()",
        &serde_json::json!({}),
        Default::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "the expression costs at least 900090000, over the limit of 10000000 (expression_max_cost; an operator can raise it) (nested loops multiply: compute large values in a task)"
    );
    let text = "name: bomb\nversion: 1\ntasks:\n  a: { component: core, action: echo, input: { v: \"${[1, 2, 3].map(a, lists.range(10000).map(b, lists.range(1000)))}\" } }\n";
    let e = parse_workflow(text, None).unwrap_err();
    assert_eq!((e.0[0].line, e.0[0].column), (4, 52), "{e}");
    assert!(e.0[0].message.contains("over the limit of 10000000 (expression_max_cost"), "{e}");
    // What data decides is left to the evaluation's budget.
    assert!(
        harmonia_model::Expr::parse(
            "lists.range(input.n).map(x, lists.range(input.n))",
            harmonia_model::Span::default()
        )
        .is_ok()
    );
}
