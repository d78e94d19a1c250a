//! `${...}` expressions and templates, evaluated as the engine would.

use harmonia_model::{Expr, Root, Scope, Span, Template};
use serde_json::{Value, json};

fn at(line: u32, column: u32) -> Span {
    Span { line, column }
}

fn input() -> Value {
    json!({ "n": 3, "f": 3.5, "name": "Report.PDF", "items": [1, 2, 3], "obj": { "a": 1 }, "big": 18446744073709551615u64 })
}

fn tasks() -> Value {
    json!({
        "extract": { "status": "succeeded", "output": { "text": "hello world", "pages": 2 } },
        "broken": { "status": "failed", "error": { "kind": "fatal", "message": "boom" } },
        "waiting": { "status": "pending" },
        "unused": { "status": "skipped" },
        "with-dash": { "status": "succeeded", "output": 7 },
    })
}

/// Evaluates `source` with the standard test scope.
fn eval(source: &str) -> Result<Value, String> {
    let (input, tasks) = (input(), tasks());
    let vars = json!({ "counter": 41, "label": "x" });
    let workflow = json!({ "id": "wf@1", "name": "wf", "version": "1" });
    let scope = Scope::new(&input, &vars, &tasks, &workflow);
    let expr = Expr::parse(source, at(1, 1))?;
    expr.eval(&scope).map_err(|e| e.to_string())
}

#[test]
fn integers_stay_integers_and_floats_stay_floats() {
    assert_eq!(eval("input.n").unwrap(), json!(3));
    assert!(eval("input.n + 1").unwrap().is_i64());
    assert_eq!(eval("input.n / 2").unwrap(), json!(1), "int division");
    assert_eq!(eval("input.f * 2.0").unwrap(), json!(7.0));
    assert!(eval("input.f").unwrap().is_f64());
    assert_eq!(eval("input.big").unwrap(), json!(18446744073709551615u64));
    assert_eq!(eval("double(input.n) / 2.0").unwrap(), json!(1.5));
}

#[test]
fn roots_tasks_vars_and_workflow() {
    assert_eq!(eval("tasks.extract.output.text").unwrap(), json!("hello world"));
    assert_eq!(eval("tasks.extract.status").unwrap(), json!("succeeded"));
    assert_eq!(eval("tasks.broken.error.message").unwrap(), json!("boom"));
    assert_eq!(eval("tasks.broken.status == 'failed'").unwrap(), json!(true));
    // An unfinished task has a null output.
    assert_eq!(eval("tasks.waiting.output").unwrap(), Value::Null);
    assert_eq!(eval("tasks.waiting.output == null").unwrap(), json!(true));
    assert_eq!(eval("tasks['with-dash'].output + 1").unwrap(), json!(8));
    assert_eq!(eval("tasks.extract").unwrap()["output"]["pages"], json!(2));
    assert_eq!(eval("vars.counter + 1").unwrap(), json!(42));
    assert_eq!(eval("workflow.name + '@' + workflow.version").unwrap(), json!("wf@1"));
}

#[test]
fn cel_functions_and_ternary() {
    assert_eq!(eval("size(tasks.extract.output.text)").unwrap(), json!(11));
    assert_eq!(eval("size(input.items)").unwrap(), json!(3));
    assert_eq!(eval("tasks.extract.output.text.contains('world')").unwrap(), json!(true));
    assert_eq!(eval("input.name.startsWith('Report')").unwrap(), json!(true));
    assert_eq!(eval("input.name.endsWith('.pdf')").unwrap(), json!(false));
    assert_eq!(eval("input.name.lowerAscii().endsWith('.pdf')").unwrap(), json!(true));
    assert_eq!(eval("input.n > 2 ? 'big' : 'small'").unwrap(), json!("big"));
    assert_eq!(eval("input.items.map(x, x * 2)").unwrap(), json!([2, 4, 6]));
    assert_eq!(eval("input.items.filter(x, x > 1)").unwrap(), json!([2, 3]));
    assert_eq!(eval("input.items.exists(x, x == 2)").unwrap(), json!(true));
    assert_eq!(eval("has(input.obj.a) && !has(input.obj.b)").unwrap(), json!(true));
    assert_eq!(eval("{'k': input.n, 'list': [1, 'a']}").unwrap(), json!({ "k": 3, "list": [1, "a"] }));
    assert_eq!(eval("'a' in input.obj || 'x' in ['x']").unwrap(), json!(true));
}

#[test]
fn values_without_json_form() {
    assert_eq!(eval("timestamp('2024-05-01T10:00:00Z')").unwrap(), json!("2024-05-01T10:00:00+00:00"));
    assert_eq!(eval("duration('1m30s')").unwrap(), json!("90s"));
    assert_eq!(eval("b'abc'").unwrap(), json!("abc"), "UTF-8 bytes are a string");
    let err = eval("b'\\xff'").unwrap_err();
    assert!(err.contains("not UTF-8"), "{err}");
    let err = eval("1.0 / 0.0").unwrap_err();
    assert!(err.contains("not a number JSON can hold"), "{err}");
}

#[test]
fn run_time_errors_name_the_expression() {
    let err = eval("input.nope").unwrap_err();
    assert_eq!(err, "${input.nope}: no such field or key `nope`");
    let err = eval("tasks.extract.output.missing.deeper").unwrap_err();
    assert!(err.starts_with("${tasks.extract.output.missing.deeper}: "), "{err}");
    assert!(err.contains("missing"), "{err}");
    let err = eval("input.n + 'a'").unwrap_err();
    assert_eq!(err, "${input.n + 'a'}: cannot apply `+` to int and string");
    let err = eval("item").unwrap_err();
    assert!(err.contains("`item` is not defined here"), "{err}");
    let err = eval("tasks.ghost.output").unwrap_err();
    assert_eq!(err, "${tasks.ghost.output}: unknown task `ghost`");

    let e = Expr::parse("input.n", at(4, 9)).unwrap();
    let (input, vars, workflow) = (json!({}), json!({}), json!({}));
    let err = e.eval(&Scope::new(&input, &vars, &tasks(), &workflow)).unwrap_err();
    assert_eq!((err.expr.as_str(), err.span), ("input.n", at(4, 9)));
}

#[test]
fn an_error_reading_a_skipped_task_says_why_its_output_is_null() {
    // Found by a new user: "found no matching overload for '_._' applied to
    // '(null_type, string)'" said nothing of the skipped task.
    let err = eval("tasks.unused.output.text + '!'").unwrap_err();
    assert!(err.contains("tasks.unused.output is null: task unused was skipped"), "{err}");
    let err = eval("tasks.waiting.output.text").unwrap_err();
    assert!(err.contains("tasks.waiting.output is null: task waiting is pending"), "{err}");
    // A task with an output gets no such note.
    let err = eval("tasks.extract.output.missing.deeper").unwrap_err();
    assert!(!err.contains("is null"), "{err}");
}

#[test]
fn eval_bool_wants_a_boolean() {
    let (input, tasks) = (input(), tasks());
    let empty = json!({});
    let scope = Scope::new(&input, &empty, &tasks, &empty);
    assert!(Expr::parse("input.n > 2", at(1, 1)).unwrap().eval_bool(&scope).unwrap());
    let err = Expr::parse("input.n", at(1, 1)).unwrap().eval_bool(&scope).unwrap_err();
    assert_eq!(err.message, "expected true or false, got an int");
}

#[test]
fn compile_errors() {
    let err = Expr::compile("inptu.x", at(3, 10)).unwrap_err();
    assert_eq!(err.message, "unknown variable `inptu` in `${inptu.x}`");
    assert_eq!(err.hint.as_deref(), Some("did you mean `input`?"));
    assert_eq!(err.span, at(3, 12));

    let err = Expr::compile("tasks[input.which].output", at(1, 1)).unwrap_err();
    assert!(err.message.starts_with("`tasks` must be followed by a task id"), "{}", err.message);

    let err = Expr::compile("tasks.a.outptu", at(1, 1)).unwrap_err();
    assert_eq!(err.message, "tasks.a has no field `outptu` in `${tasks.a.outptu}`");
    assert_eq!(err.hint.as_deref(), Some("did you mean `output`?"));

    // The position of a syntax error is inside the expression.
    let err = Expr::compile("1 + + )", at(2, 5)).unwrap_err();
    assert!(err.message.starts_with("syntax error in `${1 + + )}`"), "{}", err.message);
    assert_eq!(err.span.line, 2);
    assert!(err.span.column > 7, "{:?}", err.span);

    assert!(Expr::parse("  ", at(1, 1)).unwrap_err().contains("empty expression"));
}

#[test]
fn static_references() {
    let e = Expr::parse("tasks.a.output.x + tasks['b-c'].status + size(input.items)", at(1, 1)).unwrap();
    assert_eq!(e.task_refs().iter().map(String::as_str).collect::<Vec<_>>(), ["a", "b-c"]);
    assert_eq!(e.roots().collect::<Vec<_>>(), [Root::Input, Root::Tasks]);
    // `item` bound by a macro is not the loop's `item`.
    let e = Expr::parse("input.items.map(item, item * 2)", at(1, 1)).unwrap();
    assert!(!e.uses(Root::Item));
    assert_eq!(eval("input.items.map(item, item * 2)").unwrap(), json!([2, 4, 6]));
    // Namespaced functions are not variables.
    assert_eq!(eval("math.greatest(1, 5, 3)").unwrap(), json!(5));
    assert_eq!(eval("base64.encode(b'hi')").unwrap(), json!("aGk="));
    assert_eq!(eval("type(input.n) == int").unwrap(), json!(true));
}

#[test]
fn loop_and_repeat_roots() {
    let empty = json!({});
    let item = json!({ "name": "a" });
    let output = json!({ "done": true });
    let scope = Scope::new(&empty, &empty, &empty, &empty).with_item(&item, 4).with_output(&output).with_iteration(2);
    let e = |s: &str| Expr::parse(s, at(1, 1)).unwrap().eval(&scope).unwrap();
    assert_eq!(e("item.name + '-' + string(index)"), json!("a-4"));
    assert_eq!(e("index + 1"), json!(5));
    assert_eq!(e("output.done && iteration == 2"), json!(true));
}

#[test]
fn templates_typed_and_interpolated() {
    let (input, tasks) = (input(), tasks());
    let vars = json!({ "counter": 41 });
    let wf = json!({ "id": "wf@1", "name": "wf", "version": "1" });
    let scope = Scope::new(&input, &vars, &tasks, &wf);
    let t = |s: &str| Template::parse_str(s, at(1, 1)).unwrap();

    assert!(t("plain text").is_literal());
    assert_eq!(t("${input.obj}").render(&scope).unwrap(), json!({ "a": 1 }), "one expression keeps its type");
    assert_eq!(t("${input.n}").render(&scope).unwrap(), json!(3));
    assert_eq!(
        t("n=${input.n} name=${input.name} obj=${input.obj} list=${input.items} none=${tasks.waiting.output}")
            .render(&scope)
            .unwrap(),
        json!("n=3 name=Report.PDF obj={\"a\":1} list=[1,2,3] none=null")
    );
    assert_eq!(t(" ${input.n}").render(&scope).unwrap(), json!(" 3"), "text around makes a string");
    assert_eq!(t("cost: $${input.n} is ${input.n}").render(&scope).unwrap(), json!("cost: ${input.n} is 3"));
    assert_eq!(t("$${literal}").render(&scope).unwrap(), json!("${literal}"));
    assert!(t("$${literal}").is_literal());
    assert_eq!(t("${ {'a': '}'}.a }").render(&scope).unwrap(), json!("}"), "braces in strings and maps");

    let err = Template::parse_str("abc ${input.n", at(7, 3)).unwrap_err();
    assert_eq!(err.message, "`${` is not closed by `}`");
    assert_eq!(err.span, at(7, 7));

    let value = json!({ "a": ["${tasks.extract.output.pages}", 2], "b": "x${vars.counter}", "c": { "d": true } });
    let tpl = Template::from_value(&value, at(1, 1)).unwrap();
    assert!(!tpl.is_literal());
    assert_eq!(tpl.exprs().count(), 2);
    assert_eq!(tpl.task_refs().into_iter().collect::<Vec<_>>(), ["extract"]);
    assert_eq!(tpl.render(&scope).unwrap(), json!({ "a": [2, 2], "b": "x41", "c": { "d": true } }));
    assert!(Template::from_value(&json!({ "c": { "d": [1, "x"] } }), at(1, 1)).unwrap().is_literal());
}

#[test]
fn expressions_are_shareable() {
    fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shareable::<Expr>();
    shareable::<Template>();
    shareable::<harmonia_model::Workflow>();
}
