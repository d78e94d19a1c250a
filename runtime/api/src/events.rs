//! Live events over Server-Sent Events: `GET /api/v1/events/stream`, filtered by
//! execution, workflow and event type (`*` patterns, several separated by commas). A client
//! that reconnects with `Last-Event-ID` gets everything after that event from the durable
//! event log, then the live stream, without a gap or a repeat.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::table::Op;
use super::{ApiError, AppState};
use harmonia_runner::{LoggedEvent, read_log};

pub(super) fn ops() -> Vec<Op> {
    let pattern = |what: &str| format!("Only events of {what}: `*` patterns, several separated by commas");
    vec![Op::get("/api/v1/events/stream", "streamEvents", "Live events over Server-Sent Events", stream_events)
        .describe("Each event's SSE id is its place in the durable event log: reconnecting with `Last-Event-ID` (or `after`) resumes after it without a gap or a repeat.")
        .query("execution", json!({ "type": "string" }), &pattern("these executions"))
        .query("workflow", json!({ "type": "string" }), &pattern("executions of these workflows"))
        .query("type", json!({ "type": "string", "examples": ["task_succeeded", "call_*", "*_failed"] }), &pattern("these types"))
        .query("after", json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }), "Start after this event id")
        .header("Last-Event-ID", json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }), false, "Resume after this event id (sent by browsers on reconnect); over `after`")
        .ok_as(200, "The stream of events, each a JSON object", json!({ "text/event-stream": { "schema": super::sse_event_schema() } }))
        .errors(&[400])]
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub execution: Option<String>,
    pub workflow: Option<String>,
    /// Event types (`task_succeeded`, `call_*`, `*_failed`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Start after this event (like `Last-Event-ID`).
    pub after: Option<u64>,
}

/// Whether `text` matches one of the comma-separated `*` patterns.
pub fn matches(patterns: &str, text: &str) -> bool {
    patterns.split(',').map(str::trim).any(|pattern| harmonia_model::pattern_matches(pattern, text))
}

impl Filter {
    pub fn accepts(&self, event: &LoggedEvent) -> bool {
        self.execution.as_deref().is_none_or(|p| matches(p, &event.execution))
            && self.workflow.as_deref().is_none_or(|p| matches(p, &event.workflow))
            && self.kind.as_deref().is_none_or(|p| matches(p, event.event.kind()))
    }
}

/// Where a stream is: reading the log back, or following live events.
struct Cursor {
    state: Arc<AppState>,
    filter: Filter,
    live: tokio::sync::broadcast::Receiver<Arc<LoggedEvent>>,
    /// The last position sent (or skipped).
    last: u64,
    /// Events read back and not sent yet.
    backlog: std::collections::VecDeque<Arc<LoggedEvent>>,
    catching_up: bool,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        metrics::gauge!("harmonia_event_stream_clients").decrement(1);
    }
}

impl Cursor {
    async fn next(&mut self) -> Option<Arc<LoggedEvent>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.log_seq;
                return Some(event);
            }
            if self.catching_up {
                let (store, after) = (self.state.runner.store().clone(), self.last);
                let page = tokio::task::spawn_blocking(move || read_log(&*store, after, 256)).await.ok()?.ok()?;
                if page.is_empty() {
                    self.catching_up = false;
                } else {
                    // Live events queued meanwhile are skipped by position once caught up.
                    self.backlog.extend(page.into_iter().map(Arc::new));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.log_seq <= self.last => {}
                Ok(event) if event.log_seq == self.last + 1 => {
                    self.last = event.log_seq;
                    return Some(event);
                }
                // A gap: drivers publish their steps each on its own, so an earlier
                // position may come later. The store has it already (batches are committed
                // in the order of their positions): read the log back from the last one sent.
                Ok(_) => self.catching_up = true,
                // Too slow for the live stream: read what was missed back from the log.
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn next_accepted(&mut self) -> Option<Arc<LoggedEvent>> {
        loop {
            let event = self.next().await?;
            if self.filter.accepts(&event) {
                return Some(event);
            }
        }
    }
}

/// The `Last-Event-ID` a reconnecting client sends, if any.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(text) = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim) else {
        return Ok(None);
    };
    // Digits only, as the document's integer says (`parse` would take `+1`).
    let id = text.bytes().all(|b| b.is_ascii_digit()).then(|| text.parse::<u64>().ok()).flatten();
    id.map(Some).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_last_event_id",
            format!("Last-Event-ID {text:?} is not an event id"),
        )
    })
}

async fn stream_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(filter) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let resume = last_event_id(&headers)?.or(filter.after);
    // Subscribe before reading the head: nothing committed in between is missed.
    let live = state.runner.subscribe();
    let head = state
        .runner
        .log_head()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string()))?;
    metrics::gauge!("harmonia_event_stream_clients").increment(1);
    let cursor = Cursor {
        state: state.clone(),
        filter,
        live,
        last: resume.unwrap_or(head),
        backlog: Default::default(),
        catching_up: resume.is_some(),
    };
    let events = stream::unfold(cursor, |mut cursor| async move {
        let event = cursor.next_accepted().await?;
        let data = serde_json::json!({
            "execution": event.execution, "workflow": event.workflow, "seq": event.seq, "event": event.event,
        });
        let sse = SseEvent::default().id(event.log_seq.to_string()).event(event.event.kind()).data(data.to_string());
        Some((Ok(sse), cursor))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_patterns() {
        assert!(matches("task_*", "task_succeeded"));
        assert!(matches("*_failed", "call_failed"));
        assert!(matches("call_*,task_failed", "task_failed"));
        assert!(matches("*", "anything"));
        assert!(matches("a*c*e", "abcde"));
        assert!(!matches("task_*", "call_started"));
        assert!(!matches("started", "call_started"));
    }
}
