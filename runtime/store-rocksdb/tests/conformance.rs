//! The conformance suite (`harmonia_store::conformance`) on `RocksStore` with each sync mode.
//! Then what only a store on disk has: reopening, and the lock on its directory.

use std::path::Path;

use harmonia_store::conformance::{put, step};
use harmonia_store::{Space, Store, StoreError};
use harmonia_store_rocksdb::{RocksStore, StoreOptions, SyncMode};

mod rocks {
    harmonia_store::conformance_tests!(|test| {
        let dir = tempfile::tempdir().unwrap();
        test(std::sync::Arc::new(super::rocks(dir.path(), harmonia_store_rocksdb::SyncMode::Always)));
    });
}

mod rocks_unsynced {
    harmonia_store::conformance_tests!(|test| {
        let dir = tempfile::tempdir().unwrap();
        test(std::sync::Arc::new(super::rocks(dir.path(), harmonia_store_rocksdb::SyncMode::None)));
    });
}

fn rocks(dir: &Path, sync: SyncMode) -> RocksStore {
    RocksStore::open(dir, StoreOptions { sync, ..StoreOptions::default() }).unwrap()
}

// What only a store on disk has.

#[test]
fn a_read_only_open_sees_what_the_writer_committed_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let writer = rocks(dir.path(), SyncMode::Always);
    writer.commit(step("run", None)).unwrap();
    let reader = RocksStore::open_read_only(dir.path()).expect("a read-only open takes no lock");
    assert_eq!(reader.get_versioned(Space::Executions, b"run").unwrap(), Some((1, b"state 1".to_vec())));
    let err = reader.commit(step("run", Some(1))).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let missing = tempfile::tempdir().unwrap();
    let err = RocksStore::open_read_only(missing.path().join("state")).err().expect("nothing there");
    assert!(err.to_string().contains("no store in"), "{err}");
}

#[test]
fn everything_committed_survives_a_reopen_in_either_sync_mode() {
    for sync in [SyncMode::Always, SyncMode::None] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = rocks(dir.path(), sync);
            for (n, space) in Space::ALL.into_iter().enumerate() {
                put(&store, space, b"key", format!("{space} {n}").as_bytes());
            }
            store.commit(step("run", None)).unwrap();
            store.commit(step("run", Some(1))).unwrap();
            store.flush().unwrap();
        }
        let store = rocks(dir.path(), sync);
        for (n, space) in Space::ALL.into_iter().enumerate() {
            let value = store.get(space, b"key").unwrap();
            assert_eq!(value, Some(format!("{space} {n}").into_bytes()), "{sync:?} {space}");
        }
        assert_eq!(store.get_versioned(Space::Executions, b"run").unwrap(), Some((2, b"state 2".to_vec())));
        let stale = store.commit(step("run", Some(1))).unwrap_err();
        assert_eq!(stale.to_string(), "conflict on executions key run: expected version 1, found 2");
    }
}

#[test]
fn a_second_open_of_a_directory_in_use_is_refused_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = rocks(dir.path(), SyncMode::Always);
    let err = RocksStore::open(dir.path(), StoreOptions::default()).err().expect("the directory is in use");
    assert_eq!(err, StoreError::Locked { dir: dir.path().to_path_buf() });
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");

    drop(store);
    RocksStore::open(dir.path(), StoreOptions::default()).expect("closing the store releases the directory");
}

const HOLD_LOCK: &str = "HARMONIA_STORE_TEST_HOLD_LOCK";

#[test]
fn a_directory_locked_by_another_process_is_refused() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_the_lock_until_stdin_closes", "--ignored", "--nocapture"])
        .env(HOLD_LOCK, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut lines = lines.map(Result::unwrap);
    assert!(lines.any(|line| line.contains("holding the lock")), "the other process did not open the store");

    let err = RocksStore::open(dir.path(), StoreOptions::default()).err().expect("the other process holds it");
    assert_eq!(
        err.to_string(),
        format!("the data directory {} is in use by another process (RocksDB LOCK file)", dir.path().display())
    );

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    RocksStore::open(dir.path(), StoreOptions::default()).expect("the other process has exited");
}

/// Run by `a_directory_locked_by_another_process_is_refused` in a child process.
#[test]
#[ignore = "a helper process of a_directory_locked_by_another_process_is_refused"]
fn hold_the_lock_until_stdin_closes() {
    let dir = std::env::var_os(HOLD_LOCK).expect("run only by the test that needs it");
    let _store = RocksStore::open(&dir, StoreOptions::default()).unwrap();
    println!("holding the lock");
    std::io::copy(&mut std::io::stdin(), &mut std::io::sink()).unwrap();
}

#[test]
fn an_unusable_directory_is_named() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = RocksStore::open(file.path(), StoreOptions::default()).err().expect("a file is not a directory");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
}
