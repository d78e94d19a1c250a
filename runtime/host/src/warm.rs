//! Warm instances kept between calls of one plugin whose manifest sets `reuse_instance`.
//!
//! A fresh instance per call is the default and the strongest isolation. Large guests
//! (Python, JavaScript) pay most of their call time in instantiation, so a plugin may opt
//! into reusing an instance for up to N calls. An instance is parked only after a call that
//! ended without a trap or timeout, and it belongs to one loaded plugin: a replaced or
//! removed plugin drops its warm instances with it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;

use crate::bindings::Adapter;
use crate::state::State;

/// Most warm instances one plugin keeps parked.
const MAX_PARKED_PER_PLUGIN: usize = 8;
/// A parked instance unused for this long is dropped, giving its memory back.
pub(crate) const WARM_IDLE: Duration = Duration::from_secs(60);

/// An instance and the store it lives in, with the pool slot it holds.
pub(crate) struct Instance {
    pub store: Store<State>,
    /// None until the component is instantiated in the store.
    pub adapter: Option<Adapter>,
    /// Calls this instance has started.
    pub calls: u32,
    /// Its place in the pooling allocator, held for as long as the instance lives.
    pub _slot: OwnedSemaphorePermit,
}

struct Parked {
    instance: Instance,
    since: Instant,
    /// One of the host's places for parked instances, so that warm instances can never
    /// hold every pool slot while calls wait for one.
    _place: OwnedSemaphorePermit,
}

/// The warm instances of one plugin.
pub(crate) struct WarmPool {
    /// Calls one instance may serve; 1 means no reuse.
    reuse: u32,
    capacity: usize,
    parked: Mutex<Vec<Parked>>,
}

impl WarmPool {
    pub fn new(reuse: u32, max_concurrency: u32) -> WarmPool {
        let capacity = if reuse > 1 { (max_concurrency as usize).min(MAX_PARKED_PER_PLUGIN) } else { 0 };
        WarmPool { reuse, capacity, parked: Mutex::new(Vec::new()) }
    }

    /// The most recently used warm instance, if any.
    pub fn take(&self) -> Option<Instance> {
        if self.capacity == 0 {
            return None;
        }
        self.parked.lock().expect("warm pool lock").pop().map(|p| p.instance)
    }

    /// Keeps an instance that just served a call without trapping, if it may serve more
    /// and there is room; otherwise it is dropped.
    pub fn park(&self, instance: Instance, places: &Arc<Semaphore>) {
        if instance.calls >= self.reuse {
            return;
        }
        let mut parked = self.parked.lock().expect("warm pool lock");
        if parked.len() >= self.capacity {
            return;
        }
        let Ok(place) = places.clone().try_acquire_owned() else { return };
        parked.push(Parked { instance, since: Instant::now(), _place: place });
    }

    /// Drops the instances that have not been used for `idle`.
    pub fn evict_idle(&self, idle: Duration) {
        if self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let evicted: Vec<Parked> = {
            let mut parked = self.parked.lock().expect("warm pool lock");
            let (keep, evict) = parked.drain(..).partition(|p| now.duration_since(p.since) < idle);
            *parked = keep;
            evict
        };
        // Dropped outside the lock: freeing an instance's memory is not free.
        drop(evicted);
    }

    /// How many instances are parked (for tests and `plugin list`).
    pub fn parked(&self) -> usize {
        self.parked.lock().expect("warm pool lock").len()
    }
}
