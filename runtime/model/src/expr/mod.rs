//! `${...}` expressions: CEL programs (crate `cel`) compiled once when a workflow is
//! loaded, and templates, the JSON values that hold them.
//!
//! An expression sees the roots `input`, `vars`, `tasks`, `workflow`, and where they are
//! bound `item`, `index`, `output`, `iteration`, `failure`, `event` and `params`. CEL is
//! sandboxed by design: no I/O, no loops that do not end, no side effects.

mod analyze;
mod convert;
mod meter;
mod scope;
pub(crate) mod template;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::{Context, Env, ExecutionError, IdedExpr};
use serde_json::Value;

use crate::types::Span;
use analyze::{Paths, Usage};
pub use meter::Budget;
pub use scope::{NoTasks, Scope, TaskLookup, TaskView};
pub use template::{Part, Template};

/// One environment for every expression: the CEL standard library with the `strings`,
/// `lists`, `math` and `encoders` (base64) extensions. Shared, so that an evaluation allocates no environment.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // These only fail if registered twice, which cannot happen on a fresh environment.
    env.add_extension(cel::extensions::strings).expect("strings extension");
    env.add_extension(cel::extensions::lists).expect("lists extension");
    env.add_extension(cel::extensions::math).expect("math extension");
    env.add_extension(cel::extensions::encoders).expect("encoders extension");
    meter::register(&mut env);
    Arc::new(env)
});

/// A variable an expression can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Root {
    Input,
    Vars,
    Tasks,
    Workflow,
    Item,
    Index,
    Output,
    Iteration,
    Failure,
    Event,
    Params,
}

impl Root {
    pub const ALL: [Root; 11] = [
        Root::Input,
        Root::Vars,
        Root::Tasks,
        Root::Workflow,
        Root::Item,
        Root::Index,
        Root::Output,
        Root::Iteration,
        Root::Failure,
        Root::Event,
        Root::Params,
    ];

    /// Its name in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Root::Input => "input",
            Root::Vars => "vars",
            Root::Tasks => "tasks",
            Root::Workflow => "workflow",
            Root::Item => "item",
            Root::Index => "index",
            Root::Output => "output",
            Root::Iteration => "iteration",
            Root::Failure => "failure",
            Root::Event => "event",
            Root::Params => "params",
        }
    }

    pub fn from_name(name: &str) -> Option<Root> {
        Root::ALL.into_iter().find(|r| r.name() == name)
    }

    /// "`input`, `vars`, ..." for messages.
    pub(crate) fn list() -> String {
        Root::ALL.iter().map(|r| format!("`{}`", r.name())).collect::<Vec<_>>().join(", ")
    }

    /// Where the root is bound, for "not defined here" messages.
    pub(crate) fn where_bound(self) -> &'static str {
        match self {
            Root::Item | Root::Index => "in the `input` of a task with `for_each`",
            Root::Output => "in `repeat.until` and `set_vars`",
            Root::Iteration => "in a task with `repeat` (its `input`, `repeat.until`, `set_vars`)",
            Root::Failure => "in `on_failure` and in fallback tasks",
            Root::Event => "in executions started by an event",
            Root::Params => "in template files, while rendering them",
            Root::Input | Root::Vars | Root::Tasks | Root::Workflow => "everywhere",
        }
    }
}

/// An expression that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub hint: Option<String>,
    /// Where the error is: the `${` of the expression, or the place inside it.
    pub span: Span,
}

/// An expression that failed at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("${{{expr}}}: {message}")]
pub struct EvalError {
    /// The expression source, without `${` and `}`.
    pub expr: String,
    pub span: Span,
    pub message: String,
}

/// A compiled `${...}` expression. Cheap to clone: the program is shared.
#[derive(Clone)]
pub struct Expr {
    /// The source between `${` and `}`.
    pub source: String,
    /// Where the `${` is.
    pub span: Span,
    compiled: Arc<Compiled>,
}

struct Compiled {
    /// What is evaluated: the compiled program with the charges of its budget ([`meter`]).
    metered: IdedExpr,
    /// It has a loop: evaluated where it may take its time.
    loops: bool,
    usage: Usage,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}}}@{}:{}", self.source, self.span.line, self.span.column)
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.span == other.span
    }
}

/// Line and column of character `offset` of `source`, which starts at `start`.
pub(crate) fn advance(start: Span, source: &str, offset: usize) -> Span {
    let mut span = start;
    for c in source.chars().take(offset) {
        if c == '\n' {
            span.line += 1;
            span.column = 1;
        } else {
            span.column += 1;
        }
    }
    span
}

impl Expr {
    /// Compiles `source` (without `${` and `}`); `span` is where the `${` is.
    pub fn parse(source: &str, span: Span) -> Result<Expr, String> {
        Expr::compile(source, span).map_err(|e| match e.hint {
            Some(hint) => format!("{} ({hint})", e.message),
            None => e.message,
        })
    }

    /// Like [`Expr::parse`], with the error's own position and hint.
    pub fn compile(source: &str, span: Span) -> Result<Expr, ExprError> {
        // Column 1 of the source is 2 characters after the `${`.
        let inner = |offset: usize| advance(span, source, offset).shifted(2);
        if source.trim().is_empty() {
            return Err(ExprError { message: "empty expression `${}`".into(), hint: None, span });
        }
        // CEL's parser and evaluator recurse: a chain of 10,000 `+` overflowed the stack.
        let length = source.chars().count();
        if length > MAX_SOURCE_CHARS {
            return Err(ExprError {
                message: format!("the expression is {length} characters long, over the limit of {MAX_SOURCE_CHARS}"),
                hint: Some("compute large values in a task, or split the expression".into()),
                span,
            });
        }
        let program = ENV.compile(source).map_err(|errors| {
            let first = errors.errors.first();
            let (line, column) = first.map(|e| e.pos).unwrap_or((1, 1));
            let offset = offset_of_position(source, line, column);
            let message = first.map(|e| e.msg.clone()).unwrap_or_else(|| errors.to_string());
            ExprError {
                message: format!("syntax error in `${{{source}}}`: {}", clean_syntax_message(&message)),
                hint: None,
                span: inner(offset),
            }
        })?;
        if depth(program.expression()) > MAX_DEPTH {
            return Err(ExprError {
                message: format!("the expression nests deeper than {MAX_DEPTH} levels"),
                hint: Some("split it, or compute the value in a task".into()),
                span,
            });
        }
        let source_info = program.source_info();
        let offset_of = |id: u64| source_info.offset_for(id).map(|(start, _)| start);
        let usage = analyze::analyze(program.expression(), &offset_of).map_err(|e| ExprError {
            message: format!("{} in `${{{source}}}`", e.message),
            hint: e.hint,
            span: e.offset.map_or(span, |o| inner(o as usize)),
        })?;
        let max_cost = Budget::configured().max_cost;
        let least = meter::least_cost(program.expression());
        if least > max_cost {
            return Err(ExprError {
                message: format!(
                    "the expression costs at least {least}, over the limit of {max_cost} (expression_max_cost; an operator can raise it)"
                ),
                hint: Some("nested loops multiply: compute large values in a task".into()),
                span,
            });
        }
        let metered = meter::metered(program.expression());
        let loops = meter::loops(program.expression());
        Ok(Expr { source: source.to_string(), span, compiled: Arc::new(Compiled { metered, loops, usage }) })
    }

    /// The tasks the expression refers to (`tasks.<id>`, `tasks["<id>"]`).
    pub fn task_refs(&self) -> &BTreeSet<String> {
        &self.compiled.usage.task_refs
    }

    /// Whether the expression uses `root`.
    pub fn uses(&self, root: Root) -> bool {
        self.compiled.usage.roots.contains_key(&root)
    }

    /// The fields of `root` the expression reads directly (`params.x` -> `x`); None if it
    /// uses `root` as a whole (or not at all).
    pub(crate) fn fields_of(&self, root: Root) -> Option<Vec<&str>> {
        let paths = self.compiled.usage.roots.get(&root)?;
        (!paths.whole).then(|| paths.fields.keys().map(String::as_str).collect())
    }

    /// The roots the expression uses.
    pub fn roots(&self) -> impl Iterator<Item = Root> + '_ {
        self.compiled.usage.roots.keys().copied()
    }

    fn error(&self, message: impl Into<String>) -> EvalError {
        EvalError { expr: self.source.clone(), span: self.span, message: message.into() }
    }

    /// Evaluates the expression to a JSON value. CEL values that JSON lacks are written as
    /// strings: timestamps in RFC 3339, durations in seconds (`"90s"`), UTF-8 bytes as text;
    /// other bytes, NaN and infinities are errors.
    pub fn eval(&self, scope: &Scope) -> Result<Value, EvalError> {
        let result = self.eval_cel(scope)?;
        convert::to_json(&result).map_err(|m| self.error(m))
    }

    /// Evaluates an expression that must give `true` or `false`.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, EvalError> {
        match self.eval_cel(scope)? {
            cel::Value::Bool(b) => Ok(b),
            other => Err(self.error(format!(
                "expected true or false, got {} {}",
                article(&convert::type_name(&other)),
                convert::type_name(&other)
            ))),
        }
    }

    /// Evaluates to text: strings as they are, other values as compact JSON.
    pub fn eval_text(&self, scope: &Scope) -> Result<String, EvalError> {
        match self.eval_cel(scope)? {
            cel::Value::String(s) => Ok(s.to_string()),
            other => {
                let json = convert::to_json(&other).map_err(|m| self.error(m))?;
                Ok(json.to_string())
            }
        }
    }

    fn eval_cel(&self, scope: &Scope) -> Result<cel::Value, EvalError> {
        let mut ctx = Context::with_env(ENV.clone());
        // Only the roots the expression uses, and of them only the fields it reads; strings
        // are borrowed from the scope, not copied.
        for (root, paths) in &self.compiled.usage.roots {
            let pruned = |v| convert::pruned(v, paths);
            let value = match root {
                Root::Tasks => Some(self.tasks_value(scope, paths)?),
                Root::Index => scope.index.map(convert::int),
                Root::Iteration => scope.iteration.map(convert::int),
                Root::Input => pruned(Some(scope.input)),
                Root::Vars => pruned(Some(scope.vars)),
                Root::Workflow => pruned(Some(scope.workflow)),
                Root::Item => pruned(scope.item),
                Root::Output => pruned(scope.output),
                Root::Failure => pruned(scope.failure),
                Root::Event => pruned(scope.event),
                Root::Params => pruned(scope.params),
            };
            let Some(value) = value else {
                return Err(self.error(format!(
                    "`{}` is not defined here: it is only defined {}",
                    root.name(),
                    root.where_bound()
                )));
            };
            ctx.add_variable_as_val(root.name(), value);
        }
        let evaluate = || meter::run(scope.budget, || cel::Value::resolve(&self.compiled.metered, &ctx));
        let (result, over) = if self.compiled.loops { meter::offloaded(evaluate) } else { evaluate() };
        if let Some(over) = over {
            return Err(self.error(over.message()));
        }
        result.map_err(|e| self.error(format!("{}{}", execution_message(&e), self.null_outputs(scope))))
    }

    /// Why outputs of tasks the expression reads are null, for its error: a skipped task
    /// (or one that has not ended) has none, which otherwise shows only as a `null_type`.
    fn null_outputs(&self, scope: &Scope) -> String {
        let mut notes = String::new();
        for id in self.task_refs() {
            let Some(task) = scope.tasks.task(id) else { continue };
            if task.output.is_some() {
                continue;
            }
            let why = match task.status {
                "skipped" => "was skipped (its `when` did not hold, or a dependency did not run)".to_string(),
                status => format!("is {status}"),
            };
            notes.push_str(&format!("; tasks.{id}.output is null: task {id} {why}"));
        }
        notes
    }

    /// `tasks` holding only the tasks the expression refers to.
    fn tasks_value<'a>(
        &self,
        scope: &Scope<'a>,
        paths: &Paths,
    ) -> Result<Box<dyn cel::common::value::Val + 'a>, EvalError> {
        let mut entries = Vec::with_capacity(paths.fields.len());
        for (id, fields) in &paths.fields {
            let Some(task) = scope.tasks.task(id) else {
                return Err(self.error(format!("unknown task `{id}`")));
            };
            // An unfinished task has no output yet: it reads as null.
            let part = |name: &str, value: Option<&'a Value>| {
                let value = value.unwrap_or(&NULL);
                match fields.fields.get(name) {
                    Some(sub) => convert::to_val_pruned(value, sub),
                    None => convert::to_val(value),
                }
            };
            let wants = |name: &str| fields.whole || fields.fields.contains_key(name);
            let mut task_fields = Vec::with_capacity(3);
            if wants("status") {
                task_fields.push(("status".into(), convert::string(task.status)));
            }
            if wants("output") {
                task_fields.push(("output".into(), part("output", task.output)));
            }
            if wants("error") {
                task_fields.push(("error".into(), part("error", task.error)));
            }
            entries.push((id.clone().into(), convert::cel_map(task_fields.into_iter())));
        }
        Ok(convert::cel_map(entries.into_iter()))
    }
}

static NULL: Value = Value::Null;

/// Characters of one expression. With [`MAX_DEPTH`], keeps CEL's recursive parser and
/// evaluator well within a thread's 2 MiB stack (a parse of 8,192 characters of any
/// shape, and an evaluation 1,000 levels deep, were measured to fit).
const MAX_SOURCE_CHARS: usize = 8192;
/// Levels of a compiled expression (macros included): what cel-go allows by default.
const MAX_DEPTH: usize = 250;

/// How deep `expr` nests, found without recursion.
fn depth(expr: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 1)];
    while let Some((expr, level)) = stack.pop() {
        deepest = deepest.max(level);
        stack.extend(children(expr).into_iter().map(|child| (child, level + 1)));
    }
    deepest
}

/// The expressions directly inside `expr`.
fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    use cel::common::ast::{EntryExpr, Expr as Ast, IdedEntryExpr};
    fn entries(entries: &[IdedEntryExpr]) -> Vec<&IdedExpr> {
        entries
            .iter()
            .flat_map(|entry| match &entry.expr {
                EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect()
    }
    match &expr.expr {
        Ast::Call(call) => call.target.as_deref().into_iter().chain(&call.args).collect(),
        Ast::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Ast::List(list) => list.elements.iter().collect(),
        Ast::Map(map) => entries(&map.entries),
        Ast::Struct(s) => entries(&s.entries),
        Ast::Select(select) => vec![&select.operand],
        Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => Vec::new(),
    }
}

impl Span {
    /// The same position `n` columns further.
    fn shifted(self, n: u32) -> Span {
        Span { line: self.line, column: self.column + n }
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// The character offset of CEL's 1-based (line, column).
fn offset_of_position(source: &str, line: isize, column: isize) -> usize {
    let mut offset = 0;
    for (i, text) in source.split_inclusive('\n').enumerate() {
        if i as isize + 1 == line {
            return offset + (column.max(1) as usize - 1).min(text.chars().count());
        }
        offset += text.chars().count();
    }
    source.chars().count()
}

/// CEL's parser lists every token it expected; keep the message short.
fn clean_syntax_message(message: &str) -> String {
    let message = message.strip_prefix("Syntax error: ").unwrap_or(message);
    match message.find(" expecting ") {
        Some(i) if message[i..].len() > 60 => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// CEL's run-time errors, reworded where CEL's own text is unclear.
fn execution_message(error: &ExecutionError) -> String {
    match error {
        ExecutionError::NoSuchKey(key) => format!("no such field or key `{key}`"),
        ExecutionError::UndeclaredReference(name) => {
            format!("unknown variable or function `{name}`")
        }
        ExecutionError::UnsupportedBinaryOperator(op, a, b) => {
            let op = match *op {
                "add" => "+",
                "sub" => "-",
                "mul" => "*",
                "div" => "/",
                "rem" => "%",
                other => other,
            };
            format!("cannot apply `{op}` to {} and {}", a.type_of(), b.type_of())
        }
        ExecutionError::ValuesNotComparable(a, b) => {
            format!("cannot compare {} with {}", a.type_of(), b.type_of())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_fields_read_are_converted() {
        let e = Expr::parse("input.a.b + size(input.c) + tasks.t.output.x", Span::default()).unwrap();
        let input = &e.compiled.usage.roots[&Root::Input];
        assert!(!input.whole);
        assert_eq!(input.fields.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert!(!input.fields["a"].whole && input.fields["a"].fields["b"].whole);
        assert!(input.fields["c"].whole);
        let tasks = &e.compiled.usage.roots[&Root::Tasks];
        assert!(tasks.fields["t"].fields["output"].fields["x"].whole);
        // A computed key needs the whole value.
        let e = Expr::parse("input.m[input.k]", Span::default()).unwrap();
        let input = &e.compiled.usage.roots[&Root::Input];
        assert!(input.fields["m"].whole && input.fields["k"].whole);
    }

    #[test]
    fn pruned_and_whole_give_the_same_answers() {
        let input = serde_json::json!({ "a": { "b": 1, "c": [1, 2] }, "d": "x" });
        let empty = serde_json::json!({});
        let scope = Scope::new(&input, &empty, &NoTasks, &empty);
        for (source, expected) in [
            ("has(input.a.b) && !has(input.a.z)", serde_json::json!(true)),
            ("input.a.c[1] + input.a.b", serde_json::json!(3)),
            ("'d' in input && !('q' in input)", serde_json::json!(true)),
            ("size(input.a)", serde_json::json!(2)),
        ] {
            assert_eq!(Expr::parse(source, Span::default()).unwrap().eval(&scope).unwrap(), expected, "{source}");
        }
    }
}
