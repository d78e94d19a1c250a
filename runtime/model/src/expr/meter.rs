//! A budget for each evaluation, so that no expression can take the CPU or the memory of
//! the server: `lists.range(30000).map(x, lists.range(30000).size())` would run for half a
//! minute, and nine nested `map`s over ranges would fill the memory.
//!
//! CEL has no loops that do not end, but comprehensions (`map`, `filter`, `all`, `exists`,
//! `exists_one`, `sortBy`) and functions (`lists.range`, `join`, `split`, ...) can make work
//! and values that grow with the product of their sizes. The `cel` crate has no cost
//! tracking, so [`metered`] rewrites the compiled expression with calls to two functions
//! of ours (names starting with `@`, which CEL source cannot call):
//!
//! - `@cost(x)` adds the [weight](weight) of `x` to the evaluation's cost and returns `x`:
//!   around the range of every comprehension (its iterations, and the copies of its items),
//!   around every element a `map` adds, every predicate of `filter`/`all`/`exists`, every
//!   function's result, and the expression's own result;
//! - `@cost_range(n)` adds `n` before `lists.range(n)` makes its list;
//! - `@ok()` stops the loops of `all` and `exists` once the budget is spent (they carry on
//!   after an error, as a later item may absorb it).
//!
//! An evaluation whose cost goes over [`Budget::max_cost`] fails, deterministically, with
//! an error naming the limit. What the cost does not see (operators such as `==`, `in` or
//! `+` on large values, repeated in a loop) is bounded by [`Budget::max_time`], the CPU
//! time of the evaluating thread, read at the same points.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cel::common::ast::{CallExpr, Expr as Ast, ListExpr, operators};
use cel::common::types::{CelBytes, CelInt, CelList, CelMap, CelString};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError, IdedExpr};

/// What one evaluation may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Cost units (`expression_max_cost`): one per iteration, per value made or copied
    /// (an element or entry counts once, plus one per 16 bytes of a string).
    pub max_cost: u64,
    /// CPU time of the evaluating thread (`expression_max_time`).
    pub max_time: Duration,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_cost: DEFAULT_MAX_COST, max_time: DEFAULT_MAX_TIME }
    }
}

const DEFAULT_MAX_COST: u64 = 10_000_000;
const DEFAULT_MAX_TIME: Duration = Duration::from_secs(1);

/// The budget of this process's evaluations, as an operator configured it.
static MAX_COST: AtomicU64 = AtomicU64::new(DEFAULT_MAX_COST);
static MAX_TIME_NS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_TIME.as_nanos() as u64);

impl Budget {
    /// Sets the budget of every evaluation that does not bring its own (the server's
    /// `expression_max_cost` and `expression_max_time`).
    pub fn configure(budget: Budget) {
        MAX_COST.store(budget.max_cost, Ordering::Relaxed);
        let nanos = u64::try_from(budget.max_time.as_nanos()).unwrap_or(u64::MAX);
        MAX_TIME_NS.store(nanos, Ordering::Relaxed);
    }

    /// The budget set by [`Budget::configure`], or the default one.
    pub fn configured() -> Budget {
        Budget {
            max_cost: MAX_COST.load(Ordering::Relaxed),
            max_time: Duration::from_nanos(MAX_TIME_NS.load(Ordering::Relaxed)),
        }
    }
}

/// Runs a closure where it may take its time: see [`Budget::offload_loops_with`].
pub type Offload = fn(&mut dyn FnMut());

static OFFLOAD: OnceLock<Offload> = OnceLock::new();

impl Budget {
    /// Has every evaluation of an expression with a loop (a comprehension) run through
    /// `offload`: a server moves it off the threads that answer requests, as even within
    /// its budget it may take a good part of a second. Set once per process; later calls
    /// are ignored.
    pub fn offload_loops_with(offload: Offload) {
        let _ = OFFLOAD.set(offload);
    }
}

/// Runs `evaluate` through the offload, if one is set.
pub(crate) fn offloaded<T>(evaluate: impl FnOnce() -> T) -> T {
    let Some(offload) = OFFLOAD.get() else {
        return evaluate();
    };
    let mut evaluate = Some(evaluate);
    let mut result = None;
    offload(&mut || result = evaluate.take().map(|f| f()));
    result.expect("the offload ran the evaluation")
}

/// Which limit an evaluation went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    Cost(u64),
    Time(Duration),
}

impl Over {
    /// The error of a charge (or an `@ok()`) once the budget is spent.
    fn error(self) -> ExecutionError {
        ExecutionError::function_error("cost", self.message())
    }

    pub(crate) fn message(self) -> String {
        match self {
            Over::Cost(limit) => format!(
                "the expression's cost exceeds the limit of {limit} (expression_max_cost; an operator can raise it)"
            ),
            Over::Time(limit) => format!(
                "the expression's CPU time exceeds the limit of {} ms (expression_max_time; an operator can raise it)",
                limit.as_millis()
            ),
        }
    }
}

/// The CPU time is read once every this many charges (it is a system call).
const CLOCK_EVERY: u32 = 32;

#[derive(Clone, Copy)]
struct Meter {
    spent: u64,
    budget: Budget,
    /// The thread's CPU time at the first reading (taken at the first clock check rather
    /// than at the start: most evaluations never get there, and the reading is a system call).
    started: Option<Duration>,
    charges: u32,
    over: Option<Over>,
}

thread_local! {
    /// The meter of the evaluation running on this thread (evaluations do not nest).
    static METER: Cell<Option<Meter>> = const { Cell::new(None) };
}

/// Runs `evaluate` under `budget`; the limit it went over, if any, comes with its result
/// (whatever the result: an error from the limit may have been absorbed, as
/// `exists` absorbs an error when another item is true).
pub(crate) fn run<T>(budget: Budget, evaluate: impl FnOnce() -> T) -> (T, Option<Over>) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            METER.set(None);
        }
    }
    METER.set(Some(Meter { spent: 0, budget, started: None, charges: 0, over: None }));
    let _reset = Reset;
    let result = evaluate();
    let over = METER.get().and_then(|m| m.over);
    (result, over)
}

/// Adds `cost` to the running evaluation; an error once it is over its budget (and on
/// every charge after that, so that the evaluation ends quickly).
fn charge(cost: u64) -> Result<(), ExecutionError> {
    let Some(mut meter) = METER.get() else {
        return Ok(()); // evaluated outside `run` (cannot happen through `Expr`)
    };
    if meter.over.is_none() {
        meter.spent = meter.spent.saturating_add(cost);
        meter.charges = meter.charges.wrapping_add(1);
        if meter.spent > meter.budget.max_cost {
            meter.over = Some(Over::Cost(meter.budget.max_cost));
        } else if meter.charges % CLOCK_EVERY == 0 {
            let now = thread_cpu_time();
            let started = *meter.started.get_or_insert(now);
            if now.saturating_sub(started) > meter.budget.max_time {
                meter.over = Some(Over::Time(meter.budget.max_time));
            }
        }
        METER.set(Some(meter));
    }
    match meter.over {
        Some(over) => Err(over.error()),
        None => Ok(()),
    }
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write to; the clock id is a constant Linux and
    // the BSDs define.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0;
    if failed {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What a value costs: one per value, element and entry (keys included), plus one per 16
/// bytes of a string or bytes. Stops counting past `limit`.
fn weight(value: &dyn Val, limit: u64) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        total += 1;
        if total > limit {
            break;
        }
        if let Some(s) = value.downcast_ref::<CelString>() {
            total += s.inner().len() as u64 / 16;
        } else if let Some(b) = value.downcast_ref::<CelBytes>() {
            total += b.inner().len() as u64 / 16;
        } else if let Some(list) = value.downcast_ref::<CelList>() {
            stack.extend(list.inner().iter().map(|v| &**v));
        } else if let Some(map) = value.downcast_ref::<CelMap>() {
            total += map.inner().len() as u64; // the keys
            stack.extend(map.inner().values().map(|v| &**v));
        } else if let Some(sizer) = value.as_sizer() {
            total += u64::try_from(*sizer.size().inner()).unwrap_or(0);
        }
    }
    total
}

/// `@cost(x)`: charges the weight of `x`, and returns it.
fn cost<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args.pop().ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    let left = METER.get().map_or(u64::MAX, |m| m.budget.max_cost.saturating_sub(m.spent));
    charge(weight(value.as_ref(), left))?;
    Ok(value)
}

/// `@cost_range(n)`: charges `n` (the size of the list `lists.range(n)` is about to make).
fn cost_range<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args.pop().ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))?;
    if let Some(n) = value.downcast_ref::<CelInt>() {
        charge(u64::try_from(*n.inner()).unwrap_or(0))?;
    }
    Ok(value)
}

/// `@ok()`: true, or the error of a spent budget.
fn ok<'b, 'v>(_: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    match METER.get().and_then(|m| m.over) {
        Some(over) => Err(over.error()),
        None => Ok(CowVal::owned(cel::common::types::CelBool::from(true))),
    }
}

const COST: &str = "@cost";
const OK: &str = "@ok";
const COST_RANGE: &str = "@cost_range";

/// Registers `@cost`, `@cost_range` and `@ok` on `env`.
pub(super) fn register(env: &mut Env) {
    use cel::common::types::{DYN_TYPE, INT_TYPE};
    // These only fail if registered twice, which cannot happen on a fresh environment.
    env.add_overload(COST, "@cost_dyn", vec![DYN_TYPE], cost).expect("@cost");
    env.add_overload(COST_RANGE, "@cost_range_int", vec![INT_TYPE], cost_range).expect("@cost_range");
    env.add_overload(OK, "@ok", vec![], ok).expect("@ok");
}

/// `expr` with the charges described at the top of this module.
pub(crate) fn metered(expr: &IdedExpr) -> IdedExpr {
    wrap(COST, meter(expr))
}

/// What evaluating `expr` costs at least, whatever the data: the part of its cost that
/// literal sizes fix (`lists.range(30000)`, `[1, 2, 3]`), so that an expression certain to
/// go over its budget is refused when its workflow is read rather than when it runs.
pub(crate) fn least_cost(expr: &IdedExpr) -> u64 {
    match &expr.expr {
        Ast::Call(call) if is_range(call) => {
            let n = literal_range(call).unwrap_or(0);
            n.saturating_add(call.args.iter().map(least_cost).fold(0, u64::saturating_add))
        }
        Ast::Comprehension(c) => {
            let size = match &c.iter_range.expr {
                Ast::Call(call) if is_range(call) => literal_range(call).unwrap_or(0),
                Ast::List(list) => list.elements.len() as u64,
                _ => 0,
            };
            // `all` and `exists` may stop at their first item; `map` and `filter` do not.
            let iterations = if matches!(c.loop_cond.expr, Ast::Literal(_)) { size } else { size.min(1) };
            let each = 1u64.saturating_add(least_cost(&c.loop_step));
            [
                least_cost(&c.iter_range),
                size,
                iterations.saturating_mul(each),
                least_cost(&c.accu_init),
                least_cost(&c.result),
            ]
            .into_iter()
            .fold(0, u64::saturating_add)
        }
        _ => super::children(expr).into_iter().map(least_cost).fold(0, u64::saturating_add),
    }
}

/// `n` of `lists.range(n)` written as a literal.
fn literal_range(call: &CallExpr) -> Option<u64> {
    match call.args.as_slice() {
        [IdedExpr { expr: Ast::Literal(cel::common::ast::LiteralValue::Int(n)), .. }] => u64::try_from(*n.inner()).ok(),
        _ => None,
    }
}

/// `lists.range(..)`.
fn is_range(call: &CallExpr) -> bool {
    call.func_name == "range"
        && matches!(call.target.as_deref(), Some(IdedExpr { expr: Ast::Ident(ns), .. }) if ns == "lists")
}

/// Whether `expr` has a comprehension (a loop).
pub(crate) fn loops(expr: &IdedExpr) -> bool {
    let mut stack = vec![expr];
    while let Some(expr) = stack.pop() {
        if matches!(expr.expr, Ast::Comprehension(_)) {
            return true;
        }
        stack.extend(super::children(expr));
    }
    false
}

/// `@ok() ? cond : false`: the condition of a loop that `all` and `exists` keep running
/// after an error (which a later item may absorb), stopped once the budget is spent.
fn checked(cond: IdedExpr) -> IdedExpr {
    let id = cond.id;
    let ok = IdedExpr { id, expr: Ast::Call(CallExpr { func_name: OK.to_string(), target: None, args: vec![] }) };
    let no = IdedExpr { id, expr: Ast::Literal(cel::common::ast::LiteralValue::Boolean(false.into())) };
    let args = vec![ok, cond, no];
    IdedExpr { id, expr: Ast::Call(CallExpr { func_name: operators::CONDITIONAL.to_string(), target: None, args }) }
}

/// `name(expr)`, with `expr`'s id (so that an error still points at `expr`).
fn wrap(name: &str, expr: IdedExpr) -> IdedExpr {
    IdedExpr { id: expr.id, expr: Ast::Call(CallExpr { func_name: name.to_string(), target: None, args: vec![expr] }) }
}

fn meter(expr: &IdedExpr) -> IdedExpr {
    let id = expr.id;
    let metered = match &expr.expr {
        Ast::Call(call) => return meter_call(id, call),
        Ast::Comprehension(c) => {
            let mut c = (**c).clone();
            let empty = matches!(&c.iter_range.expr, Ast::List(l) if l.elements.is_empty());
            c.iter_range = meter(&c.iter_range);
            if !empty {
                c.iter_range = wrap(COST, c.iter_range);
            }
            c.accu_init = meter(&c.accu_init);
            c.loop_cond = meter(&c.loop_cond);
            if !matches!(c.loop_cond.expr, Ast::Literal(_)) {
                c.loop_cond = checked(c.loop_cond);
            }
            c.loop_step = meter_step(&c.loop_step, &c.accu_var);
            c.result = meter(&c.result);
            Ast::Comprehension(Box::new(c))
        }
        Ast::List(list) => Ast::List(ListExpr {
            elements: list.elements.iter().map(meter).collect(),
            optional_indices: list.optional_indices.clone(),
        }),
        Ast::Map(map) => {
            let mut map = map.clone();
            for entry in &mut map.entries {
                meter_entry(&mut entry.expr);
            }
            Ast::Map(map)
        }
        Ast::Struct(s) => {
            let mut s = s.clone();
            for entry in &mut s.entries {
                meter_entry(&mut entry.expr);
            }
            Ast::Struct(s)
        }
        Ast::Select(select) => {
            let mut select = select.clone();
            select.operand = Box::new(meter(&select.operand));
            Ast::Select(select)
        }
        Ast::Ident(_) | Ast::Literal(_) | Ast::Unspecified => expr.expr.clone(),
    };
    IdedExpr { id, expr: metered }
}

fn meter_entry(entry: &mut cel::common::ast::EntryExpr) {
    use cel::common::ast::EntryExpr;
    match entry {
        EntryExpr::MapEntry(e) => {
            e.key = meter(&e.key);
            e.value = meter(&e.value);
        }
        EntryExpr::StructField(f) => f.value = meter(&f.value),
    }
}

/// A call, its arguments metered: a function's result is charged (operators' are not, but
/// they are bounded by the size of the expression or run under a charged loop), and
/// `lists.range(n)` is charged `n` before it runs.
fn meter_call(id: u64, call: &CallExpr) -> IdedExpr {
    let mut call = CallExpr {
        func_name: call.func_name.clone(),
        target: call.target.as_ref().map(|t| Box::new(meter(t))),
        args: call.args.iter().map(meter).collect(),
    };
    let is_range = is_range(&call);
    if is_range {
        call.args = call.args.drain(..).map(|a| wrap(COST_RANGE, a)).collect();
    }
    let operator = call.func_name.starts_with(['_', '@', '!', '-']);
    let expr = IdedExpr { id, expr: Ast::Call(call) };
    if operator || is_range { expr } else { wrap(COST, expr) }
}

/// The step of a comprehension, in the shapes the macros write (and that `cel` runs
/// faster than the general case, which these charges must keep): every element `map` adds
/// and every predicate is charged.
fn meter_step(step: &IdedExpr, accu: &str) -> IdedExpr {
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Ast::Ident(name) if name == accu);
    let Ast::Call(call) = &step.expr else {
        return meter(step);
    };
    let mut call = call.clone();
    match (call.func_name.as_str(), call.args.as_mut_slice()) {
        // `@result + [e]` (map): each element added.
        (operators::ADD, [first, IdedExpr { expr: Ast::List(items), .. }]) if is_accu(first) => {
            for element in &mut items.elements {
                *element = wrap(COST, meter(element));
            }
        }
        // `@result && p`, `@result || p` (all, exists): each predicate.
        (operators::LOGICAL_AND | operators::LOGICAL_OR, [first, predicate]) if is_accu(first) => {
            *predicate = wrap(COST, meter(predicate));
        }
        // `g ? <step> : @result` (filter, exists_one, map with a filter): each guard.
        (operators::CONDITIONAL, [guard, then, otherwise]) if is_accu(otherwise) => {
            *guard = wrap(COST, meter(guard));
            *then = meter_step(then, accu);
        }
        _ => return meter(step),
    }
    IdedExpr { id: step.id, expr: Ast::Call(call) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::convert::to_val;

    #[test]
    fn a_value_weighs_one_per_value_entry_and_16_bytes() {
        let weigh = |json: serde_json::Value| weight(&*to_val(&json), u64::MAX);
        assert_eq!(weigh(serde_json::json!(1)), 1);
        assert_eq!(weigh(serde_json::json!([1, 2, 3])), 4);
        assert_eq!(weigh(serde_json::json!("x".repeat(32))), 3);
        // The map, its key, its value.
        assert_eq!(weigh(serde_json::json!({ "a": 1 })), 3);
        assert_eq!(weigh(serde_json::json!({ "a": [[1], [2]] })), 1 + 1 + 1 + 2 + 2);
        // Counting stops past the limit.
        assert!(weight(&*to_val(&serde_json::json!(vec![0; 1000])), 10) <= 12);
    }
}
