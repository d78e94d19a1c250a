//! Waiting tasks (`wait_for`): the engine asks the runner to watch for an event
//! ([`Command::Await`]); the runner answers like a call, with `CallSucceeded` (the event is
//! the output) or `CallFailed` of kind `timeout` at the deadline. A wait keeps the time it
//! began across restarts, so its deadline and look-back do not move.

use harmonia_model::{OnTimeout, SIGNAL_TYPE, TaskAction, WaitFor, WaitOn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{CallId, Command, Event, Failure, Millis, TimerId};
use crate::machine::{Machine, expression_failure};

/// What a waiting task waits for, as the runner watches for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Await {
    /// The CloudEvent type, or a `*` pattern.
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A signal's name: the event's `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Only events for this execution (`executionid`): signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    /// When the wait began (its first start, kept across restarts).
    pub since: Millis,
    /// Events accepted this long before `since` match too; none: the runner's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback_ms: Option<Millis>,
    /// When the wait times out, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Millis>,
}

/// The value an event must carry, and where: `correlationid` or a dotted path (`data.id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub value: String,
}

impl Await {
    /// Whether `event` (a CloudEvent as JSON) is what this wait waits for.
    pub fn matches(&self, event: &Value) -> bool {
        let text = |name: &str| event.get(name).and_then(Value::as_str);
        let Some(event_type) = text("type") else { return false };
        if !harmonia_model::pattern_matches(&self.event_type, event_type) {
            return false;
        }
        if self
            .source
            .as_deref()
            .is_some_and(|s| !text("source").is_some_and(|t| harmonia_model::pattern_matches(s, t)))
        {
            return false;
        }
        if self.subject.as_deref().is_some_and(|s| text("subject") != Some(s)) {
            return false;
        }
        if self.execution.as_deref().is_some_and(|e| text("executionid") != Some(e)) {
            return false;
        }
        match &self.correlation {
            None => true,
            Some(c) => {
                let path = c.field.as_deref().unwrap_or("correlationid");
                let found = path.split('.').try_fold(event, |v, part| v.get(part));
                found.is_some_and(|v| as_text(v) == c.value)
            }
        }
    }
}

/// A correlation value as text: strings as they are, anything else as JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Machine<'_> {
    /// Starts (or, after a restart, starts again) the wait of `call`.
    pub(crate) fn start_wait(&mut self, call: &CallId, attempt: u32, wait: &WaitFor) {
        let task = self.plan.task(&call.task);
        if let WaitOn::Condition { condition } = &wait.on {
            return self.start_condition(call, attempt, condition);
        }
        let correlation = match &wait.correlate {
            None => None,
            Some(c) => match c.value.render(&self.scope_for(call)) {
                Ok(value) => Some(Correlation { field: c.field.clone(), value: as_text(&value) }),
                Err(e) => return self.call_failed_for_good(call, expression_failure(&call.task, &e)),
            },
        };
        let since = self.exec.task(&call.task).started_at.unwrap_or(self.now);
        let (event_type, source, subject, execution) = match &wait.on {
            WaitOn::Event { event_type, source } => (event_type.clone(), source.clone(), None, None),
            WaitOn::Signal { name } => (SIGNAL_TYPE.to_string(), None, Some(name.clone()), Some(self.exec.id.clone())),
            WaitOn::Condition { .. } => unreachable!("a condition is watched by the engine"),
        };
        let spec = Await {
            event_type,
            source,
            subject,
            execution,
            correlation,
            since,
            lookback_ms: wait.lookback.map(|l| l.as_millis() as u64),
            deadline: task.timeout.map(|t| since + t.as_millis() as u64),
        };
        let input = serde_json::to_value(&spec).expect("a wait is JSON");
        self.emit(Event::CallStarted { call: call.clone(), attempt, input, at: self.now });
        self.command(Command::Await { call: call.clone(), attempt, wait: spec });
    }

    /// Starts waiting for a condition: the engine watches it itself, after every step, and
    /// times it out with a timer; it may hold at once.
    fn start_condition(&mut self, call: &CallId, attempt: u32, condition: &harmonia_model::Expr) {
        let since = self.exec.task(&call.task).started_at.unwrap_or(self.now);
        let input = serde_json::json!({ "condition": format!("${{{}}}", condition.source) });
        self.emit(Event::CallStarted { call: call.clone(), attempt, input, at: self.now });
        if let Some(timeout) = self.plan.task(&call.task).timeout {
            let due = since + timeout.as_millis() as u64;
            self.command(Command::StartTimer { timer: TimerId::WaitDeadline { call: call.clone(), attempt }, due });
        }
        self.check_conditions();
    }

    /// Ends the waits whose condition holds now (succeeded, output `true`), until none does:
    /// one ending may make another's hold.
    pub(crate) fn check_conditions(&mut self) {
        let plan = self.plan;
        if plan.conditions.is_empty() {
            return; // most workflows: nothing to look at after a step
        }
        let mut changed = true;
        while changed && self.running() {
            changed = false;
            for id in &plan.conditions {
                let call = CallId::task(id.as_str());
                let TaskAction::Wait(WaitFor { on: WaitOn::Condition { condition }, .. }) = &plan.task(id).action
                else {
                    unreachable!("a condition task waits for a condition")
                };
                if !self.exec.in_flight.contains_key(&call) {
                    continue;
                }
                match condition.eval_bool(&self.scope(id)) {
                    Ok(true) => {
                        self.succeed(id, Value::Bool(true));
                        changed = true;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        self.fail_task(id, expression_failure(id, &e));
                        changed = true;
                    }
                }
            }
        }
    }

    /// The `timeout` of a condition passed before it held.
    pub(crate) fn condition_timed_out(&mut self, call: &CallId) {
        let TaskAction::Wait(wait) = &self.plan.task(&call.task).action else { unreachable!("a wait") };
        let WaitOn::Condition { condition } = &wait.on else { unreachable!("a condition") };
        let message = format!("task {}: ${{{}}} did not hold before the timeout", call.task, condition.source);
        self.wait_failed(call, Failure::new("timeout", message), wait);
    }

    /// A wait ended without its event: at its deadline, it fails or continues with its
    /// default output; waits are not retried.
    pub(crate) fn wait_failed(&mut self, call: &CallId, error: Failure, wait: &WaitFor) {
        match &wait.on_timeout {
            OnTimeout::Continue { output } if error.kind == "timeout" => match output.render(&self.scope_for(call)) {
                Ok(output) => self.succeed(&call.task, output),
                Err(e) => self.fail_task(&call.task, expression_failure(&call.task, &e)),
            },
            _ => self.call_failed_for_good(call, error),
        }
    }
}
