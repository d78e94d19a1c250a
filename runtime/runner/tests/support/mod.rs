//! What the runner's tests share: a simulated clock (tokio's paused time from a fixed epoch)
//! and a test task runner (the component `test`, a few actions written in Rust), so that
//! executions run in-process, with retries, timeouts, restarts and sleeps of seconds or
//! hours taking milliseconds of wall time.
#![allow(dead_code)] // not every helper is used by every test file

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harmonia_engine::Plan;
use harmonia_model::PluginCatalog;
use harmonia_runner::clock::BoxFuture;
use harmonia_runner::{Clock, Failure, TaskCall, TaskFuture, TaskRunner};
use serde_json::json;

/// Simulated time: a fixed epoch plus tokio's (paused) clock. Tokio jumps to the next timer
/// whenever every task waits (and no blocking task runs).
pub struct SimClock {
    pub epoch_ms: u64,
    start: tokio::time::Instant,
}

impl SimClock {
    pub fn new() -> Arc<SimClock> {
        Arc::new(SimClock { epoch_ms: 1_800_000_000_000, start: tokio::time::Instant::now() })
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.start.elapsed().as_millis() as u64
    }

    fn sleep_until(&self, due: u64) -> BoxFuture {
        let at = self.start + Duration::from_millis(due.saturating_sub(self.epoch_ms));
        Box::pin(tokio::time::sleep_until(at))
    }
}

/// One call the test task runner carried out.
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    pub execution: String,
    pub task: String,
    pub action: String,
    pub attempt: u32,
}

/// The component `test`:
/// - `echo` returns its input;
/// - `flaky` fails (retryable) until the attempt `succeed_on` (of its input, or of the
///   data of the event it is called with);
/// - `fail` fails with `kind` (and `message`, if given); with `times`, only the first
///   `times` calls of a task, then returns `{ "calls": n }`. The calls are counted here by
///   idempotency key (the same for every attempt of a task, whatever runner of those sharing
///   this task runner makes it), as a component would count them in its own storage;
/// - `sleep` waits `ms` of simulated time (within the call's timeout) and returns
///   `{ "slept": ms }`;
/// - `fatal` fails for good.
///
/// Records the calls it carried out. Clones share their records and counts.
#[derive(Clone, Default)]
pub struct TestTasks {
    calls: Arc<Mutex<Vec<Called>>>,
    /// `fail`'s calls, by idempotency key.
    failures: Arc<Mutex<HashMap<String, u32>>>,
}

impl PluginCatalog for TestTasks {
    fn check(&self, component: &str, action: &str) -> Result<(), String> {
        match (component, action) {
            ("test", "echo" | "flaky" | "fail" | "sleep" | "fatal") => Ok(()),
            _ => Err(format!("no {component}.{action}")),
        }
    }
}

impl TaskRunner for TestTasks {
    fn run(&self, call: TaskCall) -> TaskFuture {
        self.calls.lock().unwrap().push(Called {
            execution: call.execution_id.clone(),
            task: call.task_id.clone(),
            action: call.action.clone(),
            attempt: call.attempt,
        });
        // Counted when the call is made, as a component counts it before it answers.
        let fail = if call.action == "fail" { Some(self.fail(&call)) } else { None };
        Box::pin(async move {
            let work = async {
                match call.action.as_str() {
                    "echo" => Ok(call.input.clone()),
                    "flaky" if u64::from(call.attempt) < succeed_on(&call.input) => {
                        Err(Failure::new("retryable", format!("attempt {} failed", call.attempt)))
                    }
                    "flaky" => Ok(json!({ "attempt": call.attempt })),
                    "fail" => fail.expect("counted above"),
                    "sleep" => {
                        tokio::time::sleep(Duration::from_millis(call.input["ms"].as_u64().unwrap_or(0))).await;
                        Ok(json!({ "slept": call.input["ms"] }))
                    }
                    _ => Err(Failure::new("fatal", "this action always fails")),
                }
            };
            let Some(limit) = call.timeout else { return work.await };
            match tokio::time::timeout(limit, work).await {
                Ok(result) => result,
                Err(_) => Err(Failure::new("timeout", format!("timed out after {limit:?}"))),
            }
        })
    }
}

impl TestTasks {
    /// The result of a call of `fail`, counting it.
    #[allow(clippy::result_large_err, reason = "a Failure is what a call reports")]
    fn fail(&self, call: &TaskCall) -> Result<serde_json::Value, Failure> {
        let kind = call.input["kind"].as_str().unwrap_or("fatal");
        let message = call.input["message"].as_str().unwrap_or("failing as asked");
        let Some(times) = call.input["times"].as_u64() else { return Err(Failure::new(kind, message)) };
        let key = match call.idempotency_key.as_str() {
            "" => format!("{}/{}", call.execution_id, call.task_id),
            key => key.to_string(),
        };
        let n = {
            let mut failures = self.failures.lock().unwrap();
            let n = failures.entry(key).or_default();
            *n += 1;
            *n
        };
        if u64::from(n) > times {
            return Ok(json!({ "calls": n }));
        }
        Err(Failure::new(kind, format!("{message}: call {n} of the first {times}")))
    }

    /// Every call carried out, in order.
    pub fn calls(&self) -> Vec<Called> {
        self.calls.lock().unwrap().clone()
    }

    /// The attempts of the calls of task `task` (of any execution), in order.
    pub fn attempts_of(&self, task: &str) -> Vec<u32> {
        self.calls().into_iter().filter(|c| c.task == task).map(|c| c.attempt).collect()
    }

    /// The attempts of the calls of task `task` of execution `execution`, in order.
    pub fn attempts_in(&self, execution: &str, task: &str) -> Vec<u32> {
        let calls = self.calls().into_iter().filter(|c| c.execution == execution && c.task == task);
        calls.map(|c| c.attempt).collect()
    }
}

/// `flaky`'s `succeed_on`: in its input, or in the data of the CloudEvent a subscription
/// calls it with.
fn succeed_on(input: &serde_json::Value) -> u64 {
    input["succeed_on"].as_u64().or_else(|| input["data"]["succeed_on"].as_u64()).unwrap_or(1)
}

/// The plan of a workflow whose tasks the test task runner offers (checked).
pub fn plan_of(yaml: &str) -> Arc<Plan> {
    let workflow = harmonia_model::parse_workflow(yaml, None).unwrap();
    harmonia_model::check_plugins(&workflow, &TestTasks::default()).unwrap();
    Arc::new(Plan::new(Arc::new(workflow)))
}
