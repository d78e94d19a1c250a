//! `core`: small building blocks for workflows and for testing the host.
//!
//! - control: `echo`, `fail` (with a retry counter in the key-value store), `sleep`, `spin`;
//! - JSON transforms: `merge`, `pick`, `get`, `length`, `range`, `split` (in `transform.rs`);
//! - host-interface checks: `log`, `kv_set`, `kv_get`, `kv_delete`, `secret`, `read_file`,
//!   `env`, `stdout`, `journal` (in `probe.rs`).

use harmonia_sdk::prelude::*;

mod control;
mod probe;
mod transform;

/// The plugin.
pub struct Core;

impl Plugin for Core {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "core",
            env!("CARGO_PKG_VERSION"),
            "Building blocks: echo, failures, sleeps, JSON transforms, host checks",
        )
    }

    fn actions() -> Actions {
        Actions::new()
            .raw_action("echo", "Returns its input unchanged", |_, input| {
                Ok(if input.trim().is_empty() {
                    "null".to_owned()
                } else {
                    input.to_owned()
                })
            })
            .action(
                "fail",
                "Fails with the given kind, or only the first `times` calls of a task",
                control::fail,
            )
            .input_schema_of::<control::FailInput>()
            .action(
                "crash",
                "Panics with `message`, or with `overflow: true` recurses until its stack runs out: a plugin bug on demand, to see what the host reports",
                control::crash,
            )
            .input_schema_of::<control::CrashInput>()
            .action(
                "journal",
                "Appends a JSON line {execution, task, attempt, key, value} to the file at `path` \
                 (needs a writable granted directory), then returns {value}",
                probe::journal,
            )
            .input_schema_of::<probe::JournalInput>()
            .action(
                "sleep",
                "Sleeps `ms` milliseconds, then returns {slept_ms}",
                control::sleep,
            )
            .input_schema_of::<control::Millis>()
            .action(
                "spin",
                "Busy-loops on the CPU for `ms` milliseconds, then returns {spun_ms}",
                control::spin,
            )
            .input_schema_of::<control::Millis>()
            .action(
                "merge",
                "Shallow-merges `objects` left to right into one object",
                transform::merge,
            )
            .input_schema_of::<transform::MergeInput>()
            .action(
                "pick",
                "Keeps only `keys` of the object `value`",
                transform::pick,
            )
            .input_schema_of::<transform::PickInput>()
            .action(
                "get",
                "Returns the part of `value` at the JSON Pointer `pointer`",
                transform::get,
            )
            .input_schema_of::<transform::GetInput>()
            .action(
                "length",
                "Returns {length} of an array, string (in characters) or object",
                transform::length,
            )
            .input_schema_of::<transform::LengthInput>()
            .action(
                "range",
                "Returns {items} from `start` (0) up to `end`, exclusive, by `step` (1)",
                transform::range,
            )
            .input_schema_of::<transform::RangeInput>()
            .action(
                "split",
                "Splits `text` at `separator` (whitespace if absent) into {items}",
                transform::split,
            )
            .input_schema_of::<transform::SplitInput>()
            .action(
                "log",
                "Logs `message` at `level`; optionally reports `progress` and emits `event`",
                probe::log,
            )
            .input_schema_of::<probe::LogInput>()
            .action(
                "kv_set",
                "Stores `value` as JSON under `key` in the plugin's key-value space",
                probe::kv_set,
            )
            .input_schema_of::<probe::KvSetInput>()
            .action(
                "kv_get",
                "Returns {value} stored under `key`, or null",
                probe::kv_get,
            )
            .input_schema_of::<probe::KeyInput>()
            .action(
                "kv_delete",
                "Removes `key` from the plugin's key-value space",
                probe::kv_delete,
            )
            .input_schema_of::<probe::KeyInput>()
            .action(
                "secret",
                "Returns {value} of the secret `name`, or null if not granted",
                probe::secret,
            )
            .input_schema_of::<probe::NameInput>()
            .action(
                "read_file",
                "Returns {content} of the UTF-8 file at `path` (needs a granted directory)",
                probe::read_file,
            )
            .input_schema_of::<probe::PathInput>()
            .action(
                "env",
                "Returns {value} of the environment variable `name`, or null",
                probe::env,
            )
            .input_schema_of::<probe::NameInput>()
            .action(
                "stdout",
                "Prints `text` to stdout and to stderr",
                probe::stdout,
            )
            .input_schema_of::<probe::TextInput>()
    }
}

harmonia_sdk::export!(Core);

#[cfg(test)]
mod tests {
    use super::*;
    use harmonia_sdk::testing;

    #[test]
    fn echo_returns_input_text_unchanged() {
        let ctx = Context::new("echo");
        let input = r#"{"a": [1, 2.50, "x"], "big": 12345678901234567890123}"#;
        assert_eq!(Core::actions().invoke(&ctx, input).unwrap(), input);
    }

    #[test]
    fn every_action_has_a_description() {
        for action in Core::actions().iter() {
            assert!(!action.description().is_empty(), "{}", action.name());
        }
    }

    #[test]
    fn unknown_action_is_reported() {
        let err = testing::call::<Core>("nope", json!({})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownAction);
    }
}
