//! Waiting tasks of the executions running here: each [`Await`] the engine asks for is
//! registered, looked up in the log (an event that came before the wait, within its
//! look-back, or while the server was down), matched against every event accepted while it
//! waits, and timed out at its deadline. The first match ends the wait, as the call's
//! result; a late second one is ignored by the engine, like any stale result.
//!
//! The registry is in memory: after a restart, recovery starts every wait again (the engine
//! re-issues it with the time it first began), and the look-back finds what came meanwhile.

use std::sync::Mutex;

use harmonia_engine::{Await, CallId, Event, Failure};
use harmonia_store::{Space, Store, StoreError, keys};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::Accepted;
use crate::Runner;
use crate::runner::{Input, blocking_in_place};

/// The most index entries one look-back reads.
const MAX_LOOKBACK_SCAN: usize = 100_000;

/// The waits of this process.
#[derive(Default)]
pub(crate) struct Waits {
    waiting: Mutex<Vec<Waiter>>,
}

struct Waiter {
    execution: String,
    call: CallId,
    attempt: u32,
    wait: Await,
    tx: mpsc::UnboundedSender<Input>,
}

impl Waits {
    /// Takes out the waiters `event` ends.
    fn take_matching(&self, event: &Value) -> Vec<Waiter> {
        let mut waiting = self.waiting.lock().expect("waits lock");
        let (matched, rest) = std::mem::take(&mut *waiting).into_iter().partition(|w| w.wait.matches(event));
        *waiting = rest;
        matched
    }

    /// Takes out one waiter, if it still waits.
    fn take(&self, execution: &str, call: &CallId, attempt: u32) -> Option<Waiter> {
        let mut waiting = self.waiting.lock().expect("waits lock");
        let at = waiting.iter().position(|w| w.execution == execution && &w.call == call && w.attempt == attempt)?;
        Some(waiting.swap_remove(at))
    }

    /// Forgets the waits of an execution (of one call, if given).
    pub(crate) fn forget(&self, execution: &str, call: Option<&CallId>) {
        let mut waiting = self.waiting.lock().expect("waits lock");
        waiting.retain(|w| w.execution != execution || call.is_some_and(|c| &w.call != c));
    }
}

impl Waiter {
    fn deliver(self, event: Value, at: u64) {
        let done = Event::CallSucceeded { call: self.call, attempt: self.attempt, output: event, at };
        let _ = self.tx.send(Input::Event(done)); // the driver stopped: the wait starts again with it
    }
}

impl Runner {
    /// Registers the wait of `call` (for its driver `tx`), looks back through the log, and
    /// arms its deadline. The handle stops the look-back and the deadline.
    pub(crate) fn start_wait(
        &self,
        execution: &str,
        call: CallId,
        attempt: u32,
        wait: Await,
        tx: mpsc::UnboundedSender<Input>,
    ) -> AbortHandle {
        let waiter = Waiter { execution: execution.to_string(), call: call.clone(), attempt, wait: wait.clone(), tx };
        self.inner.waits.waiting.lock().expect("waits lock").push(waiter);
        self.inner.demand.awaited(&wait.event_type);
        let lookback = wait.lookback_ms.unwrap_or(self.inner.settings.event_lookback.as_millis() as u64);
        let from = wait.since.saturating_sub(lookback);
        let (runner, execution) = (self.clone(), execution.to_string());
        let task = tokio::spawn(async move {
            // Registered first, then looked up: an event accepted in between is found by one
            // or the other (or both: the second result is stale).
            let (store, spec) = (runner.store().clone(), wait.clone());
            let found = tokio::task::spawn_blocking(move || find_in_log(&*store, &spec, from)).await;
            match found {
                Ok(Ok(Some(event))) => {
                    if let Some(waiter) = runner.inner.waits.take(&execution, &call, attempt) {
                        waiter.deliver(event, runner.now());
                    }
                    return;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::error!(execution = %execution, "cannot look back for the awaited event: {e}"),
                Err(e) => tracing::error!(execution = %execution, "the look-back stopped: {e}"),
            }
            let Some(deadline) = wait.deadline else { return };
            runner.inner.clock.sleep_until(deadline).await;
            if let Some(waiter) = runner.inner.waits.take(&execution, &call, attempt) {
                let after = deadline.saturating_sub(wait.since);
                let error = Failure::new("timeout", format!("no awaited event came within {after} ms"));
                let at = runner.now();
                let _ = waiter.tx.send(Input::Event(Event::CallFailed { call, attempt, error, at }));
            }
        });
        task.abort_handle()
    }

    /// Starts matching accepted events against the waits; runs until the runner is dropped.
    pub fn follow_waits(&self) -> tokio::task::JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move {
            let mut live = runner.inner.events.subscribe();
            loop {
                match live.recv().await {
                    Ok(accepted) => runner.match_waits(&accepted),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!("the waits fell {missed} events behind: looking back through the log");
                        runner.look_back_all();
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    fn match_waits(&self, accepted: &Accepted) {
        let event = accepted.event.to_value();
        let waiters = self.inner.waits.take_matching(&event);
        let at = self.now();
        for waiter in waiters {
            waiter.deliver(event.clone(), at);
        }
    }

    /// Every wait looks back through the log again (after missing live events).
    fn look_back_all(&self) {
        let waits: Vec<(String, CallId, u32, Await)> = {
            let waiting = self.inner.waits.waiting.lock().expect("waits lock");
            waiting.iter().map(|w| (w.execution.clone(), w.call.clone(), w.attempt, w.wait.clone())).collect()
        };
        let lookback = self.inner.settings.event_lookback.as_millis() as u64;
        for (execution, call, attempt, wait) in waits {
            let from = wait.since.saturating_sub(wait.lookback_ms.unwrap_or(lookback));
            match blocking_in_place(|| find_in_log(&**self.store(), &wait, from)) {
                Ok(Some(event)) => {
                    if let Some(waiter) = self.inner.waits.take(&execution, &call, attempt) {
                        waiter.deliver(event, self.now());
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(execution = %execution, "cannot look back for the awaited event: {e}"),
            }
        }
    }
}

/// The earliest event accepted at or after `from` (ms) that `wait` waits for, through the
/// index by type: a type without `*` reads its own entries from `from` on; a pattern reads
/// the entries of the types it can match (those starting with its text before the `*`).
fn find_in_log(store: &dyn Store, wait: &Await, from: u64) -> Result<Option<Value>, StoreError> {
    let (prefix, mut after) = match wait.event_type.split_once('*') {
        None => (keys::event_type_prefix(&wait.event_type)?, Some(keys::event_type_key(&wait.event_type, from, 0)?)),
        Some((head, _)) => (head.as_bytes().to_vec(), None),
    };
    let mut best: Option<(u64, Value)> = None;
    let mut scanned = 0;
    loop {
        let page = store.scan_prefix(Space::EventTypes, &prefix, after.as_deref(), 512)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (key, _) in &page {
            scanned += 1;
            let Some((at, seq)) = keys::event_type_entry(key) else { continue };
            if at < from || best.as_ref().is_some_and(|(b, _)| *b < seq) {
                continue;
            }
            let Some(raw) = store.get(Space::CloudEvents, &keys::log_key(seq))? else { continue };
            let Ok(accepted) = serde_json::from_slice::<Accepted>(&raw) else { continue };
            let event = accepted.event.to_value();
            if wait.matches(&event) {
                best = Some((seq, event));
            }
        }
        if page.len() < 512 || scanned >= MAX_LOOKBACK_SCAN {
            break;
        }
    }
    Ok(best.map(|(_, event)| event))
}
