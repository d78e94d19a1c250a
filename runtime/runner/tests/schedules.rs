//! Schedules (`cron:` triggers) on the simulated clock: runs at their times, and what a
//! restart does about the runs missed while the server was down.

mod support;

use std::sync::Arc;
use std::time::Duration;

use harmonia_engine::Plan;
use harmonia_runner::events::schedules::scheduled_id;
use harmonia_runner::records::{self, RecordFilter};
use harmonia_runner::{Runner, WorkflowDirs};
use harmonia_store::{MemStore, Store};
use serde_json::json;
use support::{SimClock, TestTasks, plan_of};

fn every_five_minutes(missed: &str) -> Arc<Plan> {
    plan_of(&format!(
        r#"
name: tick
version: "1"
input: {{ at: {{ type: string }} }}
triggers:
  - cron: "0 */5 * * * *"
    timezone: Europe/Paris
    missed: {missed}
    input: {{ at: "${{event.time}}" }}
tasks:
  note: {{ component: test, action: echo, input: {{ at: "${{input.at}}" }} }}
output: "${{tasks.note.output.at}}"
"#
    ))
}

fn runner(tasks: &TestTasks, clock: &Arc<SimClock>, store: Arc<dyn Store>, plan: &Arc<Plan>) -> Runner {
    let mut dirs = WorkflowDirs::default();
    dirs.insert(plan.workflow.as_ref().clone());
    Runner::new(tasks.clone(), Arc::new(dirs), clock.clone()).with_store(store)
}

/// The ids of the executions of `tick`, sorted.
fn runs(store: &dyn Store) -> Vec<String> {
    let filter = RecordFilter { workflow: Some("tick"), status: None };
    let (page, _) = records::list_records(store, filter, None, 1000).unwrap();
    let mut ids: Vec<String> = page.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    ids
}

const MINUTE: u64 = 60_000;

#[tokio::test(start_paused = true)]
async fn a_schedule_starts_a_run_at_each_of_its_times_in_its_time_zone() {
    let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), every_five_minutes("skip"));
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let runner = runner(&tasks, &clock, store.clone(), &plan);
    let scheduler = runner.follow_schedules();
    tokio::time::sleep(Duration::from_secs(12 * 60)).await;
    // The clock starts on a five-minute mark: runs at +5 and +10 minutes.
    let epoch = clock.epoch_ms;
    assert_eq!(
        runs(&*store),
        [scheduled_id("tick", 0, epoch + 5 * MINUTE), scheduled_id("tick", 0, epoch + 10 * MINUTE)]
    );
    let first = runner.wait(&scheduled_id("tick", 0, epoch + 5 * MINUTE)).await.unwrap();
    // 2027-01-15 08:05 UTC is 09:05 in Paris: the event's time is in the schedule's zone.
    assert_eq!(first.output, Some(json!("2027-01-15T09:05:00+01:00")));
    scheduler.abort();
}

#[tokio::test(start_paused = true)]
async fn after_downtime_run_once_starts_one_run_for_the_latest_missed_time_and_skip_none() {
    for (policy, expected_missed) in [("run_once", 1), ("skip", 0)] {
        let (tasks, clock, plan) = (TestTasks::default(), SimClock::new(), every_five_minutes(policy));
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let epoch = clock.epoch_ms;
        let first = runner(&tasks, &clock, store.clone(), &plan);
        let scheduler = first.follow_schedules();
        tokio::time::sleep(Duration::from_secs(6 * 60)).await; // the +5 run
        scheduler.abort();
        first.stop().await;
        drop(first);
        assert_eq!(runs(&*store).len(), 1);

        // Down from +6 to +62 minutes: eleven runs missed, the latest at +60.
        tokio::time::sleep(Duration::from_secs(56 * 60)).await;
        let second = runner(&tasks, &clock, store.clone(), &plan);
        let scheduler = second.follow_schedules();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let after_restart = runs(&*store);
        assert_eq!(after_restart.len(), 1 + expected_missed, "{policy}: {after_restart:?}");
        if expected_missed == 1 {
            assert!(after_restart.contains(&scheduled_id("tick", 0, epoch + 60 * MINUTE)), "{after_restart:?}");
        }
        // Then on schedule again: the +65 run.
        tokio::time::sleep(Duration::from_secs(3 * 60)).await;
        assert!(runs(&*store).contains(&scheduled_id("tick", 0, epoch + 65 * MINUTE)), "{policy}");
        assert_eq!(runs(&*store).len(), 2 + expected_missed, "{policy}");
        scheduler.abort();
    }
}

#[test]
fn a_bad_cron_expression_or_time_zone_is_refused_with_its_line() {
    let text = "name: w\nversion: \"1\"\ntriggers:\n  - cron: \"0 */5 * *\"\n  - cron: \"0 0 * * * *\"\n    timezone: Mars/Olympus\ntasks:\n  a: { component: test, action: echo }\n";
    let errors = harmonia_model::parse_workflow(text, None).unwrap_err().to_string();
    assert!(errors.contains("4:") && errors.contains("is not a cron expression"), "{errors}");
    assert!(errors.contains("6:") && errors.contains("unknown `timezone` \"Mars/Olympus\""), "{errors}");
}
