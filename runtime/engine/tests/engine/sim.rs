//! A simulated driver for engine tests: a clock in milliseconds, the calls the engine
//! asked for, timers, and a replay check after every step.

use std::collections::BTreeMap;
use std::sync::Arc;

use harmonia_engine::{
    CallId, Command, Event, ExecStatus, Execution, Failure, Millis, Plan, TaskStatus, TimerId, replay, step,
};
use serde_json::Value;

pub struct Sim {
    pub plan: Plan,
    pub exec: Execution,
    pub now: Millis,
    pub history: Vec<Event>,
    /// Calls as the engine asked for them: call -> (attempt, command).
    pub calls: BTreeMap<CallId, (u32, Command)>,
    pub timers: Vec<(TimerId, Millis)>,
    pub cancelled: Vec<CallId>,
    /// Mutex commands (`Acquire`, `Release`), in order.
    pub locks: Vec<Command>,
    pub finished: bool,
}

pub fn call(spec: &str) -> CallId {
    match spec.split_once('[') {
        Some((task, rest)) => CallId::item(task, rest.trim_end_matches(']').parse().unwrap()),
        None => CallId::task(spec),
    }
}

impl Sim {
    pub fn new(yaml: &str) -> Sim {
        let workflow = harmonia_model::parse_workflow(yaml, None).unwrap_or_else(|e| panic!("bad test workflow:\n{e}"));
        let plan = Plan::new(Arc::new(workflow));
        let exec = Execution::new("exec-1", &plan.workflow, &plan.fallbacks);
        Sim {
            plan,
            exec,
            now: 1_000_000,
            history: vec![],
            calls: BTreeMap::new(),
            timers: vec![],
            cancelled: vec![],
            locks: vec![],
            finished: false,
        }
    }

    pub fn started(yaml: &str, input: Value) -> Sim {
        let mut sim = Sim::new(yaml);
        sim.feed(Event::Started { input, event: None, at: sim.now });
        sim
    }

    /// Steps the engine and records what it asked for; checks that a replay of the whole
    /// history gives the same state. Returns how many events the step produced.
    pub fn feed(&mut self, input: Event) -> usize {
        let out = step(&self.plan, &mut self.exec, input);
        let n = out.events.len();
        self.history.extend(out.events);
        for command in out.commands {
            match &command {
                Command::RunCall { call, attempt, .. }
                | Command::RunChild { call, attempt, .. }
                | Command::Await { call, attempt, .. }
                | Command::Emit { call, attempt, .. } => {
                    self.calls.insert(call.clone(), (*attempt, command.clone()));
                }
                Command::StartTimer { timer, due } => self.timers.push((timer.clone(), *due)),
                Command::CancelCall { call } => self.cancelled.push(call.clone()),
                Command::Finished => self.finished = true,
                Command::Acquire { .. } | Command::Release { .. } => self.locks.push(command.clone()),
            }
        }
        for event in &self.history[self.history.len() - n..] {
            let tagged = serde_json::to_value(event).unwrap();
            assert_eq!(tagged["type"].as_str(), Some(event.kind()), "Event::kind of {event:?}");
        }
        let replayed = replay(&self.plan, &self.exec.id, &self.history);
        assert_eq!(replayed, self.exec, "replaying the history must rebuild the state");
        self.check_invariants();
        n
    }

    /// What must hold after every step of a running execution: the count of unresolved
    /// tasks is right, and there is something to wait for (no silent hang).
    fn check_invariants(&self) {
        if self.exec.status != ExecStatus::Running {
            return;
        }
        if self.exec.failing.is_none() {
            let open = self.exec.tasks.values().filter(|t| t.counted && !t.status.is_terminal()).count();
            assert_eq!(self.exec.unresolved as usize, open, "unresolved count drifted: {:#?}", self.exec.tasks);
        }
        assert!(
            !harmonia_engine::stalled(&self.plan, &self.exec),
            "a running execution with nothing in flight, retrying, queued or waiting for items: {:#?}",
            self.exec
        );
    }

    /// Calls in flight, as `task` or `task[i]`.
    pub fn running(&self) -> Vec<String> {
        self.exec.in_flight.keys().map(|c| c.to_string()).collect()
    }

    pub fn input_of(&self, spec: &str) -> Value {
        match &self.calls[&call(spec)].1 {
            Command::RunCall { input, .. } | Command::RunChild { input, .. } => input.clone(),
            _ => unreachable!(),
        }
    }

    pub fn attempt_of(&self, spec: &str) -> u32 {
        self.calls[&call(spec)].0
    }

    pub fn succeed(&mut self, spec: &str, output: Value) -> usize {
        let c = call(spec);
        let attempt = self.calls.get(&c).map_or(1, |(a, _)| *a);
        self.feed(Event::CallSucceeded { call: c, attempt, output, at: self.now })
    }

    pub fn fail(&mut self, spec: &str, kind: &str, message: &str) -> usize {
        let c = call(spec);
        let attempt = self.calls.get(&c).map_or(1, |(a, _)| *a);
        self.feed(Event::CallFailed { call: c, attempt, error: Failure::new(kind, message), at: self.now })
    }

    /// Moves the clock and fires the timers that fell due, earliest first.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        loop {
            self.timers.sort_by_key(|(_, due)| *due);
            match self.timers.first() {
                Some((_, due)) if *due <= self.now => {
                    let (timer, _) = self.timers.remove(0);
                    self.feed(Event::TimerFired { timer, at: self.now });
                }
                _ => return,
            }
        }
    }

    pub fn status(&self, task: &str) -> TaskStatus {
        self.exec.task(task).status
    }

    pub fn exec_status(&self) -> ExecStatus {
        self.exec.status
    }

    pub fn output(&self, task: &str) -> Value {
        self.exec.task(task).output.clone().unwrap_or(Value::Null)
    }

    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.history.iter().filter(|e| pred(e)).count()
    }
}
