//! The conformance suite: what every [`Store`] backend must do, one function per behaviour,
//! each given a fresh, empty store. [`MemStore`](crate::MemStore) runs it in this crate's
//! tests, and each backend crate in its own: its `tests/conformance.rs` invokes
//! [`conformance_tests!`](crate::conformance_tests) once per configuration of the backend
//! (RocksDB: with each sync mode), which writes one `#[test]` per function of the suite.
//!
//! [`put`] and [`step`] serve a backend's own tests too (reopening, locking). A function
//! added to the suite goes into the list of [`conformance_tests!`](crate::conformance_tests)
//! as well, so that every backend runs it.

use std::cell::Cell;
use std::sync::{Arc, Barrier};

use crate::{Batch, Space, Store, StoreError, keys};

/// A test of the suite: it panics if `store` does not behave as a [`Store`] must.
pub type Test = fn(Arc<dyn Store>);

/// Runs `test` through `with`, which makes a fresh store, hands it to the function it is
/// given and keeps what the store needs (a temporary directory) until that returns. Called
/// by the tests that [`conformance_tests!`](crate::conformance_tests) writes; fails if `with`
/// did not run the test.
pub fn run(with: impl FnOnce(&dyn Fn(Arc<dyn Store>)), test: Test) {
    let ran = Cell::new(false);
    with(&|store| {
        ran.set(true);
        test(store);
    });
    assert!(ran.get(), "the store's closure given to conformance_tests! never ran the test");
}

/// Writes one `#[test]` per function of [`conformance`](crate::conformance), each running
/// it on a fresh store. The argument is a closure that makes the store and passes it to the
/// test it is given, keeping what the store needs until the test returns (see
/// [`conformance::run`](crate::conformance::run)). Invoke the macro in a module of its own
/// per configuration of the backend, which names the tests (`mem::put_get_and_delete`):
///
/// ```
/// mod mem {
///     harmonia_store::conformance_tests!(|test| test(std::sync::Arc::new(harmonia_store::MemStore::new())));
/// }
/// ```
///
/// A backend on disk keeps its directory alive for the test:
///
/// ```text
/// harmonia_store::conformance_tests!(|test| {
///     let dir = tempfile::tempdir().unwrap();
///     test(std::sync::Arc::new(MyStore::open(dir.path()).unwrap()));
/// });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($with:expr $(,)?) => {
        $crate::conformance_tests!(@each ($with)
            put_get_and_delete,
            prefix_scans_are_ordered_paged_and_stay_in_their_prefix,
            history_keys_sort_by_sequence,
            a_failing_guard_writes_nothing_of_its_batch,
            versions_guard_against_stale_writes,
            concurrent_commits_to_distinct_executions_all_succeed,
            concurrent_commits_to_one_execution_win_once_per_version,
            delete_prefix_removes_only_that_prefix,
            a_corrupt_record_fails_only_its_own_read,
            commit_then_reports_each_result_once_committed,
            scan_pages_visits_every_entry_a_page_at_a_time_and_stops_when_asked,
            count_prefix_counts_the_keys_of_its_prefix_only,
        );
    };
    (@each ($with:expr) $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::conformance::run($with, $crate::conformance::$test);
            }
        )*
    };
}

/// Commits one put of `value` under `key`, panicking on an error.
pub fn put(store: &dyn Store, space: Space, key: &[u8], value: &[u8]) {
    let mut batch = Batch::new();
    batch.put(space, key, value);
    store.commit(batch).unwrap();
}

/// The history of an execution, in order.
fn history(store: &dyn Store, id: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.scan_prefix(Space::History, &keys::execution_prefix(id).unwrap(), None, 1000).unwrap()
}

fn keys_of(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<&[u8]> {
    entries.iter().map(|(key, _)| key.as_slice()).collect()
}

/// One engine step of execution `id`: a batch moving it from version `from` (`None`: not
/// created yet) to the next, guarded by `from`, and appending that event to its history.
pub fn step(id: &str, from: Option<u64>) -> Batch {
    let to = from.map_or(1, |v| v + 1);
    let key = keys::execution_key(id).unwrap();
    let mut batch = Batch::new();
    batch
        .expect_version(Space::Executions, key.clone(), from)
        .put_versioned(Space::Executions, key, to, format!("state {to}").as_bytes())
        .put(Space::History, keys::history_key(id, to).unwrap(), format!("event {to}"));
    batch
}

/// Reads the execution and commits its next step, again on a conflict; the new version.
fn advance(store: &dyn Store, id: &str) -> u64 {
    loop {
        let found = store.get_versioned(Space::Executions, id.as_bytes()).unwrap();
        let from = found.map(|(version, _)| version);
        match store.commit(step(id, from)) {
            Ok(()) => return from.map_or(1, |v| v + 1),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => panic!("unexpected error: {err}"),
        }
    }
}

/// Puts replace, deletes remove (an absent key too), and spaces are separate.
pub fn put_get_and_delete(store: Arc<dyn Store>) {
    assert_eq!(store.get(Space::Kv, b"greeting").unwrap(), None);
    put(&*store, Space::Kv, b"greeting", b"hello");
    put(&*store, Space::Audit, b"greeting", b"other space");
    assert_eq!(store.get(Space::Kv, b"greeting").unwrap(), Some(b"hello".to_vec()));

    put(&*store, Space::Kv, b"greeting", b"hi");
    assert_eq!(store.get(Space::Kv, b"greeting").unwrap(), Some(b"hi".to_vec()));

    let mut batch = Batch::new();
    batch.delete(Space::Kv, "greeting").delete(Space::Kv, "never-written");
    store.commit(batch).unwrap();
    assert_eq!(store.get(Space::Kv, b"greeting").unwrap(), None);
    assert_eq!(store.get(Space::Audit, b"greeting").unwrap(), Some(b"other space".to_vec()), "spaces are separate");
}

/// Prefix scans return keys in byte order, page with `start_after` and a limit, and never
/// leave their prefix; `last` finds the greatest key of a prefix.
pub fn prefix_scans_are_ordered_paged_and_stay_in_their_prefix(store: Arc<dyn Store>) {
    let a = keys::kv_prefix("a").unwrap();
    for key in ["d", "b", "e", "a", "c"] {
        put(&*store, Space::Kv, &keys::kv_key("a", key.as_bytes()).unwrap(), key.as_bytes());
    }
    // A neighbour whose name extends "a", and keys just outside the prefix on each side.
    put(&*store, Space::Kv, &keys::kv_key("ab", b"a").unwrap(), b"neighbour");
    put(&*store, Space::Kv, b"a", b"before");
    put(&*store, Space::Kv, b"b", b"after");

    let all = store.scan_prefix(Space::Kv, &a, None, 100).unwrap();
    let expected: Vec<Vec<u8>> = ["a", "b", "c", "d", "e"].map(|k| keys::kv_key("a", k.as_bytes()).unwrap()).into();
    assert_eq!(keys_of(&all), expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(all[0].1, b"a");

    let first = store.scan_prefix(Space::Kv, &a, None, 2).unwrap();
    assert_eq!(keys_of(&first), vec![&expected[0][..], &expected[1][..]]);
    let next = store.scan_prefix(Space::Kv, &a, Some(&first[1].0), 2).unwrap();
    assert_eq!(keys_of(&next), vec![&expected[2][..], &expected[3][..]]);
    let rest = store.scan_prefix(Space::Kv, &a, Some(&next[1].0), 2).unwrap();
    assert_eq!(keys_of(&rest), vec![&expected[4][..]]);
    assert!(store.scan_prefix(Space::Kv, &a, Some(&rest[0].0), 2).unwrap().is_empty());

    // start_after outside the prefix: before it scans from its start, after it finds nothing.
    assert_eq!(store.scan_prefix(Space::Kv, &a, Some(b"a"), 100).unwrap(), all);
    assert!(store.scan_prefix(Space::Kv, &a, Some(b"zzz"), 100).unwrap().is_empty());
    assert!(store.scan_prefix(Space::Kv, &a, None, 0).unwrap().is_empty());
    assert!(store.scan_prefix(Space::Kv, b"nothing", None, 100).unwrap().is_empty());

    assert_eq!(store.last(Space::Kv, &a).unwrap().map(|(key, _)| key), Some(expected[4].clone()));
    assert_eq!(store.last(Space::Kv, b"nothing").unwrap(), None);
    assert_eq!(store.scan_prefix(Space::Kv, b"", None, 100).unwrap().len(), 8, "an empty prefix scans the space");
}

/// History keys sort by sequence number (2 before 10), and `last` finds the latest event.
pub fn history_keys_sort_by_sequence(store: Arc<dyn Store>) {
    for seq in [10, 2, 1, 256] {
        put(&*store, Space::History, &keys::history_key("run", seq).unwrap(), format!("event {seq}").as_bytes());
    }
    put(&*store, Space::History, &keys::history_key("run-2", 1).unwrap(), b"other execution");

    let prefix = keys::execution_prefix("run").unwrap();
    let events = store.scan_prefix(Space::History, &prefix, None, 100).unwrap();
    let seqs: Vec<u64> = events.iter().map(|(key, _)| keys::seq_of(key).unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 10, 256]);
    assert_eq!(events[2].1, b"event 10");

    let (last, _) = store.last(Space::History, &prefix).unwrap().unwrap();
    assert_eq!(keys::seq_of(&last), Some(256), "the next event is 257");
}

/// A batch whose guard fails is a conflict and writes none of its puts and deletes.
pub fn a_failing_guard_writes_nothing_of_its_batch(store: Arc<dyn Store>) {
    store.commit(step("run", None)).unwrap();

    let mut batch = step("run", Some(7));
    batch
        .put(Space::Events, keys::log_key(1), "run moved")
        .delete(Space::History, keys::history_key("run", 1).unwrap());
    let err = store.commit(batch).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { expected: Some(7), found: Some(1), .. }), "{err}");

    assert_eq!(store.get_versioned(Space::Executions, b"run").unwrap(), Some((1, b"state 1".to_vec())));
    assert_eq!(store.get(Space::History, &keys::history_key("run", 8).unwrap()).unwrap(), None);
    let first = store.get(Space::History, &keys::history_key("run", 1).unwrap()).unwrap();
    assert_eq!(first, Some(b"event 1".to_vec()), "the batch's delete did not happen");
    assert_eq!(store.get(Space::Events, &keys::log_key(1)).unwrap(), None);
}

/// Version guards: absent records, the current version, stale versions.
pub fn versions_guard_against_stale_writes(store: Arc<dyn Store>) {
    store.commit(step("run", None)).expect("expecting no record where there is none");
    assert_eq!(
        store.commit(step("run", None)),
        Err(StoreError::Conflict { space: Space::Executions, key: "run".into(), expected: None, found: Some(1) })
    );
    store.commit(step("run", Some(1))).expect("the current version");

    let stale = store.commit(step("run", Some(1))).unwrap_err();
    assert_eq!(stale.to_string(), "conflict on executions key run: expected version 1, found 2");
    assert_eq!(store.get_versioned(Space::Executions, b"run").unwrap(), Some((2, b"state 2".to_vec())));

    let missing = store.commit(step("never-started", Some(3))).unwrap_err();
    assert!(matches!(missing, StoreError::Conflict { found: None, .. }), "{missing}");
}

/// Threads committing to distinct executions at once all succeed.
pub fn concurrent_commits_to_distinct_executions_all_succeed(store: Arc<dyn Store>) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let id = format!("run-{t}");
                for version in 0..20 {
                    let from = (version > 0).then_some(version);
                    store.commit(step(&id, from)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    for t in 0..8 {
        let id = format!("run-{t}");
        assert_eq!(store.get_versioned(Space::Executions, id.as_bytes()).unwrap().unwrap().0, 20);
        let events = history(&*store, &id);
        assert_eq!(events.len(), 20);
    }
}

/// Threads racing on one execution: each version is won exactly once, the others conflict,
/// and retries lose no step.
pub fn concurrent_commits_to_one_execution_win_once_per_version(store: Arc<dyn Store>) {
    // Eight threads create the same execution at once: one wins, seven conflict.
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                store.commit(step("run", None))
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict { found: Some(1), .. }))));

    // Four threads advance it 25 times each, retrying on conflicts: no step is lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || (0..25).map(|_| advance(&*store, "run")).collect::<Vec<_>>())
        })
        .collect();
    let mut won: Vec<u64> = threads.into_iter().flat_map(|thread| thread.join().unwrap()).collect();
    won.sort_unstable();
    assert_eq!(won, (2..=101).collect::<Vec<_>>(), "each version is won exactly once");

    let events = history(&*store, "run");
    assert_eq!(events.len(), 101);
    assert!(events.iter().zip(1..).all(|((_, event), n)| *event == format!("event {n}").into_bytes()));
}

/// A prefix delete removes that prefix only (not `run-10` for `run-1`), a put after it in
/// the batch survives, and an empty prefix clears the space.
pub fn delete_prefix_removes_only_that_prefix(store: Arc<dyn Store>) {
    for id in ["run-1", "run-10", "run-2"] {
        store.commit(step(id, None)).unwrap();
        store.commit(step(id, Some(1))).unwrap();
    }
    let mut batch = Batch::new();
    batch
        .delete_prefix(Space::History, keys::execution_prefix("run-1").unwrap())
        .delete(Space::Executions, "run-1")
        .put(Space::History, keys::history_key("run-1", 9).unwrap(), "written after the delete");
    store.commit(batch).unwrap();

    let left = history(&*store, "run-1");
    assert_eq!(left, vec![(keys::history_key("run-1", 9).unwrap(), b"written after the delete".to_vec())]);
    for id in ["run-10", "run-2"] {
        let events = history(&*store, id);
        assert_eq!(events.len(), 2, "{id} keeps its history");
    }

    let mut clear = Batch::new();
    clear.delete_prefix(Space::History, "");
    store.commit(clear).unwrap();
    assert!(store.scan_prefix(Space::History, b"", None, 10).unwrap().is_empty());
    assert_eq!(store.get_versioned(Space::Executions, b"run-2").unwrap().unwrap().0, 2);
}

/// A record too short to be versioned is `Corrupt` for its reads and guards only.
pub fn a_corrupt_record_fails_only_its_own_read(store: Arc<dyn Store>) {
    put(&*store, Space::Executions, b"broken", b"abc");
    store.commit(step("fine", None)).unwrap();

    let err = store.get_versioned(Space::Executions, b"broken").unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { space: Space::Executions, key, .. } if key == "broken"), "{err}");
    assert!(err.to_string().contains("corrupt record in executions key broken"), "{err}");

    let guarded = store.commit(step("broken", Some(1))).unwrap_err();
    assert!(matches!(guarded, StoreError::Corrupt { .. }), "{guarded}");
    assert_eq!(store.get(Space::History, &keys::history_key("broken", 2).unwrap()).unwrap(), None);

    assert_eq!(store.get_versioned(Space::Executions, b"fine").unwrap().unwrap().0, 1);
    store.commit(step("fine", Some(1))).expect("other records are unaffected");
}

/// `commit_then` calls back once per batch, with its result, once it is visible.
pub fn commit_then_reports_each_result_once_committed(store: Arc<dyn Store>) {
    use std::sync::mpsc;
    let (tx, results) = mpsc::channel();
    for (n, from) in [None, Some(1), Some(1)].into_iter().enumerate() {
        let (tx, reader) = (tx.clone(), store.clone());
        // Each callback sees its own batch committed (or refused) when it runs.
        store.commit_then(
            step("run", from),
            Box::new(move |result| {
                let version = reader.get_versioned(Space::Executions, b"run").unwrap().map(|(v, _)| v);
                tx.send((n, result, version)).unwrap();
            }),
        );
    }
    let mut got: Vec<_> = results.iter().take(3).collect();
    got.sort_by_key(|(n, ..)| *n);
    assert_eq!(got[0].1, Ok(()));
    assert_eq!(got[1].1, Ok(()));
    assert_eq!(got[1].2, Some(2), "the second step is visible to its own callback");
    assert!(matches!(got[2].1, Err(StoreError::Conflict { expected: Some(1), found: Some(2), .. })), "{:?}", got[2].1);
    assert_eq!(keys_of(&history(&*store, "run")).len(), 2);
}

/// `scan_pages` visits every entry whatever the page size, from `start_after`, and stops
/// when told.
pub fn scan_pages_visits_every_entry_a_page_at_a_time_and_stops_when_asked(store: Arc<dyn Store>) {
    for n in 0..10u8 {
        put(&*store, Space::Kv, &keys::kv_key("p", &[n]).unwrap(), &[n]);
    }
    put(&*store, Space::Kv, &keys::kv_key("q", &[0]).unwrap(), b"other");
    let prefix = keys::kv_prefix("p").unwrap();
    for page in [1, 3, 10, 100] {
        let mut seen = Vec::new();
        crate::scan_pages::<StoreError>(&*store, Space::Kv, &prefix, None, page, |_, value| {
            seen.push(value[0]);
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, (0..10).collect::<Vec<u8>>(), "pages of {page}");
    }
    let after = keys::kv_key("p", &[6]).unwrap();
    let mut seen = Vec::new();
    crate::scan_pages::<StoreError>(&*store, Space::Kv, &prefix, Some(&after), 2, |_, value| {
        seen.push(value[0]);
        Ok(seen.len() < 2)
    })
    .unwrap();
    assert_eq!(seen, [7, 8], "after a key, stopping when told");
}

/// `count_prefix` counts the keys under a prefix, not its neighbours', past a page of the
/// default's reads, and sees deletes.
pub fn count_prefix_counts_the_keys_of_its_prefix_only(store: Arc<dyn Store>) {
    let a = keys::kv_prefix("a").unwrap();
    let mut batch = Batch::new();
    for i in 0..5000u32 {
        batch.put(Space::Kv, keys::kv_key("a", format!("{i:05}").as_bytes()).unwrap(), Vec::new());
    }
    store.commit(batch).unwrap();
    // A neighbour whose name extends "a", and keys just outside the prefix on each side.
    put(&*store, Space::Kv, &keys::kv_key("ab", b"a").unwrap(), b"neighbour");
    put(&*store, Space::Kv, b"a", b"before");
    put(&*store, Space::Kv, b"b", b"after");
    assert_eq!(store.count_prefix(Space::Kv, &a).unwrap(), 5000);
    assert_eq!(store.count_prefix(Space::Kv, &keys::kv_prefix("ab").unwrap()).unwrap(), 1);
    assert_eq!(store.count_prefix(Space::Kv, b"nothing").unwrap(), 0);
    assert_eq!(store.count_prefix(Space::Kv, b"").unwrap(), 5003, "an empty prefix counts the space");
    assert_eq!(store.count_prefix(Space::Events, b"").unwrap(), 0, "another space is apart");
    let mut batch = Batch::new();
    batch.delete(Space::Kv, keys::kv_key("a", b"00000").unwrap());
    store.commit(batch).unwrap();
    assert_eq!(store.count_prefix(Space::Kv, &a).unwrap(), 4999);
}
