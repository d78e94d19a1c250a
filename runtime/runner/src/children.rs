//! Sub-workflow calls: a task with `workflow:` runs a child execution, and its call ends
//! with the child's output or failure. A child is an execution like any other (stored,
//! recovered, listed); its id is the call's idempotency key, so a parent interrupted by a
//! crash finds the child it had started instead of starting another.

use std::time::Duration;

use harmonia_engine::{Execution, Failure};
use serde_json::Value;

use crate::records::{self, ReadError};
use crate::runner::{Live, MAX_DEPTH, RunError, Runner, finished};
use crate::tasks as calls;

impl Runner {
    /// The result of a sub-workflow call: the child execution's output. A child already
    /// stored (the parent was interrupted) is waited for rather than started again.
    pub(crate) async fn child(&self, parent: &str, depth: u32, call: ChildCall) -> Result<Value, Failure> {
        let name = match &call.version {
            Some(v) => format!("{}@{v}", call.workflow),
            None => call.workflow.clone(),
        };
        let id = child_id(&call.key, call.attempt);
        let (key, attempt) = (call.key.clone(), call.attempt);
        let attached = match self.blocking(move |runner| Ok(runner.attach_child(&key, attempt))).await {
            Ok(attached) => attached?,
            Err(e) => return Err(Failure::new("retryable", e.to_string())),
        };
        let done = match attached {
            Attached::Live(live) => live.done,
            Attached::Finished(exec) => return calls::child_result(&name, &exec),
            Attached::Absent => {
                let plan = self.inner.workflows.plan(&call.workflow, call.version.as_deref());
                let plan = plan.ok_or_else(|| Failure::new("fatal", format!("no workflow named {name}")))?;
                if depth + 1 >= MAX_DEPTH {
                    return Err(Failure::new("fatal", format!("sub-workflows nest deeper than {MAX_DEPTH}")));
                }
                let input = harmonia_model::check_input(&plan.workflow, &call.input)
                    .map_err(|e| Failure::new("invalid_input", format!("input of workflow {name}: {e}")))?;
                let live = self.start_child(plan, &id, input, None, Some(parent.to_string()), depth + 1).await;
                live.map_err(|e| Failure::new("fatal", format!("cannot start workflow {name}: {e}")))?.done
            }
        };
        let exec = match call.timeout {
            Some(limit) => match tokio::time::timeout(limit, finished(done)).await {
                Ok(exec) => exec,
                Err(_) => {
                    let ms = limit.as_millis();
                    let _ = self.cancel(&id, &format!("its parent's task timed out after {ms} ms"));
                    return Err(Failure::new("timeout", format!("sub-workflow timed out after {ms} ms")));
                }
            },
            None => finished(done).await,
        };
        match exec {
            Some(exec) => calls::child_result(&name, &exec),
            None => Err(Failure::new("retryable", format!("workflow {name} stopped before it finished"))),
        }
    }

    /// Finds the child execution of a call's attempt: an earlier attempt's child if it was
    /// interrupted (still running, or done with a result the parent never got), else this
    /// attempt's own. An attempt that found an earlier child made none of its own, so the
    /// search goes back past attempts without a child, whatever the number of recoveries,
    /// and stops at a child that failed: the attempt after it is a retry, with a new child.
    #[allow(clippy::result_large_err, reason = "a Failure is what the call reports; rare path")]
    fn attach_child(&self, key: &str, attempt: u32) -> Result<Attached, Failure> {
        let store_error = |e: RunError| Failure::new("retryable", format!("cannot read sub-workflow {key}: {e}"));
        for earlier in (1..attempt).rev() {
            match self.find(&child_id(key, earlier)).map_err(store_error)? {
                Attached::Absent => continue,
                Attached::Finished(exec) if exec.status != harmonia_engine::ExecStatus::Completed => break,
                found => return Ok(found),
            }
        }
        self.find(&child_id(key, attempt)).map_err(store_error)
    }

    fn find(&self, id: &str) -> Result<Attached, RunError> {
        if let Some(live) = self.live(id) {
            return Ok(Attached::Live(live));
        }
        match records::read_record(&*self.inner.store, id) {
            Err(ReadError::NotFound(_)) => Ok(Attached::Absent),
            Err(e) => Err(e.into()),
            Ok((_, record)) => match record.state {
                Some(state) => Ok(Attached::Finished(state)),
                None => Ok(self.pick_up(id)?.map_or(Attached::Absent, Attached::Live)),
            },
        }
    }
}

/// A sub-workflow call, as the driver asks for it.
pub(crate) struct ChildCall {
    pub(crate) workflow: String,
    pub(crate) version: Option<String>,
    pub(crate) input: Value,
    pub(crate) timeout: Option<Duration>,
    pub(crate) key: String,
    pub(crate) attempt: u32,
}

enum Attached {
    Live(Live),
    Finished(Box<Execution>),
    Absent,
}

/// The id of the child execution a sub-workflow call's attempt runs: the call's
/// idempotency key, suffixed from the second attempt on.
pub(crate) fn child_id(key: &str, attempt: u32) -> String {
    if attempt <= 1 { key.to_string() } else { format!("{key}~{attempt}") }
}
