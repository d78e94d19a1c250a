//! Live events from a real `harmonia serve`: Server-Sent Events (in order, resumed with
//! `Last-Event-ID`) and the WebSocket (subscribe, start, control), and a server that stops
//! on SIGTERM with a stream open.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{GREETER_V1, post_workflow};
use crate::support::Server;

/// One Server-Sent Event: its id, its type and its data.
pub(crate) struct Sse {
    pub id: u64,
    pub kind: String,
    pub data: Value,
}

/// Reads events off an SSE response until `done` says stop (or the client's timeout).
pub(crate) fn read_sse(response: reqwest::blocking::Response, mut done: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
    let mut events = Vec::new();
    let (mut id, mut kind, mut data) = (None, String::new(), String::new());
    for line in BufReader::new(response).lines() {
        // A read that times out ends the stream: the caller checks what came.
        let Ok(line) = line else { break };
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim());
        } else if line.is_empty() && id.is_some() {
            let event = Sse {
                id: id.take().unwrap(),
                kind: std::mem::take(&mut kind),
                data: serde_json::from_str(&std::mem::take(&mut data)).unwrap(),
            };
            let stop = done(&event);
            events.push(event);
            if stop {
                break;
            }
        }
    }
    events
}

#[test]
fn events_stream_in_order_over_sse_and_a_reconnect_with_last_event_id_misses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let stream = http.get(server.url("/api/v1/events/stream?workflow=greeter")).send().unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let started: Value = http
        .post(server.url("/api/v1/workflows/greeter/executions"))
        .json(&json!({"input": {"ms": 50}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let events = read_sse(stream, |e| e.kind == "completed");
    // Every event of the execution, in history order, with growing stream ids.
    let seqs: Vec<u64> = events.iter().map(|e| e.data["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "{:?}",
        events.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(events.iter().all(|e| e.data["execution"] == id.as_str()));
    assert_eq!(events[0].kind, "started");
    let history: Value =
        http.get(server.url(&format!("/api/v1/executions/{id}/history"))).send().unwrap().json().unwrap();
    assert_eq!(history["events"].as_array().unwrap().len(), events.len());

    // Reconnect after the third event: the rest, no gap, no repeat.
    let resumed = http
        .get(server.url("/api/v1/events/stream?workflow=greeter"))
        .header("last-event-id", events[2].id.to_string())
        .send()
        .unwrap();
    let rest = read_sse(resumed, |e| e.kind == "completed");
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), events[3..].iter().map(|e| e.id).collect::<Vec<_>>());

    // Filters by type with `*` patterns; a bad Last-Event-ID is a 400.
    let tasks = http.get(server.url("/api/v1/events/stream?type=task_*")).header("last-event-id", "0").send().unwrap();
    let task_events = read_sse(tasks, |e| e.data["event"]["task"] == "hello");
    assert_eq!(task_events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["task_succeeded", "task_succeeded"]);
    for bad in ["yesterday", "+1", "-1"] {
        let refused = http.get(server.url("/api/v1/events/stream")).header("last-event-id", bad).send().unwrap();
        assert_eq!(refused.status(), 400, "Last-Event-ID {bad}");
    }
}

#[test]
fn a_live_stream_misses_no_event_when_many_executions_commit_at_once() {
    // Drivers publish their committed steps each on its own, so live events of concurrent
    // executions can arrive out of the log's order; a stream must not lose the earlier ones.
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let http = reqwest::blocking::Client::new();
    let stream = http.get(server.url("/api/v1/events/stream?workflow=greeter&type=completed")).send().unwrap();
    const EXECUTIONS: usize = 400;
    let starters: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (http.clone(), server.url("/api/v1/workflows/greeter/executions"));
            std::thread::spawn(move || {
                for _ in 0..EXECUTIONS / 8 {
                    let started = http.post(&url).json(&json!({"input": {"ms": 0}})).send().unwrap();
                    assert_eq!(started.status(), 201);
                }
            })
        })
        .collect();
    // Read on a thread of its own, so that a missing event fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || read_sse(stream, |e| tx.send(e.id).is_err()));
    let mut completed = Vec::new();
    while let Ok(id) = rx.recv_timeout(Duration::from_secs(20)) {
        completed.push(id);
        if completed.len() == EXECUTIONS {
            break;
        }
    }
    for starter in starters {
        starter.join().unwrap();
    }
    let ids: std::collections::BTreeSet<u64> = completed.iter().copied().collect();
    assert_eq!((completed.len(), ids.len()), (EXECUTIONS, EXECUTIONS), "every execution's completion, once");
    assert!(completed.windows(2).all(|w| w[0] < w[1]), "in the log's order");
}

#[test]
fn the_websocket_subscribes_to_events_and_starts_and_controls_executions() {
    use tungstenite::Message;
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), empty.path());
    post_workflow(&server, "application/yaml", GREETER_V1);
    let url = server.url("/api/v1/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    let send = |socket: &mut tungstenite::WebSocket<_>, value: Value| {
        socket.send(Message::Text(value.to_string().into())).unwrap()
    };
    let next =
        |socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>| -> Value {
            loop {
                if let Message::Text(text) = socket.read().unwrap() {
                    return serde_json::from_str(&text).unwrap();
                }
            }
        };
    send(&mut socket, json!({"op": "subscribe", "id": "s1", "workflow": "greeter", "type": "task_*,completed"}));
    assert_eq!(next(&mut socket), json!({"op": "subscribed", "id": "s1"}));
    send(&mut socket, json!({"op": "start", "workflow": "greeter", "input": {"ms": 10}, "ref": 7}));
    let mut started = None;
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("completed") {
        let message = next(&mut socket);
        match message["op"].as_str().unwrap() {
            "started" => {
                assert_eq!(message["ref"], 7);
                started = Some(message["id"].as_str().unwrap().to_string());
            }
            "event" => {
                assert_eq!(message["subscription"], "s1");
                kinds.push(message["event"]["type"].as_str().unwrap().to_string());
            }
            other => panic!("unexpected {other}: {message}"),
        }
    }
    assert!(started.is_some());
    assert_eq!(kinds, ["task_succeeded", "task_succeeded", "completed"]);

    // Control: a long one paused and cancelled; unknown ones are errors with the ref.
    send(&mut socket, json!({"op": "unsubscribe", "id": "s1"}));
    assert_eq!(next(&mut socket)["op"], "unsubscribed");
    send(&mut socket, json!({"op": "start", "workflow": "greeter", "input": {"ms": 30000}}));
    let id = next(&mut socket)["id"].as_str().unwrap().to_string();
    send(&mut socket, json!({"op": "pause", "execution": id, "ref": "p"}));
    assert_eq!(next(&mut socket)["op"], "ok");
    send(&mut socket, json!({"op": "cancel", "execution": id, "ref": "c"}));
    assert_eq!(next(&mut socket)["op"], "ok");
    send(&mut socket, json!({"op": "pause", "execution": "nosuch", "ref": "x"}));
    let refused = next(&mut socket);
    assert_eq!(
        (refused["op"].as_str(), refused["ref"].as_str(), refused["error"]["code"].as_str()),
        (Some("error"), Some("x"), Some("not_running"))
    );
    send(&mut socket, json!({"op": "dance"}));
    assert_eq!(next(&mut socket)["error"]["code"], "bad_request");
    std::thread::sleep(Duration::from_millis(200));
    let state: Value = reqwest::blocking::get(server.url(&format!("/api/v1/executions/{id}"))).unwrap().json().unwrap();
    assert_eq!(state["status"], "cancelled");
}

#[test]
fn sigterm_stops_the_server_within_10_s_even_with_an_event_stream_open() {
    let server = Server::start();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let stream = http.get(server.url("/api/v1/events/stream")).send().unwrap();
    assert_eq!(stream.status(), 200);
    let (took, status) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(stream);
}
