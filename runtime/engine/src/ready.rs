//! When a task is ready and how it begins: its join (`all`, `{at_least}`, `merge`), its
//! `when`, the mutex it may need, then what it is (a call, items, a switch, a terminate or a
//! cancel). A task that ends makes its dependants considered again.

use harmonia_model::{Join, Rest, TaskAction};
use serde_json::{Value, json};

use crate::event::{CallId, Command, Event, Failure};
use crate::machine::{Machine, expression_failure};
use crate::state::TaskStatus;

/// The longest mutex key, in bytes (it is part of a store key).
const MAX_MUTEX_KEY: usize = 512;

/// Why a join was skipped when none of its dependencies succeeded.
pub(crate) const NO_DEPENDENCY_SUCCEEDED: &str = "no dependency succeeded";

/// Why a partial join was skipped: fewer dependencies can succeed than it waits for.
fn not_enough(succeeded: u32, of: u32, needed: u32) -> String {
    if succeeded == 0 && needed == 1 {
        return NO_DEPENDENCY_SUCCEEDED.into();
    }
    format!("only {succeeded} of {of} dependencies succeeded, {needed} needed")
}

enum Readiness {
    Wait,
    Ready,
    Skip(String),
}

impl Machine<'_> {
    /// A task whose dependencies changed: start it, skip it, or keep waiting.
    pub(crate) fn consider(&mut self, id: &str) {
        if !self.running() || self.exec.task(id).status != TaskStatus::Pending {
            return;
        }
        let plan = self.plan;
        let task = plan.task(id);
        match self.readiness(id) {
            Readiness::Wait => return,
            Readiness::Skip(reason) => return self.skip(id, reason),
            Readiness::Ready => {}
        }
        if let Some(when) = &task.when {
            let result = when.eval_bool(&self.scope(id));
            match result {
                Ok(true) => {}
                Ok(false) => return self.skip(id, format!("condition is false: ${{{}}}", when.source)),
                Err(e) => return self.fail_task(id, expression_failure(id, &e)),
            }
        }
        // A partial join with `rest: cancel` (XOR is one of them) no longer wants the other
        // branches. They are cancelled before this task starts (so it sees them cancelled),
        // and their dependants are considered after (so this task, no longer pending, is not
        // started twice).
        let losers: Vec<&String> = match task.join {
            Join::AtLeast { rest: Rest::Cancel, .. } => {
                task.depends_on.iter().filter(|d| !self.exec.task(d).status.is_terminal()).collect()
            }
            _ => Vec::new(),
        };
        let reason = format!("not needed: task {id} ran without it");
        for dep in &losers {
            self.withdraw(dep, &reason);
        }
        self.begin(id);
        for dep in losers {
            self.resolved(dep);
        }
    }

    fn readiness(&self, id: &str) -> Readiness {
        let task = self.plan.task(id);
        if task.depends_on.is_empty() {
            return Readiness::Ready;
        }
        let deps = task.depends_on.iter().map(|d| (d, self.exec.task(d)));
        match task.join {
            Join::All => {
                let mut waiting = false;
                for (dep, state) in deps {
                    if !state.status.is_terminal() {
                        waiting = true;
                    } else if !state.lets_dependants_run() {
                        return Readiness::Skip(format!("dependency {dep} was {}", state.status.as_str()));
                    }
                }
                if waiting { Readiness::Wait } else { Readiness::Ready }
            }
            Join::AtLeast { n, .. } => {
                let (mut succeeded, mut ended) = (0, 0);
                for (_, state) in deps {
                    succeeded += u32::from(state.status == TaskStatus::Succeeded);
                    ended += u32::from(state.status.is_terminal());
                }
                let m = task.depends_on.len() as u32;
                if succeeded >= n {
                    Readiness::Ready
                } else if m - ended + succeeded < n {
                    Readiness::Skip(not_enough(succeeded, m, n))
                } else {
                    Readiness::Wait
                }
            }
            Join::Merge => {
                let mut ran = false;
                for (_, state) in deps {
                    if !state.status.is_terminal() {
                        return Readiness::Wait;
                    }
                    ran |= state.lets_dependants_run();
                }
                if ran { Readiness::Ready } else { Readiness::Skip(NO_DEPENDENCY_SUCCEEDED.into()) }
            }
        }
    }

    pub(crate) fn skip(&mut self, id: &str, reason: String) {
        self.emit(Event::TaskSkipped { task: id.to_string(), reason });
        self.resolved(id);
    }

    /// A task reached an end state: its dependants may be ready now, and a loop waiting for
    /// it may begin its next round.
    pub(crate) fn resolved(&mut self, id: &str) {
        let plan = self.plan;
        for dependant in plan.dependants(id) {
            self.consider(dependant);
        }
        for owner in plan.loops_holding(id) {
            if owner != id && self.exec.task(owner).looping {
                self.next_round(owner);
            }
        }
    }

    /// Runs a ready task (no condition left to check), once it holds its mutex if it has one.
    pub(crate) fn begin(&mut self, id: &str) {
        let plan = self.plan;
        let task = plan.task(id);
        if let Some(mutex) = &task.mutex
            && !self.exec.task(id).lock.as_ref().is_some_and(|l| l.held)
        {
            return self.request_lock(id, mutex);
        }
        match &task.action {
            TaskAction::Switch { cases, default } => self.switch(id, cases, default),
            TaskAction::Terminate(terminate) => self.terminate(id, terminate),
            TaskAction::Cancel(targets) => self.cancel_region(id, targets),
            TaskAction::Call { .. } | TaskAction::Workflow { .. } | TaskAction::Wait(_) | TaskAction::Emit(_) => {
                let Some(for_each) = &task.for_each else {
                    return self.launch(&CallId::task(id), self.first_attempt(id));
                };
                if self.exec.task(id).items.as_ref().is_some_and(|i| !i.early) {
                    return self.next_items(id); // resolved before a retry
                }
                let items = match for_each.items.eval(&self.scope(id)) {
                    Ok(Value::Array(items)) => items,
                    Ok(other) => {
                        let e = Failure::new(
                            "expression",
                            format!("task {id}: for_each ${{{}}} gave {other}, not a list", for_each.items.source),
                        );
                        return self.fail_task(id, e);
                    }
                    Err(e) => return self.fail_task(id, expression_failure(id, &e)),
                };
                let n = items.len();
                self.emit(Event::ItemsResolved { task: id.to_string(), items });
                if n == 0 && !for_each.open {
                    return self.succeed(id, Value::Array(vec![]));
                }
                self.next_items(id);
            }
        }
    }

    /// A task with a mutex asks for a slot of its key; it begins once granted.
    fn request_lock(&mut self, id: &str, mutex: &harmonia_model::TaskMutex) {
        let key = match mutex.key.render(&self.scope(id)) {
            Ok(Value::String(key)) => key,
            Ok(other) => other.to_string(),
            Err(e) => return self.fail_task(id, expression_failure(id, &e)),
        };
        if key.is_empty() || key.len() > MAX_MUTEX_KEY || key.contains('\0') {
            let message = format!(
                "task {id}: its mutex key must be 1 to {MAX_MUTEX_KEY} bytes without NUL, got {} bytes",
                key.len()
            );
            return self.fail_task(id, Failure::new("fatal", message).with_code("mutex_key"));
        }
        self.emit(Event::LockRequested { task: id.to_string(), key: key.clone() });
        self.command(Command::Acquire { task: id.to_string(), key, limit: mutex.limit });
    }

    fn switch(&mut self, id: &str, cases: &[harmonia_model::SwitchCase], default: &[String]) {
        let mut chosen = None;
        for (i, case) in cases.iter().enumerate() {
            match case.when.eval_bool(&self.scope(id)) {
                Ok(true) => {
                    chosen = Some(i);
                    break;
                }
                Ok(false) => {}
                Err(e) => return self.fail_task(id, expression_failure(id, &e)),
            }
        }
        let targets = chosen.map_or(default, |i| cases[i].then.as_slice()).to_vec();
        let case = chosen.map(|i| i as u32);
        self.emit(Event::SwitchChose { task: id.to_string(), case, targets: targets.clone() });
        let not_chosen: Vec<&String> =
            cases.iter().flat_map(|c| &c.then).chain(default).filter(|t| !targets.contains(t)).collect();
        let output = json!({ "case": case, "targets": targets });
        self.emit(Event::TaskSucceeded { task: id.to_string(), output, at: self.now });
        for target in not_chosen {
            if self.exec.task(target).status == TaskStatus::Pending {
                self.skip(target, format!("not chosen by switch {id}"));
            }
        }
        self.resolved(id);
    }
}
