//! Mutexes across executions (`mutex:` on a task): for each key, the tasks that asked for
//! it in order of asking (a ticket each); the first `limit` hold it. A task asks with
//! [`Command::Acquire`](harmonia_engine::Command) and is told with `LockAcquired`; it gives
//! its slot (or its place) back with `Release`, or when its execution ends.
//!
//! Each ticket is a record of `Space::Meta` (`mutex\0<key>\0<ticket>`), written before the
//! task can be granted, so holders and the queue's order survive a restart: an execution
//! that resumes asks again and keeps its place. At start-up ([`Runner::load_locks`]) the
//! tickets of executions that ended, or of tasks that no longer wait for or hold their key
//! (their `Release` was lost in a crash), are dropped.
//!
//! One server grants a key; several servers sharing a store will need the store to grant
//! tickets (a transaction per ask), which this layout allows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use harmonia_engine::Event;
use harmonia_store::{Batch, Space, StoreError};
use serde::{Deserialize, Serialize};

use crate::runner::{Input, RunError, Runner};

const PREFIX: &[u8] = b"mutex\0";

/// One ticket: who asked, and for how many holders at most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ticket {
    execution: String,
    task: String,
    limit: u32,
}

/// The tickets of every key, and the next ticket number.
#[derive(Default)]
pub(crate) struct Locks {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    keys: HashMap<String, BTreeMap<u64, Ticket>>,
    next: u64,
}

fn record_key(key: &str, ticket: u64) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k.extend_from_slice(format!("{ticket:020}").as_bytes());
    k
}

impl Table {
    /// The tasks holding `key` now: the tickets within their own limit, in order.
    fn holders(&self, key: &str) -> Vec<(String, String)> {
        let Some(tickets) = self.keys.get(key) else { return Vec::new() };
        tickets
            .values()
            .enumerate()
            .filter(|(position, t)| (*position as u32) < t.limit)
            .map(|(_, t)| (t.execution.clone(), t.task.clone()))
            .collect()
    }

    fn find(&self, key: &str, execution: &str, task: &str) -> Option<u64> {
        let tickets = self.keys.get(key)?;
        tickets.iter().find(|(_, t)| t.execution == execution && t.task == task).map(|(n, _)| *n)
    }
}

impl Runner {
    /// A task asks for a slot of `key`: it gets a ticket (or keeps the one it has) and is
    /// told when it holds the key, at once if it does.
    pub(crate) fn acquire(&self, execution: &str, task: &str, key: &str, limit: u32) {
        let grants = {
            let mut table = self.inner.locks.table.lock().expect("locks lock");
            if table.find(key, execution, task).is_none() {
                let ticket = table.next;
                let record = Ticket { execution: execution.into(), task: task.into(), limit: limit.max(1) };
                let mut batch = Batch::default();
                let value = serde_json::to_vec(&record).expect("a ticket is JSON");
                batch.put(Space::Meta, record_key(key, ticket), value);
                // Written before anyone is told: a grant must survive a crash.
                if let Err(e) = self.inner.store.commit(batch) {
                    tracing::error!(execution, task, key, "cannot keep the mutex ticket: {e}");
                    return;
                }
                table.next += 1;
                table.keys.entry(key.to_string()).or_default().insert(ticket, record);
            }
            table.holders(key)
        };
        // The one asking again after a restart is told again; the others were told before.
        if grants.iter().any(|(e, t)| e == execution && t == task) {
            self.grant(execution, task);
        }
    }

    /// A task gives back its slot of `key` (or its place in the queue): those whose turn it
    /// is now are told.
    pub(crate) fn release(&self, execution: &str, task: &str, key: &str) {
        self.release_where(|k, t| k == key && t.execution == execution && t.task == task);
    }

    /// An execution ended: every slot and place it had is given back.
    pub(crate) fn release_all(&self, execution: &str) {
        self.release_where(|_, t| t.execution == execution);
    }

    fn release_where(&self, gone: impl Fn(&str, &Ticket) -> bool) {
        let mut granted = Vec::new();
        {
            let mut table = self.inner.locks.table.lock().expect("locks lock");
            let mut batch = Batch::default();
            let mut changed = Vec::new();
            for (key, tickets) in &table.keys {
                for (n, _) in tickets.iter().filter(|(_, t)| gone(key, t)) {
                    batch.delete(Space::Meta, record_key(key, *n));
                    changed.push((key.clone(), *n));
                }
            }
            if changed.is_empty() {
                return;
            }
            if let Err(e) = self.inner.store.commit(batch) {
                tracing::error!("cannot give mutex slots back: {e}");
                return;
            }
            for (key, n) in &changed {
                let before = table.holders(key);
                let tickets = table.keys.get_mut(key).expect("a key with tickets");
                tickets.remove(n);
                if tickets.is_empty() {
                    table.keys.remove(key);
                }
                granted.extend(table.holders(key).into_iter().filter(|h| !before.contains(h)));
            }
        }
        for (execution, task) in granted {
            self.grant(&execution, &task);
        }
    }

    /// Tells a task it holds its key; if its execution does not run here now, it asks again
    /// when it resumes.
    fn grant(&self, execution: &str, task: &str) {
        let event = Event::LockAcquired { task: task.to_string(), at: self.now() };
        let _ = self.send(execution, Input::Event(event));
    }

    /// Reads the tickets kept in the store, before executions resume: those of executions
    /// that ended, or of tasks that no longer wait for or hold their key, are dropped.
    pub fn load_locks(&self) -> Result<(), RunError> {
        let store = &*self.inner.store;
        let mut found: Vec<(Vec<u8>, Ticket)> = Vec::new();
        harmonia_store::scan_pages(store, Space::Meta, PREFIX, None, 256, |key, value| {
            let ticket =
                serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(Space::Meta, &key, e.to_string()))?;
            found.push((key, ticket));
            Ok::<_, StoreError>(true)
        })?;
        let mut table = Table::default();
        let mut stale = Batch::default();
        for (raw, ticket) in found {
            let Some((key, n)) = parse_record_key(&raw) else { continue };
            if self.still_wants(&ticket, &key) {
                table.next = table.next.max(n + 1);
                table.keys.entry(key).or_default().insert(n, ticket);
            } else {
                stale.delete(Space::Meta, raw);
            }
        }
        store.commit(stale)?;
        *self.inner.locks.table.lock().expect("locks lock") = table;
        Ok(())
    }

    /// The ticket's task still waits for or holds `key` in its stored state.
    fn still_wants(&self, ticket: &Ticket, key: &str) -> bool {
        let store = &*self.inner.store;
        let Ok((version, record)) = crate::records::read_record(store, &ticket.execution) else { return false };
        if record.status.is_finished() {
            return false;
        }
        let Ok(plan) = self.plan_of(&record) else { return false };
        let Ok((_, _, exec)) = crate::records::load_state_of(store, &plan, &ticket.execution, version, record) else {
            return false;
        };
        exec.tasks.get(&ticket.task).and_then(|t| t.lock.as_ref()).is_some_and(|l| l.key == key)
    }
}

/// `mutex\0<key>\0<ticket>` into the key and the ticket.
fn parse_record_key(raw: &[u8]) -> Option<(String, u64)> {
    let rest = raw.strip_prefix(PREFIX)?;
    let split = rest.iter().rposition(|&b| b == 0)?;
    let key = String::from_utf8(rest[..split].to_vec()).ok()?;
    let n = std::str::from_utf8(&rest[split + 1..]).ok()?.parse().ok()?;
    Some((key, n))
}
