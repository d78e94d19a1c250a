//! Schedules: the `cron:` triggers of the workflows start an execution at each of their
//! times, on the runner's clock.
//!
//! Each schedule's last run is kept in the store (`Space::Meta`), so a restart knows what it
//! missed: `missed: skip` starts none of those runs, `run_once` one (for the latest). A
//! schedule seen for the first time starts from now. An execution's id is made of the
//! workflow, the trigger and the time it is for, so a run started before a crash is not
//! started again.

use std::collections::HashMap;
use std::sync::Arc;

use harmonia_engine::Plan;
use harmonia_model::{Missed, Schedule, TriggerOn};
use harmonia_store::{Batch, Space, Store, StoreError};
use serde_json::{Value, json};

use super::triggers::{trigger_input, with_event};
use crate::{RunError, Runner};

/// How often the scheduler looks for new or changed schedules when none is due sooner.
const RESCAN_MS: u64 = 5_000;

/// The id of the execution schedule `index` of `workflow` starts for time `at`.
pub fn scheduled_id(workflow: &str, index: usize, at: u64) -> String {
    format!("{workflow}-schedule-{}-{at}", index + 1)
}

/// The next times of each schedule of `plan`: `(trigger index, cron, time zone, next times)`.
pub fn next_times(plan: &Plan, after: u64, count: usize) -> Vec<(usize, &Schedule, Vec<u64>)> {
    schedules(plan)
        .map(|(index, schedule)| {
            let mut times = Vec::with_capacity(count);
            let mut at = after;
            while times.len() < count {
                let Some(next) = schedule.next_after(at) else { break };
                times.push(next);
                at = next;
            }
            (index, schedule, times)
        })
        .collect()
}

fn schedules(plan: &Plan) -> impl Iterator<Item = (usize, &Schedule)> {
    plan.workflow.triggers.iter().enumerate().filter_map(|(i, t)| match &t.on {
        TriggerOn::Schedule(s) => Some((i, s)),
        TriggerOn::Event { .. } => None,
    })
}

fn meta_key(workflow: &str, index: usize) -> Vec<u8> {
    format!("schedule\0{workflow}\0{index}").into_bytes()
}

fn read_last(store: &dyn Store, workflow: &str, index: usize) -> Result<Option<u64>, StoreError> {
    let value = store.get(Space::Meta, &meta_key(workflow, index))?;
    Ok(value.and_then(|v| v.as_slice().try_into().ok()).map(u64::from_be_bytes))
}

/// One schedule the scheduler follows: the time of its last run.
struct Followed {
    last: u64,
}

impl Runner {
    /// Starts the scheduler: runs until the runner is dropped.
    pub fn follow_schedules(&self) -> tokio::task::JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move {
            let mut followed: HashMap<(String, usize), Followed> = HashMap::new();
            loop {
                let now = runner.now();
                let mut wake = now + RESCAN_MS;
                for plan in runner.inner.workflows.triggered() {
                    for (index, schedule) in schedules(&plan) {
                        let key = (plan.workflow.name.clone(), index);
                        let due = match runner.schedule_due(&plan, index, schedule, &mut followed, now).await {
                            Ok(due) => due,
                            Err(e) => {
                                tracing::error!(workflow = %key.0, schedule = index + 1, "the schedule failed: {e}");
                                None
                            }
                        };
                        if let Some(due) = due {
                            wake = wake.min(due);
                        }
                    }
                }
                runner.inner.clock.sleep_until(wake).await;
            }
        })
    }

    /// Starts what is due of one schedule; its next time.
    async fn schedule_due(
        &self,
        plan: &Arc<Plan>,
        index: usize,
        schedule: &Schedule,
        followed: &mut HashMap<(String, usize), Followed>,
        now: u64,
    ) -> Result<Option<u64>, RunError> {
        let name = plan.workflow.name.clone();
        let key = (name.clone(), index);
        if !followed.contains_key(&key) {
            let (store, n) = (self.store().clone(), name.clone());
            let stored = self.blocking(move |_| Ok(read_last(&*store, &n, index)?)).await?;
            let last = match stored {
                // Seen before: what was missed while the server was down.
                Some(last) => match (schedule.missed, latest_before(schedule, last, now)) {
                    (Missed::RunOnce, Some(missed)) => {
                        self.run_scheduled(plan, index, schedule, missed).await?;
                        now
                    }
                    _ => now,
                },
                None => now,
            };
            self.keep_last(&name, index, last);
            followed.insert(key.clone(), Followed { last });
        }
        let followed = followed.get_mut(&key).expect("followed above");
        let Some(next) = schedule.next_after(followed.last) else { return Ok(None) };
        if next > now {
            return Ok(Some(next));
        }
        self.run_scheduled(plan, index, schedule, next).await?;
        followed.last = next;
        self.keep_last(&name, index, next);
        Ok(schedule.next_after(next))
    }

    /// Starts the run of `at` (unless it was started already).
    async fn run_scheduled(
        &self,
        plan: &Arc<Plan>,
        index: usize,
        schedule: &Schedule,
        at: u64,
    ) -> Result<(), RunError> {
        let workflow = &plan.workflow;
        let event = json!({
            "specversion": "1.0", "type": "harmonia.schedule", "source": format!("harmonia/schedules/{}", workflow.name),
            "id": format!("{}/{}", index + 1, at), "time": schedule.format(at),
        });
        let Some(input) = scheduled_input(plan, index, &event) else { return Ok(()) };
        let id = scheduled_id(&workflow.name, index, at);
        match self.start_triggered(plan.clone(), &id, input, event).await {
            Ok(()) | Err(RunError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Keeps a schedule's last run in the store (not waited for: a lost write only makes
    /// the next start take an earlier time as the last, whose run exists already).
    fn keep_last(&self, workflow: &str, index: usize, at: u64) {
        let mut batch = Batch::new();
        batch.put(Space::Meta, meta_key(workflow, index), at.to_be_bytes().to_vec());
        self.store().commit_then(
            batch,
            Box::new(|result| {
                if let Err(e) = result {
                    tracing::warn!("cannot keep a schedule's last run: {e}");
                }
            }),
        );
    }
}

/// The input schedule `index` of `plan` makes for a run (`event` describes it), checked;
/// `None` if it fails (logged).
fn scheduled_input(plan: &Plan, index: usize, event: &Value) -> Option<Value> {
    let workflow = &plan.workflow;
    let input = with_event(workflow, event, |scope| trigger_input(workflow, &workflow.triggers[index], scope));
    input.map_err(|e| tracing::warn!(workflow = %workflow.name, schedule = index + 1, "the schedule: {e}")).ok()
}

/// The latest time of `schedule` after `last` and at or before `now`.
fn latest_before(schedule: &Schedule, last: u64, now: u64) -> Option<u64> {
    let mut latest = None;
    let mut at = last;
    // Bounded: a schedule every second missed for a year is 31 million steps; stop at 100k.
    for _ in 0..100_000 {
        match schedule.next_after(at) {
            Some(next) if next <= now => {
                latest = Some(next);
                at = next;
            }
            _ => break,
        }
    }
    latest
}
