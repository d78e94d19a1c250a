//! The embedding example (`examples/embed.rs`, compiled in here) runs and gives what it
//! promises: the host, the runner and a RocksDB store in a program of its own, no server.

use crate::support::Dir;

#[allow(dead_code, reason = "the example's main is its own; the test calls `run`")]
#[path = "../../examples/embed.rs"]
mod example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedding_example_runs_a_stored_workflow_to_its_end() {
    let plugins = Dir::new();
    plugins.add_bundled("core").add_bundled("digest");
    let data = tempfile::tempdir().unwrap();
    let finished = example::run(plugins.config(), &data.path().join("state")).await.unwrap();
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["output"]["greeting"], "Hello, world!");
    // SHA-256 of "Hello, world!".
    let sha = "315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3";
    assert_eq!(finished["output"]["sha256"], sha);
    // The store holds the workflow version and the execution once the runner is gone.
    let store = harmonia_store_rocksdb::RocksStore::open_read_only(data.path().join("state")).unwrap();
    assert_eq!(harmonia_runner::definitions::stored_versions(&store).unwrap().len(), 1);
    let (listed, _) = harmonia_runner::records::list_records(&store, Default::default(), None, 10).unwrap();
    assert_eq!(listed.len(), 1, "one execution stored");
}
