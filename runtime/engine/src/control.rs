//! Tasks that end or withdraw work: `terminate` ends the execution now (completed with an
//! output, or failed), `cancel` withdraws a set of tasks (a cancel region). Both stop what
//! the tasks they end are doing, as a cancelled execution does.

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
            let at = self.now;
            self.emit(Event::TaskFailed {
                task: id.to_string(),
                error: error.clone(),
                tolerated: false,
                output: None,
                at,
            });
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
