//! Tasks that wait: `wait_for` an event (a CloudEvent of a type, from a source, correlated
//! with this execution) or a signal (`POST /api/v1/executions/{id}/signals/{name}`: an
//! approval, say). The task succeeds with the event as its output; at its `timeout` it
//! fails, or continues with a default output.
//!
//! ```yaml
//! paid:
//!   wait_for:
//!     event: order.paid                 # a type or a pattern (order.*)
//!     correlate: "${input.order_id}"    # == the event's correlationid
//!     # correlate: { field: data.order, value: "${input.order_id}" }
//!     lookback: 10m                     # events accepted this long before the wait count
//!   timeout: 1h
//! approve:
//!   wait_for: { signal: approve, on_timeout: continue, default: { approved: false } }
//!   timeout: 24h
//! shipped:                              # a milestone: a condition over the execution
//!   wait_for: { condition: "${tasks.pack.status == 'succeeded' && vars.paid}" }
//!   timeout: 2h
//! ```

use std::time::Duration;

use serde_json::Value;

use crate::expr::Template;
use crate::read::{Entry, Reader, join};
use crate::yaml::{Kind, Node};

/// What a `wait_for` task waits for.
#[derive(Debug, Clone)]
pub struct WaitFor {
    pub on: WaitOn,
    /// Which events are this execution's: none takes the first event that matches.
    pub correlate: Option<Correlate>,
    /// Events accepted this long before the wait began count too (an answer that came
    /// before the question); none: the server's setting.
    pub lookback: Option<Duration>,
    pub on_timeout: OnTimeout,
}

#[derive(Debug, Clone)]
pub enum WaitOn {
    /// A CloudEvent whose type (and source, if given) matches.
    Event { event_type: String, source: Option<String> },
    /// A signal of this name sent to this execution.
    Signal { name: String },
    /// A condition over the execution's state (a milestone): `${...}` over `tasks`, `vars`,
    /// `input`, evaluated after every change; the task succeeds (output `true`) when it holds.
    Condition { condition: crate::Expr },
}

/// The value an event must carry to be this execution's: in its `correlationid`, or in a
/// field of the event (`data.order_id`).
#[derive(Debug, Clone)]
pub struct Correlate {
    /// A dotted path into the event; none: its `correlationid`.
    pub field: Option<String>,
    pub value: Template,
}

/// What the task's `timeout` does to a wait.
#[derive(Debug, Clone)]
pub enum OnTimeout {
    /// The task fails with a `timeout` error (the default).
    Fail,
    /// The task succeeds with this output (`default:`, null if not given).
    Continue { output: Template },
}

/// The CloudEvent type of signals; the signal's name is the event's `subject`.
pub const SIGNAL_TYPE: &str = "harmonia.signal";

const KEYS: &[&str] = &["event", "signal", "condition", "source", "correlate", "lookback", "on_timeout", "default"];

/// Reads `wait_for:` of task `id`.
pub(crate) fn read_wait(r: &mut Reader, id: &str, node: &Node, path: &str) -> WaitFor {
    let mut wait = WaitFor {
        on: WaitOn::Signal { name: String::new() },
        correlate: None,
        lookback: None,
        on_timeout: OnTimeout::Fail,
    };
    let entries = r.entries(node, path, "wait_for", "key");
    r.known_keys(&entries, KEYS, "in `wait_for`");
    let get = |key: &str| entries.iter().find(|e| e.key == key);
    let ons: Vec<&Entry> = ["event", "signal", "condition"].iter().filter_map(|k| get(k)).collect();
    if let [first, second, ..] = ons.as_slice() {
        r.error(second.key_node.span, format!("task `{id}` waits for `{}` or `{}`, not both", first.key, second.key));
    }
    if let Some(condition) = get("condition") {
        if let Some(condition) = r.expr(condition.value, "condition") {
            wait.on = WaitOn::Condition { condition };
        }
        for key in ["source", "correlate", "lookback"] {
            if let Some(e) = get(key) {
                r.error(e.key_node.span, format!("a condition is over this execution: `{key}` is for events"));
            }
        }
    }
    match (get("event"), get("signal")) {
        _ if get("condition").is_some() => {}
        (Some(event), None) => {
            let event_type = text(r, event, "event");
            let source = get("source").map(|s| text(r, s, "source"));
            wait.on = WaitOn::Event { event_type, source };
        }
        (None, Some(signal)) => {
            wait.on = WaitOn::Signal { name: text(r, signal, "signal") };
            if let Some(source) = get("source") {
                r.error(source.key_node.span, "a signal comes from the API: `source` is for events");
            }
        }
        (Some(_), Some(_)) => {} // reported above
        (None, None) => r.error_hint(
            node.span,
            format!("task `{id}` waits for nothing"),
            Some("give `wait_for` an `event: type`, a `signal: name` or a `condition: ${...}`".into()),
        ),
    }
    if let Some(c) = get("correlate") {
        wait.correlate = read_correlate(r, c, &join(path, "correlate"));
        if matches!(wait.on, WaitOn::Signal { .. }) {
            r.error(c.key_node.span, "a signal goes to one execution already: `correlate` is for events");
        }
    }
    if let Some(l) = get("lookback") {
        wait.lookback = r.duration(l.value, "lookback");
    }
    let continues = match get("on_timeout") {
        Some(t) => r.choice(t.value, "on_timeout", &["fail", "continue"]) == Some("continue"),
        None => false,
    };
    let default = get("default");
    if continues {
        let output = match default {
            Some(d) => r.template(d.value, &join(path, "default")),
            None => Template::Literal(Value::Null),
        };
        wait.on_timeout = OnTimeout::Continue { output };
    } else if let Some(d) = default {
        r.error(d.key_node.span, "`default` is the output after a timeout: it needs `on_timeout: continue`");
    }
    wait
}

fn text(r: &mut Reader, e: &Entry, name: &str) -> String {
    let text = r.string(e.value, name).unwrap_or_default();
    if text.is_empty() || text.len() > 1024 || text.contains('\0') {
        r.error(e.value.span, format!("`{name}` must be 1 to 1024 characters, without NUL"));
    }
    text
}

fn read_correlate(r: &mut Reader, e: &Entry, path: &str) -> Option<Correlate> {
    match &e.value.kind {
        Kind::Map(_) => {
            let fields = r.entries(e.value, path, "correlate", "key");
            r.known_keys(&fields, &["field", "value"], "in `correlate`");
            let field = fields.iter().find(|f| f.key == "field").map(|f| text(r, f, "field"));
            let Some(value) = fields.iter().find(|f| f.key == "value") else {
                r.error(e.value.span, "`correlate` needs a `value`");
                return None;
            };
            Some(Correlate { field, value: r.template(value.value, &join(path, "value")) })
        }
        _ => Some(Correlate { field: None, value: r.template(e.value, path) }),
    }
}
