//! Events: CloudEvents 1.0 that Harmonia accepts (over the API, from plugins and
//! workflows), keeps in a durable log before anyone sees them, and acts on: triggers start
//! executions ([`triggers`]), waiting tasks take them ([`waits`]), subscriptions send them
//! on ([`subscriptions`], [`deliveries`]).
//!
//! An event is unique by `source` and `id`: one sent again is acknowledged with the
//! position it was given the first time, and nothing happens twice.

pub mod cloudevent;
pub mod deliveries;
pub mod hooks;
pub mod lifecycle;
pub mod schedules;
pub mod subscriptions;
pub mod triggers;
pub(crate) mod waits;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use harmonia_store::{Batch, Space, Store, StoreError, keys};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};

pub use cloudevent::{CloudEvent, EventError};

/// An event in the log: its position, when it was accepted, and the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    /// The position in the CloudEvents log, from 1.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub accepted_at: u64,
    pub event: CloudEvent,
}

/// What became of one event handed to [`EventLog::accept`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Acceptance {
    pub id: String,
    pub source: String,
    /// The event's position in the log (the first one's, for a duplicate).
    pub seq: u64,
    /// The same `source` and `id` had been accepted before: nothing was done again.
    pub duplicate: bool,
}

/// The CloudEvents log: appends in order, refuses duplicates, tells followers.
pub struct EventLog {
    state: Mutex<LogState>,
    live: broadcast::Sender<Arc<Accepted>>,
}

#[derive(Default)]
struct LogState {
    /// The next position; `None` until read from the store.
    next: Option<u64>,
    /// `source\0id` of events handed to the store and not committed yet: a duplicate of one
    /// of them is refused too, though the store does not have it yet.
    pending: HashMap<Vec<u8>, u64>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog { state: Mutex::default(), live: broadcast::channel(4096).0 }
    }
}

impl EventLog {
    /// Appends the events not seen before to the log (with their indexes by id and type),
    /// in one batch, and returns once it is committed: each event's position, or the first
    /// position of an event seen before. Runs on the blocking pool (it reads the store).
    pub async fn accept(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        events: Vec<CloudEvent>,
        now: u64,
    ) -> Result<Vec<Acceptance>, StoreError> {
        let (log, store2) = (self.clone(), store.clone());
        let prepared = tokio::task::spawn_blocking(move || log.append(&*store2, events, now, false))
            .await
            .map_err(|e| StoreError::Io { message: format!("the event log stopped: {e}") })??;
        let Prepared { acceptances, accepted, committed, keys } = prepared;
        let result = committed
            .await
            .unwrap_or_else(|_| Err(StoreError::Io { message: "the store stopped before answering".into() }));
        {
            let mut state = self.state.lock().expect("event log lock");
            for (key, _) in &keys {
                state.pending.remove(key);
            }
        }
        result?;
        for event in accepted {
            let _ = self.live.send(Arc::new(event)); // nobody follows: nothing to tell
        }
        Ok(acceptances)
    }

    /// Under the log's lock: gives the new events their positions and hands their batch to
    /// the store, so that batches are committed in the order of their positions.
    /// `at_once`: commit before returning (no server holds the store), rather than hand the
    /// batch to the store's group commit.
    fn append(
        &self,
        store: &dyn Store,
        events: Vec<CloudEvent>,
        now: u64,
        at_once: bool,
    ) -> Result<Prepared, StoreError> {
        let mut state = self.state.lock().expect("event log lock");
        let mut next = match state.next {
            Some(n) => n,
            None => last_seq(store)? + 1,
        };
        let mut batch = Batch::new();
        let (mut acceptances, mut accepted, mut new_keys) = (Vec::new(), Vec::new(), Vec::new());
        let mut in_batch: HashMap<Vec<u8>, u64> = HashMap::new();
        for event in events {
            let id_key = keys::event_id_key(&event.source, &event.id)?;
            let seen = match in_batch.get(&id_key) {
                Some(seq) => Some(*seq),
                None => match state.pending.get(&id_key) {
                    Some(seq) => Some(*seq),
                    None => store.get(Space::EventIds, &id_key)?.map(|v| decode_seq(&v)),
                },
            };
            let (id, source) = (event.id.clone(), event.source.clone());
            if let Some(seq) = seen {
                acceptances.push(Acceptance { id, source, seq, duplicate: true });
                continue;
            }
            let seq = next;
            next += 1;
            let entry = Accepted { seq, accepted_at: now, event };
            batch.put(Space::CloudEvents, keys::log_key(seq), serde_json::to_vec(&entry).expect("an event is JSON"));
            batch.put(Space::EventIds, id_key.clone(), seq.to_be_bytes().to_vec());
            batch.put(Space::EventTypes, keys::event_type_key(&entry.event.event_type, now, seq)?, Vec::new());
            in_batch.insert(id_key.clone(), seq);
            new_keys.push((id_key, seq));
            acceptances.push(Acceptance { id, source, seq, duplicate: false });
            accepted.push(entry);
        }
        let (tx, committed) = oneshot::channel();
        if accepted.is_empty() {
            let _ = tx.send(Ok(()));
        } else if at_once {
            store.commit(batch)?;
            state.next = Some(next);
            let _ = tx.send(Ok(()));
        } else {
            state.pending.extend(new_keys.iter().cloned());
            state.next = Some(next);
            store.commit_then(batch, Box::new(move |result| drop(tx.send(result))));
        }
        Ok(Prepared { acceptances, accepted, committed, keys: new_keys })
    }

    /// Adds `events` (made by Harmonia, with ids of their own: not checked for duplicates)
    /// to `batch` at the next positions. The log stays locked until the reservation is
    /// dropped: drop it once the batch is handed to the store, so that batches are committed
    /// in the order of their positions; then [`EventLog::publish`] what was committed.
    pub(crate) fn reserve(
        &self,
        store: &dyn Store,
        batch: &mut Batch,
        events: Vec<CloudEvent>,
        now: u64,
    ) -> Result<Reservation<'_>, StoreError> {
        let mut state = self.state.lock().expect("event log lock");
        let mut next = match state.next {
            Some(n) => n,
            None => last_seq(store)? + 1,
        };
        let mut accepted = Vec::with_capacity(events.len());
        for event in events {
            let entry = Accepted { seq: next, accepted_at: now, event };
            batch.put(Space::CloudEvents, keys::log_key(next), serde_json::to_vec(&entry).expect("an event is JSON"));
            batch.put(Space::EventTypes, keys::event_type_key(&entry.event.event_type, now, next)?, Vec::new());
            accepted.push(entry);
            next += 1;
        }
        state.next = Some(next);
        Ok(Reservation { _state: state, accepted })
    }

    /// Tells followers about events committed through a [`Reservation`].
    pub(crate) fn publish(&self, accepted: Vec<Accepted>) {
        for event in accepted {
            let _ = self.live.send(Arc::new(event));
        }
    }

    /// Events as they are committed (subscribe before reading the log back, then skip what
    /// was already read).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Accepted>> {
        self.live.subscribe()
    }
}

/// Positions taken in the log by a batch not yet handed to the store.
pub(crate) struct Reservation<'a> {
    _state: std::sync::MutexGuard<'a, LogState>,
    pub accepted: Vec<Accepted>,
}

struct Prepared {
    acceptances: Vec<Acceptance>,
    accepted: Vec<Accepted>,
    committed: oneshot::Receiver<Result<(), StoreError>>,
    keys: Vec<(Vec<u8>, u64)>,
}

fn decode_seq(value: &[u8]) -> u64 {
    value.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The event an `emit` task of `workflow` makes: `spec` is its rendered `emit:` (type,
/// subject, data, correlationid); its id is the task's idempotency key, so that the task
/// emits once however often it runs.
pub fn emitted_by_workflow(
    workflow: &str,
    execution: &str,
    key: &str,
    spec: &serde_json::Value,
) -> Result<CloudEvent, EventError> {
    let text = |name: &str| -> Result<Option<String>, EventError> {
        match spec.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(EventError(format!("`emit.{name}` must be text, got {other}"))),
        }
    };
    let event_type = text("type")?.ok_or_else(|| EventError("`emit` has no `type`".into()))?;
    let mut event = CloudEvent::new(key, format!("harmonia/workflows/{workflow}"), event_type);
    event.subject = text("subject")?;
    event.data = spec.get("data").cloned();
    event.extensions.insert("executionid".into(), serde_json::Value::String(execution.to_string()));
    if let Some(correlation) = text("correlationid")? {
        event.extensions.insert("correlationid".into(), serde_json::Value::String(correlation));
    }
    event.check()?;
    Ok(event)
}

/// A JSON record of `Space::Meta` (a hook, a subscription, its state), if there is one.
pub(crate) fn read_meta<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let Some(raw) = store.get(Space::Meta, key)? else { return Ok(None) };
    serde_json::from_slice(&raw).map(Some).map_err(|e| StoreError::corrupt(Space::Meta, key, e.to_string()))
}

/// Every JSON record of `Space::Meta` under `prefix`, in key order.
pub(crate) fn list_meta<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    harmonia_store::scan_pages(store, Space::Meta, prefix, None, 256, |key, value| {
        found.push(serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(Space::Meta, &key, e.to_string()))?);
        Ok::<_, StoreError>(true)
    })?;
    Ok(found)
}

/// The position of the last event in the log (0: none).
pub fn last_seq(store: &dyn Store) -> Result<u64, StoreError> {
    Ok(store.last(Space::CloudEvents, b"")?.and_then(|(key, _)| keys::seq_of(&key)).unwrap_or(0))
}

/// At most `limit` events after position `after`, oldest first.
pub fn read_after(store: &dyn Store, after: u64, limit: usize) -> Result<Vec<Accepted>, StoreError> {
    let start = keys::log_key(after);
    let entries = store.scan_prefix(Space::CloudEvents, b"", Some(&start), limit)?;
    entries
        .into_iter()
        .map(|(key, value)| {
            serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(Space::CloudEvents, &key, e.to_string()))
        })
        .collect()
}

/// Appends events to the log of a store no server holds (`harmonia event send --data`
/// while the server is stopped): a running server would not know their positions. The
/// next start finds them: triggers fire, and waits look back through the log.
pub fn append_offline(
    store: &Arc<dyn Store>,
    events: Vec<CloudEvent>,
    now: u64,
) -> Result<Vec<Acceptance>, StoreError> {
    Ok(EventLog::default().append(&**store, events, now, true)?.acceptances)
}
