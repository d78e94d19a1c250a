//! Crash recovery of `harmonia serve`, end to end: the real binary as a child process runs
//! many executions of a workflow of several tasks, is killed with SIGKILL at random points
//! several times and restarted on the same data directory each time. At the end:
//!
//! 1. every execution completed with the right output;
//! 2. no committed event was lost: each history is numbered 1..=N without a gap, N is the
//!    number of events the execution's state has applied, and the kills did interrupt some
//!    executions (their history has a `recovered` event);
//! 3. no task whose completion had been committed ran again: the `journal` tasks append one
//!    line per real run to a log file, and no logged attempt of a task comes after the
//!    attempt whose success is in the history (nor is any attempt logged twice).
//!
//! Kills land at random points; the seed is printed and `HARMONIA_CRASH_SEED=<seed>` replays
//! the same schedule (timing still varies, so a replay is likely, not certain, to hit the
//! same interleaving). Timing only places the kills: no assertion depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::repo;

/// Executions started in the first life of the server.
const EXECUTIONS: u64 = 150;
/// Threads starting them.
const POSTERS: usize = 6;
/// How many times the server is killed and restarted.
const KILLS: usize = 5;
/// The journal tasks of the workflow, in order; each logs and returns the previous value + 1.
const JOURNAL_TASKS: [&str; 4] = ["a", "b", "c", "d"];

/// xorshift64*: enough to place kills, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The directories one server life runs on; they survive the kills.
struct Dirs {
    _root: tempfile::TempDir,
    data: PathBuf,
    plugins: PathBuf,
    workflows: PathBuf,
    journal: PathBuf,
    logs: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let path = |name: &str| {
            let dir = root.path().canonicalize().unwrap().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            dir
        };
        let (data, plugins, workflows, journal, logs) =
            (path("data"), path("plugins"), path("workflows"), path("journal"), path("logs"));

        // The core plugin, with its journal directory granted writable (seen at the same path).
        std::fs::copy(repo().join("plugins/core.wasm"), plugins.join("core.wasm")).expect("plugins/core.wasm is built");
        std::fs::write(
            plugins.join("core.toml"),
            format!("[[dirs]]\nhost = {:?}\nwritable = true\n", journal.display().to_string()),
        )
        .unwrap();

        // a -> pause_a -> b -> pause_b -> c -> pause_c -> d, each journal task adding 1.
        let log = journal.join("runs.jsonl");
        let log = log.to_str().unwrap();
        let yaml = format!(
            r#"name: crashy
version: 1
input:
  n: {{ type: integer }}
  pause: {{ type: integer }}
tasks:
  a: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{input.n}}" }} }}
  pause_a: {{ component: core, action: sleep, input: {{ ms: "${{input.pause}}" }}, depends_on: [a] }}
  b: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{tasks.a.output.value + 1}}" }}, depends_on: [pause_a] }}
  pause_b: {{ component: core, action: sleep, input: {{ ms: "${{input.pause}}" }}, depends_on: [b] }}
  c: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{tasks.b.output.value + 1}}" }}, depends_on: [pause_b] }}
  pause_c: {{ component: core, action: sleep, input: {{ ms: "${{input.pause}}" }}, depends_on: [c] }}
  d: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{tasks.c.output.value + 1}}" }}, depends_on: [pause_c] }}
output:
  first: "${{tasks.a.output.value}}"
  last: "${{tasks.d.output.value}}"
"#
        );
        std::fs::write(workflows.join("crashy.yaml"), yaml).unwrap();
        Dirs { _root: root, data, plugins, workflows, journal, logs }
    }

    fn journal_file(&self) -> PathBuf {
        self.journal.join("runs.jsonl")
    }
}

/// One life of `harmonia serve`; stdout and stderr go to files kept for the report.
struct Server {
    child: Child,
    base: String,
    life: usize,
}

impl Server {
    fn start(dirs: &Dirs, life: usize) -> Server {
        let stdout = dirs.logs.join(format!("life-{life}.stdout"));
        let stderr = dirs.logs.join(format!("life-{life}.stderr"));
        let mut child = crate::support::harmonia_command()
            .current_dir(repo())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--plugins")
            .arg(&dirs.plugins)
            .arg("--workflows")
            .arg(&dirs.workflows)
            .arg("--data")
            .arg(&dirs.data)
            .env_remove("HARMONIA_SYNC")
            .env_remove("HARMONIA_CHECKPOINT_EVERY")
            .env_remove("HARMONIA_RETENTION")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("start harmonia serve");
        // Only talk to it once it says where it listens (after recovery has run).
        let started = Instant::now();
        let base = loop {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(line) = text.lines().next().filter(|_| text.contains('\n')) {
                let base = line
                    .strip_prefix("harmonia listening on ")
                    .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
                break base.to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("life {life}: harmonia serve exited with {status} before listening:\n{}", logs(dirs));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "life {life}: not listening after 60 s:\n{}",
                logs(dirs)
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        Server { child, base, life }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL, and wait until it is gone (its RocksDB lock with it).
    fn kill(mut self, dirs: &Dirs) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("life {}: harmonia serve exited on its own with {status}:\n{}", self.life, logs(dirs));
        }
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "life {}: exited normally before the kill: {status}", self.life);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every life's stderr, for failure messages.
fn logs(dirs: &Dirs) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dirs.logs).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = String::new();
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "stderr")) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        out.push_str(&format!("--- {} ---\n{text}", file.file_name().unwrap().to_string_lossy()));
    }
    out
}

fn get(http: &reqwest::blocking::Client, server: &Server, path: &str) -> Value {
    let response = http.get(server.url(path)).send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let body: Value = response.json().unwrap_or_else(|e| panic!("GET {path}: {status}, not JSON: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// One run of a journal task, as its journal line records it.
#[derive(Debug)]
struct Run {
    attempt: u64,
    key: String,
    value: Value,
    line: String,
}

#[test]
fn executions_survive_repeated_sigkills_without_lost_events_or_repeated_tasks() {
    let seed = std::env::var("HARMONIA_CRASH_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("HARMONIA_CRASH_SEED is a number"))
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64)
        | 1;
    eprintln!("crash test seed: {seed} (replay with HARMONIA_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let test_started = Instant::now();
    let dirs = Dirs::new();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();

    // Life 0: every execution is started (a 201 means it is stored), then the kills begin.
    let mut server = Server::start(&dirs, 0);
    let wanted: Vec<(i64, u64)> =
        (0..EXECUTIONS).map(|i| (1000 * i as i64 + rng.between(0, 999) as i64, rng.between(100, 400))).collect();
    let started: Vec<(String, i64)> = std::thread::scope(|scope| {
        let posters: Vec<_> = wanted
            .chunks(wanted.len().div_ceil(POSTERS))
            .map(|chunk| {
                let (http, server) = (&http, &server);
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&(n, pause)| {
                            let response = http
                                .post(server.url("/api/v1/workflows/crashy/executions"))
                                .json(&json!({ "input": { "n": n, "pause": pause } }))
                                .send()
                                .unwrap();
                            let status = response.status();
                            let body: Value = response.json().unwrap();
                            assert_eq!(status, 201, "{body}");
                            (body["id"].as_str().unwrap().to_string(), n)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        posters.into_iter().flat_map(|p| p.join().unwrap()).collect()
    });
    let inputs: BTreeMap<String, i64> = started.into_iter().collect();
    assert_eq!(inputs.len() as u64, EXECUTIONS, "execution ids are unique");

    // Kills are placed by progress, not by the clock, so that they land while tasks run on
    // any machine: each after a random number of further task runs (journal lines), plus
    // nothing or a random few milliseconds, and always after at least one run in that life.
    let journal_lines =
        || std::fs::read(dirs.journal_file()).unwrap_or_default().iter().filter(|b| **b == b'\n').count() as u64;
    let at_start = journal_lines();
    let total = EXECUTIONS * JOURNAL_TASKS.len() as u64;
    let segment = total.saturating_sub(at_start) / (KILLS as u64 + 1);
    eprintln!(
        "started {EXECUTIONS} executions in {:?}; {at_start} of {total} journal tasks already ran",
        test_started.elapsed()
    );
    // Journal lines written before each kill (counted once the process is gone).
    let mut boundaries: Vec<u64> = Vec::new();
    for kill in 1..=KILLS {
        let target = at_start + segment * (kill as u64 - 1) + rng.between(segment / 2, segment * 3 / 2);
        // Half of the kills follow a new journal line at once: the call has run but its
        // result is most likely not committed yet, so it must run again (attempt + 1).
        let extra = if rng.next().is_multiple_of(2) { 0 } else { rng.between(1, 40) };
        let life_started = Instant::now();
        let at_life_start = journal_lines();
        loop {
            let lines = journal_lines();
            if lines >= target.max(at_life_start + 1) {
                break;
            }
            if life_started.elapsed() > Duration::from_secs(15) {
                eprintln!("kill {kill}: no progress to {target} journal lines within 15 s, killing anyway");
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(extra));
        let lines = journal_lines();
        eprintln!(
            "kill {kill}: SIGKILL of life {} after {:?} (target {target} journal lines + {extra} ms; {lines} lines)",
            server.life,
            life_started.elapsed()
        );
        server.kill(&dirs);
        boundaries.push(journal_lines());
        let restart = Instant::now();
        server = Server::start(&dirs, kill);
        eprintln!("life {kill} listening {:?} after the restart", restart.elapsed());
    }

    // The last life runs everything to its end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut pending: BTreeSet<String> = inputs.keys().cloned().collect();
    let mut states: BTreeMap<String, Value> = BTreeMap::new();
    while !pending.is_empty() {
        for id in pending.clone() {
            let exec = get(&http, &server, &format!("/api/v1/executions/{id}"));
            match exec["status"].as_str() {
                Some("running") => {}
                _ => {
                    pending.remove(&id);
                    states.insert(id, exec);
                }
            }
        }
        if let Some(id) = pending.first() {
            if Instant::now() > deadline {
                let exec = get(&http, &server, &format!("/api/v1/executions/{id}"));
                let history = get(&http, &server, &format!("/api/v1/executions/{id}/history"));
                panic!(
                    "{} executions still running after 120 s, e.g. {id}: {exec}\nhistory: {history}\n{}",
                    pending.len(),
                    logs(&dirs)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    eprintln!("all finished {:?} after the start", test_started.elapsed());

    // Every life after the first recovered without errors.
    let stderr = logs(&dirs);
    assert!(!stderr.contains("cannot be resumed") && !stderr.contains("panicked"), "{stderr}");
    let resumed: Vec<&str> = stderr.lines().filter(|l| l.starts_with("resumed ")).collect();
    eprintln!("{resumed:?}");

    // The journal: one line per real run of a journal task.
    let text = std::fs::read_to_string(dirs.journal_file()).unwrap();
    let mut runs: BTreeMap<(String, String), Vec<Run>> = BTreeMap::new();
    let mut lives_of: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("journal line is not JSON ({e}): {line:?}"));
        let execution = entry["execution"].as_str().unwrap().to_string();
        assert!(inputs.contains_key(&execution), "a run of an unknown execution: {line}");
        let life = boundaries.iter().filter(|b| **b <= index as u64).count();
        lives_of.entry(execution.clone()).or_default().insert(life);
        let run = Run {
            attempt: entry["attempt"].as_u64().unwrap(),
            key: entry["key"].as_str().unwrap().to_string(),
            value: entry["value"].clone(),
            line: line.to_string(),
        };
        runs.entry((execution, entry["task"].as_str().unwrap().to_string())).or_default().push(run);
    }

    let mut recovered_executions = 0;
    let mut rerun_tasks = 0;
    for (id, n) in &inputs {
        let exec = &states[id];
        let history = get(&http, &server, &format!("/api/v1/executions/{id}/history"));
        let events = history["events"].as_array().unwrap();
        let context = || {
            format!(
                "execution {id} (n = {n}):\nstate: {exec}\nhistory: {}",
                serde_json::to_string_pretty(events).unwrap()
            )
        };

        // 1. Completed with the right output.
        assert_eq!(exec["status"], "completed", "{}", context());
        assert_eq!(exec["output"], json!({ "first": n, "last": n + 3 }), "{}", context());

        // 2. No committed event lost: 1..=N, N being what the state has applied.
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{}", context());
        assert_eq!(
            exec["seq"].as_u64(),
            Some(events.len() as u64),
            "the state applied every event of the history: {}",
            context()
        );
        assert_eq!(events.first().unwrap()["type"], "started", "{}", context());
        assert_eq!(events.last().unwrap()["type"], "completed", "{}", context());
        assert_eq!(events.iter().filter(|e| e["type"] == "completed").count(), 1, "{}", context());
        let recovered = events.iter().filter(|e| e["type"] == "recovered").count();
        if recovered > 0 {
            recovered_executions += 1;
        }
        // A life after the first ran its tasks only after committing that it recovered.
        let later_lives = lives_of.get(id).map_or(0, |lives| lives.iter().filter(|l| **l > 0).count());
        assert!(
            recovered >= later_lives,
            "it ran tasks in {later_lives} lives after the first but recovered {recovered} times: {}",
            context()
        );

        // 3. Tasks: attempts started 1..=k, one success (attempt k), and for journal tasks
        //    the journal agrees: no attempt after the committed success, none twice.
        let of_task = |kind: &str, task: &str| -> Vec<u64> {
            events
                .iter()
                .filter(|e| e["type"] == kind && e["call"]["task"] == task)
                .map(|e| e["attempt"].as_u64().unwrap())
                .collect()
        };
        let tasks = ["a", "pause_a", "b", "pause_b", "c", "pause_c", "d"];
        for task in tasks {
            let succeeded = of_task("call_succeeded", task);
            assert_eq!(succeeded.len(), 1, "task {task} succeeded once: {}", context());
            let success = succeeded[0];
            let started = of_task("call_started", task);
            assert_eq!(
                started,
                (1..=success).collect::<Vec<_>>(),
                "task {task}: attempts started in order up to the successful one: {}",
                context()
            );
            assert_eq!(exec["tasks"][task]["status"], "succeeded", "{}", context());
            // Nothing fails here, so an attempt after the first follows a recovery.
            let positions: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| e["type"] == "call_started" && e["call"]["task"] == task)
                .map(|(p, _)| p)
                .collect();
            for pair in positions.windows(2) {
                assert!(
                    events[pair[0]..pair[1]].iter().any(|e| e["type"] == "recovered"),
                    "task {task} started again without a recovery in between: {}",
                    context()
                );
            }
        }
        assert!(!events.iter().any(|e| e["type"] == "call_failed"), "{}", context());
        for (i, task) in JOURNAL_TASKS.iter().enumerate() {
            let success = of_task("call_succeeded", task)[0];
            let logged = runs.get(&(id.clone(), task.to_string())).map(Vec::as_slice).unwrap_or_default();
            let journal = || logged.iter().map(|r| r.line.as_str()).collect::<Vec<_>>().join("\n");
            let attempts: Vec<u64> = logged.iter().map(|r| r.attempt).collect();
            let distinct: BTreeSet<u64> = attempts.iter().copied().collect();
            assert_eq!(
                distinct.len(),
                attempts.len(),
                "task {task}: an attempt ran twice:\n{}\n{}",
                journal(),
                context()
            );
            assert!(
                attempts.iter().all(|a| *a <= success),
                "task {task} ran again after its success (attempt {success}) was committed:\n{}\n{}",
                journal(),
                context()
            );
            assert!(
                distinct.contains(&success),
                "task {task}: its successful attempt {success} is not in the journal:\n{}\n{}",
                journal(),
                context()
            );
            let keys: BTreeSet<&str> = logged.iter().map(|r| r.key.as_str()).collect();
            assert_eq!(keys.len(), 1, "task {task}: every attempt has the same idempotency key:\n{}", journal());
            assert!(
                logged.iter().all(|r| r.value == json!(n + i as i64)),
                "task {task}: every run had the same input value {}:\n{}",
                n + i as i64,
                journal()
            );
            if attempts.len() > 1 {
                rerun_tasks += 1;
            }
        }
    }
    let journal_runs: usize = runs.values().map(Vec::len).sum();
    eprintln!(
        "{recovered_executions} of {EXECUTIONS} executions were interrupted and recovered; {rerun_tasks} journal tasks ran more than \
         once (interrupted before their result was committed); {journal_runs} journal runs for {} journal tasks; {:?} in all",
        EXECUTIONS as usize * JOURNAL_TASKS.len(),
        test_started.elapsed()
    );
    assert!(
        recovered_executions > 0,
        "no kill interrupted an execution: the test proved nothing (seed {seed})\n{stderr}"
    );
    drop(server);
}

/// A sub-workflow started before two crashes in a row runs once: the parent's task, run
/// again after each recovery (attempts 2 and 3), waits for the child that attempt 1 started.
/// Attempt 3 used to look only for attempt 2's child (`key~2`), which attempt 2 never made
/// since it had found attempt 1's, so it started a second child and both ran.
#[test]
fn a_sub_workflow_interrupted_by_two_crashes_runs_once() {
    let dirs = Dirs::new();
    let log = dirs.journal.join("child.jsonl");
    let child = format!(
        r#"name: slow_child
version: 1
input:
  n: {{ type: integer }}
tasks:
  first: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{input.n}}" }} }}
  pause: {{ component: core, action: sleep, input: {{ ms: 2500 }}, depends_on: [first] }}
  second: {{ component: core, action: journal, input: {{ path: "{log}", value: "${{tasks.first.output.value + 1}}" }}, depends_on: [pause] }}
output:
  last: "${{tasks.second.output.value}}"
"#,
        log = log.display()
    );
    std::fs::write(dirs.workflows.join("slow_child.yaml"), child).unwrap();
    let parent = "name: parent\nversion: 1\ntasks:\n  sub: { workflow: slow_child@1, input: { n: 7 } }\noutput:\n  last: \"${tasks.sub.output.last}\"\n";
    std::fs::write(dirs.workflows.join("parent.yaml"), parent).unwrap();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let lines = || std::fs::read_to_string(&log).unwrap_or_default().lines().map(str::to_string).collect::<Vec<_>>();

    // Life 0: the parent starts its child, whose first task runs; killed during the pause.
    let server = Server::start(&dirs, 0);
    let response =
        http.post(server.url("/api/v1/workflows/parent/executions")).json(&json!({ "input": {} })).send().unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().unwrap()["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while lines().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "the child's first task never ran:\n{}", logs(&dirs));
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill(&dirs);
    // Life 1: recovered (the parent's task is attempt 2), killed again before the child ends.
    let server = Server::start(&dirs, 1);
    std::thread::sleep(Duration::from_millis(500));
    server.kill(&dirs);
    // Life 2: attempt 3 of the parent's task; everything finishes.
    let server = Server::start(&dirs, 2);
    let started = Instant::now();
    let exec = loop {
        let exec = get(&http, &server, &format!("/api/v1/executions/{id}"));
        if exec["status"] != "running" {
            break exec;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the parent did not finish:\n{}", logs(&dirs));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exec["status"], "completed", "{exec}\n{}", logs(&dirs));
    assert_eq!(exec["output"], json!({ "last": 8 }), "{exec}");

    // One child, and each of its side effects ran in that child only.
    let list = get(&http, &server, "/api/v1/executions?limit=100");
    let children: Vec<&str> = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .filter(|child| child.starts_with(&format!("{id}/")))
        .collect();
    assert_eq!(children.len(), 1, "one child execution, not {children:?}");
    let runs: Vec<Value> = lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let keys: BTreeSet<&str> = runs.iter().filter_map(|r| r["key"].as_str()).collect();
    assert_eq!(keys.len(), 2, "the child's two journal tasks ran in one child execution: {runs:?}");
    assert!(keys.iter().all(|key| key.starts_with(&format!("{}/", children[0]))), "{keys:?} are the child's tasks");
}
