//! Reading the control-flow parts of a task: `join`, the long form of `for_each`,
//! `terminate`, `cancel`, `goto` and `mutex`.

use serde_json::Value;

use crate::expr::Expr;
use crate::parse::{DEFAULT_CONCURRENCY, DEFAULT_MAX_ROUNDS};
use crate::read::{Entry, Reader, join, json_scalar};
use crate::types::{ForEach, Goto, Join, Rest, TaskAction, TaskMutex, Terminate};
use crate::yaml::{Kind, Node};

const JOIN_HINT: &str = "`join` is all, any, one, merge, or {at_least: N, rest: finish|cancel}";

/// `join: all|any|one|merge` or `join: {at_least: N, rest: finish|cancel}`.
pub(crate) fn read_join(r: &mut Reader, node: &Node, path: &str) -> Join {
    if let Kind::Map(_) = node.kind {
        let entries = r.entries(node, path, "join", "key");
        r.known_keys(&entries, &["at_least", "rest"], "in `join`");
        let n = match entries.iter().find(|e| e.key == "at_least") {
            Some(e) => read_at_least(r, e),
            None => {
                r.error_hint(node.span, "`join` needs `at_least`", Some(JOIN_HINT.into()));
                1
            }
        };
        let rest = entries.iter().find(|e| e.key == "rest").map_or(Rest::Finish, |e| read_rest(r, e.value));
        return Join::AtLeast { n, rest };
    }
    match json_scalar(node) {
        Some(Value::String(s)) => match s.as_str() {
            "all" => Join::All,
            "any" => Join::ANY,
            "one" => Join::ONE,
            "merge" => Join::Merge,
            other => {
                let message = format!("`join` must be one of all, any, one, merge or {{at_least: N}}, got `{other}`");
                r.error_hint(node.span, message, Some(JOIN_HINT.into()));
                Join::All
            }
        },
        _ => {
            r.error_hint(
                node.span,
                format!("`join` must be a name or a mapping, got {}", node.describe()),
                Some(JOIN_HINT.into()),
            );
            Join::All
        }
    }
}

/// A count of 1 or more (`at_least`, `limit`).
fn read_at_least(r: &mut Reader, e: &Entry) -> u32 {
    match r.u32(e.value, e.key) {
        Some(0) => {
            r.error(e.value.span, format!("`{}` must be 1 or more", e.key));
            1
        }
        Some(n) => n,
        None => 1,
    }
}

fn read_rest(r: &mut Reader, node: &Node) -> Rest {
    match r.choice(node, "rest", &["finish", "cancel"]) {
        Some("cancel") => Rest::Cancel,
        _ => Rest::Finish,
    }
}

/// `for_each: <list or ${...}>` (with `concurrency:` beside it), or the long form
/// `for_each: {items, concurrency, at_least, open}`. `concurrency` is the task's `concurrency:`.
pub(crate) fn read_for_each(r: &mut Reader, node: &Node, path: &str, concurrency: Option<&Entry>) -> Option<ForEach> {
    let mut concurrency_in = None;
    let mut at_least = None;
    let mut open = false;
    let items = if let Kind::Map(_) = node.kind {
        let entries = r.entries(node, path, "for_each", "key");
        r.known_keys(&entries, &["items", "concurrency", "at_least", "open"], "in `for_each`");
        let mut items = None;
        for e in &entries {
            match e.key {
                "items" => items = read_items(r, e.value, &join(path, "items")),
                "concurrency" => concurrency_in = Some(*e),
                "at_least" => at_least = Some(read_at_least(r, e)),
                "open" => open = r.bool(e.value, "open").unwrap_or(false),
                _ => {}
            }
        }
        if !entries.iter().any(|e| e.key == "items") {
            r.error(node.span, "`for_each` needs `items`");
        }
        if let (Some(beside), Some(_)) = (concurrency, concurrency_in) {
            r.error(beside.key_node.span, "`concurrency` is given twice: beside `for_each` and in it");
        }
        items
    } else {
        read_items(r, node, path)
    };
    let concurrency = match concurrency_in.as_ref().or(concurrency) {
        Some(c) => r.u32(c.value, "concurrency").unwrap_or(DEFAULT_CONCURRENCY),
        None => DEFAULT_CONCURRENCY,
    };
    Some(ForEach { items: items?, concurrency, at_least, open })
}

/// The list a `for_each` runs over: a literal list (written as the CEL list it also is) or
/// one `${...}`.
fn read_items(r: &mut Reader, node: &Node, path: &str) -> Option<Expr> {
    match &node.kind {
        Kind::Seq(_) => {
            let json = r.json(node, path);
            match Expr::parse(&json.to_string(), node.span) {
                Ok(e) => Some(e),
                Err(message) => {
                    r.error(node.span, format!("`for_each` list: {message}"));
                    None
                }
            }
        }
        _ => r.expr(node, "for_each"),
    }
}

/// `terminate: {output}` or `terminate: {error, code}` (`terminate: {}`: completed, null
/// output).
pub(crate) fn read_terminate(r: &mut Reader, node: &Node, path: &str) -> TaskAction {
    let entries = r.entries(node, path, "terminate", "key");
    r.known_keys(&entries, &["output", "error", "code"], "in `terminate`");
    let mut terminate = Terminate { output: None, error: None, code: None };
    for e in &entries {
        match e.key {
            "output" => terminate.output = Some(r.template(e.value, &join(path, "output"))),
            "error" => terminate.error = Some(r.template(e.value, &join(path, "error"))),
            "code" => terminate.code = r.string(e.value, "code"),
            _ => {}
        }
    }
    let has = |key: &str| entries.iter().find(|e| e.key == key);
    if let (Some(_), Some(error)) = (has("output"), has("error")) {
        r.error(error.key_node.span, "`terminate` has both `output` and `error`: it completes or fails the execution");
    }
    if let (None, Some(code)) = (has("error"), has("code")) {
        r.error(code.key_node.span, "`terminate` has a `code` but no `error`");
    }
    TaskAction::Terminate(terminate)
}

/// `goto: {task, when, max_rounds}`.
pub(crate) fn read_goto(r: &mut Reader, node: &Node, path: &str) -> Option<Goto> {
    let entries = r.entries(node, path, "goto", "key");
    r.known_keys(&entries, &["task", "when", "max_rounds"], "in `goto`");
    let (mut task, mut when, mut max_rounds) = (None, None, DEFAULT_MAX_ROUNDS);
    for e in &entries {
        match e.key {
            "task" => task = r.string(e.value, "task"),
            "when" => when = r.expr(e.value, "when"),
            "max_rounds" => max_rounds = r.u32(e.value, "max_rounds").unwrap_or(DEFAULT_MAX_ROUNDS),
            _ => {}
        }
    }
    for key in ["task", "when"] {
        if matches!(node.kind, Kind::Map(_)) && !entries.iter().any(|e| e.key == key) {
            r.error(node.span, format!("`goto` needs `{key}`"));
        }
    }
    Some(Goto { task: task?, when: when?, max_rounds })
}

/// `mutex: <key>` or `mutex: {key, limit}`.
pub(crate) fn read_mutex(r: &mut Reader, node: &Node, path: &str) -> Option<TaskMutex> {
    if !matches!(node.kind, Kind::Map(_)) {
        return Some(TaskMutex { key: r.template(node, path), limit: 1 });
    }
    let entries = r.entries(node, path, "mutex", "key");
    r.known_keys(&entries, &["key", "limit"], "in `mutex`");
    let mut limit = 1;
    if let Some(e) = entries.iter().find(|e| e.key == "limit") {
        limit = read_at_least(r, e);
    }
    let Some(key) = entries.iter().find(|e| e.key == "key") else {
        r.error(node.span, "`mutex` needs a `key`");
        return None;
    };
    Some(TaskMutex { key: r.template(key.value, &join(path, "key")), limit })
}
