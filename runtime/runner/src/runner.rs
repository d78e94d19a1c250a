//! The executor: drives executions with the engine, carrying out its commands against the
//! plugin host, and keeps every step in the store before any of its effects is visible.
//!
//! Each execution running in this process has one driver task (see `driver.rs`) that owns
//! its state; everything else talks to it through a channel: call results, timers, and
//! requests (pause, checkpoint, restore, a snapshot). After a restart, [`Runner::recover`]
//! picks up every unfinished execution from the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harmonia_engine::{Event, Execution, Failure, Plan};
use harmonia_model::Limits;
use harmonia_store::{MemStore, Space, Store, StoreError, keys};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::Clock;
use crate::driver::{self, Announce};
use crate::log::{self, LoggedEvent};
use crate::records::{self, CheckpointInfo, ExecRecord, ReadError};
use crate::tasks::TaskRunner;

/// Finds workflows by name (and version): for sub-workflow tasks, and for the executions
/// picked up after a restart.
pub trait WorkflowSource: Send + Sync {
    fn plan(&self, name: &str, version: Option<&str>) -> Option<Arc<Plan>>;

    /// The workflows whose executions events start: the latest version of each workflow
    /// with `triggers:`.
    fn triggered(&self) -> Vec<Arc<Plan>> {
        Vec::new()
    }
}

/// Sees executions as they run: every committed event, and plugin progress and log lines.
pub trait RunObserver: Send + Sync {
    /// `exec` is the state once the event's step was committed.
    fn event(&self, _exec: &Execution, _event: &Event) {}
    fn progress(&self, _exec: &str, _call: &harmonia_engine::CallId, _percent: u8, _message: &str) {}
    /// A line the call's plugin logged (or wrote to stdout or stderr), within its
    /// `max_log_lines`.
    fn log(&self, _exec: &str, _call: &harmonia_engine::CallId, _level: tracing::Level, _message: &str) {}
}

/// How the runner keeps executions.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// An automatic checkpoint every this many steps of an execution (0: none). Reading the
    /// state of a running execution replays at most this many steps.
    pub checkpoint_every: u32,
    /// How many automatic checkpoints of an execution are kept, the newest (those asked for
    /// are all kept).
    pub keep_checkpoints: usize,
    /// What a workflow document may hold: for those stored through this runner's API and
    /// for stored ones read back.
    pub limits: Limits,
    /// The most events in an execution's history (`execution_max_events`): one that reaches
    /// it is aborted as failed, so that a runaway loop cannot fill the disk.
    pub max_history: u64,
    /// How long before a wait began an event may have been accepted and still end it
    /// (`event_lookback`; a wait's own `lookback` wins): an answer that came before the
    /// question was asked.
    pub event_lookback: Duration,
    /// Which lifecycle events go into the CloudEvents log (`lifecycle_events`): by default
    /// (`auto`) those a trigger, a subscription or a waiting task wants; or none; or all of
    /// those of executions (`executions`: two for most executions, about 15% of the
    /// throughput of short workflows); or also those of tasks (`all`: about as many writes
    /// again as the steps themselves).
    pub lifecycle_events: crate::events::lifecycle::Lifecycle,
    /// The most items an open `for_each` may hold, those added while it runs included
    /// (`for_each_max_items`).
    pub max_items: usize,
}

/// The default of [`RunnerSettings::max_items`].
pub const DEFAULT_MAX_ITEMS: usize = 100_000;

/// The default of [`RunnerSettings::event_lookback`].
pub const DEFAULT_EVENT_LOOKBACK: Duration = Duration::from_secs(300);

/// The default of [`RunnerSettings::max_history`].
pub const DEFAULT_MAX_HISTORY: u64 = 100_000;

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            checkpoint_every: 100,
            keep_checkpoints: 3,
            limits: Limits::default(),
            max_history: DEFAULT_MAX_HISTORY,
            max_items: DEFAULT_MAX_ITEMS,
            event_lookback: DEFAULT_EVENT_LOOKBACK,
            lifecycle_events: crate::events::lifecycle::Lifecycle::Auto,
        }
    }
}

/// Why a request to the runner failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no workflow {0}")]
    UnknownWorkflow(String),
    #[error("execution {0} is not running")]
    NotRunning(String),
    #[error("execution {id} has no checkpoint after event {seq}")]
    NoCheckpoint { id: String, seq: u64 },
    #[error("an execution {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Change(harmonia_engine::ChangeError),
    /// A task added or an input replaced that does not read or validate (400).
    #[error("{0}")]
    InvalidChange(String),
    /// A change that would take an execution over a limit of the server (409, `code`).
    #[error("{message}")]
    OverLimit { code: &'static str, message: String },
}

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovery {
    pub resumed: usize,
    /// Executions that cannot be resumed, with why (a corrupt record, an unknown workflow).
    pub failed: Vec<(String, String)>,
}

/// A request for an execution's driver.
pub(crate) enum Input {
    Event(Event),
    Snapshot(oneshot::Sender<Execution>),
    Checkpoint {
        label: Option<String>,
        reply: oneshot::Sender<Result<CheckpointInfo, RunError>>,
    },
    Restore {
        seq: u64,
        reply: oneshot::Sender<Result<(), RunError>>,
    },
    /// A change to a paused execution (set a task's output, skip a task, set variables).
    Change {
        event: Event,
        reply: oneshot::Sender<Result<(), RunError>>,
    },
    /// A change to the definition a paused execution runs: another version of its
    /// workflow, or a patch (a task added, an input replaced).
    Replan {
        change: Replan,
        reply: oneshot::Sender<Result<(), RunError>>,
    },
    /// Stop driving (the process is stopping): nothing more is committed; the execution
    /// is picked up again by the next start.
    Stop,
}

/// What a [`Input::Replan`] changes.
pub(crate) enum Replan {
    /// Move to this plan, of another version of the workflow.
    Version(Arc<Plan>),
    Patch(harmonia_engine::Patch),
}

/// A driver running in this process.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) workflow: Arc<str>,
    pub(crate) tx: mpsc::UnboundedSender<Input>,
    pub(crate) done: watch::Receiver<Option<Arc<Execution>>>,
    /// Set while the driver cannot commit (a full disk) and tries again: reads then answer
    /// from the stored state instead of waiting for it.
    pub(crate) retry: watch::Receiver<Option<CommitRetry>>,
}

/// A commit that failed and is being tried again.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitRetry {
    /// When the first attempt failed.
    pub since: u64,
    /// Attempts so far.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: String,
}

/// How deep sub-workflows may nest, so that a workflow calling itself ends.
pub(crate) const MAX_DEPTH: u32 = 32;

/// Runs executions, durably. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) tasks: Arc<dyn TaskRunner>,
    pub(crate) workflows: Arc<dyn WorkflowSource>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) observer: Option<Arc<dyn RunObserver>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) settings: RunnerSettings,
    pub(crate) live: Mutex<HashMap<String, Live>>,
    /// Executions whose records cannot be read, with why.
    broken: Mutex<HashMap<String, String>>,
    /// How often each execution's driver panicked in this process (see
    /// [`Runner::driver_panicked`]).
    panics: Mutex<HashMap<String, u32>>,
    /// Workflow versions read from the store, by name and version.
    stored_plans: Mutex<HashMap<(String, String), Arc<Plan>>>,
    pub(crate) log: log::EventLog,
    /// The CloudEvents log.
    pub(crate) events: Arc<crate::events::EventLog>,
    /// The waiting tasks of the executions running here.
    pub(crate) waits: crate::events::waits::Waits,
    /// The subscriptions delivered here.
    pub(crate) deliveries: crate::events::deliveries::Deliveries,
    /// The lifecycle events wanted (with `lifecycle_events = auto`).
    pub(crate) demand: crate::events::lifecycle::Demand,
    /// The mutexes of tasks (`mutex:`), across executions.
    pub(crate) locks: crate::locks::Locks,
    /// The store's indexes of executions are known to be built (see
    /// [`Runner::index_executions`]).
    indexed: Mutex<bool>,
}

impl Runner {
    /// A runner whose task calls `tasks` carries out, keeping executions in memory (a
    /// [`MemStore`]); see [`Runner::with_store`].
    pub fn new(tasks: impl TaskRunner, workflows: Arc<dyn WorkflowSource>, clock: Arc<dyn Clock>) -> Runner {
        harmonia_model::Budget::offload_loops_with(off_the_async_workers);
        let inner = Inner {
            tasks: Arc::new(tasks),
            workflows,
            clock,
            observer: None,
            store: Arc::new(MemStore::new()),
            settings: RunnerSettings::default(),
            live: Mutex::default(),
            broken: Mutex::default(),
            panics: Mutex::default(),
            stored_plans: Mutex::default(),
            log: log::EventLog::default(),
            events: Arc::default(),
            waits: Default::default(),
            deliveries: Default::default(),
            demand: Default::default(),
            locks: Default::default(),
            indexed: Mutex::default(),
        };
        Runner { inner: Arc::new(inner) }
    }

    fn configure(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configure a runner before cloning it")
    }

    pub fn with_observer(mut self, observer: Arc<dyn RunObserver>) -> Runner {
        self.configure().observer = Some(observer);
        self
    }

    pub fn with_store(mut self, store: Arc<dyn Store>) -> Runner {
        self.configure().store = store;
        self
    }

    /// What a workflow document may hold (its settings' limits).
    pub fn limits(&self) -> Limits {
        self.inner.settings.limits
    }

    pub fn with_settings(mut self, settings: RunnerSettings) -> Runner {
        self.configure().settings = settings;
        self
    }

    /// Accepts CloudEvents (already checked) into the durable log; returns once they are
    /// committed, with what became of each (a duplicate of an earlier one is not accepted
    /// again).
    pub async fn accept(&self, events: Vec<crate::CloudEvent>) -> Result<Vec<crate::events::Acceptance>, StoreError> {
        self.inner.events.accept(&self.inner.store, events, self.now()).await
    }

    /// CloudEvents as they are committed.
    pub fn follow_events(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::events::Accepted>> {
        self.inner.events.subscribe()
    }

    /// What carries out task calls.
    pub fn tasks(&self) -> &Arc<dyn TaskRunner> {
        &self.inner.tasks
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn now(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    pub(crate) fn live(&self, id: &str) -> Option<Live> {
        self.inner.live.lock().expect("live lock").get(id).cloned()
    }

    /// The plan of a workflow version, for an execution of it: from the workflow source,
    /// else the definition stored with the executions (an imported one, or a version whose
    /// file is gone).
    pub(crate) fn plan_for(&self, workflow: &str, version: &str) -> Result<Arc<Plan>, RunError> {
        if let Some(plan) = self.inner.workflows.plan(workflow, Some(version)) {
            return Ok(plan);
        }
        let unknown = || RunError::UnknownWorkflow(format!("{workflow}@{version}"));
        let key = (workflow.to_string(), version.to_string());
        if let Some(plan) = self.inner.stored_plans.lock().expect("plans lock").get(&key) {
            return Ok(plan.clone());
        }
        let text =
            self.inner.store.get(Space::Workflows, &keys::workflow_key(workflow, version)?)?.ok_or_else(unknown)?;
        let parsed =
            harmonia_model::parse_workflow_with(&String::from_utf8_lossy(&text), None, &self.inner.settings.limits);
        let plan = Arc::new(Plan::new(Arc::new(parsed.map_err(|_| unknown())?)));
        self.inner.stored_plans.lock().expect("plans lock").insert(key, plan.clone());
        Ok(plan)
    }

    /// Starts an execution of `plan` with `input` (already checked). Returns once it is
    /// stored: from then on it survives a crash.
    pub async fn start(&self, plan: Arc<Plan>, id: &str, input: Value) -> Result<(), RunError> {
        self.start_child(plan, id, input, None, None, 0).await.map(drop)
    }

    /// Like [`Runner::start`], for an execution a trigger started with `event` (the
    /// CloudEvent, `event` in its expressions).
    pub async fn start_triggered(&self, plan: Arc<Plan>, id: &str, input: Value, event: Value) -> Result<(), RunError> {
        self.start_child(plan, id, input, Some(event), None, 0).await.map(drop)
    }

    pub(crate) async fn start_child(
        &self,
        plan: Arc<Plan>,
        id: &str,
        input: Value,
        event: Option<Value>,
        parent: Option<String>,
        depth: u32,
    ) -> Result<Live, RunError> {
        let exec = Execution::new(id, &plan.workflow, &plan.fallbacks);
        let now = self.now();
        let record = ExecRecord::new(&exec, now, parent, depth);
        let (created, stored) = oneshot::channel();
        let first = Input::Event(Event::Started { input, event, at: now });
        let live =
            driver::spawn(self, plan, exec, None, record, first, Announce { created: Some(created), done: None })?;
        stored.await.unwrap_or_else(|_| Err(RunError::NotRunning(id.to_string())))?;
        Ok(live)
    }

    /// Runs an execution to its end.
    pub async fn run(&self, plan: Arc<Plan>, id: &str, input: Value) -> Result<Execution, RunError> {
        self.start(plan, id, input).await?;
        self.wait(id).await
    }

    /// The final state of an execution, once it ends (at once if it has).
    pub async fn wait(&self, id: &str) -> Result<Execution, RunError> {
        if let Some(live) = self.live(id)
            && let Some(exec) = finished(live.done).await
        {
            return Ok(exec);
        }
        self.read_stored(id).await
    }

    /// Like [`Runner::wait`], giving up after `limit` (then `None`).
    pub async fn wait_for(&self, id: &str, limit: Duration) -> Result<Option<Execution>, RunError> {
        match tokio::time::timeout(limit, self.wait(id)).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The current state of an execution: from its driver if it runs here, else as stored.
    pub async fn get(&self, id: &str) -> Result<Execution, RunError> {
        if let Some(live) = self.live(id) {
            let mut retry = live.retry.clone();
            let (reply, answer) = oneshot::channel();
            // A driver that cannot commit answers nothing until it can: the stored state
            // answers instead.
            if retry.borrow().is_none() && live.tx.send(Input::Snapshot(reply)).is_ok() {
                tokio::select! {
                    exec = answer => if let Ok(exec) = exec { return Ok(exec) },
                    _ = retry.wait_for(Option::is_some) => {}
                }
            }
        }
        self.read_stored(id).await
    }

    /// The commit a running execution's driver is trying again, if it is.
    pub fn commit_retry(&self, id: &str) -> Option<CommitRetry> {
        self.live(id)?.retry.borrow().clone()
    }

    /// Runs `read` (which reads the store) on the blocking pool, not on an async worker:
    /// a read may wait for the disk.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Runner) -> Result<T, RunError> + Send + 'static,
    ) -> Result<T, RunError> {
        let runner = self.clone();
        match tokio::task::spawn_blocking(move || read(&runner)).await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn read_stored(&self, id: &str) -> Result<Execution, RunError> {
        let id = id.to_string();
        self.blocking(move |runner| runner.stored(&id)).await
    }

    /// The state of an execution as stored.
    fn stored(&self, id: &str) -> Result<Execution, RunError> {
        if let Some(reason) = self.inner.broken.lock().expect("broken lock").get(id) {
            return Err(ReadError::Corrupt { id: id.to_string(), reason: reason.clone() }.into());
        }
        let (_, record) = records::read_record(&*self.inner.store, id)?;
        if let Some(state) = record.state {
            return Ok(*state);
        }
        let plan = self.plan_of(&record)?;
        Ok(records::load_state(&*self.inner.store, &plan, id)?.2)
    }

    /// At most `limit` events of an execution's stored history, after event `after`.
    pub async fn history(&self, id: &str, after: u64, limit: usize) -> Result<Vec<Event>, RunError> {
        let id = id.to_string();
        self.blocking(move |runner| {
            let store = &*runner.inner.store;
            records::read_record(store, &id)?;
            Ok(records::read_history(store, &id, after, limit)?)
        })
        .await
    }

    /// The checkpoints of an execution, oldest first.
    pub async fn checkpoints(&self, id: &str) -> Result<Vec<CheckpointInfo>, RunError> {
        let id = id.to_string();
        self.blocking(move |runner| {
            let store = &*runner.inner.store;
            records::read_record(store, &id)?;
            Ok(records::list_checkpoints(store, &id)?.iter().map(records::Checkpoint::info).collect())
        })
        .await
    }

    pub(crate) fn send(&self, id: &str, input: Input) -> Result<(), RunError> {
        let live = self.live(id).ok_or_else(|| RunError::NotRunning(id.to_string()))?;
        live.tx.send(input).map_err(|_| RunError::NotRunning(id.to_string()))
    }

    /// Holds back new calls of a running execution; calls in flight finish.
    pub fn pause(&self, id: &str) -> Result<(), RunError> {
        self.send(id, Input::Event(Event::Paused { at: self.now() }))
    }

    pub fn resume(&self, id: &str) -> Result<(), RunError> {
        self.send(id, Input::Event(Event::Resumed { at: self.now() }))
    }

    pub fn cancel(&self, id: &str, reason: &str) -> Result<(), RunError> {
        self.send(id, Input::Event(Event::Cancelled { reason: reason.to_string(), at: self.now() }))
    }

    /// Changes a paused execution (`OutputSet`, `SkipRequested`, `VarsChanged`) or adds items
    /// to an open `for_each` of a running one (`ItemsAdded`), as `harmonia_engine::check_change`
    /// allows; recorded in its history. Returns once committed.
    pub async fn change(&self, id: &str, event: Event) -> Result<(), RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(id, Input::Change { event, reply })?;
        answer.await.unwrap_or_else(|_| Err(RunError::NotRunning(id.to_string())))
    }

    /// Moves a paused execution to `version` of its workflow (the tasks it added and the
    /// inputs it replaced are dropped: the version's definition stands). Refused with the
    /// list of conflicts when tasks that started are not in that version.
    pub async fn migrate(&self, id: &str, version: &str) -> Result<(), RunError> {
        let workflow = self.get(id).await?.workflow;
        let plan = self
            .plan_for(&workflow, version)
            .map_err(|_| RunError::InvalidChange(format!("workflow {workflow} has no version {version}")))?;
        self.replan(id, Replan::Version(plan)).await
    }

    /// Changes the definition a paused execution runs: adds a task, or replaces the input of
    /// a task that has not started; kept with the execution.
    pub async fn patch(&self, id: &str, patch: harmonia_engine::Patch) -> Result<(), RunError> {
        self.replan(id, Replan::Patch(patch)).await
    }

    async fn replan(&self, id: &str, change: Replan) -> Result<(), RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(id, Input::Replan { change, reply })?;
        answer.await.unwrap_or_else(|_| Err(RunError::NotRunning(id.to_string())))
    }

    /// The plan an execution runs: its workflow version's, with its patches applied.
    pub(crate) fn plan_of(&self, record: &ExecRecord) -> Result<Arc<Plan>, RunError> {
        let plan = self.plan_for(&record.workflow, &record.version)?;
        if record.patches.is_empty() {
            return Ok(plan);
        }
        let patched = harmonia_engine::patched_plan(&plan.workflow, &record.patches)
            .map_err(|e| RunError::InvalidChange(format!("its changes no longer apply: {e}")))?;
        Ok(Arc::new(patched))
    }

    /// Takes a checkpoint of a running execution now.
    pub async fn checkpoint(&self, id: &str, label: Option<String>) -> Result<CheckpointInfo, RunError> {
        let (reply, answer) = oneshot::channel();
        self.send(id, Input::Checkpoint { label, reply })?;
        answer.await.unwrap_or_else(|_| Err(RunError::NotRunning(id.to_string())))
    }

    /// Rolls an execution back to its checkpoint after event `seq` and runs it on from
    /// there; a finished execution runs again.
    pub async fn restore(&self, id: &str, seq: u64) -> Result<(), RunError> {
        let key = id.to_string();
        let found = self.blocking(move |runner| Ok(records::read_checkpoint(&*runner.inner.store, &key, seq)?)).await?;
        if found.is_none() {
            return Err(RunError::NoCheckpoint { id: id.to_string(), seq });
        }
        self.ask_even_finished(id, |reply| Input::Restore { seq, reply }).await
    }

    /// Hands a request to the execution's driver, starting one from the store if none runs
    /// (the execution may be finished: a restore or a retry brings it back to life). A
    /// driver that is ending may drop the request: then a new one takes it.
    async fn ask_even_finished(
        &self,
        id: &str,
        request: impl Fn(oneshot::Sender<Result<(), RunError>>) -> Input,
    ) -> Result<(), RunError> {
        for _ in 0..3 {
            let (reply, answer) = oneshot::channel();
            let input = request(reply);
            match self.live(id) {
                Some(live) => drop(live.tx.send(input)),
                None => {
                    let key = id.to_string();
                    match self.blocking(move |runner| runner.spawn_stored(&key, input)).await {
                        Ok(_) | Err(RunError::Exists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if let Ok(result) = answer.await {
                return result;
            }
        }
        Err(RunError::NotRunning(id.to_string()))
    }

    /// Runs a failed execution again from its failed tasks (see `harmonia_engine::check_retry`).
    pub async fn retry(&self, id: &str) -> Result<(), RunError> {
        harmonia_engine::check_retry(&self.get(id).await?).map_err(RunError::Change)?;
        self.ask_even_finished(id, |reply| Input::Change { event: Event::Retried { at: self.now() }, reply }).await
    }

    /// Stops every driver of this runner without finishing its execution (they are picked
    /// up again at the next start), and waits until they have stopped.
    pub async fn stop(&self) {
        // Subscriptions first: a delivery cut off is made again by the next start.
        self.inner.deliveries.stop();
        loop {
            // Children may start meanwhile: ask again until none is left.
            let running: Vec<Live> = self.inner.live.lock().expect("live lock").values().cloned().collect();
            if running.is_empty() {
                return;
            }
            for live in &running {
                let _ = live.tx.send(Input::Stop);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Committed events as they happen (subscribe before reading the log back, then skip
    /// what was already read).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<LoggedEvent>> {
        self.inner.log.subscribe()
    }

    /// The position of the last event in the global log (0: none).
    pub async fn log_head(&self) -> Result<u64, StoreError> {
        let runner = self.clone();
        let head = tokio::task::spawn_blocking(move || runner.inner.log.head(&*runner.inner.store)).await;
        head.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// How many executions of `workflow` run in this process (paused ones included).
    pub fn running_of(&self, workflow: &str) -> usize {
        self.inner.live.lock().expect("live lock").values().filter(|live| &*live.workflow == workflow).count()
    }

    /// Builds the store's indexes of executions if it has none (a data directory from
    /// before them), once per runner and before any of its drivers commits: a build must
    /// not race the writes it indexes. Later calls only check a flag.
    pub fn index_executions(&self) -> Result<(), StoreError> {
        let mut indexed = self.inner.indexed.lock().expect("index lock");
        if !*indexed {
            let started = std::time::Instant::now();
            // Said at warn level, shown by default: a start that reads every record is
            // slower than usual, once, and this says why.
            if let Some(n @ 1..) = records::build_index(&*self.inner.store)? {
                let took = started.elapsed();
                tracing::warn!(
                    "built the index of executions (by workflow, status and finish time), missing from this data directory: {n} executions indexed in {took:.2?}"
                );
            }
            *indexed = true;
        }
        Ok(())
    }

    /// Resumes every unfinished execution in the store (after a restart), first building
    /// the indexes of executions if the store has none.
    pub fn recover(&self) -> Result<Recovery, RunError> {
        self.index_executions()?;
        let mut recovery = Recovery::default();
        for id in records::unfinished(&*self.inner.store)? {
            match self.pick_up(&id) {
                Ok(_) => recovery.resumed += 1,
                Err(error) => {
                    let reason = error.to_string();
                    tracing::error!(execution = %id, "cannot resume: {reason}");
                    self.inner.broken.lock().expect("broken lock").insert(id.clone(), reason.clone());
                    recovery.failed.push((id, reason));
                }
            }
        }
        Ok(recovery)
    }

    /// Writes an exported execution into the store and resumes it if it is unfinished.
    pub fn import(&self, export: &records::ExecExport) -> Result<(), RunError> {
        self.index_executions()?;
        records::import(&*self.inner.store, export).map_err(|e| match e {
            records::ImportError::Exists(id) => RunError::Exists(id),
            records::ImportError::Store(e) => RunError::Store(e),
            other => RunError::Store(StoreError::InvalidKey(other.to_string())),
        })?;
        if !export.record.status.is_finished() {
            self.pick_up(&export.id)?;
        }
        Ok(())
    }

    /// The driver of `id` panicked (a bug in the engine, the runner or an observer): it is
    /// taken out of the running ones and started again from the store, so that nothing
    /// waits on it forever. The first time it picks up where the store says, re-running
    /// what was in flight; the second time the execution fails with an `internal` error
    /// (a user can retry it); a third panic leaves it stopped, its reads saying why.
    pub(crate) fn driver_panicked(
        &self,
        id: &str,
        tx: &mpsc::UnboundedSender<Input>,
        message: &str,
        done: driver::Done,
    ) {
        {
            let mut running = self.inner.live.lock().expect("live lock");
            if running.get(id).is_some_and(|live| live.tx.same_channel(tx)) {
                running.remove(id);
            }
        }
        let panics = {
            let mut panics = self.inner.panics.lock().expect("panics lock");
            let count = panics.entry(id.to_string()).or_default();
            *count += 1;
            *count
        };
        tracing::error!(execution = %id, panics, "the execution's driver panicked: {message}");
        let first = match panics {
            1 => Event::Recovered { at: self.now() },
            2 => {
                let message = format!("the runner failed while driving this execution (a bug): {message}");
                Event::Aborted { error: Failure::new("internal", message), at: self.now() }
            }
            _ => {
                let reason = format!("its driver panicked {panics} times, the last time: {message}");
                self.inner.broken.lock().expect("broken lock").insert(id.to_string(), reason);
                return;
            }
        };
        let restarted = blocking_in_place(|| match records::read_record(&*self.inner.store, id) {
            Ok((_, record)) if record.status.is_finished() => Ok(None),
            Ok((version, record)) => self.spawn_with(id, version, record, Input::Event(first), Some(done)).map(Some),
            Err(e) => Err(e.into()),
        });
        if let Err(e) = restarted {
            tracing::error!(execution = %id, "cannot start the execution again after its driver panicked: {e}");
            self.inner.broken.lock().expect("broken lock").insert(id.to_string(), e.to_string());
        }
    }

    /// The driver of an unfinished stored execution: the one running, or a new one that
    /// first re-runs what was in flight. `None` if the execution is finished.
    pub(crate) fn pick_up(&self, id: &str) -> Result<Option<Live>, RunError> {
        if let Some(live) = self.live(id) {
            return Ok(Some(live));
        }
        let (version, record) = records::read_record(&*self.inner.store, id)?;
        if record.status.is_finished() {
            return Ok(None);
        }
        match self.spawn_from(id, version, record, Input::Event(Event::Recovered { at: self.now() })) {
            Ok(live) => Ok(Some(live)),
            Err(RunError::Exists(_)) => Ok(self.live(id)), // picked up by another caller meanwhile
            Err(e) => Err(e),
        }
    }

    /// A driver for a stored execution, given `first` to handle.
    fn spawn_stored(&self, id: &str, first: Input) -> Result<Live, RunError> {
        let (version, record) = records::read_record(&*self.inner.store, id)?;
        self.spawn_from(id, version, record, first)
    }

    fn spawn_from(&self, id: &str, version: u64, record: ExecRecord, first: Input) -> Result<Live, RunError> {
        self.spawn_with(id, version, record, first, None)
    }

    fn spawn_with(
        &self,
        id: &str,
        version: u64,
        record: ExecRecord,
        first: Input,
        done: Option<driver::Done>,
    ) -> Result<Live, RunError> {
        let plan = self.plan_of(&record)?;
        let (version, record, exec) = records::load_state_of(&*self.inner.store, &plan, id, version, record)?;
        driver::spawn(self, plan, exec, Some(version), record, first, Announce { created: None, done })
    }
}

/// The final state a driver announces, or `None` if it stopped without one.
pub(crate) async fn finished(mut done: watch::Receiver<Option<Arc<Execution>>>) -> Option<Execution> {
    let state = done.wait_for(Option::is_some).await.ok()?;
    state.as_ref().map(|exec| (**exec).clone())
}

/// Runs an expression with a loop (which may take up to its CPU budget) so that the other
/// tasks of this async worker move to another thread meanwhile: two such expressions on a
/// two-core machine used to stall every request.
fn off_the_async_workers(evaluate: &mut dyn FnMut()) {
    blocking_in_place(evaluate)
}

/// Runs `work`, which blocks (a store read, a long expression), where it is: on a
/// multi-threaded runtime the other tasks of this async worker move to another thread
/// meanwhile; on a single-threaded runtime (tests) and outside a runtime, it just runs.
pub(crate) fn blocking_in_place<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What a panic said, for the error it turns into.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => text.to_string(),
        (_, Some(text)) => text.clone(),
        _ => "a panic".to_string(),
    }
}
