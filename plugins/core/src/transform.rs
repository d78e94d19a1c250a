//! JSON transforms: small, pure functions over JSON values.

use harmonia_sdk::prelude::*;
use serde_json::Map;

/// The most items `range` returns.
pub const MAX_RANGE_ITEMS: i128 = 1_000_000;

/// Input of `merge`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    objects: Vec<Value>,
}

/// Shallow-merges the objects left to right (later keys win); `null` entries are skipped.
pub fn merge(_: &Context, input: MergeInput) -> Result<Value, TaskError> {
    let mut merged = Map::new();
    for (i, value) in input.objects.into_iter().enumerate() {
        match value {
            Value::Object(map) => merged.extend(map),
            Value::Null => {}
            other => {
                return Err(TaskError::invalid_input(format_args!(
                    "objects[{i}] is {}, not an object",
                    type_name(&other)
                )))
            }
        }
    }
    Ok(Value::Object(merged))
}

/// Input of `pick`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PickInput {
    value: Value,
    keys: Vec<String>,
}

/// Keeps the listed keys of an object, in the order listed; missing keys are left out.
pub fn pick(_: &Context, input: PickInput) -> Result<Value, TaskError> {
    let Value::Object(mut map) = input.value else {
        return Err(TaskError::invalid_input(format_args!("value is {}, not an object", type_name(&input.value))));
    };
    let picked: Map<String, Value> = input.keys.into_iter().filter_map(|k| map.remove(&k).map(|v| (k, v))).collect();
    Ok(Value::Object(picked))
}

/// Input of `get`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    value: Value,
    pointer: String,
}

/// The part of `value` at a JSON Pointer (RFC 6901, e.g. `/items/0/name`; `""` is all).
pub fn get(_: &Context, mut input: GetInput) -> Result<Value, TaskError> {
    if !input.pointer.is_empty() && !input.pointer.starts_with('/') {
        return Err(TaskError::invalid_input(format_args!(
            "pointer `{}` is not a JSON Pointer: it must be empty or start with `/`",
            input.pointer
        )));
    }
    match input.value.pointer_mut(&input.pointer) {
        Some(found) => Ok(found.take()),
        None => {
            Err(TaskError::invalid_input(format_args!("nothing at pointer `{}`", input.pointer)).with_code("not-found"))
        }
    }
}

/// Input of `length`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LengthInput {
    value: Value,
}

/// The number of items of an array, characters of a string or keys of an object.
pub fn length(_: &Context, input: LengthInput) -> Result<Value, TaskError> {
    let length = match &input.value {
        Value::Array(items) => items.len(),
        Value::String(text) => text.chars().count(),
        Value::Object(map) => map.len(),
        other => {
            return Err(TaskError::invalid_input(format_args!(
                "value is {}; length needs an array, a string or an object",
                type_name(other)
            )))
        }
    };
    Ok(json!({ "length": length }))
}

/// Input of `range`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeInput {
    #[serde(default)]
    start: i64,
    end: i64,
    #[serde(default = "one")]
    step: i64,
}

fn one() -> i64 {
    1
}

/// `{"items": [...]}`, serialized straight from the vector: a million items as `Value`s
/// would take several times the memory.
#[derive(Serialize)]
pub struct Items<T> {
    items: Vec<T>,
}

/// The integers from `start` up to `end` (exclusive) by `step`, like Python's `range`.
pub fn range(_: &Context, input: RangeInput) -> Result<Items<i64>, TaskError> {
    let RangeInput { start, end, step } = input;
    if step == 0 {
        return Err(TaskError::invalid_input("step must not be 0"));
    }
    let (start_w, end_w, step_w) = (i128::from(start), i128::from(end), i128::from(step));
    let span = if step > 0 { end_w - start_w } else { start_w - end_w };
    let count = if span <= 0 { 0 } else { (span + step_w.abs() - 1) / step_w.abs() };
    if count > MAX_RANGE_ITEMS {
        return Err(TaskError::invalid_input(format_args!(
            "range would have {count} items; at most {MAX_RANGE_ITEMS} are allowed"
        )));
    }
    // `count` is at most 1,000,000, so every item fits in i64 (it lies between start and end).
    let items: Vec<i64> = (0..count).map(|i| (start_w + i * step_w) as i64).collect();
    Ok(Items { items })
}

/// Input of `split`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitInput {
    text: String,
    separator: Option<String>,
}

/// Splits text at a separator; without one, at runs of whitespace (no empty items); with
/// an empty one, into characters.
pub fn split(_: &Context, input: SplitInput) -> Result<Items<String>, TaskError> {
    let items: Vec<String> = match input.separator.as_deref() {
        None => input.text.split_whitespace().map(str::to_owned).collect(),
        Some("") => input.text.chars().map(String::from).collect(),
        Some(sep) => input.text.split(sep).map(str::to_owned).collect(),
    };
    Ok(Items { items })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use crate::Core;
    use harmonia_sdk::prelude::*;
    use harmonia_sdk::testing::call;

    fn invalid(action: &str, input: Value) -> String {
        let err = call::<Core>(action, input).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        err.message().to_owned()
    }

    #[test]
    fn merge_is_shallow_and_later_wins() {
        let out = call::<Core>(
            "merge",
            json!({ "objects": [{ "a": 1, "n": { "x": 1 } }, null, { "b": 2, "n": { "y": 2 } }] }),
        );
        assert_eq!(out.unwrap(), json!({ "a": 1, "b": 2, "n": { "y": 2 } }));
        assert_eq!(call::<Core>("merge", json!({ "objects": [] })).unwrap(), json!({}));
        assert!(invalid("merge", json!({ "objects": [{}, 3] })).contains("objects[1] is a number"));
    }

    #[test]
    fn pick_keeps_listed_keys() {
        let out = call::<Core>("pick", json!({ "value": { "a": 1, "b": 2, "c": 3 }, "keys": ["c", "a", "zz"] }));
        assert_eq!(out.unwrap(), json!({ "c": 3, "a": 1 }));
        invalid("pick", json!({ "value": [1], "keys": [] }));
    }

    #[test]
    fn get_follows_json_pointers() {
        let value = json!({ "a": [10, { "b": "x" }], "c/d": 1 });
        assert_eq!(call::<Core>("get", json!({ "value": value, "pointer": "/a/1/b" })).unwrap(), json!("x"));
        assert_eq!(call::<Core>("get", json!({ "value": value, "pointer": "/c~1d" })).unwrap(), json!(1));
        assert_eq!(call::<Core>("get", json!({ "value": value, "pointer": "" })).unwrap(), value);
        assert_eq!(call::<Core>("get", json!({ "value": { "n": null }, "pointer": "/n" })).unwrap(), Value::Null);
        assert!(invalid("get", json!({ "value": value, "pointer": "/a/5" })).contains("/a/5"));
        invalid("get", json!({ "value": value, "pointer": "a" }));
    }

    #[test]
    fn length_of_arrays_strings_objects() {
        assert_eq!(call::<Core>("length", json!({ "value": [1, 2, 3] })).unwrap(), json!({ "length": 3 }));
        assert_eq!(call::<Core>("length", json!({ "value": "héllo" })).unwrap(), json!({ "length": 5 }));
        assert_eq!(call::<Core>("length", json!({ "value": { "a": 1 } })).unwrap(), json!({ "length": 1 }));
        invalid("length", json!({ "value": 4 }));
    }

    #[test]
    fn range_like_python() {
        assert_eq!(call::<Core>("range", json!({ "end": 3 })).unwrap(), json!({ "items": [0, 1, 2] }));
        assert_eq!(
            call::<Core>("range", json!({ "start": 1, "end": 8, "step": 3 })).unwrap(),
            json!({ "items": [1, 4, 7] })
        );
        assert_eq!(
            call::<Core>("range", json!({ "start": 3, "end": 0, "step": -1 })).unwrap(),
            json!({ "items": [3, 2, 1] })
        );
        assert_eq!(call::<Core>("range", json!({ "start": 5, "end": 0 })).unwrap(), json!({ "items": [] }));
        assert_eq!(
            call::<Core>("range", json!({ "end": 1_000_000 })).unwrap()["items"].as_array().unwrap().len(),
            1_000_000
        );
        assert!(invalid("range", json!({ "end": 1_000_001 })).contains("1000001"));
        invalid("range", json!({ "start": i64::MIN, "end": i64::MAX }));
        invalid("range", json!({ "end": 3, "step": 0 }));
    }

    #[test]
    fn split_on_separator_or_whitespace() {
        assert_eq!(
            call::<Core>("split", json!({ "text": "a,b,,c", "separator": "," })).unwrap(),
            json!({ "items": ["a", "b", "", "c"] })
        );
        assert_eq!(
            call::<Core>("split", json!({ "text": "  a b\n c " })).unwrap(),
            json!({ "items": ["a", "b", "c"] })
        );
        assert_eq!(
            call::<Core>("split", json!({ "text": "ab", "separator": "" })).unwrap(),
            json!({ "items": ["a", "b"] })
        );
    }
}
