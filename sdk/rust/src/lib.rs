//! Write Harmonia workflow plugins in Rust.
//!
//! A Harmonia plugin is a WebAssembly component that implements the `adapter` world of the
//! `harmonia:plugin` WIT package (`wit/plugin.wit` in the Harmonia repository). This crate
//! hides the generated bindings: you write a type, list its actions with typed inputs and
//! outputs, and export it with one macro.
//!
//! ```
//! use harmonia_sdk::prelude::*;
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn info() -> PluginInfo {
//!         PluginInfo::new("greeter", "0.1.0", "Greets people")
//!     }
//!     fn actions() -> Actions {
//!         Actions::new().action("greet", "Says hello to someone", greet)
//!     }
//! }
//!
//! #[derive(Deserialize)]
//! struct Input { name: String }
//!
//! #[derive(Serialize)]
//! struct Output { greeting: String }
//!
//! fn greet(ctx: &Context, input: Input) -> Result<Output, TaskError> {
//!     if input.name.is_empty() {
//!         return Err(TaskError::invalid_input("name must not be empty"));
//!     }
//!     ctx.info(format!("greeting {}", input.name));
//!     Ok(Output { greeting: format!("Hello, {}!", input.name) })
//! }
//!
//! harmonia_sdk::export!(Greeter);
//! # fn main() {
//! #     let out = harmonia_sdk::testing::call::<Greeter>("greet", json!({"name": "Ada"})).unwrap();
//! #     assert_eq!(out, json!({"greeting": "Hello, Ada!"}));
//! # }
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the `.wasm` file is already a
//! component, ready to drop into Harmonia's `plugins/` directory.
//!
//! What the SDK does for you:
//! - `describe` returns the [`PluginInfo`] with the list of [`Actions`];
//! - `invoke` finds the action, deserializes the input (a failure is an `invalid-input`
//!   error naming the action and the serde message), runs it, serializes the output;
//! - a call of an action that does not exist is an `unknown-action` error.
//!
//! On targets other than wasm32 the host interface is simulated in memory (see
//! [`testing`]), so `cargo test` on your machine can run actions.
#![deny(missing_docs)]
#![warn(missing_docs)]

// The generated bindings name this crate by its absolute path, also from inside it.
extern crate self as harmonia_sdk;

mod context;
mod error;
pub mod host;
mod plugin;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use context::Context;
pub use error::{ErrorKind, Result, TaskError};
pub use host::Level;
pub use plugin::{Action, Actions, Plugin, PluginInfo};
pub use serde;
pub use serde_json;

/// Everything a plugin usually needs: `use harmonia_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{Actions, Context, ErrorKind, Level, Plugin, PluginInfo, TaskError};
    #[cfg(feature = "schemars")]
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{json, Value};
}

/// Exports a type that implements [`Plugin`] as the component's `adapter` world.
///
/// Use it once per plugin crate, at the crate root, on a type defined in that crate:
/// `harmonia_sdk::export!(MyPlugin);`. The crate must be a `cdylib`.
#[macro_export]
macro_rules! export {
    ($plugin:ident) => {
        impl $crate::__private::bindings::Guest for $plugin {
            fn describe() -> $crate::__private::bindings::PluginInfo {
                $crate::__private::describe::<$plugin>()
            }
            fn invoke(
                call: $crate::__private::bindings::Invocation,
            ) -> ::core::result::Result<::std::string::String, $crate::__private::bindings::TaskError> {
                $crate::__private::invoke::<$plugin>(call)
            }
        }
        $crate::__private::bindings::__export_adapter!($plugin with_types_in $crate::__private::bindings);
    };
}

/// Not public API: what [`export!`] expands to.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    use crate::{Context, ErrorKind, Plugin, TaskError};

    /// The generated bindings of the `adapter` world.
    #[allow(missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "adapter",
            pub_export_macro: true,
            export_macro_name: "__export_adapter",
            default_bindings_module: "::harmonia_sdk::__private::bindings",
            runtime_path: "::harmonia_sdk::__private::wit_bindgen::rt",
        });
    }

    use bindings::harmonia::plugin::types as wit;

    /// The `describe` export of the plugin `P`.
    pub fn describe<P: Plugin>() -> wit::PluginInfo {
        let info = P::info();
        let actions = P::actions()
            .iter()
            .map(|a| wit::ActionInfo {
                name: a.name().to_owned(),
                description: a.description().to_owned(),
                input_schema: a.input_schema().map(|s| s.to_string()),
                output_schema: a.output_schema().map(|s| s.to_string()),
            })
            .collect();
        wit::PluginInfo {
            name: info.name().to_owned(),
            version: info.version().to_owned(),
            description: info.description().to_owned(),
            actions,
            capabilities: info.capabilities().to_vec(),
        }
    }

    /// The `invoke` export of the plugin `P`.
    pub fn invoke<P: Plugin>(call: wit::Invocation) -> Result<String, wit::TaskError> {
        let mut ctx = Context::new(call.action)
            .with_execution_id(call.execution_id)
            .with_task_id(call.task_id)
            .with_attempt(call.attempt)
            .with_idempotency_key(call.idempotency_key);
        if let Some(deadline) = call.deadline_ms {
            ctx = ctx.with_deadline_ms(deadline);
        }
        P::actions().invoke(&ctx, &call.input).map_err(to_wit)
    }

    fn to_wit(err: TaskError) -> wit::TaskError {
        let (kind, message, code, details, retry_after_ms) = err.into_parts();
        wit::TaskError {
            kind: match kind {
                ErrorKind::InvalidInput => wit::ErrorKind::InvalidInput,
                ErrorKind::Retryable => wit::ErrorKind::Retryable,
                ErrorKind::Fatal => wit::ErrorKind::Fatal,
                ErrorKind::UnknownAction => wit::ErrorKind::UnknownAction,
            },
            message,
            code,
            details: details.map(|d| d.to_string()),
            retry_after_ms,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::time::Duration;

        #[test]
        fn errors_map_field_by_field() {
            let err = to_wit(
                TaskError::retryable("slow")
                    .with_code("http-503")
                    .with_details(serde_json::json!({"body": "x"}))
                    .with_retry_after(Duration::from_secs(2)),
            );
            assert_eq!(err.kind, wit::ErrorKind::Retryable);
            assert_eq!(err.message, "slow");
            assert_eq!(err.code.as_deref(), Some("http-503"));
            assert_eq!(err.details.as_deref(), Some(r#"{"body":"x"}"#));
            assert_eq!(err.retry_after_ms, Some(2000));
            let err = to_wit(TaskError::unknown_action("x"));
            assert_eq!(err.kind, wit::ErrorKind::UnknownAction);
            assert_eq!((err.code, err.details, err.retry_after_ms), (None, None, None));
        }
    }
}
