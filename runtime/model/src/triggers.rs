//! `triggers:` of a workflow: what starts its executions besides a request. An event trigger
//! starts one execution per CloudEvent whose type matches (and whose `filter` holds), with
//! the input its `input:` makes of the event; the event is `event` in the execution's
//! expressions.
//!
//! A schedule trigger starts one at each time its cron expression gives (with seconds), in
//! its time zone; after the server was down, `missed: skip` (the default) starts none of
//! the runs it missed, `run_once` one for the latest.
//!
//! ```yaml
//! triggers:
//!   - event: doc.uploaded                     # a type, or a pattern: doc.*, *.failed
//!     source: "https://files.example.com/*"   # optional, a pattern too
//!     filter: "${event.data.size > 0}"
//!     input: { document_path: "${event.data.path}" }
//!   - cron: "0 */5 * * * *"                   # sec min hour day-of-month month day-of-week
//!     timezone: Europe/Paris                  # UTC by default
//!     missed: run_once
//!     input: { mode: scheduled }
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
    /// The times of a cron expression, in a time zone.
    Schedule(Schedule),
}

/// A cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: cron::Schedule,
    pub timezone: chrono_tz::Tz,
    pub missed: Missed,
}

/// What a schedule does about the runs it missed while the server was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Start none of them: the next run is the next time to come.
    Skip,
    /// Start one, for the latest missed time.
    RunOnce,
}

impl Schedule {
    /// The first time after `after` (milliseconds since the Unix epoch), in the same unit.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        use chrono::TimeZone;
        let after = chrono::Utc.timestamp_millis_opt(i64::try_from(after).ok()?).single()?;
        let next = self.cron.after(&after.with_timezone(&self.timezone)).next()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// `at` (milliseconds since the Unix epoch) as RFC 3339, in the schedule's time zone.
    pub fn format(&self, at: u64) -> String {
        use chrono::TimeZone;
        let utc = chrono::Utc.timestamp_millis_opt(at as i64).single().unwrap_or_default();
        utc.with_timezone(&self.timezone).to_rfc3339()
    }
}

const EVENT_KEYS: &[&str] = &["event", "source", "filter", "input"];
const SCHEDULE_KEYS: &[&str] = &["cron", "timezone", "missed", "input"];

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
        if let Some(cron) = entries.iter().find(|e| e.key == "cron") {
            r.known_keys(&entries, SCHEDULE_KEYS, "in a schedule trigger");
            let timezone = entries.iter().find(|e| e.key == "timezone");
            let missed = entries.iter().find(|e| e.key == "missed");
            let input = entries.iter().find(|e| e.key == "input").map(|e| r.template(e.value, &join(&path, "input")));
            if let Some(schedule) = read_schedule(r, cron.value, timezone.map(|e| e.value), missed.map(|e| e.value)) {
                triggers.push(Trigger { on: TriggerOn::Schedule(schedule), input, span: item.span });
            }
            continue;
        }
        let Some(kind) = entries.iter().find(|e| e.key == "event") else {
            if !entries.is_empty() || matches!(item.kind, Kind::Map(_)) {
                r.error_hint(
                    item.span,
                    "a trigger needs `event:` or `cron:`",
                    Some("for example `- event: doc.uploaded` or `- cron: \"0 0 9 * * Mon-Fri\"`".into()),
                );
            }
            continue;
        };
        r.known_keys(&entries, EVENT_KEYS, "in an event trigger");
        let Some(event_type) = pattern(r, kind.value, "event") else { continue };
        let mut trigger =
            Trigger { on: TriggerOn::Event { event_type, source: None, filter: None }, input: None, span: item.span };
        for e in &entries {
            let TriggerOn::Event { source, filter, .. } = &mut trigger.on else { continue };
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

fn read_schedule(r: &mut Reader, cron: &Node, timezone: Option<&Node>, missed: Option<&Node>) -> Option<Schedule> {
    let text = r.string(cron, "cron")?;
    let parsed = match text.parse::<cron::Schedule>() {
        Ok(parsed) => Some(parsed),
        Err(e) => {
            r.error_hint(
                cron.span,
                format!("`cron` {text:?} is not a cron expression: {e}"),
                Some("six fields: second minute hour day-of-month month day-of-week, e.g. \"0 */5 * * * *\"".into()),
            );
            None
        }
    };
    let timezone = match timezone {
        None => Some(chrono_tz::UTC),
        Some(node) => {
            let name = r.string(node, "timezone")?;
            match name.parse::<chrono_tz::Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    r.error_hint(
                        node.span,
                        format!("unknown `timezone` {name:?}"),
                        Some("an IANA time zone name, such as UTC, Europe/Paris or America/New_York".into()),
                    );
                    None
                }
            }
        }
    };
    let missed = match missed.map(|node| r.choice(node, "missed", &["skip", "run_once"])) {
        Some(Some("run_once")) => Missed::RunOnce,
        _ => Missed::Skip,
    };
    let (schedule, timezone) = (parsed?, timezone?);
    if schedule.upcoming(chrono_tz::UTC).next().is_none() {
        r.error(cron.span, format!("`cron` {text:?} never comes (a day that does not exist?)"));
        return None;
    }
    Some(Schedule { cron: schedule, timezone, missed })
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
