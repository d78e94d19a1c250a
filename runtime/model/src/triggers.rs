//! `triggers:` of a workflow: what starts its executions besides a request. An event trigger
//! starts one execution per CloudEvent whose type matches (and whose `filter` holds), with
//! the input its `input:` makes of the event; the event is `event` in the execution's
//! expressions.
//!
//! ```yaml
//! triggers:
//!   - event: doc.uploaded                     # a type, or a pattern: doc.*, *.failed
//!     source: "https://files.example.com/*"   # optional, a pattern too
//!     filter: "${event.data.size > 0}"
//!     input: { document_path: "${event.data.path}" }
//! ```

use crate::expr::{Expr, Template};
use crate::read::{Reader, join};
use crate::types::Span;
use crate::yaml::{Kind, Node};

/// What starts executions of a workflow on its own.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub on: TriggerOn,
    /// The execution's input, made of the event (`${event...}`); none: an empty input.
    pub input: Option<Template>,
    pub span: Span,
}

/// When a trigger fires.
#[derive(Debug, Clone)]
pub enum TriggerOn {
    /// A CloudEvent whose `type` (and `source`, if given) matches, and for which `filter`
    /// holds.
    Event { event_type: String, source: Option<String>, filter: Option<Expr> },
}

const EVENT_KEYS: &[&str] = &["event", "source", "filter", "input"];

/// The most triggers a workflow may have.
pub const MAX_TRIGGERS: usize = 64;

/// Reads `triggers:`, a list of triggers.
pub(crate) fn read_triggers(r: &mut Reader, node: &Node) -> Vec<Trigger> {
    let Kind::Seq(items) = &node.kind else {
        r.error(node.span, format!("`triggers` must be a list, got {}", node.describe()));
        return Vec::new();
    };
    if items.len() > MAX_TRIGGERS {
        r.error(node.span, format!("a workflow may have at most {MAX_TRIGGERS} triggers, got {}", items.len()));
        return Vec::new();
    }
    let mut triggers = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = join("triggers", &i.to_string());
        let entries = r.entries(item, &path, &path, "key");
        let Some(kind) = entries.iter().find(|e| e.key == "event") else {
            if !entries.is_empty() || matches!(item.kind, Kind::Map(_)) {
                r.error_hint(item.span, "a trigger needs `event:`", Some("for example `- event: doc.uploaded`".into()));
            }
            continue;
        };
        r.known_keys(&entries, EVENT_KEYS, "in an event trigger");
        let Some(event_type) = pattern(r, kind.value, "event") else { continue };
        let mut trigger =
            Trigger { on: TriggerOn::Event { event_type, source: None, filter: None }, input: None, span: item.span };
        for e in &entries {
            let TriggerOn::Event { source, filter, .. } = &mut trigger.on;
            match e.key {
                "source" => *source = pattern(r, e.value, "source"),
                "filter" => *filter = r.expr(e.value, "filter"),
                "input" => trigger.input = Some(r.template(e.value, &join(&path, "input"))),
                _ => {}
            }
        }
        triggers.push(trigger);
    }
    triggers
}

/// A type or source pattern: text, with `*` for any run of characters.
fn pattern(r: &mut Reader, node: &Node, name: &str) -> Option<String> {
    let text = r.string(node, name)?;
    if text.is_empty() || text.len() > 1024 || text.contains('\0') {
        r.error(node.span, format!("`{name}` must be 1 to 1024 characters, without NUL"));
        return None;
    }
    Some(text)
}

/// Whether `text` matches `pattern`, in which `*` stands for any run of characters
/// (`doc.*`, `*.failed`, `*`).
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else { return false };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| pattern_matches(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pattern_matches;

    #[test]
    fn patterns_match_by_star() {
        assert!(pattern_matches("doc.uploaded", "doc.uploaded"));
        assert!(!pattern_matches("doc.uploaded", "doc.uploaded2"));
        assert!(pattern_matches("doc.*", "doc.uploaded"));
        assert!(!pattern_matches("doc.*", "docs.uploaded"));
        assert!(pattern_matches("*.failed", "harmonia.execution.failed"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("a*c*e", "abcde"));
        assert!(!pattern_matches("a*c*e", "abcd"));
    }
}
