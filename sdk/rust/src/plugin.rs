//! [`Plugin`], [`PluginInfo`] and [`Actions`]: what a plugin is and how calls reach its actions.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::{Context, TaskError};

/// A Harmonia plugin: a name, a version, and the actions it offers.
///
/// Implement it on a unit struct and export that struct with [`export!`](crate::export).
/// A fresh instance of the component serves every call, so a plugin keeps no state in
/// memory between calls: what must last goes through the key-value store
/// ([`Context::kv_set`]).
pub trait Plugin {
    /// The plugin's name, version, description and needed capabilities.
    fn info() -> PluginInfo;

    /// The plugin's actions. The SDK dispatches each call to the action of that name.
    fn actions() -> Actions;
}

/// What a plugin says about itself: its name (`component:` in workflows), version,
/// description and the capabilities it needs. The action list comes from
/// [`Plugin::actions`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PluginInfo {
    name: String,
    version: String,
    description: String,
    capabilities: Vec<String>,
}

impl PluginInfo {
    /// Describes a plugin. `name` is what workflows write as `component:`; pass
    /// `env!("CARGO_PKG_VERSION")` as the version to keep it in step with the crate.
    pub fn new(name: impl Into<String>, version: impl Into<String>, description: impl Into<String>) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            capabilities: Vec::new(),
        }
    }

    /// Declares a capability the plugin needs (`http`, `fs-read`, `secrets`, ...). Shown to
    /// operators; granted only by the plugin's manifest.
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capabilities.push(capability.into());
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The one-line description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The declared capabilities.
    pub fn capabilities(&self) -> &[String] {
        &self.capabilities
    }
}

type Handler = Box<dyn Fn(&Context, &str) -> Result<String, TaskError>>;

/// One registered action; see [`Actions`].
pub struct Action {
    // Static text: a fresh instance builds the table on every call, so it must be cheap.
    name: &'static str,
    description: &'static str,
    input_schema: Option<Value>,
    output_schema: Option<Value>,
    handler: Handler,
}

impl Action {
    /// The name workflows use as `action:`.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The one-line description.
    pub fn description(&self) -> &str {
        self.description
    }

    /// The published JSON Schema of the input, if any.
    pub fn input_schema(&self) -> Option<&Value> {
        self.input_schema.as_ref()
    }

    /// The published JSON Schema of the output, if any.
    pub fn output_schema(&self) -> Option<&Value> {
        self.output_schema.as_ref()
    }
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Action")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// The actions of a plugin, each a name, a one-line description and a handler.
///
/// ```
/// use harmonia_sdk::prelude::*;
///
/// #[derive(Deserialize)]
/// struct Greet { name: String }
///
/// let actions = Actions::new()
///     .action("greet", "Says hello", |_ctx: &Context, input: Greet| {
///         Ok(json!({ "greeting": format!("hello, {}", input.name) }))
///     })
///     .input_schema(json!({ "type": "object", "required": ["name"] }));
/// let out = actions.invoke(&Context::new("greet"), r#"{"name":"Ada"}"#).unwrap();
/// assert_eq!(out, r#"{"greeting":"hello, Ada"}"#);
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct Actions {
    list: Vec<Action>,
}

impl Actions {
    /// No actions yet.
    pub fn new() -> Self {
        Actions::default()
    }

    /// Adds an action with typed input and output.
    ///
    /// The input JSON is deserialized into `I`; when that fails the call fails with an
    /// `invalid-input` error naming the action and the reason. A missing input (empty or
    /// `null`) is read as `{}` when `I` cannot be built from `null`, so a struct whose
    /// fields are all optional accepts it. The output is serialized to JSON.
    ///
    /// # Panics
    ///
    /// If an action of that name was already added: a plugin bug, found as soon as the
    /// host loads the plugin.
    pub fn action<I, O, F>(self, name: &'static str, description: &'static str, handler: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&Context, I) -> Result<O, TaskError> + 'static,
    {
        let action = name;
        self.raw_action(name, description, move |ctx: &Context, input: &str| {
            let input: I = parse_input(&action, input)?;
            let output = handler(ctx, input)?;
            serde_json::to_string(&output)
                .map_err(|e| TaskError::fatal(format_args!("cannot serialize the output of action `{action}`: {e}")))
        })
    }

    /// Adds an action that takes and returns JSON text as is, with no serde round trip.
    /// The returned text must be valid JSON.
    ///
    /// # Panics
    ///
    /// If an action of that name was already added.
    pub fn raw_action<F>(mut self, name: &'static str, description: &'static str, handler: F) -> Self
    where
        F: Fn(&Context, &str) -> Result<String, TaskError> + 'static,
    {
        assert!(self.get(name).is_none(), "action `{name}` is registered twice");
        self.list.push(Action {
            name,
            description,
            input_schema: None,
            output_schema: None,
            handler: Box::new(handler),
        });
        self
    }

    /// Publishes a JSON Schema for the input of the action added last.
    ///
    /// # Panics
    ///
    /// If no action was added yet.
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.last_mut("input_schema").input_schema = Some(schema);
        self
    }

    /// Publishes the JSON Schema of `T` as the input schema of the action added last,
    /// derived from its type (`#[derive(Deserialize, JsonSchema)]`, following its serde
    /// attributes: `deny_unknown_fields` allows no other field, a `default` makes a field
    /// optional). Needs the SDK's `schemars` feature.
    ///
    /// # Panics
    ///
    /// If no action was added yet.
    #[cfg(feature = "schemars")]
    pub fn input_schema_of<T: schemars::JsonSchema>(self) -> Self {
        self.input_schema(derived_schema::<T>())
    }

    /// Publishes the JSON Schema of `T` as the output schema of the action added last (see
    /// [`Actions::input_schema_of`]).
    ///
    /// # Panics
    ///
    /// If no action was added yet.
    #[cfg(feature = "schemars")]
    pub fn output_schema_of<T: schemars::JsonSchema>(self) -> Self {
        self.output_schema(derived_schema::<T>())
    }

    /// Publishes a JSON Schema for the output of the action added last.
    ///
    /// # Panics
    ///
    /// If no action was added yet.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.last_mut("output_schema").output_schema = Some(schema);
        self
    }

    /// The registered actions, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Action> {
        self.list.iter()
    }

    /// The action called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Action> {
        self.list.iter().find(|a| a.name == name)
    }

    /// Runs the action named by [`Context::action`] on `input` (JSON text) and returns its
    /// output as JSON text. An unknown action is an `unknown-action` error that lists the
    /// known ones.
    pub fn invoke(&self, ctx: &Context, input: &str) -> Result<String, TaskError> {
        match self.get(ctx.action()) {
            Some(action) => (action.handler)(ctx, input),
            None => {
                let known: Vec<&str> = self.list.iter().map(|a| a.name).collect();
                Err(TaskError::unknown_action(ctx.action()).with_message(format_args!(
                    "unknown action `{}`; known actions: {}",
                    ctx.action(),
                    known.join(", ")
                )))
            }
        }
    }

    fn last_mut(&mut self, what: &str) -> &mut Action {
        match self.list.last_mut() {
            Some(action) => action,
            None => panic!("Actions::{what} called before any action was added"),
        }
    }
}

fn parse_input<I: DeserializeOwned>(action: &str, input: &str) -> Result<I, TaskError> {
    let invalid = |reason: &dyn std::fmt::Display| {
        TaskError::invalid_input(format_args!("invalid input for action `{action}`: {reason}"))
    };
    let input = input.trim();
    if !input.is_empty() && input != "null" {
        return serde_json::from_str(input).map_err(|e| invalid(&e));
    }
    // A missing input reads as `{}` for input types that cannot be built from `null`, so
    // structs whose fields are all optional accept it.
    serde_json::from_str("null").or_else(|_| {
        serde_json::from_str("{}").map_err(|e| {
            let reason = e.to_string();
            invalid(&format_args!("no input given ({})", reason.strip_suffix(" at line 1 column 2").unwrap_or(&reason)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    #[derive(Deserialize)]
    struct Opts {
        #[serde(default)]
        loud: bool,
    }

    fn actions() -> Actions {
        Actions::new()
            .action("add", "Adds", |_: &Context, i: Add| Ok(json!({ "sum": i.a + i.b })))
            .action("opts", "Options", |_: &Context, o: Opts| Ok(o.loud))
            .action("boom", "Fails", |_: &Context, _: Value| -> Result<(), TaskError> {
                Err(TaskError::retryable("down").with_code("x"))
            })
            .raw_action("raw", "Raw", |_, input| Ok(input.to_owned()))
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn schemas_are_derived_from_the_input_type_following_serde() {
        #[derive(Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Sleep {
            ms: u64,
            #[serde(default)]
            note: Option<String>,
            mode: Mode,
        }
        #[derive(Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        #[allow(dead_code)]
        enum Mode {
            Fast,
            SlowDown,
        }
        let actions =
            Actions::new().action("sleep", "Sleeps", |_: &Context, _: Sleep| Ok(())).input_schema_of::<Sleep>();
        let schema = actions.get("sleep").unwrap().input_schema().unwrap().clone();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false, "deny_unknown_fields: no other field");
        assert_eq!(schema["required"], json!(["ms", "mode"]), "a default makes a field optional");
        assert_eq!(schema["properties"]["ms"]["type"], "integer");
        assert_eq!(schema["properties"]["mode"]["enum"], json!(["fast", "slow_down"]), "inline, renamed");
        assert!(schema.get("$schema").is_none() && schema.get("title").is_none());
    }

    #[test]
    fn dispatches_by_action_name() {
        let out = actions().invoke(&Context::new("add"), r#"{"a": 2, "b": 3}"#).unwrap();
        assert_eq!(out, r#"{"sum":5}"#);
        let out = actions().invoke(&Context::new("raw"), "[1, 2.50]").unwrap();
        assert_eq!(out, "[1, 2.50]");
    }

    #[test]
    fn bad_input_is_invalid_input_naming_action_and_reason() {
        let err = actions().invoke(&Context::new("add"), r#"{"a": 2}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("`add`"), "{}", err.message());
        assert!(err.message().contains("missing field `b`"), "{}", err.message());
        let err = actions().invoke(&Context::new("add"), "not json").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn missing_input_reads_as_empty_object() {
        assert_eq!(actions().invoke(&Context::new("opts"), "").unwrap(), "false");
        assert_eq!(actions().invoke(&Context::new("opts"), "null").unwrap(), "false");
        let err = actions().invoke(&Context::new("add"), "").unwrap_err();
        assert!(err.message().contains("missing field"), "{}", err.message());
    }

    #[test]
    fn unknown_action_lists_known_ones() {
        let err = actions().invoke(&Context::new("nope"), "{}").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownAction);
        assert!(err.message().contains("`nope`"));
        assert!(err.message().contains("add, opts, boom, raw"), "{}", err.message());
    }

    #[test]
    fn handler_errors_pass_through() {
        let err = actions().invoke(&Context::new("boom"), "1").unwrap_err();
        assert_eq!(err, TaskError::retryable("down").with_code("x"));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_names_panic() {
        let _ = actions().raw_action("add", "again", |_, i| Ok(i.to_owned()));
    }
}

/// The JSON Schema of `T` (draft 7, every part inline, without `$schema` and `title`).
#[cfg(feature = "schemars")]
fn derived_schema<T: schemars::JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| s.inline_subschemas = true);
    let mut schema = settings.into_generator().into_root_schema_for::<T>();
    schema.remove("$schema");
    schema.remove("title");
    schema.to_value()
}
