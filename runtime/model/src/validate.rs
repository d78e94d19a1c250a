//! Semantic checks of a workflow: the task graph, what each expression may refer to, and the
//! ranges of numbers. `parse_workflow` runs them, so that a file's errors come out together.

use std::collections::{HashMap, HashSet};

use crate::check::type_matches;
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::expr::{Expr, Root, Template};
use crate::parse::ON_FAILURE;
use crate::read::SpanTable;
use crate::types::*;

/// Runs the semantic checks on a workflow built in code (positions: its tasks' spans).
pub fn validate(workflow: &Workflow) -> Result<(), Diagnostics> {
    let mut diags = Vec::new();
    validate_into(workflow, &SpanTable::default(), &mut diags);
    Diagnostics(diags).finish(workflow.source.as_deref()).into_result(())
}

pub(crate) fn validate_into(wf: &Workflow, spans: &SpanTable, diags: &mut Vec<Diagnostic>) {
    let mut v = Validator { wf, spans, diags, fallbacks: fallback_of(wf) };
    v.dependencies();
    v.cycles();
    v.switches();
    v.fallback_rules();
    v.control();
    v.expressions();
    v.ranges();
}

/// Fallback task id -> the tasks it stands in for.
fn fallback_of(wf: &Workflow) -> HashMap<&str, Vec<&str>> {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for task in all_tasks(wf) {
        if let OnError::Fallback(f) = &task.on_error {
            map.entry(f.as_str()).or_default().push(task.id.as_str());
        }
    }
    map
}

fn all_tasks(wf: &Workflow) -> impl Iterator<Item = &Task> {
    wf.tasks.values().chain(wf.on_failure.as_deref())
}

struct Validator<'a> {
    wf: &'a Workflow,
    spans: &'a SpanTable,
    diags: &'a mut Vec<Diagnostic>,
    fallbacks: HashMap<&'a str, Vec<&'a str>>,
}

/// Where an expression is, and what it may use.
struct Site<'a> {
    /// "`input` of task `b`".
    place: String,
    roots: Vec<Root>,
    /// The tasks whose results it may use are these and their transitive dependencies;
    /// None: any task.
    tasks: Option<&'a [&'a str]>,
    /// The task the expression belongs to, for "does not depend on it".
    owner: Option<&'a str>,
}

impl<'a> Validator<'a> {
    fn span(&self, path: &str, fallback: Span) -> Span {
        self.spans.get(path).unwrap_or(fallback)
    }

    fn error(&mut self, span: Span, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic::new(span, message).with_hint_opt(hint));
    }

    fn task_path(task: &Task) -> String {
        if task.id == ON_FAILURE { ON_FAILURE.to_string() } else { format!("tasks.{}", task.id) }
    }

    fn closest_task(&self, id: &str) -> Option<String> {
        did_you_mean(id, self.wf.tasks.keys().map(String::as_str))
    }

    fn dependencies(&mut self) {
        for task in self.wf.tasks.values() {
            for (i, dep) in task.depends_on.iter().enumerate() {
                let span = self.span(&format!("tasks.{}.depends_on.{i}", task.id), task.span);
                if *dep == task.id {
                    self.error(span, format!("task `{}` depends on itself", task.id), None);
                } else if !self.wf.tasks.contains_key(dep) {
                    let hint = self.closest_task(dep);
                    self.error(span, format!("task `{}` depends on unknown task `{dep}`", task.id), hint);
                }
            }
        }
    }

    /// Reports each dependency cycle once, starting at its first task in file order.
    fn cycles(&mut self) {
        let index: HashMap<&str, usize> = self.wf.tasks.keys().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let deps: Vec<Vec<usize>> = self
            .wf
            .tasks
            .values()
            .map(|t| t.depends_on.iter().filter_map(|d| index.get(d.as_str()).copied()).collect())
            .collect();
        // 0: not visited, 1: on the path, 2: done.
        let mut state = vec![0u8; deps.len()];
        let mut found: Vec<Vec<usize>> = Vec::new();
        // Depth-first with a stack of its own (a chain of 20,000 tasks would overflow the
        // thread's): each entry is a task on the path and the next of its dependencies to
        // look at.
        for start in 0..deps.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some((n, next)) = stack.last_mut() {
                let n = *n;
                let Some(&d) = deps[n].get(*next) else {
                    stack.pop();
                    state[n] = 2;
                    continue;
                };
                *next += 1;
                if d == n {
                    continue; // reported as "depends on itself"
                }
                match state[d] {
                    1 => {
                        let from = stack.iter().position(|&(s, _)| s == d).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(s, _)| s).collect();
                        let min = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                        cycle.rotate_left(min);
                        if !found.contains(&cycle) {
                            found.push(cycle);
                        }
                    }
                    0 => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                    _ => {}
                }
            }
        }
        let ids: Vec<&Task> = self.wf.tasks.values().collect();
        for cycle in found {
            let mut names: Vec<&str> = cycle.iter().map(|&i| ids[i].id.as_str()).collect();
            names.push(names[0]);
            self.error(
                ids[cycle[0]].span,
                format!("dependency cycle: {}", names.join(" -> ")),
                Some("`a -> b` means a depends on b; remove one of these dependencies".into()),
            );
        }
    }

    /// Whether `target` is one of `from` or of their transitive `depends_on` (cycles
    /// tolerated). Asked once per task an expression refers to, rather than holding every
    /// task's ancestors, which grows with the square of a chain's length.
    fn reaches(&self, from: &[&'a str], target: &str) -> bool {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo: Vec<&str> = from.to_vec();
        while let Some(id) = todo.pop() {
            if id == target {
                return true;
            }
            if seen.insert(id)
                && let Some(t) = self.wf.tasks.get(id)
            {
                todo.extend(t.depends_on.iter().map(String::as_str));
            }
        }
        false
    }

    fn switches(&mut self) {
        for task in self.wf.tasks.values() {
            let TaskAction::Switch { cases, default } = &task.action else {
                continue;
            };
            let targets = cases
                .iter()
                .enumerate()
                .flat_map(|(i, c)| {
                    c.then
                        .iter()
                        .enumerate()
                        .map(move |(j, t)| (format!("tasks.{}.switch.cases.{i}.then.{j}", task.id), t))
                })
                .chain(default.iter().enumerate().map(|(j, t)| (format!("tasks.{}.switch.default.{j}", task.id), t)));
            for (path, target) in targets.collect::<Vec<_>>() {
                let span = self.span(&path, task.span);
                match self.wf.tasks.get(target) {
                    None => {
                        let hint = self.closest_task(target);
                        self.error(span, format!("switch `{}` selects unknown task `{target}`", task.id), hint);
                    }
                    Some(t) if t.id == task.id => {
                        self.error(span, format!("switch `{}` cannot select itself", task.id), None);
                    }
                    Some(t) if !t.depends_on.contains(&task.id) => self.error(
                        span,
                        format!(
                            "task `{target}` is a target of switch `{}` but does not list it in depends_on",
                            task.id
                        ),
                        Some(format!("add `{}` to the depends_on of `{target}`", task.id)),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn fallback_rules(&mut self) {
        for task in all_tasks(self.wf) {
            let OnError::Fallback(f) = &task.on_error else {
                continue;
            };
            let span = self.span(&format!("{}.on_error", Self::task_path(task)), task.span);
            if *f == task.id {
                self.error(span, format!("task `{}` cannot be its own fallback", task.id), None);
            } else if !self.wf.tasks.contains_key(f) {
                let hint = self.closest_task(f);
                self.error(span, format!("task `{}` falls back to unknown task `{f}`", task.id), hint);
            }
        }
        let why = "it only runs in place of a failed task";
        for task in self.wf.tasks.values() {
            if let Some(of) = self.fallbacks.get(task.id.as_str())
                && !task.depends_on.is_empty()
            {
                let span = self.span(&format!("tasks.{}.depends_on", task.id), task.span);
                let of = of.join("`, `");
                self.error(
                    span,
                    format!("task `{}` is the fallback of `{of}` and cannot have depends_on: {why}", task.id),
                    None,
                );
            }
            for (i, dep) in task.depends_on.iter().enumerate() {
                if self.fallbacks.contains_key(dep.as_str()) {
                    let span = self.span(&format!("tasks.{}.depends_on.{i}", task.id), task.span);
                    self.error(span, format!("task `{}` depends on `{dep}`, a fallback task: {why}", task.id), None);
                }
            }
        }
    }

    /// Joins need as many dependencies as they wait for; nothing runs after a `terminate`;
    /// a `cancel` names tasks of the workflow other than itself.
    fn control(&mut self) {
        for task in self.wf.tasks.values() {
            let id = task.id.as_str();
            if let Join::AtLeast { n, .. } = task.join
                && n as usize > task.depends_on.len().max(1)
            {
                let span = self.span(&format!("tasks.{id}.join"), task.span);
                let deps = task.depends_on.len();
                self.error(span, format!("task `{id}` joins at least {n} of its {deps} dependencies"), None);
            }
            for (i, dep) in task.depends_on.iter().enumerate() {
                if matches!(self.wf.tasks.get(dep).map(|t| &t.action), Some(TaskAction::Terminate(_))) {
                    let span = self.span(&format!("tasks.{id}.depends_on.{i}"), task.span);
                    let message =
                        format!("task `{id}` depends on `{dep}`, a terminate task: the execution ends when it runs");
                    self.error(span, message, None);
                }
            }
            if let TaskAction::Cancel(targets) = &task.action {
                for (i, target) in targets.iter().enumerate() {
                    let span = self.span(&format!("tasks.{id}.cancel.{i}"), task.span);
                    if target == id {
                        self.error(span, format!("task `{id}` cannot cancel itself"), None);
                    } else if !self.wf.tasks.contains_key(target) {
                        let hint = self.closest_task(target);
                        self.error(span, format!("task `{id}` cancels unknown task `{target}`"), hint);
                    }
                }
            }
        }
        self.loops();
        if let Some(task) = &self.wf.on_failure
            && matches!(task.action, TaskAction::Terminate(_) | TaskAction::Cancel(_))
        {
            let message = "`on_failure` cannot terminate or cancel: it runs once the execution is failing";
            self.error(task.span, message.into(), None);
        }
    }

    /// A `goto` goes back to the task itself or one of its dependencies; only the task
    /// that loops back may have dependants outside its loop; two loops are nested or apart.
    fn loops(&mut self) {
        let mut loops: Vec<(&str, Vec<String>)> = Vec::new();
        for task in self.wf.tasks.values() {
            let Some(goto) = &task.goto else { continue };
            let id = task.id.as_str();
            let span = self.span(&format!("tasks.{id}.goto.task"), task.span);
            let Some(inside) = self.wf.loop_tasks(id) else {
                if self.wf.tasks.contains_key(&goto.task) {
                    let message = format!(
                        "task `{id}` goes back to `{}`, which it does not depend on: a goto goes back to the task itself or one of its dependencies",
                        goto.task
                    );
                    self.error(span, message, None);
                } else {
                    let hint = self.closest_task(&goto.task);
                    self.error(span, format!("task `{id}` goes back to unknown task `{}`", goto.task), hint);
                }
                continue;
            };
            for member in inside.iter().filter(|m| *m != id) {
                let outside = self.wf.tasks.values().find(|t| t.depends_on.contains(member) && !inside.contains(&t.id));
                if let Some(outside) = outside {
                    let message = format!(
                        "task `{}` depends on `{member}`, inside the loop from `{id}` back to `{}`: only `{id}` may have dependants outside its loop",
                        outside.id, goto.task
                    );
                    let hint = format!("make `{}` depend on `{id}`, which ends the loop", outside.id);
                    self.error(
                        self.span(&format!("tasks.{}.depends_on", outside.id), outside.span),
                        message,
                        Some(hint),
                    );
                }
            }
            loops.push((id, inside));
        }
        for (i, (a, a_tasks)) in loops.iter().enumerate() {
            for (b, b_tasks) in &loops[i + 1..] {
                let shared = a_tasks.iter().filter(|t| b_tasks.contains(t)).count();
                if shared > 0 && shared < a_tasks.len() && shared < b_tasks.len() {
                    let span = self.span(&format!("tasks.{b}.goto"), self.wf.tasks[*b].span);
                    let message =
                        format!("the loops of `{a}` and `{b}` overlap: one loop must be inside the other, or apart");
                    self.error(span, message, None);
                }
            }
        }
    }

    fn expressions(&mut self) {
        let wf = self.wf;
        // Tasks a fallback may see: those it stands in for, what they may see, and what its
        // own dependencies may.
        let mut fallback_sees: HashMap<&str, Vec<&'a str>> = HashMap::new();
        for (fallback, of) in &self.fallbacks {
            let sees = fallback_sees.entry(fallback).or_default();
            if let Some(task) = wf.tasks.get(*fallback) {
                sees.extend(task.depends_on.iter().map(String::as_str));
            }
            sees.extend(of.iter().copied());
        }
        let base = [Root::Input, Root::Vars, Root::Workflow, Root::Event, Root::Tasks];
        let var_roots = vec![Root::Input, Root::Workflow, Root::Event];
        // A trigger sees the event only: no execution exists yet.
        let trigger_roots = vec![Root::Event];
        for (i, trigger) in wf.triggers.iter().enumerate() {
            let place = format!("trigger {}", i + 1);
            let filter = match &trigger.on {
                crate::TriggerOn::Event { filter, .. } => filter,
                crate::TriggerOn::Schedule(_) => &None,
            };
            let site = |what: &str| Site {
                place: format!("`{what}` of {place}"),
                roots: trigger_roots.clone(),
                tasks: None,
                owner: None,
            };
            if let Some(filter) = filter {
                self.expr(filter, &site("filter"));
            }
            if let Some(input) = &trigger.input {
                self.template(input, &site("input"));
            }
        }
        for (name, t) in &wf.vars {
            self.template(
                t,
                &Site { place: format!("workflow var `{name}`"), roots: var_roots.clone(), tasks: None, owner: None },
            );
        }
        if let Some(output) = &wf.output {
            self.template(
                output,
                &Site { place: "the workflow's `output`".into(), roots: base.to_vec(), tasks: None, owner: None },
            );
        }
        for task in all_tasks(wf) {
            let id = task.id.as_str();
            let on_failure = id == ON_FAILURE;
            let is_fallback = self.fallbacks.contains_key(id);
            let mut roots = base.to_vec();
            if on_failure || is_fallback {
                roots.push(Root::Failure);
            }
            let own: Vec<&str> = task.depends_on.iter().map(String::as_str).collect();
            let tasks = if on_failure {
                None
            } else if is_fallback {
                fallback_sees.get(id).map(Vec::as_slice)
            } else {
                Some(own.as_slice())
            };
            let site = |what: &str, extra: &[Root]| Site {
                place: format!("`{what}` of task `{id}`"),
                roots: roots.iter().chain(extra).copied().collect(),
                tasks,
                owner: Some(id),
            };
            // The input of a call sees the call's `item`/`index` (for_each) or `iteration`
            // (repeat: the engine binds the number of the iteration about to run).
            let item = if task.for_each.is_some() {
                vec![Root::Item, Root::Index]
            } else if task.repeat.is_some() {
                vec![Root::Iteration]
            } else {
                vec![]
            };
            match &task.action {
                TaskAction::Call { input, .. } | TaskAction::Workflow { input, .. } => {
                    self.template(input, &site("input", &item));
                }
                TaskAction::Emit(event) => self.template(event, &site("emit", &[])),
                TaskAction::Terminate(terminate) => {
                    for (what, t) in [("terminate.output", &terminate.output), ("terminate.error", &terminate.error)] {
                        if let Some(t) = t {
                            self.template(t, &site(what, &[]));
                        }
                    }
                }
                TaskAction::Cancel(_) => {}
                TaskAction::Switch { cases, .. } => {
                    for case in cases {
                        self.expr(&case.when, &site("switch", &[]));
                    }
                }
                TaskAction::Wait(wait) => {
                    if let crate::WaitOn::Condition { condition } = &wait.on {
                        // A milestone watches tasks it does not depend on.
                        let any_task = Site { tasks: None, ..site("wait_for.condition", &[]) };
                        self.expr(condition, &any_task);
                    }
                    if let Some(correlate) = &wait.correlate {
                        self.template(&correlate.value, &site("wait_for.correlate", &[]));
                    }
                    if let crate::OnTimeout::Continue { output } = &wait.on_timeout {
                        self.template(output, &site("wait_for.default", &[]));
                    }
                }
            }
            if let Some(when) = &task.when {
                self.expr(when, &site("when", &[]));
            }
            if let Some(f) = &task.for_each {
                self.expr(&f.items, &site("for_each", &[]));
            }
            if let Some(r) = &task.repeat {
                self.expr(&r.until, &site("repeat.until", &[Root::Output, Root::Iteration]));
            }
            if let Some(goto) = &task.goto {
                self.expr(&goto.when, &site("goto.when", &[Root::Output]));
            }
            if let Some(mutex) = &task.mutex {
                self.template(&mutex.key, &site("mutex", &[]));
            }
            let set_vars_extra: &[Root] =
                if task.repeat.is_some() { &[Root::Output, Root::Iteration] } else { &[Root::Output] };
            for t in task.set_vars.values() {
                self.template(t, &site("set_vars", set_vars_extra));
            }
        }
    }

    fn template(&mut self, template: &Template, site: &Site) {
        for e in template.exprs() {
            self.expr(e, site);
        }
    }

    fn expr(&mut self, e: &Expr, site: &Site) {
        for root in e.roots() {
            if site.roots.contains(&root) {
                continue;
            }
            let message = format!("`{}` cannot be used in {}", root.name(), site.place);
            let hint = match root {
                Root::Tasks | Root::Vars if site.owner.is_none() => {
                    "workflow vars are set before any task runs: they can use `input`, `workflow` and `event`"
                        .to_string()
                }
                _ => format!("it is only defined {}", root.where_bound()),
            };
            self.error(e.span, message, Some(hint));
        }
        if !site.roots.contains(&Root::Tasks) {
            return;
        }
        for t in e.task_refs() {
            if !self.wf.tasks.contains_key(t) {
                let hint = self.closest_task(t);
                self.error(e.span, format!("`${{{}}}` refers to unknown task `{t}`", e.source), hint);
                continue;
            }
            let Some(from) = site.tasks else { continue };
            if self.reaches(from, t) {
                continue;
            }
            let owner = site.owner.unwrap_or_default();
            if t == owner {
                self.error(
                    e.span,
                    format!("task `{owner}` uses tasks.{t}, its own result"),
                    Some("use `output` in set_vars and repeat.until".into()),
                );
            } else if self.fallbacks.contains_key(owner) {
                self.error(
                    e.span,
                    format!("fallback task `{owner}` uses tasks.{t}, which has not run when `{owner}` runs"),
                    Some("a fallback sees the task it stands in for and that task's dependencies".into()),
                );
            } else {
                self.error(
                    e.span,
                    format!("task `{owner}` uses tasks.{t} but does not depend on it (add it to depends_on)"),
                    None,
                );
            }
        }
    }

    fn ranges(&mut self) {
        let wf = self.wf;
        for (name, param) in &wf.input {
            if let Some(default) = &param.default
                && !type_matches(param.kind, default)
            {
                let span = self.span(&format!("input.{name}.default"), param.span);
                let message = format!(
                    "the default of input `{name}` must be {}, got {}",
                    crate::check::type_phrase(param.kind),
                    crate::yaml::describe_value(default)
                );
                self.error(span, message, None);
            }
        }
        if let Some(n) = wf.max_parallel
            && n == 0
        {
            let span = self.span("max_parallel", Span::default());
            self.error(span, "`max_parallel` must be at least 1".into(), None);
        }
        for (path, d) in [("timeout", wf.timeout), ("task_timeout", wf.task_timeout)] {
            if d.is_some_and(|d| d.is_zero()) {
                let span = self.span(path, Span::default());
                self.error(span, format!("`{path}` must be more than 0"), None);
            }
        }
        if let Some(retry) = &wf.retry {
            self.retry(retry, "retry", Span::default());
        }
        for task in all_tasks(wf) {
            let path = Self::task_path(task);
            if let Some(retry) = &task.retry {
                self.retry(retry, &format!("{path}.retry"), task.span);
            }
            if task.timeout.is_some_and(|d| d.is_zero()) {
                let span = self.span(&format!("{path}.timeout"), task.span);
                self.error(span, "`timeout` must be more than 0".into(), None);
            }
            if let Some(f) = &task.for_each
                && f.concurrency == 0
            {
                let span = self.span(&format!("{path}.concurrency"), task.span);
                self.error(span, "`concurrency` must be at least 1".into(), None);
            }
            if let Some(r) = &task.repeat
                && r.max_iterations == 0
            {
                let span = self.span(&format!("{path}.repeat.max_iterations"), task.span);
                self.error(span, "`max_iterations` must be at least 1".into(), None);
            }
        }
    }

    fn retry(&mut self, retry: &RetryPolicy, path: &str, fallback: Span) {
        if retry.max_attempts == 0 {
            let span = self.span(&format!("{path}.max_attempts"), fallback);
            self.error(span, "`max_attempts` must be at least 1 (1 means no retry)".into(), None);
        }
        if !(0.0..=1.0).contains(&retry.jitter) {
            let span = self.span(&format!("{path}.jitter"), fallback);
            self.error(span, format!("`jitter` must be between 0 and 1, got {}", retry.jitter), None);
        }
        if retry.factor.is_nan() || retry.factor <= 0.0 {
            let span = self.span(&format!("{path}.factor"), fallback);
            self.error(span, format!("`factor` must be more than 0, got {}", retry.factor), None);
        }
    }
}
