//! The global event log: every committed event of every execution gets a position in one
//! sequence, stored (`Space::Events`, a reference to the history entry) in the same batch
//! as the event itself, and is published live once committed. Event streams resume from a
//! position without a gap: what they missed is read back from the log.

use std::sync::{Arc, Mutex};

use harmonia_engine::Event;
use harmonia_store::{Batch, Space, Store, StoreError, keys};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot};

/// One committed event, as the live stream and the log carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// The position in the global log (an event stream's `id`).
    pub log_seq: u64,
    pub execution: String,
    pub workflow: String,
    /// The position in the execution's history.
    pub seq: u64,
    pub event: Event,
}

/// The events of one step: `count` history events of `execution` from `first_seq`.
pub(crate) struct Step<'a> {
    pub execution: &'a str,
    pub workflow: &'a str,
    pub first_seq: u64,
    pub count: usize,
}

/// The lifecycle CloudEvents of a step, for the CloudEvents log.
pub(crate) struct Lifecycle<'a> {
    pub log: &'a crate::events::EventLog,
    pub events: Vec<crate::CloudEvent>,
    pub now: u64,
}

/// A log entry as stored: where the event is in its execution's history.
#[derive(Serialize, Deserialize)]
struct Entry {
    execution: String,
    workflow: String,
    seq: u64,
}

pub(crate) struct EventLog {
    /// The next position; `None` until read from the store.
    next: Mutex<Option<u64>>,
    live: broadcast::Sender<Arc<LoggedEvent>>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog { next: Mutex::new(None), live: broadcast::channel(4096).0 }
    }
}

impl EventLog {
    /// Adds the log entries of `events` (history positions from `first_seq`) to `batch` and
    /// hands it to the store, all under the log's lock, so that the store commits batches
    /// in the order of their positions: a reader never sees position n+1 before n. Returns
    /// the first position, and the commit's result once it is known. The `lifecycle`
    /// CloudEvents of the step go into the CloudEvents log in the same batch.
    pub(crate) async fn commit(
        &self,
        store: &dyn Store,
        mut batch: Batch,
        step: Step<'_>,
        lifecycle: Option<Lifecycle<'_>>,
    ) -> (u64, Result<(), StoreError>) {
        let Step { execution, workflow, first_seq, count } = step;
        let (tx, rx) = oneshot::channel();
        let mut published = None;
        let first = {
            let mut next = self.next.lock().expect("event log lock");
            let first = match *next {
                Some(n) => n,
                None => match store.last(Space::Events, b"") {
                    Ok(last) => last.and_then(|(key, _)| keys::seq_of(&key)).map_or(1, |n| n + 1),
                    Err(e) => return (0, Err(e)),
                },
            };
            for n in 0..count as u64 {
                let entry =
                    Entry { execution: execution.to_string(), workflow: workflow.to_string(), seq: first_seq + n };
                batch.put(
                    Space::Events,
                    keys::log_key(first + n),
                    serde_json::to_vec(&entry).expect("an entry is JSON"),
                );
            }
            *next = Some(first + count as u64);
            // Both logs stay locked until the batch is handed over (this one first, always).
            let reservation = match &lifecycle {
                Some(l) if !l.events.is_empty() => match l.log.reserve(store, &mut batch, l.events.clone(), l.now) {
                    Ok(reservation) => Some(reservation),
                    Err(e) => return (0, Err(e)),
                },
                _ => None,
            };
            store.commit_then(batch, Box::new(move |result| drop(tx.send(result))));
            if let (Some(reservation), Some(l)) = (reservation, &lifecycle) {
                published = Some((l.log, reservation.accepted)); // the lock is released here
            }
            first
        };
        let result =
            rx.await.unwrap_or_else(|_| Err(StoreError::Io { message: "the store stopped before answering".into() }));
        if let (Ok(()), Some((log, accepted))) = (&result, published) {
            log.publish(accepted);
        }
        (first, result)
    }

    /// Whether anyone follows live events now. Without, publishing is skipped: a stream
    /// that subscribes later starts from the log's head or reads the log back, so it never
    /// expects an event committed before it subscribed to arrive live.
    pub(crate) fn has_subscribers(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// Publishes committed events to live streams.
    pub(crate) fn publish(&self, event: LoggedEvent) {
        let _ = self.live.send(Arc::new(event)); // no subscriber: nobody to tell
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<LoggedEvent>> {
        self.live.subscribe()
    }

    /// The last position given out (0: none yet).
    pub(crate) fn head(&self, store: &dyn Store) -> Result<u64, StoreError> {
        if let Some(next) = *self.next.lock().expect("event log lock") {
            return Ok(next - 1);
        }
        Ok(store.last(Space::Events, b"")?.and_then(|(key, _)| keys::seq_of(&key)).unwrap_or(0))
    }
}

/// Up to `limit` logged events after position `after`, read back from the store. Events of
/// executions deleted since (retention) are left out.
pub fn read_log(store: &dyn Store, after: u64, limit: usize) -> Result<Vec<LoggedEvent>, StoreError> {
    let start = keys::log_key(after);
    let entries = store.scan_prefix(Space::Events, b"", Some(&start), limit)?;
    let mut events = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let Some(log_seq) = keys::seq_of(&key) else { continue };
        let Ok(entry) = serde_json::from_slice::<Entry>(&value) else { continue };
        let Ok(history_key) = keys::history_key(&entry.execution, entry.seq) else { continue };
        let Some(raw) = store.get(Space::History, &history_key)? else { continue };
        let Ok(event) = serde_json::from_slice(&raw) else { continue };
        events.push(LoggedEvent {
            log_seq,
            execution: entry.execution,
            workflow: entry.workflow,
            seq: entry.seq,
            event,
        });
    }
    Ok(events)
}
