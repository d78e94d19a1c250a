//! Subscriptions over the API: `PUT/GET/DELETE /api/v1/subscriptions/{name}` (admin makes
//! and removes them; webhook secrets are never shown), their delivery state and dead
//! letters (`GET .../dead-letters`, `POST .../dead-letters/{seq}/redeliver`, `DELETE
//! .../dead-letters/{seq}`), and the live stream of what a subscription picks
//! (`GET .../stream`, Server-Sent Events resumable with `Last-Event-ID`; the WebSocket's
//! `follow` op gives the same).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use harmonia_runner::CloudEvent;
use harmonia_runner::events::deliveries::SubscriptionError;
use harmonia_runner::events::subscriptions::{self, Compiled, DeliveryRetry, Destination, Selection, Subscription};
use harmonia_runner::events::{Accepted, read_after};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::auth::Role;
use super::table::Op;
use super::{ApiError, AppState, JsonObject};

pub(super) fn ops() -> Vec<Op> {
    let name = json!({ "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$" });
    let pattern = json!({ "type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[^\\u0000]*$" });
    // null is as good as absent.
    let nullable = |schema: &Value| json!({ "anyOf": [schema, { "type": "null" }] });
    let duration = json!({ "type": "string", "minLength": 1, "maxLength": 64, "examples": ["500ms", "10s", "5m"] });
    let webhook = json!({ "type": "object", "required": ["webhook"], "additionalProperties": false, "properties": {
        "webhook": { "type": "object", "required": ["url"], "additionalProperties": false, "properties": {
            "url": { "type": "string", "maxLength": 2048, "pattern": "^https?://[^/\\s]\\S*$" },
            "secret": nullable(&json!({ "type": "string", "minLength": 16, "maxLength": 1024 })),
            "timeout": nullable(&duration) } } } });
    let workflow = json!({ "type": "object", "required": ["workflow"], "additionalProperties": false, "properties": {
        "workflow": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
            "name": { "type": "string", "minLength": 1 }, "version": nullable(&json!({ "type": "string", "minLength": 1 })) } } } });
    let plugin = json!({ "type": "object", "required": ["plugin"], "additionalProperties": false, "properties": {
        "plugin": { "type": "object", "required": ["plugin", "action"], "additionalProperties": false, "properties": {
            "plugin": { "type": "string", "minLength": 1 }, "action": { "type": "string", "minLength": 1 } } } } });
    let destination = json!({ "oneOf": [{ "const": "stream" }, webhook, workflow, plugin] });
    let retry = json!({ "type": "object", "additionalProperties": false, "properties": {
        "max_attempts": { "type": "integer", "minimum": 1, "maximum": subscriptions::MAX_ATTEMPTS },
        "delay": duration.clone(), "factor": { "type": "number", "minimum": 1, "maximum": 100 }, "max_delay": duration } });
    let body = json!({ "type": "object", "required": ["destination"], "additionalProperties": false, "properties": {
        "types": { "type": "array", "maxItems": subscriptions::MAX_TYPES, "items": pattern.clone() },
        "source": nullable(&pattern), "subject": nullable(&pattern),
        "filter": nullable(&json!({ "type": "string", "description": "One `${...}` expression over `event`" })),
        "transform": { "description": "The delivered data: JSON whose strings may hold `${...}` over `event`" },
        "destination": destination, "retry": retry } });
    let attempt = json!({ "type": "object", "properties": {
        "at": { "type": "integer" }, "ms": { "type": "integer" }, "status": { "type": "integer" }, "error": { "type": "string" } } });
    let subscription = json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "types": { "type": "array" }, "destination": {}, "retry": { "type": "object" },
        "after": { "type": "integer", "description": "The position of the last event handled" },
        "delivered": { "type": "integer" }, "dead_letters": { "type": "integer" },
        "last": { "type": "object" }, "retrying": { "type": "object" } } });
    let dead_letter = json!({ "type": "object", "properties": {
        "subscription": { "type": "string" }, "seq": { "type": "integer" }, "event": { "type": "object" },
        "attempts": { "type": "array", "items": attempt.clone() } } });
    let seq = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
    vec![
        Op::get("/api/v1/subscriptions", "listSubscriptions", "The subscriptions, with their delivery state", list)
            .ok(200, "The subscriptions", json!({ "type": "object", "properties": {
                "subscriptions": { "type": "array", "items": subscription.clone() } } })),
        Op::put("/api/v1/subscriptions/{name}", "putSubscription", "Make or replace a subscription", put)
            .describe("Picks events from the log by `types` (`*` patterns), `source`, `subject` and a `${...}` `filter` over `event`; `transform` makes the delivered data. \
                       The `destination` is `stream` (only the live stream), a `webhook` (POST of the event, retried with exponential backoff, signed with `X-Harmonia-Signature` when it has a secret), \
                       a `workflow` to start (its input is the data) or a `plugin` action. A new subscription starts with the next event; one replaced goes on where it was.")
            .path_param("name", name.clone(), "The subscription's name")
            .json_body(body, true)
            .ok(201, "Made", subscription.clone())
            .also(200, "Replaced", subscription.clone())
            .errors(&[400]),
        Op::get("/api/v1/subscriptions/{name}", "getSubscription", "A subscription and its delivery state", get)
            .path_param("name", name.clone(), "The subscription's name")
            .ok(200, "The subscription; `retrying` is the event whose delivery is being tried again", subscription)
            .errors(&[404]),
        Op::delete("/api/v1/subscriptions/{name}", "deleteSubscription", "Remove a subscription, its state and dead letters", remove)
            .path_param("name", name.clone(), "The subscription's name")
            .ok(200, "Removed", json!({ "type": "object" }))
            .errors(&[404]),
        Op::get("/api/v1/subscriptions/{name}/dead-letters", "listDeadLetters", "Events a subscription could not deliver", dead_letters)
            .path_param("name", name.clone(), "The subscription's name")
            .query("after", seq.clone(), "Dead letters after this event position (the `next` of the previous page)")
            .query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "Read at most this many (100 by default)")
            .ok(200, "A page of dead letters, oldest first, with every attempt", json!({ "type": "object", "properties": {
                "dead_letters": { "type": "array", "items": dead_letter }, "next": { "type": ["integer", "null"] } } }))
            .errors(&[400, 404]),
        Op::post("/api/v1/subscriptions/{name}/dead-letters/{seq}/redeliver", "redeliverDeadLetter", "Try a dead letter once more", redeliver)
            .role(Role::Operator)
            .describe("One attempt, now: a success removes the dead letter; a failure adds the attempt to it.")
            .path_param("name", name.clone(), "The subscription's name")
            .path_param("seq", seq.clone(), "The event's position")
            .ok(200, "The attempt, and whether it delivered", json!({ "type": "object", "properties": {
                "delivered": { "type": "boolean" }, "attempt": attempt } }))
            .errors(&[404]),
        Op::delete("/api/v1/subscriptions/{name}/dead-letters/{seq}", "deleteDeadLetter", "Discard a dead letter", discard)
            .role(Role::Operator)
            .path_param("name", name.clone(), "The subscription's name")
            .path_param("seq", seq.clone(), "The event's position")
            .ok(200, "Discarded", json!({ "type": "object" }))
            .errors(&[404]),
        Op::get("/api/v1/subscriptions/{name}/stream", "streamSubscription", "What a subscription picks, live, over Server-Sent Events", stream_events)
            .describe("Each message is a CloudEvent as the subscription delivers it (its data transformed), named by its type; its SSE id is its position in the event log: reconnecting with `Last-Event-ID` (or `after`) resumes after it.")
            .path_param("name", name, "The subscription's name")
            .query("after", seq.clone(), "Start after this position (else with the next event)")
            .header("Last-Event-ID", seq, false, "Resume after this position (sent by browsers on reconnect); over `after`")
            .ok_as(200, "The stream of events", json!({ "text/event-stream": { "schema": super::sse_event_schema() } }))
            .errors(&[400, 404]),
    ]
}

fn unknown(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_subscription", format!("no subscription named {name:?}"))
}

/// A subscription, or 404.
async fn find(state: &AppState, name: &str) -> Result<Arc<Compiled>, ApiError> {
    if harmonia_runner::tokens::check_name(name).is_err() {
        return Err(unknown(name));
    }
    state.runner.subscription(name).await?.ok_or_else(|| unknown(name))
}

/// A subscription as listings show it: its definition (no secret) and delivery state.
async fn shown(state: &AppState, subscription: &Subscription) -> Result<Value, ApiError> {
    let mut value = subscription.public();
    let status = serde_json::to_value(state.runner.subscription_status(&subscription.name).await?).expect("JSON");
    if let (Some(value), Value::Object(status)) = (value.as_object_mut(), status) {
        value.extend(status);
    }
    Ok(value)
}

async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let stored = super::blocking(&state, subscriptions::list).await?;
    let mut shown_all = Vec::with_capacity(stored.len());
    for subscription in &stored {
        shown_all.push(shown(&state, subscription).await?);
    }
    Ok(Json(json!({ "subscriptions": shown_all })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    #[serde(default)]
    types: Vec<String>,
    source: Option<String>,
    subject: Option<String>,
    filter: Option<String>,
    transform: Option<Value>,
    destination: Destination,
    #[serde(default)]
    retry: DeliveryRetry,
}

async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonObject(body): JsonObject<PutBody>,
) -> Result<Response, ApiError> {
    let subscription = Subscription {
        name,
        types: body.types,
        source: body.source,
        subject: body.subject,
        filter: body.filter,
        transform: body.transform,
        destination: body.destination,
        retry: body.retry,
        created_at: 0,
    };
    let replaced = match state.runner.put_subscription(subscription.clone()).await {
        Ok(replaced) => replaced,
        Err(SubscriptionError::Invalid(why)) => {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_subscription", why));
        }
        Err(SubscriptionError::Run(e)) => return Err(e.into()),
    };
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    let stored = find(&state, &subscription.name).await?;
    Ok((status, Json(shown(&state, &stored.def).await?)).into_response())
}

async fn get(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let subscription = find(&state, &name).await?;
    Ok(Json(shown(&state, &subscription.def).await?))
}

async fn remove(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    find(&state, &name).await?;
    if !state.runner.delete_subscription(&name).await? {
        return Err(unknown(&name));
    }
    Ok(Json(json!({ "removed": name })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

async fn dead_letters(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let limit = super::page_limit(query.limit)?;
    find(&state, &name).await?;
    let after = query.after;
    let page = super::blocking(&state, move |store| subscriptions::dead_letters(store, &name, after, limit)).await?;
    let next = page.last().map(|d| d.seq).filter(|_| page.len() == limit);
    Ok(Json(json!({ "dead_letters": page, "next": next })))
}

fn no_dead_letter(name: &str, seq: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_dead_letter",
        format!("subscription {name:?} has no dead letter at {seq}"),
    )
}

async fn redeliver(
    State(state): State<Arc<AppState>>,
    Path((name, seq)): Path<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    find(&state, &name).await?;
    let (delivered, attempt) = state.runner.redeliver(&name, seq).await?.ok_or_else(|| no_dead_letter(&name, seq))?;
    Ok(Json(json!({ "delivered": delivered, "attempt": attempt })))
}

async fn discard(
    State(state): State<Arc<AppState>>,
    Path((name, seq)): Path<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    find(&state, &name).await?;
    let key = name.clone();
    if !super::blocking(&state, move |store| subscriptions::discard_dead_letter(store, &key, seq)).await? {
        return Err(no_dead_letter(&name, seq));
    }
    Ok(Json(json!({ "discarded": seq })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    after: Option<u64>,
}

/// Where a subscription's stream is: reading the log back, or following new events.
pub(crate) struct Picked {
    state: Arc<AppState>,
    subscription: Arc<Compiled>,
    live: tokio::sync::broadcast::Receiver<Arc<Accepted>>,
    /// The position of the last event read.
    last: u64,
    backlog: std::collections::VecDeque<Accepted>,
    catching_up: bool,
}

impl Picked {
    /// What `subscription` picks after position `after` (`None`: from the next event).
    pub(crate) async fn new(
        state: Arc<AppState>,
        subscription: Arc<Compiled>,
        after: Option<u64>,
    ) -> Result<Picked, ApiError> {
        // Subscribed before the head is read: nothing committed in between is missed.
        let live = state.runner.follow_events();
        let head = super::blocking(&state, harmonia_runner::events::last_seq).await?;
        Ok(Picked {
            state,
            subscription,
            live,
            last: after.unwrap_or(head),
            backlog: Default::default(),
            catching_up: after.is_some(),
        })
    }

    /// The next event the subscription picks, as it delivers it, with its position.
    pub(crate) async fn next(&mut self) -> Option<(u64, CloudEvent)> {
        loop {
            let accepted = self.next_in_log().await?;
            match self.subscription.select(&accepted) {
                Selection::Deliver(event) => return Some((accepted.seq, event)),
                Selection::Skip => {}
                Selection::Failed(_, why) => {
                    tracing::debug!(subscription = %self.subscription.def.name, event = accepted.seq, "not streamed: {why}")
                }
            }
        }
    }

    async fn next_in_log(&mut self) -> Option<Accepted> {
        loop {
            if let Some(accepted) = self.backlog.pop_front() {
                self.last = accepted.seq;
                return Some(accepted);
            }
            if self.catching_up {
                let (store, after) = (self.state.runner.store().clone(), self.last);
                let page = tokio::task::spawn_blocking(move || read_after(&*store, after, 256)).await.ok()?.ok()?;
                if page.is_empty() {
                    self.catching_up = false;
                }
                self.backlog.extend(page);
                continue;
            }
            match self.live.recv().await {
                Ok(accepted) if accepted.seq <= self.last => {}
                Ok(accepted) if accepted.seq == self.last + 1 => {
                    self.last = accepted.seq;
                    return Some((*accepted).clone());
                }
                // A gap: events accepted by concurrent requests (or steps) are published
                // each on its own, so an earlier position may come later; the store has it.
                Ok(_) => self.catching_up = true,
                // Too slow for the live events: read what was missed back from the log.
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

async fn stream_events(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let resume = super::events::last_event_id(&headers)?.or(query.after);
    let subscription = find(&state, &name).await?;
    let picked = Picked::new(state, subscription, resume).await?;
    let events = stream::unfold(picked, |mut picked| async move {
        let (seq, event) = picked.next().await?;
        let data = serde_json::to_string(&event).expect("an event is JSON");
        // An SSE event name is one line.
        let kind = if event.event_type.contains(['\r', '\n']) { "event" } else { &event.event_type };
        Some((Ok(SseEvent::default().id(seq.to_string()).event(kind).data(data)), picked))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
