//! Loading a plugins directory: bad files are reported by name and the rest load; the
//! compile cache; hot reload.

use std::path::Path;
use std::time::{Duration, Instant};

use harmonia_host::{Host, TaskCall};
use serde_json::json;

use crate::support::{Dir, bundled_dir};
use crate::wat;

fn failure_for(host: &Host, file: &str) -> String {
    host.failures()
        .into_iter()
        .find(|f| f.file.file_name().is_some_and(|n| n == file))
        .map(|f| f.reason)
        .unwrap_or_else(|| panic!("no failure recorded for {file}: {:?}", host.failures()))
}

#[tokio::test]
async fn bundled_plugins_load_with_their_actions() {
    let host = Host::new(harmonia_host::HostConfig::new(bundled_dir())).unwrap();
    let report = host.load_all().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for (plugin, action) in [
        ("core", "echo"),
        ("ergon", "extract_text_from_document"),
        ("sophia", "analyze_sentiment"),
        ("http", "request"),
    ] {
        let p = host.plugin(plugin).unwrap_or_else(|| panic!("{plugin} not loaded: {report:?}"));
        assert!(p.actions.iter().any(|a| a.name == action), "{plugin} lacks {action}");
        assert!(!p.version.is_empty());
        assert!(p.size_bytes > 0);
    }
    // The bundled manifest of ergon grants its documents directory, read-only.
    let ergon = host.plugin("ergon").unwrap();
    assert!(ergon.grants.iter().any(|g| g.starts_with("fs-ro:")), "{:?}", ergon.grants);
}

#[tokio::test]
async fn bad_files_are_reported_by_name_and_the_rest_load() {
    let dir = Dir::new();
    dir.add_bundled("core")
        .add_bundled("sophia")
        .write("garbage.wasm", b"this is not webassembly at all")
        .write("module.wasm", &wat::core_module())
        .write("other.wasm", &wat::other_world())
        .write("twin.wasm", &crate::support::bundled("core"))
        .write("badmanifest.wasm", &wat::ok("badmanifest", "1.0.0"))
        .write("badmanifest.toml", b"memory_mb = 16\nmax_concurency = 3\n");
    let host = dir.host().await;
    let names: Vec<String> = host.plugins().iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["core", "sophia"]);
    assert!(failure_for(&host, "garbage.wasm").contains("not a WebAssembly file"));
    assert!(failure_for(&host, "module.wasm").contains("core WebAssembly module, not a component"));
    assert!(failure_for(&host, "other.wasm").contains("does not implement the harmonia:plugin/adapter world"));
    let twin = failure_for(&host, "twin.wasm");
    assert!(twin.contains("describes itself as plugin \"core\"") && twin.contains("must be core.wasm"), "{twin}");
    let manifest = failure_for(&host, "badmanifest.wasm");
    assert!(manifest.contains("badmanifest.toml") && manifest.contains("line 2, column 1"), "{manifest}");
    assert!(manifest.contains("max_concurency"), "{manifest}");
    // The good ones work.
    let out = host.invoke(TaskCall::new("core", "echo", json!([1, 2]))).await.unwrap();
    assert_eq!(out.output.unwrap(), json!([1, 2]));
}

#[tokio::test]
async fn a_file_cannot_take_another_plugins_name() {
    // `aaa.wasm` loads before `core.wasm` and describes itself as core: it used to be loaded
    // as core (with core's kv data), and the real core.wasm refused as the duplicate.
    let dir = Dir::new();
    dir.write("aaa.wasm", &crate::support::bundled("core")).add_bundled("core");
    let host = dir.host().await;
    let core = host.plugin("core").expect("core is loaded");
    assert_eq!(core.file.file_name().unwrap(), "core.wasm");
    assert!(failure_for(&host, "aaa.wasm").contains("describes itself as plugin \"core\""));
    assert_eq!(host.plugins().len(), 1);

    // At run time too: the watcher refuses the impostor and core stays the real one.
    let _watcher = host.watch().unwrap();
    dir.write("bbb.wasm", &crate::support::bundled("core"));
    wait_for("bbb.wasm refused", || host.failures().iter().any(|f| f.file.ends_with("bbb.wasm"))).await;
    assert_eq!(host.plugin("core").unwrap().file.file_name().unwrap(), "core.wasm");
    let out = host.invoke(TaskCall::new("core", "echo", json!("real"))).await.unwrap();
    assert_eq!(out.output.unwrap(), json!("real"));
}

#[tokio::test]
async fn second_load_uses_the_compile_cache() {
    let dir = Dir::new();
    dir.add_bundled("sophia").write("fixture.wasm", &wat::ok("fixture", "1.0.0"));
    let cache = tempfile::tempdir().unwrap();
    let load = || with_cache(&dir, cache.path());
    let first = load().await;
    assert!(first.plugins().iter().all(|p| !p.from_cache));
    let cached = artefacts(cache.path()).len();
    assert_eq!(cached, 2, "one compiled artifact per plugin");
    let second = load().await;
    assert!(second.plugins().iter().all(|p| p.from_cache));
    let out = second.invoke(TaskCall::new("sophia", "analyze_sentiment", json!({"text": "great"}))).await.unwrap();
    assert_eq!(out.output.unwrap()["sentiment"], "positive");
}

/// A host over `dir` with its compile cache in `cache`, every plugin loaded.
async fn with_cache(dir: &Dir, cache: &Path) -> Host {
    let mut config = dir.config();
    config.cache_dir = Some(cache.to_path_buf());
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    host
}

/// The compiled components in a cache directory.
fn artefacts(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_cached_artefact_runs_only_with_its_tag() {
    // Whoever can write a file where compiled components are taken from runs native code:
    // a planted artefact (another component's, or one without our tag) must not be loaded.
    let dir = Dir::new();
    dir.write("alpha.wasm", &wat::ok("alpha", "1.0.0")).write("beta.wasm", &wat::ok("beta", "1.0.0"));
    let cache = tempfile::tempdir().unwrap();
    let load = || with_cache(&dir, cache.path());
    load().await;
    let key = cache.path().join("key");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions()) & 0o777, 0o600);
    let files = artefacts(cache.path());
    let alpha = files
        .iter()
        .find(|f| f.file_name().unwrap().to_str().unwrap().starts_with(&first_hash(&dir, "alpha.wasm")))
        .unwrap()
        .clone();
    let beta = files.iter().find(|f| **f != alpha).unwrap().clone();

    // beta's artefact (tag and all) planted as alpha's: its tag names beta's component.
    std::fs::copy(&beta, &alpha).unwrap();
    let host = load().await;
    let plugin = host.plugin("alpha").expect("alpha loads, compiled afresh");
    assert!(!plugin.from_cache, "a tag for another component was accepted");
    assert!(host.failures().is_empty(), "{:?}", host.failures());

    // An artefact without a valid tag (one byte of it changed): compiled again, replaced.
    let mut bytes = std::fs::read(&alpha).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&alpha, &bytes).unwrap();
    assert!(!load().await.plugin("alpha").unwrap().from_cache);
    assert!(load().await.plugin("alpha").unwrap().from_cache, "the replaced artefact is used again");
}

/// The cache's name for a plugin file: its content hash.
fn first_hash(dir: &Dir, file: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(dir.path().join(file)).unwrap());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_compile_cache_in_the_plugins_directory_is_refused() {
    let dir = Dir::new();
    let mut config = dir.config();
    config.cache_dir = Some(dir.path().join(".cache"));
    let Err(e) = Host::new(config) else { panic!("a cache in the plugins directory was accepted") };
    assert!(e.to_string().contains("must not be in the plugins directory"), "{e}");
}

/// Waits until `check` holds. The watcher acts within its 0.2 s settle time plus a load;
/// the bound is generous because a test suite on two busy cores can take seconds for that,
/// and this checks that the change happens, not how fast.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(30), "not within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn replace(path: &Path, bytes: &[u8]) {
    // Write beside and rename, as a deploy would; a plain overwrite is covered by `add`.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test]
async fn hot_reload_adds_replaces_and_removes() {
    let dir = Dir::new();
    dir.add_bundled("core");
    let host = dir.host().await;
    let _watcher = host.watch().unwrap();

    // Add.
    dir.write("fixture.wasm", &wat::ok("fixture", "1.0.0"));
    wait_for("fixture added", || host.plugin("fixture").is_some()).await;
    let out = host.invoke(TaskCall::new("fixture", "run", json!({}))).await.unwrap();
    assert_eq!(out.output.unwrap(), json!({"ok": true}));

    // Replace: a call in flight finishes on the version it began with.
    let in_flight = {
        let host = host.clone();
        tokio::spawn(async move { host.invoke(TaskCall::new("core", "sleep", json!({"ms": 600}))).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    replace(&dir.path().join("core.wasm"), &wat::ok("core", "9.9.9"));
    wait_for("core replaced", || host.plugin("core").is_some_and(|p| p.version == "9.9.9")).await;
    let old = in_flight.await.unwrap().expect("in-flight call survives the reload");
    assert_eq!(old.output.unwrap(), json!({"slept_ms": 600}));
    let new = host.invoke(TaskCall::new("core", "run", json!({}))).await.unwrap();
    assert_eq!(new.output.unwrap(), json!({"ok": true}));

    // Remove.
    std::fs::remove_file(dir.path().join("fixture.wasm")).unwrap();
    wait_for("fixture removed", || host.plugin("fixture").is_none()).await;

    // A broken file dropped in is reported; the others keep working.
    dir.write("broken.wasm", b"garbage");
    wait_for("broken reported", || host.failures().iter().any(|f| f.file.ends_with("broken.wasm"))).await;
    assert!(host.plugin("core").is_some());
}

#[tokio::test]
async fn hot_reload_works_for_a_plugins_dir_given_as_a_relative_path() {
    // Tests run in the crate's directory: reach a fresh directory under target/ relatively,
    // as `harmonia serve --plugins plugins` does.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    std::fs::create_dir_all(&target).unwrap();
    let tmp = tempfile::tempdir_in(&target).unwrap();
    let relative = Path::new("../../target/tmp").join(tmp.path().file_name().unwrap());
    assert!(relative.is_relative() && relative.is_dir(), "{}", relative.display());
    std::fs::write(tmp.path().join("fixture.wasm"), wat::ok("fixture", "1.0.0")).unwrap();

    let mut config = Dir::new().config();
    config.plugins_dir = relative;
    let host = Host::new(config).unwrap();
    host.load_all().await.unwrap();
    let _watcher = host.watch().unwrap();

    // The watcher reports absolute paths: the replaced file must replace the plugin loaded
    // from the relative path, not look like a second plugin of the same name.
    replace(&tmp.path().join("fixture.wasm"), &wat::ok("fixture", "2.0.0"));
    wait_for("fixture replaced", || host.plugin("fixture").is_some_and(|p| p.version == "2.0.0")).await;
    assert!(host.failures().is_empty(), "{:?}", host.failures());
    assert_eq!(host.plugins().len(), 1);
}
