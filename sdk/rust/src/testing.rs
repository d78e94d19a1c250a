//! Run actions in `cargo test` on your machine, with an in-memory stand-in for the host.
//!
//! Only on targets other than wasm32. Each test thread has its own stand-in, so tests run
//! in parallel without seeing each other's logs, events, keys or secrets.
//!
//! ```
//! use harmonia_sdk::{prelude::*, testing};
//!
//! struct Counter;
//! impl Plugin for Counter {
//!     fn info() -> PluginInfo { PluginInfo::new("counter", "0.1.0", "Counts") }
//!     fn actions() -> Actions {
//!         Actions::new().action("bump", "Adds one", |ctx: &Context, _: Value| {
//!             let n = ctx.kv_get_json::<u64>("n")?.unwrap_or(0) + 1;
//!             ctx.kv_set_json("n", &n)?;
//!             ctx.emit_event("bumped", &json!({ "n": n }))?;
//!             Ok(json!({ "n": n }))
//!         })
//!     }
//! }
//!
//! testing::call::<Counter>("bump", json!({})).unwrap();
//! assert_eq!(testing::call::<Counter>("bump", json!({})).unwrap(), json!({ "n": 2 }));
//! assert_eq!(testing::events().len(), 2);
//! assert_eq!(testing::kv().get("n").map(Vec::as_slice), Some(&b"2"[..]));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Context, Level, Plugin, TaskError};

#[derive(Default)]
pub(crate) struct MockHost {
    pub(crate) logs: Vec<(Level, String)>,
    pub(crate) progress: Vec<(u8, String)>,
    pub(crate) events: Vec<(String, Value)>,
    pub(crate) kv: BTreeMap<String, Vec<u8>>,
    pub(crate) secrets: BTreeMap<String, String>,
}

thread_local! {
    static MOCK: RefCell<MockHost> = RefCell::default();
}

pub(crate) fn with_mock<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    MOCK.with(|m| f(&mut m.borrow_mut()))
}

/// Calls `action` of plugin `P` with `input`, as the host would outside a workflow
/// (see [`Context::new`]), and returns the output as a JSON value.
///
/// # Panics
///
/// If the action returns text that is not JSON.
pub fn call<P: Plugin>(action: &str, input: Value) -> Result<Value, TaskError> {
    call_with::<P>(&Context::new(action), input)
}

/// Like [`call`], with a context of your own (attempt, idempotency key, deadline ...).
///
/// # Panics
///
/// If the action returns text that is not JSON.
pub fn call_with<P: Plugin>(ctx: &Context, input: Value) -> Result<Value, TaskError> {
    let out = P::actions().invoke(ctx, &input.to_string())?;
    Ok(serde_json::from_str(&out).unwrap_or_else(|e| panic!("action `{}` returned invalid JSON: {e}", ctx.action())))
}

/// Grants a secret to the code under test.
pub fn set_secret(name: &str, value: &str) {
    with_mock(|m| {
        m.secrets.insert(name.to_owned(), value.to_owned());
    })
}

/// The lines logged so far.
pub fn logs() -> Vec<(Level, String)> {
    with_mock(|m| m.logs.clone())
}

/// The progress reports so far.
pub fn progress() -> Vec<(u8, String)> {
    with_mock(|m| m.progress.clone())
}

/// The events emitted so far, as (type, data).
pub fn events() -> Vec<(String, Value)> {
    with_mock(|m| m.events.clone())
}

/// The key-value space as it is now.
pub fn kv() -> BTreeMap<String, Vec<u8>> {
    with_mock(|m| m.kv.clone())
}

/// Forgets all logs, progress, events, keys and secrets of this thread.
pub fn reset() {
    with_mock(|m| *m = MockHost::default())
}
