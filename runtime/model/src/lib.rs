//! The workflow language of Harmonia: the model of a workflow ([`types`]), parsing of YAML and
//! JSON files with `line:column` errors ([`parse_workflow`]), validation of the task graph and
//! of what each expression may refer to ([`validate()`]), `${...}` expressions in CEL
//! ([`Expr`], [`Template`]), checks of an execution's input ([`check_input`]) and workflow
//! templates ([`render_template`], [`check_template`]).
//!
//! Pure: no I/O beyond reading a file in [`load_workflow`]; it must not depend on wasmtime,
//! RocksDB, tokio or HTTP crates, so that the engine and the CLI can use it cheaply.

pub mod check;
mod control;
pub mod diag;
pub mod expr;
pub mod limits;
pub mod parse;
pub mod patch;
mod read;
pub mod schema;
pub mod template;
pub mod triggers;
pub mod types;
pub mod validate;
pub mod wait;
mod yaml;

pub use check::{PluginCatalog, WorkflowCatalog, check_input, check_plugins, check_workflows, type_matches};
pub use diag::{Diagnostic, Diagnostics};
pub use expr::{Budget, EvalError, Expr, ExprError, NoTasks, Part, Root, Scope, TaskLookup, TaskView, Template};
pub use limits::Limits;
pub use parse::{
    DEFAULT_CONCURRENCY, DEFAULT_MAX_ITERATIONS, DEFAULT_MAX_ROUNDS, ON_FAILURE, load_workflow, parse_workflow,
    parse_workflow_with,
};
pub use read::parse_duration;
pub use template::{Declared, RenderError, check_template, render_template, render_template_json};
pub use triggers::{Missed, Schedule, Trigger, TriggerOn, pattern_matches};
pub use types::*;
pub use validate::validate;
pub use wait::{Correlate, OnTimeout, SIGNAL_TYPE, WaitFor, WaitOn};
