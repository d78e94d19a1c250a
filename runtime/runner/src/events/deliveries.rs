//! Delivery of subscriptions: one worker per subscription (but those that only feed the
//! live streams) follows the CloudEvents log from where the last one got to, and sends each
//! event it picks to its destination, in log order, at least once.
//!
//! A failed attempt is tried again after a wait that grows by the subscription's factor
//! (1 s, 2 s, 4 s ... by default); after the last one the event becomes a dead letter,
//! kept in the store and shown over the API, and the worker goes on with the next event.
//! Until then, later events of that subscription wait: order is kept. How far the worker
//! got is committed after each event it delivered (without waiting for the disk), so a
//! restart sends at most the events of the last moments before a crash again; a workflow destination's execution id is made of the subscription and the event's
//! position, so even that starts nothing twice.
//!
//! The runner speaks no HTTP: webhooks are sent by a [`WebhookSender`] the server gives it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use harmonia_store::Batch;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::subscriptions::{
    self, Attempt, Compiled, DeadLetter, DeliveryState, Destination, Outcome, Selection, Subscription,
};
use super::{CloudEvent, last_seq, read_after};
use crate::{RunError, Runner, TaskCall};

/// Events read from the log at a time.
const PAGE: usize = 256;

/// The most subscriptions a runner keeps (each has a worker).
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// Sends a webhook: an HTTP POST of `body`, signed with `secret` if there is one. Answers
/// the HTTP status, or why there was none (the connection failed, the time ran out).
pub trait WebhookSender: Send + Sync + 'static {
    fn send(&self, request: WebhookRequest) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send>>;
}

/// One attempt of a webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub url: String,
    /// The event, structured JSON (`application/cloudevents+json`).
    pub body: Vec<u8>,
    pub secret: Option<String>,
    /// The same for every attempt of one event: `<subscription>/<position>`.
    pub delivery: String,
    pub attempt: u32,
    pub timeout: Duration,
}

/// Why a subscription cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The subscriptions this runner delivers.
#[derive(Default)]
pub(crate) struct Deliveries {
    /// Set once delivery began ([`Runner::follow_subscriptions`]); what sends webhooks.
    following: OnceLock<Option<Arc<dyn WebhookSender>>>,
    workers: Mutex<HashMap<String, Worker>>,
}

struct Worker {
    subscription: Arc<Compiled>,
    task: Option<tokio::task::JoinHandle<()>>,
    retrying: Arc<Mutex<Option<Retrying>>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Deliveries {
    /// Stops every worker (the process is stopping).
    pub(crate) fn stop(&self) {
        self.workers.lock().expect("workers lock").clear();
    }
}

impl Runner {
    /// The lifecycle types the subscriptions want (a mask of `lifecycle::TYPES`).
    pub(crate) fn subscriptions_want(&self) -> u16 {
        let workers = self.inner.deliveries.workers.lock().expect("workers lock");
        workers.values().fold(0, |wanted, worker| match worker.subscription.def.types.as_slice() {
            [] => wanted | super::lifecycle::matched_by("*"),
            types => types.iter().fold(wanted, |w, t| w | super::lifecycle::matched_by(t)),
        })
    }
}

/// An event whose delivery failed and is waiting to be tried again.
#[derive(Debug, Clone, Serialize)]
pub struct Retrying {
    pub seq: u64,
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due, milliseconds since the Unix epoch.
    pub next_at: u64,
}

/// A subscription, how far its delivery got, and the event being retried if there is one.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionStatus {
    #[serde(flatten)]
    pub state: DeliveryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrying: Option<Retrying>,
}

/// The id of the execution a subscription `name` starts for the event at `seq`.
pub fn subscription_execution_id(workflow: &str, name: &str, seq: u64) -> String {
    format!("{workflow}-subscription-{name}-{seq}")
}

impl Runner {
    /// Starts delivering every stored subscription, each from where it got to; webhooks go
    /// through `webhooks` (none: they fail, and end as dead letters). Runs until the
    /// runner is dropped.
    pub async fn follow_subscriptions(&self, webhooks: Option<Arc<dyn WebhookSender>>) -> Result<(), RunError> {
        if self.inner.deliveries.following.set(webhooks).is_err() {
            return Ok(()); // already following
        }
        self.load_subscriptions().await
    }

    /// Reads the stored subscriptions, so that the lifecycle events they want are written
    /// from now on, without delivering yet (before recovery: nothing may start executions
    /// then). [`Runner::follow_subscriptions`] starts delivery.
    pub async fn load_subscriptions(&self) -> Result<(), RunError> {
        let stored = self.blocking(|runner| Ok(subscriptions::list(&**runner.store())?)).await?;
        for subscription in stored {
            match Compiled::new(subscription) {
                Ok(compiled) => self.start_worker(Arc::new(compiled)),
                Err(e) => tracing::error!("a stored subscription cannot be delivered: {e}"),
            }
        }
        Ok(())
    }

    /// Stores a subscription (a new one starts with the next event, one replaced goes on
    /// where it was) and starts delivering it. True if it replaced one.
    pub async fn put_subscription(&self, mut subscription: Subscription) -> Result<bool, SubscriptionError> {
        subscription.created_at = self.now();
        let compiled = Arc::new(Compiled::new(subscription).map_err(SubscriptionError::Invalid)?);
        let count = self.inner.deliveries.workers.lock().expect("workers lock").len();
        let known = self.subscription(&compiled.def.name).await?.is_some();
        if count >= MAX_SUBSCRIPTIONS && !known {
            return Err(SubscriptionError::Invalid(format!(
                "there are {count} subscriptions already, the most a server keeps ({MAX_SUBSCRIPTIONS}): remove some first"
            )));
        }
        let stored = compiled.clone();
        let replaced = self
            .blocking(move |runner| {
                let store = &**runner.store();
                Ok(subscriptions::put(store, &stored.def, last_seq(store)?)?)
            })
            .await?;
        self.start_worker(compiled);
        Ok(replaced)
    }

    /// Stops delivering a subscription and forgets it, its state and its dead letters;
    /// false if there was none.
    pub async fn delete_subscription(&self, name: &str) -> Result<bool, RunError> {
        self.inner.deliveries.workers.lock().expect("workers lock").remove(name);
        self.inner.demand.changed();
        let name = name.to_string();
        self.blocking(move |runner| Ok(subscriptions::delete(&**runner.store(), &name)?)).await
    }

    /// A subscription (checked and compiled), from those delivered here or the store.
    pub async fn subscription(&self, name: &str) -> Result<Option<Arc<Compiled>>, RunError> {
        if let Some(worker) = self.inner.deliveries.workers.lock().expect("workers lock").get(name) {
            return Ok(Some(worker.subscription.clone()));
        }
        let name = name.to_string();
        let stored = self.blocking(move |runner| Ok(subscriptions::get(&**runner.store(), &name)?)).await?;
        Ok(stored.and_then(|s| Compiled::new(s).ok()).map(Arc::new))
    }

    /// How far a subscription's delivery got.
    pub async fn subscription_status(&self, name: &str) -> Result<SubscriptionStatus, RunError> {
        // The stored state first, then the retry under way: delivery clears its retry before
        // it stores the outcome, so a retry read after the state is never older than it (read
        // before, a retry that has since succeeded showed beside its delivery).
        let key = name.to_string();
        let state = self.blocking(move |runner| Ok(subscriptions::state(&**runner.store(), &key)?)).await?;
        let retrying = self
            .inner
            .deliveries
            .workers
            .lock()
            .expect("workers lock")
            .get(name)
            .and_then(|w| w.retrying.lock().expect("retrying lock").clone());
        Ok(SubscriptionStatus { state, retrying })
    }

    /// Tries a dead letter once more: on success it is removed, else the attempt is added
    /// to it. `None` if there is no such dead letter; else the attempt.
    pub async fn redeliver(&self, name: &str, seq: u64) -> Result<Option<(bool, Attempt)>, RunError> {
        let Some(subscription) = self.subscription(name).await? else { return Ok(None) };
        let key = name.to_string();
        let Some(mut dead) = self.blocking(move |r| Ok(subscriptions::dead_letter(&**r.store(), &key, seq)?)).await?
        else {
            return Ok(None);
        };
        let attempt_number = u32::try_from(dead.attempts.len() + 1).unwrap_or(u32::MAX);
        let (attempt, delivered, _) = self.attempt(&subscription, seq, &dead.event, attempt_number).await;
        dead.attempts.push(attempt.clone());
        let name = name.to_string();
        self.blocking(move |runner| {
            let mut batch = Batch::new();
            subscriptions::set_dead_letter(&mut batch, &name, seq, (!delivered).then_some(&dead));
            Ok(runner.store().commit(batch)?)
        })
        .await?;
        Ok(Some((delivered, attempt)))
    }

    /// (Re)starts the worker of a subscription, unless it only feeds the live streams or
    /// delivery has not begun.
    fn start_worker(&self, subscription: Arc<Compiled>) {
        let name = subscription.def.name.clone();
        let retrying = Arc::new(Mutex::new(None));
        let task = (self.inner.deliveries.following.get().is_some()
            && subscription.def.destination != Destination::Stream)
            .then(|| {
                let (runner, subscription, retrying) = (self.clone(), subscription.clone(), retrying.clone());
                tokio::spawn(async move {
                    let name = subscription.def.name.clone();
                    if let Err(e) = runner.deliver_subscription(subscription, retrying).await {
                        tracing::error!(subscription = %name, "delivery stopped: {e}");
                    }
                })
            });
        let worker = Worker { subscription, task, retrying };
        // Replacing a worker drops (and so stops) the one it replaces.
        self.inner.deliveries.workers.lock().expect("workers lock").insert(name, worker);
        self.inner.demand.changed();
    }

    async fn deliver_subscription(
        &self,
        subscription: Arc<Compiled>,
        retrying: Arc<Mutex<Option<Retrying>>>,
    ) -> Result<(), RunError> {
        let name = subscription.def.name.clone();
        // Subscribed before the log is read: an event committed meanwhile is not missed.
        let mut live = self.inner.events.subscribe();
        let key = name.clone();
        let mut state = self.blocking(move |r| Ok(subscriptions::state(&**r.store(), &key)?)).await?;
        // The position last committed.
        let mut kept = state.after;
        loop {
            let after = state.after;
            let page = self.blocking(move |r| Ok(read_after(&**r.store(), after, PAGE)?)).await?;
            if page.is_empty() {
                match live.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
            for accepted in page {
                let (event, attempts, delivered) = match subscription.select(&accepted) {
                    Selection::Skip => {
                        state.after = accepted.seq;
                        continue;
                    }
                    Selection::Deliver(event) => {
                        let (attempts, delivered) =
                            self.attempt_all(&subscription, accepted.seq, &event, &retrying).await;
                        (event, attempts, delivered)
                    }
                    Selection::Failed(event, why) => {
                        let failed = Attempt { at: self.now(), ms: 0, status: None, error: Some(why) };
                        (event, vec![failed], false)
                    }
                };
                state.after = accepted.seq;
                let dead = (!delivered).then(|| DeadLetter {
                    subscription: name.clone(),
                    seq: accepted.seq,
                    event,
                    attempts: attempts.clone(),
                });
                if delivered {
                    state.delivered += 1;
                    metrics::counter!("harmonia_subscription_deliveries_total", "result" => "delivered").increment(1);
                } else {
                    state.dead_letters += 1;
                    metrics::counter!("harmonia_subscription_deliveries_total", "result" => "dead_letter").increment(1);
                    tracing::warn!(subscription = %name, event = accepted.seq, "an event became a dead letter");
                }
                let result = if delivered { "delivered" } else { "dead_letter" };
                state.last = Some(Outcome { seq: accepted.seq, result: result.into(), attempts });
                self.keep_state(&name, &state, dead);
                kept = state.after;
            }
            // Events skipped after the last delivery: their position only. Lost in a
            // crash, the next start reads them again and skips them again.
            if state.after != kept {
                self.keep_state(&name, &state, None);
                kept = state.after;
            }
        }
    }

    /// Commits how far delivery got, and a dead letter. Not waited for: a position lost in
    /// a crash only makes the next start send the same events again (at least once), and a
    /// dead letter lost with it is made again.
    fn keep_state(&self, name: &str, state: &DeliveryState, dead: Option<DeadLetter>) {
        let mut batch = Batch::new();
        subscriptions::record(&mut batch, name, state, dead.as_ref());
        let name = name.to_string();
        self.store().commit_then(
            batch,
            Box::new(move |result| {
                if let Err(e) = result {
                    tracing::warn!(subscription = %name, "cannot keep how far delivery got: {e}");
                }
            }),
        );
    }

    /// Delivers `event` with the subscription's retries: the attempts, and whether one
    /// succeeded.
    async fn attempt_all(
        &self,
        subscription: &Compiled,
        seq: u64,
        event: &CloudEvent,
        retrying: &Mutex<Option<Retrying>>,
    ) -> (Vec<Attempt>, bool) {
        let mut attempts = Vec::new();
        for number in 1..=subscription.max_attempts {
            let (attempt, delivered, permanent) = self.attempt(subscription, seq, event, number).await;
            attempts.push(attempt);
            if delivered || permanent || number == subscription.max_attempts {
                *retrying.lock().expect("retrying lock") = None;
                return (attempts, delivered);
            }
            let next_at = self.now() + subscription.delay_after(number).as_millis() as u64;
            *retrying.lock().expect("retrying lock") = Some(Retrying { seq, attempts: attempts.clone(), next_at });
            self.inner.clock.sleep_until(next_at).await;
        }
        (attempts, false)
    }

    /// One attempt: what it was, whether it delivered, and whether trying again is useless.
    async fn attempt(
        &self,
        subscription: &Compiled,
        seq: u64,
        event: &CloudEvent,
        number: u32,
    ) -> (Attempt, bool, bool) {
        let at = self.now();
        let started = std::time::Instant::now();
        let name = &subscription.def.name;
        let (status, error, permanent) = match &subscription.def.destination {
            Destination::Stream => (None, None, false),
            Destination::Webhook { url, secret, .. } => {
                let sender = self.inner.deliveries.following.get().cloned().flatten();
                match sender {
                    None => (None, Some("this server sends no webhooks".to_string()), true),
                    Some(sender) => {
                        let request = WebhookRequest {
                            url: url.clone(),
                            body: serde_json::to_vec(event).expect("an event is JSON"),
                            secret: secret.clone(),
                            delivery: format!("{name}/{seq}"),
                            attempt: number,
                            timeout: subscription.timeout,
                        };
                        match sender.send(request).await {
                            Ok(status) if (200..300).contains(&status) => (Some(status), None, false),
                            Ok(status) => (Some(status), Some(format!("the receiver answered HTTP {status}")), false),
                            Err(e) => (None, Some(e), false),
                        }
                    }
                }
            }
            Destination::Workflow { name: workflow, version } => {
                match self.start_for_subscription(name, workflow, version.as_deref(), seq, event).await {
                    Ok(()) => (None, None, false),
                    Err((e, permanent)) => (None, Some(e), permanent),
                }
            }
            Destination::Plugin { plugin, action } => {
                let call = TaskCall {
                    task_id: format!("subscription:{name}"),
                    attempt: number,
                    idempotency_key: format!("subscription/{name}/{seq}"),
                    ..TaskCall::new(plugin, action, event.to_value())
                };
                match self.inner.tasks.run(call).await {
                    Ok(_) => (None, None, false),
                    Err(failure) => {
                        let permanent = matches!(
                            failure.kind.as_str(),
                            "fatal" | "invalid_input" | "unknown_action" | "unknown_plugin"
                        );
                        (None, Some(format!("{}: {}", failure.kind, failure.message)), permanent)
                    }
                }
            }
        };
        let ms = started.elapsed().as_millis() as u64;
        let delivered = error.is_none();
        (Attempt { at, ms, status, error }, delivered, permanent)
    }

    /// Starts the execution a workflow destination makes of `event`; why not, and whether
    /// trying again is useless.
    async fn start_for_subscription(
        &self,
        name: &str,
        workflow: &str,
        version: Option<&str>,
        seq: u64,
        event: &CloudEvent,
    ) -> Result<(), (String, bool)> {
        let Some(plan) = self.inner.workflows.plan(workflow, version) else {
            let which = version.map_or(workflow.to_string(), |v| format!("{workflow}@{v}"));
            return Err((format!("no workflow {which}"), false));
        };
        let data = event.data.clone().unwrap_or_else(|| Value::Object(Default::default()));
        let input = harmonia_model::check_input(&plan.workflow, &data)
            .map_err(|e| (format!("the event's data does not fit the workflow's input: {e}"), true))?;
        let id = subscription_execution_id(workflow, name, seq);
        match self.start_triggered(plan, &id, input, event.to_value()).await {
            Ok(()) | Err(RunError::Exists(_)) => Ok(()),
            Err(e) => Err((e.to_string(), false)),
        }
    }
}
