//! Tasks that end, withdraw or repeat work: `terminate` ends the execution now (completed
//! with an output, or failed), `cancel` withdraws a set of tasks (a cancel region), both
//! stopping what the tasks they end are doing; `goto` runs a loop of tasks again.
//!
//! A loop (`goto: {task, when, max_rounds}` on task X): when X succeeds and `when` holds, X
//! waits ([`Event::RoundEnded`]) until every task of the loop has ended (a branch a partial
//! join left to finish included: the join runs once per round), then they all run again
//! ([`Event::RoundStarted`]): each is pending, with a new round number in its idempotency
//! keys. A round costs the same whatever the number of rounds before it.

use harmonia_model::Terminate;
use serde_json::{Value, json};

use crate::event::{Event, Failure};
use crate::machine::{Machine, expression_failure};

impl Machine<'_> {
    /// Ends the execution as `terminate` says: what runs is cancelled, then the execution
    /// completes with the output (the tasks not started are cancelled by the fold), or fails
    /// with kind `terminated` (`on_failure` runs as for any failure).
    pub(crate) fn terminate(&mut self, id: &str, terminate: &Terminate) {
        let scope = self.scope(id);
        if let Some(message) = &terminate.error {
            let message = match message.render(&scope) {
                Ok(Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(e) => return self.fail_task(id, expression_failure(id, &e)),
            };
            let mut error = Failure::new("terminated", message).in_task(id);
            error.code = terminate.code.clone();
            self.task_failed(id, error.clone(), false);
            return self.fail_execution(error);
        }
        let output = match terminate.output.as_ref().map(|t| t.render(&scope)) {
            None => Value::Null,
            Some(Ok(output)) => output,
            Some(Err(e)) => return self.fail_task(id, expression_failure(id, &e)),
        };
        self.emit(Event::TaskSucceeded { task: id.to_string(), output: output.clone(), at: self.now });
        let reason = format!("task {id} terminated the execution");
        for open in self.open_tasks() {
            self.withdraw(&open, &reason);
        }
        self.complete(output);
    }

    /// Cancels the listed tasks that have not ended; the task succeeds with those it did.
    pub(crate) fn cancel_region(&mut self, id: &str, targets: &[String]) {
        let open: Vec<String> = targets.iter().filter(|t| !self.exec.task(t).status.is_terminal()).cloned().collect();
        let reason = format!("cancelled by task {id}");
        for target in &open {
            self.stop_task(target);
            self.emit(Event::TaskCancelled { task: target.clone(), reason: Some(reason.clone()) });
        }
        self.emit(Event::TaskSucceeded { task: id.to_string(), output: json!({ "cancelled": open }), at: self.now });
        for target in &open {
            self.resolved(target);
        }
        self.resolved(id);
    }

    /// A task with a `goto` whose `when` held: it goes back, unless it went back
    /// `max_rounds` times already (then it fails).
    pub(crate) fn loop_back(&mut self, id: &str, output: Value) {
        let goto = self.plan.task(id).goto.as_ref().expect("a task with a goto");
        if self.exec.task(id).loops >= goto.max_rounds {
            let message = format!(
                "task {id}: went back to {} {} times (max_rounds) and ${{{}}} still holds",
                goto.task, goto.max_rounds, goto.when.source
            );
            return self.fail_task(id, Failure::new("max_rounds", message).with_code("max_rounds"));
        }
        self.emit(Event::RoundEnded { task: id.to_string(), output });
        self.next_round(id);
    }

    /// Starts the next round of a loop whose tasks have all ended.
    pub(crate) fn next_round(&mut self, owner: &str) {
        let plan = self.plan;
        let tasks = plan.loop_tasks(owner);
        if !self.running() || tasks.iter().any(|t| t != owner && !self.exec.task(t).status.is_terminal()) {
            return;
        }
        self.emit(Event::RoundStarted { task: owner.to_string(), tasks: tasks.to_vec() });
        for task in tasks {
            self.consider(task);
        }
    }

    /// Stops a task that has not ended and cancels it, saying why.
    pub(crate) fn withdraw(&mut self, id: &str, reason: &str) {
        self.stop_task(id);
        self.emit(Event::TaskCancelled { task: id.to_string(), reason: Some(reason.to_string()) });
    }

    /// The tasks that count toward completion and have not ended.
    fn open_tasks(&self) -> Vec<String> {
        let tasks = self.exec.tasks.iter();
        tasks.filter(|(_, t)| t.counted && !t.status.is_terminal()).map(|(id, _)| id.clone()).collect()
    }
}
