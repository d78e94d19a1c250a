//! Subscriptions against a real server: webhooks delivered to a real HTTP receiver on
//! 127.0.0.1 (retried with backoff, signed, dead-lettered after the last attempt and
//! redelivered), a workflow started per event (also for events sent while the server was
//! down), the live stream of what a subscription picks, and definitions refused with a
//! reason.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::events::{BROKEN, finished};
use crate::support::{Server, expect, with};

/// A request a [`Receiver`] got: its headers (lowercase names) and body.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An HTTP receiver on 127.0.0.1: answers each request with the next status of its
/// script (the last one from then on), and keeps what it got.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/in?from=harmonia", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.to_vec()));
        let (got, statuses) = (received.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert!(line.starts_with("POST /hooks/in?from=harmonia HTTP/1.1"), "{line:?}");
                let mut headers = Vec::new();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let Some((name, value)) = line.trim_end().split_once(':') else { break };
                    headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                }
                let length: usize =
                    headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                got.lock().unwrap().push(Received { headers, body });
                let status = {
                    let mut script = statuses.lock().unwrap();
                    if script.len() > 1 { script.remove(0) } else { script[0] }
                };
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        Receiver { url, received, script }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until it got `count` requests.
    fn wait_for(&self, count: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "got {} requests, not {count}", received.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// HMAC-SHA256 (RFC 2104), written here rather than taken from the server's code, so that
/// the test checks the signature independently.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn put_subscription(client: &reqwest::blocking::Client, server: &Server, name: &str, body: Value) -> Value {
    let response = client.put(server.url(&format!("/api/v1/subscriptions/{name}"))).json(&body).send().unwrap();
    expect(response, 201, None)
}

fn publish(client: &reqwest::blocking::Client, server: &Server, events: Value) -> Value {
    let response = client
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(events.to_string())
        .send()
        .unwrap();
    expect(response, 202, None)
}

fn order(id: &str, kind: &str, data: Value) -> Value {
    json!({ "specversion": "1.0", "id": id, "source": "/shop", "type": kind, "data": data })
}

/// The subscription once `done` holds of it.
fn subscription_until(
    client: &reqwest::blocking::Client,
    server: &Server,
    name: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let shown = expect(client.get(server.url(&format!("/api/v1/subscriptions/{name}"))).send().unwrap(), 200, None);
        if done(&shown) {
            return shown;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "subscription {name} is still {shown}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_webhook_is_retried_with_backoff_and_signed_and_one_that_always_fails_ends_as_a_dead_letter() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let flaky = Receiver::start(&[500, 500, 200]);
    let down = Receiver::start(&[500]);
    let secret = "a-secret-the-receiver-knows";
    let made = put_subscription(
        &client,
        &server,
        "orders",
        json!({
            "types": ["order.*"], "source": "/shop", "filter": "${event.data.total > 0}",
            "transform": { "order": "${event.data.id}", "total": "${event.data.total}" },
            "destination": { "webhook": { "url": flaky.url, "secret": secret } },
            "retry": { "max_attempts": 3, "delay": "100ms", "factor": 2 },
        }),
    );
    assert_eq!(made["destination"]["webhook"]["signed"], true, "{made}");
    assert!(made["destination"]["webhook"].get("secret").is_none(), "the secret is never shown: {made}");
    put_subscription(
        &client,
        &server,
        "doomed",
        json!({
            "types": ["order.created"], "filter": "${event.data.total > 0}",
            "destination": { "webhook": { "url": down.url } },
            "retry": { "max_attempts": 3, "delay": "50ms" },
        }),
    );

    let accepted = publish(
        &client,
        &server,
        json!([
            order("o-0", "order.created", json!({ "id": "A-0", "total": 0 })), // its filter does not hold
            order("o-1", "invoice.paid", json!({ "id": "A-1", "total": 5 })),  // another type
            order("o-2", "order.created", json!({ "id": "A-2", "total": 30, "card": "4111" })),
        ]),
    );
    let seq = accepted["events"][2]["seq"].as_u64().unwrap();

    // Two failures, then the third attempt is answered 200.
    let got = flaky.wait_for(3);
    let shown = subscription_until(&client, &server, "orders", |s| s["delivered"] == 1);
    assert_eq!(flaky.received().len(), 3, "only the event that matches is sent, and only until it is delivered");
    let statuses: Vec<Value> =
        shown["last"]["attempts"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(200)], "{shown}");
    assert_eq!((shown["last"]["seq"].as_u64(), shown["dead_letters"].clone()), (Some(seq), json!(0)));
    // Backoff: the waits grow (100 ms, then 200 ms).
    let at: Vec<u64> =
        shown["last"]["attempts"].as_array().unwrap().iter().map(|a| a["at"].as_u64().unwrap()).collect();
    assert!(at[1] - at[0] >= 100 && at[2] - at[1] >= 200, "attempts at {at:?}");
    for (n, request) in got.iter().enumerate() {
        assert_eq!(request.body, got[0].body, "every attempt sends the same event");
        assert_eq!(request.header("x-harmonia-attempt"), Some((n + 1).to_string().as_str()));
        assert_eq!(request.header("x-harmonia-delivery"), Some(format!("orders/{seq}").as_str()));
        assert_eq!(request.header("content-type"), Some("application/cloudevents+json"));
        let expected = format!("sha256={}", hmac_sha256(secret.as_bytes(), &request.body));
        assert_eq!(request.header("x-harmonia-signature"), Some(expected.as_str()), "a valid signature");
    }
    let event: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!((event["id"].clone(), event["type"].clone()), (json!("o-2"), json!("order.created")));
    assert_eq!(event["data"], json!({ "order": "A-2", "total": 30 }), "the transformed data, without the card");

    // The receiver that always fails: three attempts, then a dead letter, visible over the API.
    let shown = subscription_until(&client, &server, "doomed", |s| s["dead_letters"] == 1);
    assert_eq!(down.received().len(), 3);
    assert_eq!(shown["last"]["result"], "dead_letter");
    let dead = expect(client.get(server.url("/api/v1/subscriptions/doomed/dead-letters")).send().unwrap(), 200, None);
    let letters = dead["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{dead}");
    assert_eq!((letters[0]["seq"].as_u64(), letters[0]["event"]["id"].clone()), (Some(seq), json!("o-2")));
    let errors: Vec<&str> =
        letters[0]["attempts"].as_array().unwrap().iter().map(|a| a["error"].as_str().unwrap()).collect();
    assert_eq!(errors, ["the receiver answered HTTP 500"; 3]);

    // The receiver is back: redelivering the dead letter (an operator's call) empties the list.
    *down.script.lock().unwrap() = vec![204];
    let path = format!("/api/v1/subscriptions/doomed/dead-letters/{seq}/redeliver");
    let again = expect(client.post(server.url(&path)).send().unwrap(), 200, None);
    assert_eq!((again["delivered"].clone(), again["attempt"]["status"].clone()), (json!(true), json!(204)), "{again}");
    let dead = expect(client.get(server.url("/api/v1/subscriptions/doomed/dead-letters")).send().unwrap(), 200, None);
    assert_eq!(dead["dead_letters"], json!([]));
    expect(client.post(server.url(&path)).send().unwrap(), 404, Some("unknown_dead_letter"));
}

const SHIP: &str = r#"
name: ship
version: "1"
input: { order: { type: string } }
tasks:
  label: { component: core, action: echo, input: { order: "${input.order}", from: "${event.source}" } }
output: "${tasks.label.output}"
"#;

#[test]
fn a_subscription_starts_a_workflow_per_event_even_for_events_sent_while_the_server_was_down() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(workflows.path().join("ship.yaml"), SHIP).unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    put_subscription(
        &client,
        &server,
        "shipping",
        json!({
            "types": ["order.paid"], "transform": { "order": "${event.data.id}" },
            "destination": { "workflow": { "name": "ship" } },
        }),
    );
    let accepted = publish(&client, &server, json!([order("p-1", "order.paid", json!({ "id": "B-1" }))]));
    let seq = accepted["events"][0]["seq"].as_u64().unwrap();
    let exec = finished(&client, &server, &format!("ship-subscription-shipping-{seq}"));
    assert_eq!(exec["output"], json!({ "order": "B-1", "from": "/shop" }), "{exec}");
    // The same event again is a duplicate: nothing more starts.
    publish(&client, &server, json!([order("p-1", "order.paid", json!({ "id": "B-1" }))]));

    // While the server is down, an event goes into its log; the next start delivers it.
    server.stop();
    let out = crate::support::harmonia(
        &["event", "send", "order.paid", r#"{"id": "B-2"}"#, "--source", "/shop", "--id", "p-2"],
        data.path(),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    let offline = sent["events"][0]["seq"].as_u64().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let exec = finished(&client, &server, &format!("ship-subscription-shipping-{offline}"));
    assert_eq!(exec["output"]["order"], "B-2");
    let shown = subscription_until(&client, &server, "shipping", |s| s["delivered"] == 2);
    assert_eq!(shown["after"].as_u64(), Some(offline), "the duplicate was not delivered again: {shown}");
    let list = expect(client.get(server.url("/api/v1/executions?workflow=ship")).send().unwrap(), 200, None);
    assert_eq!(list["executions"].as_array().unwrap().len(), 2);
}

#[test]
fn a_subscription_streams_what_it_picks_over_sse_and_resumes_after_the_last_event_id() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    put_subscription(
        &client,
        &server,
        "big",
        json!({
            "types": ["order.*"], "filter": "${event.data.total >= 100}",
            "transform": { "total": "${event.data.total}", "kind": "${event.type}" },
            "destination": "stream",
        }),
    );
    let events: Vec<Value> =
        (1..=6).map(|n| order(&format!("s-{n}"), "order.created", json!({ "total": n * 40 }))).collect();
    publish(&client, &server, json!(events));
    let response = client.get(server.url("/api/v1/subscriptions/big/stream?after=0")).send().unwrap();
    assert_eq!(response.status(), 200);
    let picked = crate::event_streams::read_sse(response, |e| e.data["id"] == "s-4");
    let totals: Vec<Value> = picked.iter().map(|e| e.data["data"]["total"].clone()).collect();
    assert_eq!(totals, [json!(120), json!(160)], "from the start: only those of 100 or more");
    assert_eq!(picked[0].kind, "order.created");
    assert_eq!(picked[0].data["data"]["kind"], "order.created");
    // Reconnecting after the first: the second again, then the rest, live ones included.
    let resume = client
        .get(server.url("/api/v1/subscriptions/big/stream"))
        .header("last-event-id", picked[0].id.to_string())
        .send()
        .unwrap();
    let later = std::thread::spawn({
        let (client, url) = (client.clone(), server.url("/api/v1/events"));
        move || {
            std::thread::sleep(Duration::from_millis(200));
            let event = order("s-7", "order.paid", json!({ "total": 999 }));
            client
                .post(url)
                .header("content-type", "application/cloudevents+json")
                .body(event.to_string())
                .send()
                .unwrap();
        }
    });
    let rest = crate::event_streams::read_sse(resume, |e| e.data["id"] == "s-7");
    later.join().unwrap();
    let ids: Vec<Value> = rest.iter().map(|e| e.data["id"].clone()).collect();
    assert_eq!(ids, [json!("s-4"), json!("s-5"), json!("s-6"), json!("s-7")]);
}

#[test]
fn subscriptions_are_made_by_admins_and_bad_ones_refused_with_a_reason() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let admin = crate::support::create_token(data.path(), "admin", "root");
    let operator = crate::support::create_token(data.path(), "operator", "ops");
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let put = |name: &str, body: Value, token: &str| {
        with(client.put(server.url(&format!("/api/v1/subscriptions/{name}"))).json(&body), Some(token)).send().unwrap()
    };
    let stream = json!({ "destination": "stream" });
    expect(put("mine", stream.clone(), &operator), 403, Some("forbidden"));
    for (body, says) in [
        (json!({ "destination": "stream", "filter": "${input.x > 1}" }), "only `event`"),
        (json!({ "destination": "stream", "filter": "${event.data.x >" }), "filter"),
        (json!({ "destination": { "webhook": { "url": "file:///etc/passwd" } } }), "http"),
        (json!({ "destination": { "webhook": { "url": "http://x", "secret": "short" } } }), "secret"),
        (json!({ "destination": "stream", "retry": { "delay": "soon" } }), "retry.delay"),
        (json!({ "destination": "email" }), "destination"),
    ] {
        let refused = expect(put("bad", body.clone(), &admin), 400, None);
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    expect(put("mine", stream.clone(), &admin), 201, None);
    let replaced = expect(put("mine", json!({ "types": ["a.*"], "destination": "stream" }), &admin), 200, None);
    assert_eq!(replaced["types"], json!(["a.*"]));
    let listed =
        expect(with(client.get(server.url("/api/v1/subscriptions")), Some(&operator)).send().unwrap(), 200, None);
    assert_eq!(listed["subscriptions"].as_array().unwrap().len(), 1);
    let gone = with(client.delete(server.url("/api/v1/subscriptions/mine")), Some(&admin)).send().unwrap();
    expect(gone, 200, None);
    let missing = with(client.get(server.url("/api/v1/subscriptions/mine")), Some(&admin)).send().unwrap();
    expect(missing, 404, Some("unknown_subscription"));
}

#[test]
fn alerting_on_failures_is_a_subscription_to_failed_executions_with_the_default_settings() {
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(workflows.path().join("broken.yaml"), BROKEN).unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let pager = Receiver::start(&[200]);
    put_subscription(
        &client,
        &server,
        "alerts",
        json!({
            "types": ["harmonia.execution.failed"],
            "transform": { "text": "${'execution ' + event.executionid + ' of ' + event.workflow + ' failed: ' + event.data.error.message}" },
            "destination": { "webhook": { "url": pager.url } },
        }),
    );
    let start = client.post(server.url("/api/v1/workflows/broken/executions?wait=10s")).json(&json!({}));
    let failed = expect(start.send().unwrap(), 200, None);
    assert_eq!(failed["status"], "failed", "{failed}");
    let id = failed["id"].as_str().unwrap();
    let got = pager.wait_for(1);
    let alert: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(alert["type"], "harmonia.execution.failed");
    let text = alert["data"]["text"].as_str().unwrap();
    assert!(text.starts_with(&format!("execution {id} of broken failed: ")), "{text}");
    // Only what is wanted went into the log: no started or completed events.
    let log = expect(client.get(server.url("/api/v1/events?type=harmonia.*")).send().unwrap(), 200, None);
    let types: Vec<&str> =
        log["events"].as_array().unwrap().iter().map(|e| e["event"]["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["harmonia.execution.failed"]);
}

/// `harmonia subscription ...` against `server`; its stdout as JSON.
fn cli(server: &Server, args: &[&str]) -> Value {
    let out = crate::support::harmonia_command()
        .args(["subscription"])
        .args(args)
        .args(["--server", server.base()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_cli_manages_subscriptions_and_the_websocket_follows_one() {
    use tungstenite::Message;
    let (data, workflows) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = Server::start_with(data.path(), workflows.path());
    let client = reqwest::blocking::Client::new();
    let made =
        cli(&server, &["create", "watch", "--type", "order.*", "--filter", "${event.data.total > 1}", "--stream"]);
    assert_eq!((made["name"].clone(), made["destination"].clone()), (json!("watch"), json!("stream")));
    // Nothing listens on this port: every attempt fails, and one attempt is all it gets.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/in");
    cli(&server, &["create", "nowhere", "--type", "order.*", "--webhook", &url, "--max-attempts", "1"]);
    let listed = cli(&server, &["list"]);
    let names: Vec<&str> =
        listed["subscriptions"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["nowhere", "watch"]);

    let ws = server.url("/api/v1/ws").replace("http://", "ws://");
    let (mut socket, _) = tungstenite::connect(ws).unwrap();
    let follow = json!({ "op": "follow", "id": "f1", "subscription": "watch" });
    socket.send(Message::Text(follow.to_string().into())).unwrap();
    let mut next = || loop {
        if let Message::Text(text) = socket.read().unwrap() {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
    };
    assert_eq!(next(), json!({ "op": "following", "id": "f1" }));
    publish(
        &client,
        &server,
        json!([
            order("w-1", "order.created", json!({ "total": 1 })),
            order("w-2", "order.created", json!({ "total": 2 })),
        ]),
    );
    let message = next();
    assert_eq!((message["op"].clone(), message["follow"].clone()), (json!("cloudevent"), json!("f1")), "{message}");
    assert_eq!(message["event"]["id"], "w-2", "w-1 is filtered out");

    let shown = subscription_until(&client, &server, "nowhere", |s| s["dead_letters"] == 2);
    assert_eq!(shown["last"]["attempts"].as_array().unwrap().len(), 1);
    let dead = cli(&server, &["dead-letters", "nowhere"]);
    let first = dead["dead_letters"][0]["seq"].as_u64().unwrap();
    assert!(dead["dead_letters"][0]["attempts"][0]["error"].as_str().unwrap().contains("cannot connect"), "{dead}");
    let again = cli(&server, &["redeliver", "nowhere", &first.to_string()]);
    assert_eq!(again["delivered"], false);
    let dead = cli(&server, &["dead-letters", "nowhere"]);
    assert_eq!(dead["dead_letters"][0]["attempts"].as_array().unwrap().len(), 2, "the attempt is added: {dead}");
    cli(&server, &["delete", "nowhere"]);
    assert_eq!(cli(&server, &["list"])["subscriptions"].as_array().unwrap().len(), 1);
}
