//! Changes to the definition one execution runs, made while it is paused: a task added, the
//! input of a task replaced. Each takes the task or the input as JSON (a task as written in
//! a workflow file), checks it in the context of the whole workflow, and returns the
//! workflow with the change, or the errors.

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics};
use crate::limits::Limits;
use crate::parse::read_task;
use crate::read::{Entry, Reader};
use crate::types::{TaskAction, Workflow};
use crate::yaml::{self, Kind, Node};

/// `workflow` with the task `id` (as JSON, in the format of a workflow file) added. Nothing
/// depends on the new task; it may depend on the others.
pub fn add_task(workflow: &Workflow, id: &str, definition: &Value) -> Result<Workflow, Diagnostics> {
    if workflow.tasks.contains_key(id) || id == crate::ON_FAILURE {
        return Err(Diagnostic::unplaced(format!("the workflow already has a task {id}")).into());
    }
    if !crate::read::is_name(id) || id.len() > crate::limits::MAX_NAME_LEN {
        let message =
            format!("task id `{id}` must be 1 to {} letters, digits, `_` and `-`", crate::limits::MAX_NAME_LEN);
        return Err(Diagnostic::unplaced(message).into());
    }
    let node = json_node(definition)?;
    let mut reader = Reader::default();
    let scalar = yaml::Scalar { text: id.to_string(), plain: false, tag: None };
    let key = Node { kind: Kind::Scalar(scalar), span: node.span };
    let task = read_task(&mut reader, &Entry { key: id, key_node: &key, value: &node }, &format!("tasks.{id}"));
    let mut changed = workflow.clone();
    changed.tasks.insert(id.to_string(), task);
    checked(changed, reader)
}

/// `workflow` with the input of task `id` replaced by `input` (JSON; its strings may hold
/// `${...}`, as in a workflow file).
pub fn replace_input(workflow: &Workflow, id: &str, input: &Value) -> Result<Workflow, Diagnostics> {
    let node = json_node(input)?;
    let mut reader = Reader::default();
    let template = reader.template(&node, &format!("tasks.{id}.input"));
    let mut changed = workflow.clone();
    let Some(task) = changed.tasks.get_mut(id) else {
        return Err(Diagnostic::unplaced(format!("the workflow has no task {id}")).into());
    };
    match &mut task.action {
        TaskAction::Call { input, .. } | TaskAction::Workflow { input, .. } => *input = template,
        _ => return Err(Diagnostic::unplaced(format!("task {id} takes no input")).into()),
    }
    checked(changed, reader)
}

/// A JSON value as a document node (JSON is YAML), within the default limits.
fn json_node(value: &Value) -> Result<Node, Diagnostics> {
    let text = serde_json::to_string(value).expect("JSON is text");
    yaml::parse(&text, &Limits::default()).map_err(Diagnostics::from)
}

/// The changed workflow if it reads and validates without errors.
fn checked(workflow: Workflow, mut reader: Reader) -> Result<Workflow, Diagnostics> {
    crate::validate::validate_into(&workflow, &reader.spans, &mut reader.diags);
    Diagnostics(reader.diags).finish(None).into_result(workflow)
}
