//! Workflow files (YAML or JSON) into the model, with every error of the file at once.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics};
use crate::expr::Template;
use crate::limits::{Limits, MAX_NAME_LEN, MAX_VERSION_LEN};
use crate::read::{Entry, Reader, is_name, is_null, join, json_scalar};
use crate::types::*;
use crate::validate;
use crate::yaml::{self, Kind, Node};

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "version",
    "description",
    "input",
    "vars",
    "timeout",
    "task_timeout",
    "retry",
    "max_parallel",
    "tasks",
    "output",
    "on_failure",
    "triggers",
];
const TASK_KEYS: &[&str] = &[
    "description",
    "component",
    "action",
    "input",
    "workflow",
    "switch",
    "depends_on",
    "join",
    "when",
    "for_each",
    "concurrency",
    "repeat",
    "retry",
    "timeout",
    "on_error",
    "set_vars",
    "wait_for",
    "emit",
    "terminate",
    "cancel",
    "goto",
    "mutex",
];
const PARAM_KEYS: &[&str] = &["type", "description", "required", "default"];
const RETRY_KEYS: &[&str] = &["max_attempts", "delay", "backoff", "factor", "max_delay", "jitter", "retry_on"];
const PARAM_TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array", "any"];

/// The id of the workflow's `on_failure` task.
pub const ON_FAILURE: &str = "on_failure";
/// Items in flight of a `for_each` task that gives no `concurrency`.
pub const DEFAULT_CONCURRENCY: u32 = 32;
/// `max_iterations` of a `repeat` that gives none.
pub const DEFAULT_MAX_ITERATIONS: u32 = 100;
/// `max_rounds` of a `goto` that gives none.
pub const DEFAULT_MAX_ROUNDS: u32 = 1000;

/// Parses and validates a workflow (YAML or JSON) within the default [`Limits`]. `file`
/// only names the file in errors.
pub fn parse_workflow(text: &str, file: Option<&Path>) -> Result<Workflow, Diagnostics> {
    parse_workflow_with(text, file, &Limits::default())
}

/// [`parse_workflow`] within `limits`.
pub fn parse_workflow_with(text: &str, file: Option<&Path>, limits: &Limits) -> Result<Workflow, Diagnostics> {
    let root = yaml::parse(text, limits).map_err(|d| Diagnostics::from(d).finish(file))?;
    check_task_count(&root, limits).map_err(|d| Diagnostics::from(d).finish(file))?;
    let mut reader = Reader::default();
    let mut workflow = read_workflow(&mut reader, &root);
    workflow.source = file.map(Path::to_path_buf);
    validate::validate_into(&workflow, &reader.spans, &mut reader.diags);
    workflow.input_spans = reader.spans.inputs();
    Diagnostics(reader.diags).finish(file).into_result(workflow)
}

/// Refuses a workflow with more tasks than `limits` allow before any of them is read: the
/// graph checks that follow cost more with every task.
fn check_task_count(root: &Node, limits: &Limits) -> Result<(), Diagnostic> {
    let Kind::Map(entries) = &root.kind else { return Ok(()) };
    let tasks = entries.iter().find(|(k, _)| k.scalar().is_some_and(|s| s.text == "tasks"));
    match tasks {
        Some((_, Node { kind: Kind::Map(tasks), span })) if tasks.len() > limits.max_tasks => {
            let what = format!("the number of tasks ({})", tasks.len());
            Err(Diagnostic::new(*span, Limits::exceeded(&what, limits.max_tasks, "workflow_max_tasks")))
        }
        _ => Ok(()),
    }
}

/// Reads and parses a workflow file.
pub fn load_workflow(path: impl AsRef<Path>) -> Result<Workflow, Diagnostics> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::from(Diagnostic::unplaced(format!("cannot read the file: {e}"))).finish(Some(path))
    })?;
    parse_workflow(&text, Some(path))
}

/// Reads input parameter declarations (`input:` of a workflow, `parameters:` of a template).
pub(crate) fn read_params(r: &mut Reader, node: &Node, path: &str) -> IndexMap<String, InputParam> {
    let mut params = IndexMap::new();
    for e in r.entries(node, path, path, "input parameter") {
        let param_path = join(path, e.key);
        let mut param = InputParam {
            kind: ParamType::Any,
            description: None,
            required: true,
            default: None,
            span: e.key_node.span,
        };
        let mut required = None;
        if let Some(Value::String(_)) = json_scalar(e.value) {
            // Shorthand: `name: string`.
            param.kind = read_param_type(r, e.value, "type");
        } else {
            let entries = r.entries(e.value, &param_path, e.key, "key");
            r.known_keys(&entries, PARAM_KEYS, &format!("in input parameter `{}`", e.key));
            for f in &entries {
                match f.key {
                    "type" => param.kind = read_param_type(r, f.value, "type"),
                    "description" => param.description = r.string(f.value, "description"),
                    "required" => required = r.bool(f.value, "required").map(|b| (b, f.key_node.span)),
                    "default" => param.default = Some(r.json(f.value, &join(&param_path, "default"))),
                    _ => {}
                }
            }
        }
        param.required = match required {
            Some((true, span)) if param.default.is_some() => {
                r.error(span, format!("input `{}` is `required` but has a default, which would never be used", e.key));
                true
            }
            Some((b, _)) => b,
            None => param.default.is_none(),
        };
        params.insert(e.key.to_string(), param);
    }
    params
}

fn read_param_type(r: &mut Reader, node: &Node, name: &str) -> ParamType {
    match r.choice(node, name, PARAM_TYPES) {
        Some("string") => ParamType::String,
        Some("number") => ParamType::Number,
        Some("integer") => ParamType::Integer,
        Some("boolean") => ParamType::Boolean,
        Some("object") => ParamType::Object,
        Some("array") => ParamType::Array,
        _ => ParamType::Any,
    }
}

/// The workflow of a document, as far as it can be read; errors go to `r`.
pub(crate) fn read_workflow(r: &mut Reader, root: &Node) -> Workflow {
    let mut wf = Workflow {
        name: String::new(),
        version: String::new(),
        description: None,
        input: IndexMap::new(),
        vars: IndexMap::new(),
        tasks: IndexMap::new(),
        output: None,
        timeout: None,
        retry: None,
        task_timeout: None,
        max_parallel: None,
        on_failure: None,
        triggers: Vec::new(),
        source: None,
        input_spans: Default::default(),
    };
    if !matches!(root.kind, Kind::Map(_)) {
        r.error(root.span, format!("a workflow must be a mapping, got {}", root.describe()));
        return wf;
    }
    let entries = r.entries(root, "", "workflow", "key");
    for e in &entries {
        if e.key == "parameters" {
            r.error_hint(
                e.key_node.span,
                "unknown key `parameters` in the workflow",
                Some("this looks like a template: render it with `harmonia template render`".into()),
            );
        }
    }
    let others: Vec<Entry> = entries.iter().filter(|e| e.key != "parameters").copied().collect();
    r.known_keys(&others, WORKFLOW_KEYS, "in the workflow");
    let find = |key: &str| entries.iter().find(|e| e.key == key);
    for required in ["name", "version", "tasks"] {
        if find(required).is_none() {
            r.error(root.span, format!("the workflow has no `{required}`"));
        }
    }
    for e in &entries {
        let v = e.value;
        match e.key {
            "name" => {
                if let Some(name) = r.string(v, "name") {
                    if !is_name(&name) {
                        r.error(v.span, format!("`name` may only hold letters, digits, `_` and `-`, got `{name}`"));
                    } else if name.len() > MAX_NAME_LEN {
                        r.error(
                            v.span,
                            format!("`name` is {} characters long, over the limit of {MAX_NAME_LEN}", name.len()),
                        );
                    }
                    wf.name = name;
                }
            }
            "version" => {
                // As written: `1.0` is "1.0", not the number 1.
                match v.scalar().filter(|s| !is_null(v) && !s.text.contains('@')) {
                    Some(s) if !is_version(&s.text) => r.error(
                        v.span,
                        format!(
                            "`version` may only hold letters, digits, `.`, `_`, `-` and `+`, at most {MAX_VERSION_LEN} of them, got `{}`",
                            s.text.escape_debug()
                        ),
                    ),
                    Some(s) => wf.version = s.text.clone(),
                    None => r.error(
                        v.span,
                        format!("`version` must be a version like 1.0, got {}", v.describe()),
                    ),
                }
            }
            "description" => wf.description = r.string(v, "description"),
            "input" => wf.input = read_params(r, v, "input"),
            "vars" => {
                for var in r.entries(v, "vars", "vars", "variable") {
                    let t = r.template(var.value, &join("vars", var.key));
                    wf.vars.insert(var.key.to_string(), t);
                }
            }
            "timeout" => wf.timeout = r.duration(v, "timeout"),
            "task_timeout" => wf.task_timeout = r.duration(v, "task_timeout"),
            "retry" => wf.retry = read_retry(r, v, "retry"),
            "max_parallel" => wf.max_parallel = r.u32(v, "max_parallel"),
            "triggers" => wf.triggers = crate::triggers::read_triggers(r, v),
            "output" => wf.output = Some(r.template(v, "output")),
            "tasks" => {
                if matches!(&v.kind, Kind::Map(m) if m.is_empty()) || is_null(v) {
                    r.error(v.span, "the workflow has no tasks");
                }
                for t in r.entries(v, "tasks", "tasks", "task id") {
                    let task = read_task(r, &t, &join("tasks", t.key));
                    if t.key == ON_FAILURE {
                        r.error_hint(
                            t.key_node.span,
                            "the task id `on_failure` is reserved",
                            Some("give the workflow's failure handler as the top-level `on_failure:`".into()),
                        );
                    } else if !is_name(t.key) {
                        r.error(
                            t.key_node.span,
                            format!("task id `{}` may only hold letters, digits, `_` and `-`", t.key),
                        );
                    } else if t.key.len() > MAX_NAME_LEN {
                        let message = format!(
                            "task id `{}...` is {} characters long, over the limit of {MAX_NAME_LEN}",
                            &t.key[..16],
                            t.key.len()
                        );
                        r.error(t.key_node.span, message);
                    }
                    wf.tasks.insert(t.key.to_string(), task);
                }
            }
            "on_failure" => {
                let entry = Entry { key: ON_FAILURE, key_node: e.key_node, value: v };
                let task = read_task(r, &entry, ON_FAILURE);
                for (present, key) in [
                    (!task.depends_on.is_empty(), "depends_on"),
                    (task.when.is_some(), "when"),
                    (task.for_each.is_some(), "for_each"),
                    (task.repeat.is_some(), "repeat"),
                    (task.goto.is_some(), "goto"),
                    (task.mutex.is_some(), "mutex"),
                ] {
                    if present {
                        let span = r.spans.get(&join(ON_FAILURE, key)).unwrap_or(e.key_node.span);
                        r.error(
                            span,
                            format!("`on_failure` cannot have `{key}`: it runs once, when the execution fails"),
                        );
                    }
                }
                wf.on_failure = Some(Box::new(task));
            }
            _ => {}
        }
    }
    wf
}

/// A retry policy: a mapping, or just a number of attempts (`retry: 3`).
fn read_retry(r: &mut Reader, node: &Node, path: &str) -> Option<RetryPolicy> {
    let mut policy = RetryPolicy::default();
    if let Some(Value::Number(_)) = json_scalar(node) {
        policy.max_attempts = r.u32(node, "retry")?;
        r.spans.insert(join(path, "max_attempts"), node.span);
        return Some(policy);
    }
    let entries = r.entries(node, path, "retry", "key");
    r.known_keys(&entries, RETRY_KEYS, "in `retry`");
    for e in &entries {
        let v = e.value;
        match e.key {
            "max_attempts" => policy.max_attempts = r.u32(v, "max_attempts").unwrap_or(1),
            "delay" => policy.delay = r.duration(v, "delay").unwrap_or_default(),
            "max_delay" => policy.max_delay = r.duration(v, "max_delay"),
            "factor" => policy.factor = r.f64(v, "factor").unwrap_or(2.0),
            "jitter" => policy.jitter = r.f64(v, "jitter").unwrap_or(0.0),
            "backoff" => {
                policy.backoff = match r.choice(v, "backoff", &["fixed", "linear", "exponential"]) {
                    Some("fixed") => Backoff::Fixed,
                    Some("linear") => Backoff::Linear,
                    _ => Backoff::Exponential,
                }
            }
            "retry_on" => policy.retry_on = read_string_list(r, v, "retry_on"),
            _ => {}
        }
    }
    Some(policy)
}

fn read_string_list(r: &mut Reader, node: &Node, name: &str) -> Vec<String> {
    match &node.kind {
        Kind::Seq(items) => items.iter().filter_map(|i| r.string(i, name)).collect(),
        Kind::Scalar(_) => r.string(node, name).into_iter().collect(),
        Kind::Map(_) => {
            r.error(node.span, format!("`{name}` must be a list of strings, got a mapping"));
            Vec::new()
        }
    }
}

/// One task; `path` is where its values are recorded (`tasks.<id>`).
pub(crate) fn read_task(r: &mut Reader, e: &Entry, path: &str) -> Task {
    let id = e.key;
    let mut task = Task {
        id: id.to_string(),
        span: e.key_node.span,
        description: None,
        action: TaskAction::Call {
            component: String::new(),
            action: String::new(),
            input: Template::Literal(Value::Null),
        },
        depends_on: Vec::new(),
        join: Join::All,
        when: None,
        for_each: None,
        repeat: None,
        retry: None,
        timeout: None,
        on_error: OnError::Fail,
        set_vars: IndexMap::new(),
        goto: None,
        mutex: None,
    };
    if !matches!(e.value.kind, Kind::Map(_)) {
        r.error(e.value.span, format!("task `{id}` must be a mapping, got {}", e.value.describe()));
        return task;
    }
    let entries = r.entries(e.value, path, id, "key");
    r.known_keys(&entries, TASK_KEYS, &format!("in task `{id}`"));
    let get = |key: &str| entries.iter().find(|f| f.key == key);
    let input = get("input").map(|f| r.template(f.value, &join(path, "input")));

    // What the task does: exactly one of component + action, workflow, switch.
    let kinds: Vec<&Entry> = ["component", "workflow", "switch", "wait_for", "emit", "terminate", "cancel"]
        .iter()
        .filter_map(|k| get(k))
        .collect();
    match (kinds.as_slice(), get("action")) {
        ([], Some(action)) => {
            r.error(action.key_node.span, format!("task `{id}` has `action` but no `component`"));
        }
        ([], None) => r.error_hint(
            e.key_node.span,
            format!("task `{id}` does nothing"),
            Some(
                "give it `component` and `action`, `workflow`, `switch`, `wait_for`, `emit`, `terminate` or `cancel`"
                    .into(),
            ),
        ),
        ([one], action) => {
            task.action = read_action(r, id, path, one, action, input);
        }
        ([_, second, ..], _) => r.error(
            second.key_node.span,
            format!("task `{id}` has both `{}` and `{}`: a task does one thing", kinds[0].key, second.key),
        ),
    }

    for f in &entries {
        let v = f.value;
        let fpath = join(path, f.key);
        match f.key {
            "description" => task.description = r.string(v, "description"),
            "depends_on" => task.depends_on = r.id_list(v, &fpath, "depends_on"),
            "join" => task.join = crate::control::read_join(r, v, &fpath),
            "when" => task.when = r.expr(v, "when"),
            "for_each" => task.for_each = crate::control::read_for_each(r, v, &fpath, get("concurrency")),
            "concurrency" if get("for_each").is_none() => {
                r.error(f.key_node.span, format!("task `{id}` has `concurrency` but no `for_each`"));
            }
            "repeat" => task.repeat = read_repeat(r, v, &fpath),
            "goto" => task.goto = crate::control::read_goto(r, v, &fpath),
            "mutex" => task.mutex = crate::control::read_mutex(r, v, &fpath),
            "retry" => task.retry = read_retry(r, v, &fpath),
            "timeout" => task.timeout = r.duration(v, "timeout"),
            "on_error" => task.on_error = read_on_error(r, v, &fpath),
            "set_vars" => {
                for var in r.entries(v, &fpath, "set_vars", "variable") {
                    let t = r.template(var.value, &join(&fpath, var.key));
                    task.set_vars.insert(var.key.to_string(), t);
                }
            }
            _ => {}
        }
    }
    if let (Some(_), Some(rep)) = (get("for_each"), get("repeat")) {
        r.error(rep.key_node.span, format!("task `{id}` has both `for_each` and `repeat`: use one"));
    }
    if matches!(task.action, TaskAction::Switch { .. }) {
        for key in ["for_each", "repeat", "retry", "mutex"] {
            if let Some(f) = get(key) {
                r.error(f.key_node.span, format!("switch task `{id}` cannot have `{key}`"));
            }
        }
    }
    let (kind, not_allowed): (_, &[&str]) = match task.action {
        TaskAction::Wait(_) => (Some("wait"), &["for_each", "repeat", "retry", "input", "mutex"]),
        TaskAction::Emit(_) => (Some("emit"), &["for_each", "repeat", "retry", "input", "mutex"]),
        TaskAction::Terminate(_) | TaskAction::Cancel(_) => (
            Some(if get("terminate").is_some() { "terminate" } else { "cancel" }),
            &["for_each", "repeat", "retry", "input", "timeout", "on_error", "set_vars", "goto", "mutex"],
        ),
        _ => (None, &[]),
    };
    if let Some(kind) = kind {
        for &key in not_allowed {
            if let Some(f) = get(key) {
                r.error(f.key_node.span, format!("{kind} task `{id}` cannot have `{key}`"));
            }
        }
    }
    task
}

fn read_action(
    r: &mut Reader,
    id: &str,
    path: &str,
    kind: &Entry,
    action: Option<&Entry>,
    input: Option<Template>,
) -> TaskAction {
    let input = input.unwrap_or(Template::Literal(Value::Object(Default::default())));
    let v = kind.value;
    match kind.key {
        "component" => {
            let component = r.string(v, "component").unwrap_or_default();
            let action = match action {
                Some(a) => r.string(a.value, "action").unwrap_or_default(),
                None => {
                    r.error(kind.key_node.span, format!("task `{id}` has `component` but no `action`"));
                    String::new()
                }
            };
            TaskAction::Call { component, action, input }
        }
        "emit" => {
            if let Some(a) = action {
                r.error(a.key_node.span, format!("emit task `{id}` cannot have `action`"));
            }
            read_emit(r, v, &join(path, "emit"))
        }
        "terminate" | "cancel" => {
            if let Some(a) = action {
                r.error(a.key_node.span, format!("{} task `{id}` cannot have `action`", kind.key));
            }
            match kind.key {
                "terminate" => crate::control::read_terminate(r, v, &join(path, "terminate")),
                _ => TaskAction::Cancel(r.id_list(v, &join(path, "cancel"), "cancel")),
            }
        }
        "wait_for" => {
            if let Some(a) = action {
                r.error(a.key_node.span, format!("wait task `{id}` cannot have `action`"));
            }
            TaskAction::Wait(crate::wait::read_wait(r, id, v, &join(path, "wait_for")))
        }
        "workflow" => {
            if let Some(a) = action {
                r.error(a.key_node.span, format!("task `{id}` runs a workflow: it cannot have `action`"));
            }
            let reference = r.string(v, "workflow").unwrap_or_default();
            let (name, version) = match reference.rsplit_once('@') {
                Some((n, ver)) => (n.to_string(), Some(ver.to_string())),
                None => (reference.clone(), None),
            };
            if !reference.is_empty() && (!is_name(&name) || version.as_deref() == Some("")) {
                r.error_hint(
                    v.span,
                    format!("`workflow` must be a workflow name or name@version, got `{reference}`"),
                    Some("e.g. `workflow: billing` or `workflow: billing@2`".into()),
                );
            }
            TaskAction::Workflow { name, version, input }
        }
        _ => {
            if let Some(a) = action {
                r.error(a.key_node.span, format!("switch task `{id}` cannot have `action`"));
            }
            if !matches!(input, Template::Literal(Value::Object(ref m)) if m.is_empty()) {
                let span = r.spans.get(&join(path, "input")).unwrap_or(kind.key_node.span);
                r.error(span, format!("switch task `{id}` takes no `input`"));
            }
            read_switch(r, v, &join(path, "switch"))
        }
    }
}

/// `emit: {type, subject, data, correlationid}`: a mapping with a `type`, each value a
/// template.
fn read_emit(r: &mut Reader, node: &Node, path: &str) -> TaskAction {
    const KEYS: &[&str] = &["type", "subject", "data", "correlationid"];
    let entries = r.entries(node, path, "emit", "key");
    r.known_keys(&entries, KEYS, "in `emit`");
    if matches!(node.kind, Kind::Map(_)) && !entries.iter().any(|e| e.key == "type") {
        r.error(node.span, "`emit` needs a `type`");
    }
    TaskAction::Emit(r.template(node, path))
}

fn read_switch(r: &mut Reader, node: &Node, path: &str) -> TaskAction {
    let mut cases = Vec::new();
    let mut default = Vec::new();
    let entries = r.entries(node, path, "switch", "key");
    r.known_keys(&entries, &["cases", "default"], "in `switch`");
    for e in &entries {
        match (e.key, &e.value.kind) {
            ("cases", Kind::Seq(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let case_path = join(&join(path, "cases"), &i.to_string());
                    let fields = r.entries(item, &case_path, "case", "key");
                    r.known_keys(&fields, &["when", "then"], "in a switch case");
                    let when = fields.iter().find(|f| f.key == "when");
                    let then = fields.iter().find(|f| f.key == "then");
                    if when.is_none() || then.is_none() {
                        r.error(item.span, "a switch case needs `when` and `then`");
                    }
                    let when = when.and_then(|w| r.expr(w.value, "when"));
                    let then = then.map(|t| r.id_list(t.value, &join(&case_path, "then"), "then"));
                    if let (Some(when), Some(then)) = (when, then) {
                        cases.push(SwitchCase { when, then });
                    }
                }
            }
            ("cases", _) => r.error(e.value.span, format!("`cases` must be a list, got {}", e.value.describe())),
            ("default", _) => default = r.id_list(e.value, &join(path, "default"), "default"),
            _ => {}
        }
    }
    if !entries.iter().any(|e| e.key == "cases") && matches!(node.kind, Kind::Map(_)) {
        r.error(node.span, "`switch` needs `cases`");
    }
    TaskAction::Switch { cases, default }
}

fn read_repeat(r: &mut Reader, node: &Node, path: &str) -> Option<Repeat> {
    let entries = r.entries(node, path, "repeat", "key");
    r.known_keys(&entries, &["until", "max_iterations"], "in `repeat`");
    let mut max_iterations = DEFAULT_MAX_ITERATIONS;
    let mut until = None;
    for e in &entries {
        match e.key {
            "until" => until = r.expr(e.value, "until"),
            "max_iterations" => max_iterations = r.u32(e.value, "max_iterations").unwrap_or(1),
            _ => {}
        }
    }
    if !entries.iter().any(|e| e.key == "until") && matches!(node.kind, Kind::Map(_)) {
        r.error(node.span, "`repeat` needs `until`");
    }
    until.map(|until| Repeat { until, max_iterations })
}

fn read_on_error(r: &mut Reader, node: &Node, path: &str) -> OnError {
    let hint = || Some("`on_error` is one of: fail, continue, { fallback: <task id> }".to_string());
    match (&node.kind, json_scalar(node)) {
        (_, Some(Value::String(s))) if s == "fail" => OnError::Fail,
        (_, Some(Value::String(s))) if s == "continue" => OnError::Continue,
        (Kind::Map(_), _) => {
            let entries = r.entries(node, path, "on_error", "key");
            r.known_keys(&entries, &["fallback"], "in `on_error`");
            match entries.iter().find(|e| e.key == "fallback") {
                Some(f) => r.string(f.value, "fallback").map_or(OnError::Fail, OnError::Fallback),
                None => {
                    r.error_hint(node.span, "`on_error` needs `fallback`", hint());
                    OnError::Fail
                }
            }
        }
        _ => {
            let got = node.scalar().map_or(node.describe().to_string(), |s| format!("`{}`", s.text));
            r.error_hint(node.span, format!("`on_error` must be fail, continue or a fallback, got {got}"), hint());
            OnError::Fail
        }
    }
}

/// A version: 1 to [`MAX_VERSION_LEN`] letters, digits, `.`, `_`, `-` and `+` (it is a part
/// of URLs and store keys).
fn is_version(text: &str) -> bool {
    (1..=MAX_VERSION_LEN).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}
