//! A workflow as a graph, for the console to draw: each task with what it does, what it
//! waits for and how (its join), its condition, loops and branches.

use harmonia_model::{Join, OnError, Rest, TaskAction, WaitOn, Workflow};
use serde_json::{Value, json};

/// Each task of `wf` (`on_failure` last) as a node with its edges.
pub(crate) fn graph(wf: &Workflow) -> Value {
    let tasks = wf.tasks.values().chain(wf.on_failure.as_deref());
    Value::Array(tasks.map(node).collect())
}

fn node(task: &harmonia_model::Task) -> Value {
    let (kind, label, targets) = match &task.action {
        TaskAction::Call { component, action, .. } => ("call", format!("{component}.{action}"), vec![]),
        TaskAction::Workflow { name, version, .. } => {
            let label = version.as_ref().map_or_else(|| name.clone(), |v| format!("{name}@{v}"));
            ("workflow", label, vec![])
        }
        TaskAction::Switch { cases, default } => {
            let mut targets: Vec<String> = Vec::new();
            for target in cases.iter().flat_map(|c| c.then.iter()).chain(default) {
                if !targets.contains(target) {
                    targets.push(target.clone());
                }
            }
            ("switch", "switch".to_string(), targets)
        }
        TaskAction::Wait(wait) => {
            let label = match &wait.on {
                WaitOn::Event { event_type, .. } => format!("event {event_type}"),
                WaitOn::Signal { name } => format!("signal {name}"),
                WaitOn::Condition { condition } => format!("until ${{{}}}", condition.source),
            };
            ("wait", label, vec![])
        }
        TaskAction::Emit(_) => ("emit", "emit".to_string(), vec![]),
        TaskAction::Terminate(t) => {
            ("terminate", if t.error.is_some() { "fail" } else { "complete" }.to_string(), vec![])
        }
        TaskAction::Cancel(list) => ("cancel", "cancel".to_string(), list.clone()),
    };
    let join = match task.join {
        Join::All => json!("all"),
        Join::Merge => json!("merge"),
        Join::AtLeast { n: 1, rest: Rest::Finish } => json!("any"),
        Join::AtLeast { n: 1, rest: Rest::Cancel } => json!("one"),
        Join::AtLeast { n, rest } => {
            json!({ "at_least": n, "rest": if rest == Rest::Cancel { "cancel" } else { "finish" } })
        }
    };
    json!({
        "id": task.id,
        "kind": kind,
        "label": label,
        "depends_on": task.depends_on,
        "join": join,
        "when": task.when.as_ref().map(|w| format!("${{{}}}", w.source)),
        "for_each": task.for_each.is_some(),
        "repeat": task.repeat.is_some(),
        "goto": task.goto.as_ref().map(|g| &g.task),
        "targets": targets,
        "fallback": match &task.on_error { OnError::Fallback(f) => Some(f), _ => None },
        "mutex": task.mutex.is_some(),
    })
}
