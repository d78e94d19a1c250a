//! `for_each` tasks: their items start within the task's concurrency, and the task ends
//! once every item has ended.
//!
//! By default the first item to fail for good fails the task (the items still running are
//! cancelled). With `on_error: continue`, a failed item's slot in the output holds its
//! error ([`Event::ItemFailed`]) and the other items go on; once every item has ended, the
//! task succeeds if none failed, and otherwise fails tolerated (dependants go on) with the
//! whole list as its output and an `items_failed` error naming the failed items.
//!
//! With `at_least: N`, the task succeeds as soon as `N` items succeeded: the items still
//! running are cancelled, those not started never start, and their slots stay null.
//!
//! With `open: true`, items can be added while the task runs ([`Event::ItemsAdded`]); the
//! task ends once the list is closed and its items have ended (or `at_least` is met).

use harmonia_model::OnError;
use serde_json::{Value, json};

use crate::event::{CallId, Event, Failure};
use crate::machine::Machine;
use crate::state::TaskStatus;

/// Failed items whose messages an `items_failed` error quotes; it counts the others.
const QUOTED_FAILURES: usize = 3;

impl Machine<'_> {
    /// Starts the next items of a `for_each`, up to its concurrency: first those to run
    /// again after a retry, then those not started yet. Ends the task once every item has.
    pub(crate) fn next_items(&mut self, id: &str) {
        if self.starting_items {
            return; // an item failed as it started: the loop below goes on
        }
        let concurrency = self.plan.task(id).for_each.as_ref().map_or(1, |f| f.concurrency);
        self.end_items(id); // `at_least` may be met: then no item starts
        self.starting_items = true;
        loop {
            let task = self.exec.task(id);
            // An item that failed to start may have ended the task (or the execution).
            if !self.running() || task.status.is_terminal() || task.status == TaskStatus::Recovering {
                break;
            }
            let items = task.items.as_ref().expect("for_each items");
            let next = match items.again.first() {
                Some(&again) => again,
                None if (items.next as usize) < items.values.len() => items.next,
                None => break,
            };
            if items.active >= concurrency {
                break;
            }
            self.launch(&CallId::item(id, next), self.first_attempt(id));
        }
        self.starting_items = false;
        self.end_items(id);
    }

    /// An item of a task with `on_error: continue` failed for good.
    pub(crate) fn item_failed(&mut self, id: &str, item: u32, error: Failure) {
        self.emit(Event::ItemFailed { task: id.to_string(), item, error });
        self.next_items(id);
    }

    /// Ends a `for_each` task whose items have all ended, or (`at_least: N`) as soon as `N`
    /// succeeded or can no longer: the items still running are cancelled then.
    fn end_items(&mut self, id: &str) {
        let task = self.exec.task(id);
        let Some(items) = task.items.as_ref() else { return };
        if task.status.is_terminal() || !self.running() {
            return;
        }
        let n = items.values.len();
        // A list shorter than `at_least` needs every item.
        let at_least = self.plan.task(id).for_each.as_ref().and_then(|f| f.at_least).map(|least| least.min(n as u32));
        let enough = at_least.is_some_and(|least| items.done >= least);
        let hopeless = at_least.is_some_and(|least| n - items.failed.len() < least as usize);
        if !(items.all_ended() || enough || hopeless) {
            return;
        }
        // An open list that is not closed may still get items.
        let open = self.plan.task(id).for_each.as_ref().is_some_and(|f| f.open) && !items.closed;
        if open && !enough {
            return;
        }
        let results = Value::Array(items.results.clone());
        let succeeded = items.failed.is_empty() || enough;
        self.cancel_calls_of(id);
        if succeeded {
            return self.succeed(id, results);
        }
        debug_assert!(matches!(self.plan.task(id).on_error, OnError::Continue));
        let error = self.items_failed(id);
        self.emit(Event::TaskFailed {
            task: id.to_string(),
            error,
            tolerated: true,
            output: Some(results),
            at: self.now,
        });
        self.resolved(id);
    }

    /// The error of a task some of whose items failed: how many, which, and why.
    fn items_failed(&self, id: &str) -> Failure {
        let items = self.exec.task(id).items.as_ref().expect("for_each items");
        let mut failed = items.failed.clone();
        failed.sort_unstable();
        let reasons: Vec<String> = failed
            .iter()
            .take(QUOTED_FAILURES)
            .map(|&i| {
                let message = items.results[i as usize].get("message").and_then(Value::as_str).unwrap_or("");
                format!("item {i}: {message}")
            })
            .collect();
        let mut message = format!("{} of {} items failed: {}", failed.len(), items.values.len(), reasons.join("; "));
        if failed.len() > QUOTED_FAILURES {
            message.push_str(&format!("; and {} more", failed.len() - QUOTED_FAILURES));
        }
        let mut error = Failure::new("items_failed", message).in_task(id);
        error.details = Some(json!({ "failed": failed }));
        error
    }
}
