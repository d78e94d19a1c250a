//! Event triggers: a follower of the CloudEvents log starts one execution per event and
//! per workflow whose `triggers:` match it, in log order.
//!
//! Exactly once: the execution's id is made of the workflow and the event's position in
//! the log, so starting it again (after a crash between the start and the cursor's commit)
//! finds it there and starts nothing. How far the follower got is kept in the store
//! (`Space::Meta`, key `triggers`), so that events accepted while the server was stopped
//! (`harmonia event send --data`) fire at the next start.

use std::sync::Arc;

use harmonia_engine::Plan;
use harmonia_model::{NoTasks, Scope, Trigger, TriggerOn, Workflow, pattern_matches};
use harmonia_store::{Batch, Space, StoreError};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{Accepted, read_after};
use crate::{RunError, Runner};

/// The key of the follower's position in `Space::Meta`.
const CURSOR: &[u8] = b"triggers";

/// Events read from the log at a time.
const PAGE: usize = 256;

/// The id of the execution a trigger of `workflow` starts for the event at `seq`.
pub fn triggered_id(workflow: &str, seq: u64) -> String {
    format!("{workflow}-event-{seq}")
}

impl Runner {
    /// Starts following the CloudEvents log for triggers, from where the last follower got
    /// to; runs until the runner is dropped.
    pub fn follow_triggers(&self) -> tokio::task::JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move {
            if let Err(e) = runner.dispatch_triggers().await {
                tracing::error!("the trigger follower stopped: {e}");
            }
        })
    }

    async fn dispatch_triggers(&self) -> Result<(), RunError> {
        // Subscribed before the log is read: an event committed meanwhile is not missed.
        let mut live = self.inner.events.subscribe();
        let mut cursor = self.blocking(|runner| Ok(read_cursor(&**runner.store())?)).await?;
        loop {
            let page = self.blocking(move |runner| Ok(read_after(&**runner.store(), cursor, PAGE)?)).await?;
            if page.is_empty() {
                match live.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
            for accepted in &page {
                self.fire(accepted).await;
                cursor = accepted.seq;
            }
            let mut batch = Batch::new();
            batch.put(Space::Meta, CURSOR.to_vec(), cursor.to_be_bytes().to_vec());
            // Not waited for: a cursor lost in a crash only makes the next start try the
            // same events again, which starts nothing twice.
            self.store().commit_then(
                batch,
                Box::new(|result| {
                    if let Err(e) = result {
                        tracing::warn!("cannot keep the trigger follower's position: {e}");
                    }
                }),
            );
        }
    }

    /// Starts what the triggers of every workflow make of one event.
    async fn fire(&self, accepted: &Accepted) {
        let event = accepted.event.to_value();
        for plan in self.inner.workflows.triggered() {
            let Some(input) = triggered_input(&plan, accepted, &event) else { continue };
            let id = triggered_id(&plan.workflow.name, accepted.seq);
            let name = plan.workflow.name.clone();
            match self.start_triggered(plan, &id, input, event.clone()).await {
                Ok(()) => {
                    metrics::counter!("harmonia_triggered_executions_total", "workflow" => name).increment(1);
                }
                Err(RunError::Exists(_)) => {} // started before a crash
                Err(e) => {
                    tracing::error!(workflow = %name, event = accepted.seq, "cannot start a triggered execution: {e}")
                }
            }
        }
    }
}

/// The input of the execution `plan`'s first matching trigger starts for `accepted`, or
/// `None` if no trigger matches (or its filter or input fails, which is logged).
fn triggered_input(plan: &Plan, accepted: &Accepted, event: &Value) -> Option<Value> {
    let workflow = &plan.workflow;
    with_event(workflow, event, |scope| {
        for (i, trigger) in workflow.triggers.iter().enumerate() {
            let TriggerOn::Event { event_type, source, filter } = &trigger.on else { continue };
            if !pattern_matches(event_type, &accepted.event.event_type)
                || source.as_deref().is_some_and(|s| !pattern_matches(s, &accepted.event.source))
            {
                continue;
            }
            let complain = |what: &str, e: &dyn std::fmt::Display| {
                tracing::warn!(workflow = %workflow.name, trigger = i + 1, event = accepted.seq, "{what}: {e}");
            };
            if let Some(filter) = filter {
                match filter.eval_bool(scope) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        complain("the trigger's filter failed", &e);
                        continue;
                    }
                }
            }
            match trigger_input(workflow, trigger, scope) {
                Ok(input) => return Some(input),
                Err(e) => complain("the trigger", &e),
            }
        }
        None
    })
}

/// Runs `f` with what a trigger's expressions see: the event, and the workflow's name and
/// version (no execution exists yet).
pub(crate) fn with_event<R>(workflow: &Workflow, event: &Value, f: impl FnOnce(&Scope) -> R) -> R {
    let meta = json!({ "name": workflow.name, "version": workflow.version });
    let (empty, no_vars) = (json!({}), json!({}));
    let mut scope = Scope::new(&empty, &no_vars, &NoTasks, &meta);
    scope.event = Some(event);
    f(&scope)
}

/// The input `trigger` makes in `scope` (an empty one without `input:`), checked against
/// the workflow's parameters; why not, for the log.
pub(crate) fn trigger_input(workflow: &Workflow, trigger: &Trigger, scope: &Scope) -> Result<Value, String> {
    let input = match &trigger.input {
        Some(template) => template.render(scope).map_err(|e| format!("its input failed: {e}"))?,
        None => json!({}),
    };
    harmonia_model::check_input(workflow, &input).map_err(|e| format!("its input does not fit the workflow: {e}"))
}

fn read_cursor(store: &dyn harmonia_store::Store) -> Result<u64, StoreError> {
    Ok(store.get(Space::Meta, CURSOR)?.and_then(|v| v.as_slice().try_into().ok()).map_or(0, u64::from_be_bytes))
}

/// The latest version of each workflow that has triggers, for a [`crate::WorkflowSource`].
pub fn with_triggers<'a>(plans: impl Iterator<Item = &'a Arc<Plan>>) -> Vec<Arc<Plan>> {
    plans.filter(|plan| !plan.workflow.triggers.is_empty()).cloned().collect()
}
