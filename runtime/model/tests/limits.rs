//! Documents that used to crash or exhaust the process that parsed them (a server, or
//! `harmonia validate`): each is refused within its limit with an error that names it, or
//! accepted at a cost that grows with its size, not faster.

use std::time::Instant;

use harmonia_model::{Limits, parse_workflow, parse_workflow_with};

/// A chain of `n` tasks, each depending on the one before and using its output.
fn chain(n: usize) -> String {
    let mut text = String::from("name: chain\nversion: 1\ntasks:\n  t0: { component: core, action: echo, input: {} }\n");
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
    assert_eq!(d.message, "the number of tasks (20000) exceeds the limit of 10000 (workflow_max_tasks; an operator can raise it)");
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
    let text = chain(5_000).replace("t0: { component: core, action: echo, input: {} }", "t0: { component: core, action: echo, input: {}, depends_on: [t4999] }");
    let e = parse_workflow(&text, None).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].message.starts_with("dependency cycle: t0 -> t4999 -> t4998"), "{}", &e.0[0].message[..80]);
}

#[test]
fn names_versions_and_task_ids_are_bounded() {
    let long = "n".repeat(129);
    let e = parse_workflow(&format!("name: {long}\nversion: 1\ntasks:\n  a: {{ component: core, action: echo }}\n"), None).unwrap_err();
    assert!(e.0[0].message.contains("`name` is 129 characters long, over the limit of 128"), "{e}");
    let e = parse_workflow(&format!("name: w\nversion: 1\ntasks:\n  {long}: {{ component: core, action: echo }}\n"), None).unwrap_err();
    assert!(e.0[0].message.contains("is 129 characters long, over the limit of 128"), "{e}");
    for version in ["\"1\\0\"", "\"1 2\"", "\"a/b\"", &"9".repeat(65)] {
        let e = parse_workflow(&format!("name: w\nversion: {version}\ntasks:\n  a: {{ component: core, action: echo }}\n"), None).unwrap_err();
        assert!(e.0[0].message.contains("`version` may only hold letters, digits"), "{version}: {e}");
    }
    for version in ["1", "1.0", "2024-01-01", "1.0.0-rc.1+build.5", "v2_beta"] {
        let text = format!("name: w\nversion: {version}\ntasks:\n  a: {{ component: core, action: echo }}\n");
        assert_eq!(parse_workflow(&text, None).unwrap().version, version);
    }
}
