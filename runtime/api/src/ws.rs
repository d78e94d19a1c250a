//! `GET /api/v1/ws`: one WebSocket for live events and control. Messages are JSON objects
//! with an `op`:
//! - `{"op":"subscribe","id":"s1","execution"?,"workflow"?,"type"?,"after"?}`: events matching
//!   the filters (as for the SSE stream) arrive as `{"op":"event","subscription":"s1",...}`;
//!   with `after`, starting after that event id, read back from the durable log;
//! - `{"op":"unsubscribe","id":"s1"}`;
//! - `{"op":"follow","id":"f1","subscription":"name","after"?}`: the CloudEvents a stored
//!   subscription picks (as it delivers them) arrive as
//!   `{"op":"cloudevent","follow":"f1","seq":N,"event":{...}}`; `{"op":"unfollow","id":"f1"}`;
//! - `{"op":"start","workflow":"w","version"?,"input"?,"ref"?}` answers
//!   `{"op":"started","ref","id"}`;
//! - `{"op":"pause"|"resume"|"cancel","execution":"id","ref"?}` answers `{"op":"ok","ref"}`.
//!
//! Errors answer `{"op":"error","ref","error":{"code","message"}}`. Starting and controlling
//! need the operator role (when tokens are configured), and are written to the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::AppState;
use super::auth::{Caller, Role};
use super::events::Filter;
use super::table::Op;
use harmonia_runner::{LoggedEvent, WorkflowSource, read_log};

pub(super) fn ops() -> Vec<Op> {
    vec![Op::get("/api/v1/ws", "webSocket", "A WebSocket for live events and control", upgrade)
        .describe("JSON messages with an `op`: `subscribe` (`id` and the filters of the event stream, `after`), `unsubscribe`, `follow` (`id`, `subscription`, `after`: what a stored subscription picks), `unfollow`, `start` (`workflow`, `version`, `input`, `ref`), `pause`, `resume`, `cancel` (`execution`, `ref`). Starting and controlling need the operator role.")
        // The handshake of RFC 6455 over HTTP/1.1, as axum checks it (case-insensitively).
        .header("Connection", json!({ "type": "string", "pattern": "[Uu][Pp][Gg][Rr][Aa][Dd][Ee]" }), true, "Holds `upgrade`")
        .header("Upgrade", json!({ "type": "string", "pattern": "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$" }), true, "`websocket`")
        .header("Sec-WebSocket-Version", json!({ "const": "13" }), true, "`13`")
        .header("Sec-WebSocket-Key", json!({ "type": "string" }), true, "The client's nonce: 16 random bytes in base64")
        .ok_as(101, "Switching to the WebSocket protocol", json!({}))
        .errors(&[400])]
}

async fn upgrade(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    ws: WebSocketUpgrade,
) -> Response {
    let caller = caller.map_or(Caller::Anonymous, |Extension(c)| c);
    ws.on_upgrade(move |socket| session(state, caller, socket))
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    Subscribe {
        id: String,
        #[serde(flatten)]
        filter: Filter,
    },
    Unsubscribe {
        id: String,
    },
    Follow {
        id: String,
        subscription: String,
        #[serde(default)]
        after: Option<u64>,
    },
    Unfollow {
        id: String,
    },
    Start {
        workflow: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        input: Option<Value>,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Pause {
        execution: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Resume {
        execution: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
    Cancel {
        execution: String,
        #[serde(default, rename = "ref")]
        reference: Option<Value>,
    },
}

fn error(reference: Option<Value>, code: &str, message: impl Into<String>) -> Value {
    json!({ "op": "error", "ref": reference, "error": { "code": code, "message": message.into() } })
}

/// One connection: requests in, answers and events out.
async fn session(state: Arc<AppState>, caller: Caller, mut socket: WebSocket) {
    let (out, mut outgoing) = mpsc::unbounded_channel::<Value>();
    let mut live = state.runner.subscribe();
    let mut subscriptions: HashMap<String, Filter> = HashMap::new();
    let mut follows = Follows::default();
    loop {
        tokio::select! {
            message = socket.recv() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue, // pings are answered by the library
                };
                let answer = match serde_json::from_str::<Request>(&text) {
                    Err(e) => error(None, "bad_request", format!("not a request: {e}")),
                    Ok(request) => handle(&state, &caller, (&mut subscriptions, &mut follows), request, &out).await,
                };
                if !answer.is_null() && socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                    return;
                }
            }
            Some(value) = outgoing.recv() => {
                if socket.send(Message::Text(value.to_string().into())).await.is_err() {
                    return;
                }
            }
            event = live.recv() => match event {
                Ok(event) => {
                    for message in deliveries(&subscriptions, &event) {
                        if socket.send(Message::Text(message.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let _ = socket.send(Message::Text(error(None, "lagged", format!("{n} events were dropped: subscribe again with `after`")).to_string().into())).await;
                }
                Err(_) => return,
            },
        }
    }
}

/// The stored subscriptions a session follows: a task each, stopped with the session.
#[derive(Default)]
struct Follows(HashMap<String, tokio::task::JoinHandle<()>>);

impl Drop for Follows {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

impl Follows {
    async fn start(
        &mut self,
        state: &Arc<AppState>,
        id: String,
        subscription: &str,
        after: Option<u64>,
        out: &mpsc::UnboundedSender<Value>,
    ) -> Value {
        let found = match state.runner.subscription(subscription).await {
            Ok(Some(found)) => found,
            Ok(None) => return error(None, "unknown_subscription", format!("no subscription named {subscription:?}")),
            Err(e) => return error(None, "store", e.to_string()),
        };
        let mut picked = match super::subscriptions::Picked::new(state.clone(), found, after).await {
            Ok(picked) => picked,
            Err(_) => return error(None, "store", "cannot read the event log"),
        };
        let (out, follow) = (out.clone(), id.clone());
        let task = tokio::spawn(async move {
            while let Some((seq, event)) = picked.next().await {
                if out.send(json!({ "op": "cloudevent", "follow": follow, "seq": seq, "event": event })).is_err() {
                    return;
                }
            }
        });
        if let Some(replaced) = self.0.insert(id.clone(), task) {
            replaced.abort();
        }
        json!({ "op": "following", "id": id })
    }

    fn stop(&mut self, id: String) -> Value {
        match self.0.remove(&id) {
            Some(task) => {
                task.abort();
                json!({ "op": "unfollowed", "id": id })
            }
            None => error(None, "unknown_follow", format!("no follow {id}")),
        }
    }
}

/// The messages one live event makes: one per subscription it matches.
fn deliveries(subscriptions: &HashMap<String, Filter>, event: &LoggedEvent) -> Vec<Value> {
    subscriptions
        .iter()
        .filter(|(_, filter)| filter.after.is_none_or(|after| event.log_seq > after) && filter.accepts(event))
        .map(|(id, _)| event_message(id, event))
        .collect()
}

fn event_message(subscription: &str, event: &LoggedEvent) -> Value {
    json!({ "op": "event", "subscription": subscription, "id": event.log_seq, "execution": event.execution,
            "workflow": event.workflow, "seq": event.seq, "event": event.event })
}

async fn handle(
    state: &Arc<AppState>,
    caller: &Caller,
    (subscriptions, follows): (&mut HashMap<String, Filter>, &mut Follows),
    request: Request,
    out: &mpsc::UnboundedSender<Value>,
) -> Value {
    match request {
        Request::Subscribe { id, mut filter } => {
            if let Some(after) = filter.after {
                // Catch up from the log, then the live stream continues after the head.
                let head = state.runner.log_head().await.unwrap_or(after);
                let store = state.runner.store().clone();
                let backlog = tokio::task::spawn_blocking(move || read_all_after(&*store, after, head)).await;
                for event in backlog.ok().into_iter().flatten() {
                    if filter.accepts(&event) {
                        let _ = out.send(event_message(&id, &event));
                    }
                }
                filter.after = Some(head);
            }
            subscriptions.insert(id.clone(), filter);
            json!({ "op": "subscribed", "id": id })
        }
        Request::Follow { id, subscription, after } => follows.start(state, id, &subscription, after, out).await,
        Request::Unfollow { id } => follows.stop(id),
        Request::Unsubscribe { id } => match subscriptions.remove(&id) {
            Some(_) => json!({ "op": "unsubscribed", "id": id }),
            None => error(None, "unknown_subscription", format!("no subscription {id}")),
        },
        Request::Start { workflow, version, input, reference } => {
            if let Some(refused) = refuse(caller, &reference) {
                return audit(state, caller, "start", &workflow, refused).await;
            }
            let answer = start(state, &workflow, version, input, reference).await;
            audit(state, caller, "start", &workflow, answer).await
        }
        Request::Pause { execution, reference } => control(state, caller, "pause", execution, reference).await,
        Request::Resume { execution, reference } => control(state, caller, "resume", execution, reference).await,
        Request::Cancel { execution, reference } => control(state, caller, "cancel", execution, reference).await,
    }
}

fn read_all_after(store: &dyn harmonia_store::Store, after: u64, head: u64) -> Vec<LoggedEvent> {
    let mut events = Vec::new();
    let mut cursor = after;
    while cursor < head {
        let Ok(page) = read_log(store, cursor, 512) else { break };
        let Some(last) = page.last().map(|e| e.log_seq) else { break };
        events.extend(page.into_iter().filter(|e| e.log_seq <= head));
        cursor = last;
    }
    events
}

/// The refusal of a control request by a caller below operator.
fn refuse(caller: &Caller, reference: &Option<Value>) -> Option<Value> {
    match caller {
        Caller::Token { role, .. } if *role < Role::Operator => Some(error(
            reference.clone(),
            "forbidden",
            format!("role {role} may not start or control executions (it needs operator)"),
        )),
        _ => None,
    }
}

async fn audit(state: &AppState, caller: &Caller, op: &str, target: &str, answer: Value) -> Value {
    let result = answer["error"]["code"].as_str().unwrap_or("ok").to_string();
    let path = format!("/api/v1/ws {op} {target}");
    let entry = super::audit::Entry {
        who: caller.name(),
        method: "WS",
        path: &path,
        status: status_of(&result),
        result: &result,
        details: None,
    };
    state.audit.note(entry).await;
    answer
}

/// The HTTP status the same refusal has over HTTP, for the audit log.
fn status_of(code: &str) -> u16 {
    match code {
        "ok" => 200,
        "forbidden" => 403,
        "unknown_workflow" | "unknown_execution" | "unknown_subscription" => 404,
        "not_running" | "exists" => 409,
        "store" => 503,
        "internal" => 500,
        _ => 400,
    }
}

async fn start(
    state: &AppState,
    workflow: &str,
    version: Option<String>,
    input: Option<Value>,
    reference: Option<Value>,
) -> Value {
    let plan = state.workflows.read().expect("workflows lock").plan(workflow, version.as_deref());
    let Some(plan) = plan else {
        return error(reference, "unknown_workflow", format!("no workflow named {workflow}"));
    };
    let input = match harmonia_model::check_input(&plan.workflow, &input.unwrap_or_else(|| json!({}))) {
        Ok(input) => input,
        Err(d) => return error(reference, "invalid_input", d.to_string()),
    };
    let id = harmonia_runner::new_execution_id();
    match state.runner.start(plan, &id, input).await {
        Ok(()) => json!({ "op": "started", "ref": reference, "id": id }),
        Err(e) => error(reference, "start_failed", e.to_string()),
    }
}

async fn control(state: &AppState, caller: &Caller, op: &str, execution: String, reference: Option<Value>) -> Value {
    if let Some(refused) = refuse(caller, &reference) {
        return audit(state, caller, op, &execution, refused).await;
    }
    let result = match op {
        "pause" => state.runner.pause(&execution),
        "resume" => state.runner.resume(&execution),
        _ => state.runner.cancel(&execution, "cancelled over the WebSocket"),
    };
    let answer = match result {
        Ok(()) => json!({ "op": "ok", "ref": reference, "execution": execution }),
        Err(e) => error(reference, "not_running", e.to_string()),
    };
    audit(state, caller, op, &execution, answer).await
}
