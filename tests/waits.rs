//! Waiting tasks against a real server: correlated waits, the timeout path, an event that
//! came before the wait, and a deferred choice.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, expect};

const WORKFLOWS: &[(&str, &str)] = &[
    (
        "order.yaml",
        r#"
name: order
version: "1"
input: { order: { type: string } }
tasks:
  paid:
    wait_for: { event: order.paid, correlate: "${input.order}" }
  ship: { component: core, action: echo, input: { amount: "${tasks.paid.output.data.amount}" }, depends_on: [paid] }
output: "${tasks.ship.output.amount}"
"#,
    ),
    (
        "quick.yaml",
        r#"
name: quick
version: "1"
tasks:
  answer:
    wait_for: { signal: answer, on_timeout: continue, default: { data: "nobody" } }
    timeout: 300ms
  strict:
    wait_for: { signal: answer }
    timeout: 1s
output: "${tasks.answer.output.data}"
"#,
    ),
    (
        "choice.yaml",
        r#"
name: choice
version: "1"
tasks:
  accepted: { wait_for: { event: offer.accepted } }
  declined: { wait_for: { event: offer.declined } }
  decide:
    component: core
    action: echo
    input: { accepted: "${tasks.accepted.status == 'succeeded'}" }
    depends_on: [accepted, declined]
    join: one
output: "${tasks.decide.output.accepted}"
"#,
    ),
];

struct Env {
    server: Server,
    client: reqwest::blocking::Client,
    _data: tempfile::TempDir,
    _workflows: tempfile::TempDir,
}

fn env() -> Env {
    let workflows = tempfile::tempdir().unwrap();
    for (file, text) in WORKFLOWS {
        std::fs::write(workflows.path().join(file), text).unwrap();
    }
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), workflows.path());
    Env { server, client: reqwest::blocking::Client::new(), _data: data, _workflows: workflows }
}

impl Env {
    fn start(&self, workflow: &str, input: Value) -> String {
        self.server.start_execution(workflow, json!({ "input": input }))
    }

    fn get(&self, id: &str) -> Value {
        expect(self.client.get(self.server.url(&format!("/api/v1/executions/{id}"))).send().unwrap(), 200, None)
    }

    fn until(&self, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let exec = self.get(id);
            if ready(&exec) {
                return exec;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "{id} never got there: {exec}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ended(&self, id: &str) -> Value {
        self.until(id, |e| ["completed", "failed", "cancelled"].contains(&e["status"].as_str().unwrap_or_default()))
    }

    fn send(&self, id: &str, kind: &str, correlation: Option<&str>, data: Value) {
        let mut event = json!({ "specversion": "1.0", "id": id, "source": "/shop", "type": kind, "data": data });
        if let Some(c) = correlation {
            event["correlationid"] = json!(c);
        }
        expect(self.client.post(self.server.url("/api/v1/events")).json(&event).send().unwrap(), 202, None);
    }
}

#[test]
fn two_executions_waiting_on_one_type_each_get_their_own_event() {
    let env = env();
    let (a, b) = (env.start("order", json!({ "order": "A" })), env.start("order", json!({ "order": "B" })));
    env.until(&b, |e| e["tasks"]["paid"]["status"] == "running");
    env.send("p1", "order.paid", Some("B"), json!({ "amount": 20 }));
    env.send("p2", "order.paid", Some("A"), json!({ "amount": 10 }));
    assert_eq!(env.ended(&a)["output"], 10);
    assert_eq!(env.ended(&b)["output"], 20);
}

#[test]
fn an_event_sent_just_before_the_wait_began_is_taken_from_the_log() {
    let env = env();
    env.send("early", "order.paid", Some("E"), json!({ "amount": 7 }));
    let id = env.start("order", json!({ "order": "E" }));
    let exec = env.ended(&id);
    assert_eq!((exec["status"].clone(), exec["output"].clone()), (json!("completed"), json!(7)), "{exec}");
}

#[test]
fn at_its_timeout_a_wait_goes_on_with_its_default_or_fails() {
    let env = env();
    let id = env.start("quick", json!({}));
    let exec = env.ended(&id);
    assert_eq!(exec["status"], "failed", "{exec}");
    assert_eq!(exec["tasks"]["answer"]["status"], "succeeded");
    assert_eq!(exec["tasks"]["answer"]["output"]["data"], "nobody");
    assert_eq!(exec["tasks"]["strict"]["status"], "failed");
    assert_eq!(exec["error"]["kind"], "timeout", "{exec}");
}

#[test]
fn a_deferred_choice_takes_the_first_event_and_withdraws_the_other_wait() {
    let env = env();
    let id = env.start("choice", json!({}));
    env.until(&id, |e| e["tasks"]["declined"]["status"] == "running" && e["tasks"]["accepted"]["status"] == "running");
    env.send("no", "offer.declined", None, json!({}));
    let exec = env.ended(&id);
    assert_eq!((exec["status"].clone(), exec["output"].clone()), (json!("completed"), json!(false)), "{exec}");
    assert_eq!(exec["tasks"]["accepted"]["status"], "cancelled", "the other wait was withdrawn");
    env.send("yes", "offer.accepted", None, json!({}));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.get(&id)["tasks"]["accepted"]["status"], "cancelled", "a late event changes nothing");
}
