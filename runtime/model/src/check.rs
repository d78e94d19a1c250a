//! Checks against the world outside the file: the plugin registry, the stored workflows,
//! and the input of an execution.

use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::types::*;
use crate::yaml::describe_value;

/// Knows which plugin actions exist (the host's registry implements it).
pub trait PluginCatalog {
    /// `Err` with a message for the user, e.g. "unknown plugin `ergon` (hint: ...)".
    fn check(&self, component: &str, action: &str) -> Result<(), String>;

    /// The JSON Schema of the action's input, if its plugin publishes one.
    fn input_schema(&self, _component: &str, _action: &str) -> Option<Value> {
        None
    }
}

/// Knows which workflows exist (the store implements it).
pub trait WorkflowCatalog {
    /// Whether `name` exists, in `version` if given (else in any version).
    fn exists(&self, name: &str, version: Option<&str>) -> bool;
}

fn tasks(wf: &Workflow) -> impl Iterator<Item = &Task> {
    wf.tasks.values().chain(wf.on_failure.as_deref())
}

/// Checks every `component` + `action` against `catalog`, and what is written of each
/// task's input against its action's input schema ([`crate::schema`]); errors point at the
/// task, or at the part of its input that is wrong.
pub fn check_plugins(wf: &Workflow, catalog: &dyn PluginCatalog) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    for task in tasks(wf) {
        let TaskAction::Call { component, action, input } = &task.action else { continue };
        if let Err(message) = catalog.check(component, action) {
            diags.push(Diagnostic::new(task.span, format!("task `{}`: {message}", task.id)));
            continue;
        }
        let Some(schema) = catalog.input_schema(component, action) else { continue };
        let base =
            if task.id == crate::ON_FAILURE { crate::ON_FAILURE.to_string() } else { format!("tasks.{}", task.id) };
        for problem in crate::schema::check(input, &schema, &format!("{component}.{action}")) {
            let span = wf.input_spans.nearest(&format!("{base}.{}", problem.path)).unwrap_or(task.span);
            let message = format!("task `{}`: {}", task.id, problem.message);
            diags.push(Diagnostic::new(span, message).with_hint_opt(problem.hint));
        }
    }
    diags.finish(wf.source.as_deref()).into_result(())
}

/// Checks every `workflow:` task against `catalog`.
pub fn check_workflows(wf: &Workflow, catalog: &dyn WorkflowCatalog) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::default();
    for task in tasks(wf) {
        if let TaskAction::Workflow { name, version, .. } = &task.action
            && !catalog.exists(name, version.as_deref())
        {
            let reference = match version {
                Some(v) => format!("{name}@{v}"),
                None => name.clone(),
            };
            diags.push(Diagnostic::new(task.span, format!("task `{}` runs unknown workflow `{reference}`", task.id)));
        }
    }
    diags.finish(wf.source.as_deref()).into_result(())
}

/// Whether `value` is of type `kind`: an integer is a number too; `any` takes everything.
pub fn type_matches(kind: ParamType, value: &Value) -> bool {
    match kind {
        ParamType::Any => true,
        ParamType::String => value.is_string(),
        ParamType::Number => value.is_number(),
        ParamType::Integer => value.is_i64() || value.is_u64(),
        ParamType::Boolean => value.is_boolean(),
        ParamType::Object => value.is_object(),
        ParamType::Array => value.is_array(),
    }
}

/// "a string", "an integer" ...
pub(crate) fn type_phrase(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "a string",
        ParamType::Number => "a number",
        ParamType::Integer => "an integer",
        ParamType::Boolean => "a boolean",
        ParamType::Object => "an object",
        ParamType::Array => "a list",
        ParamType::Any => "any value",
    }
}

/// Checks the input of an execution against the workflow's parameters and fills in the
/// defaults. Errors have no position (line 0) and name the parameter.
pub fn check_input(wf: &Workflow, input: &Value) -> Result<Value, Diagnostics> {
    check_params(&wf.input, input, "input").map(Value::Object)
}

/// [`check_input`] over any parameter list; `what` names them in messages.
pub(crate) fn check_params(
    params: &indexmap::IndexMap<String, InputParam>,
    input: &Value,
    what: &str,
) -> Result<Map<String, Value>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let empty = Map::new();
    let given = match input {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            diags.push(Diagnostic::unplaced(format!("the {what} must be an object, got {}", describe_value(other))));
            return Err(diags);
        }
    };
    for key in given.keys() {
        if !params.contains_key(key) {
            let hint = did_you_mean(key, params.keys().map(String::as_str)).or_else(|| {
                let names: Vec<&str> = params.keys().map(String::as_str).collect();
                Some(if names.is_empty() {
                    format!("this workflow takes no {what}")
                } else {
                    format!("known: {}", names.join(", "))
                })
            });
            diags.push(Diagnostic::unplaced(format!("unknown {what} `{key}`")).with_hint_opt(hint));
        }
    }
    let mut out = Map::new();
    for (name, param) in params {
        // null stands for "not given", except where any value (null included) is welcome.
        let value = given.get(name).filter(|v| !v.is_null() || param.kind == ParamType::Any);
        match (value, &param.default) {
            (Some(v), _) => {
                if type_matches(param.kind, v) {
                    out.insert(name.clone(), v.clone());
                } else {
                    diags.push(Diagnostic::unplaced(format!(
                        "{what} `{name}` must be {}, got {}",
                        type_phrase(param.kind),
                        describe_value(v)
                    )));
                }
            }
            (None, Some(default)) => {
                out.insert(name.clone(), default.clone());
            }
            (None, None) if param.required => {
                let mut d = Diagnostic::unplaced(format!("missing required {what} `{name}`"));
                if let Some(desc) = &param.description {
                    d = d.with_hint(format!("`{name}`: {desc}"));
                }
                diags.push(d);
            }
            (None, None) => {}
        }
    }
    diags.into_result(out)
}
