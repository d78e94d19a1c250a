//! A task's input checked against the input schema its action publishes (a JSON Schema),
//! as far as the input is written out: a literal value or object key is checked, an
//! expression (`${...}`) is not (its value is known at run time only).
//!
//! The check keeps to what it can be sure of: `type`, `enum`, `const`, `properties`,
//! `required`, `additionalProperties` and `items`. A part of the schema that uses
//! composition or references (`$ref`, `anyOf`, `oneOf`, `allOf`, `not`, `if`) is not
//! checked: nothing is reported that the plugin might accept.

use serde_json::Value;

use crate::diag::did_you_mean;
use crate::expr::Template;
use crate::yaml::describe_value;

/// One thing wrong with an input: where (a path under the task, `input.to.field`), what,
/// and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// A part of the input: written in the workflow (a template), or a literal value in it.
#[derive(Clone, Copy)]
enum Part<'a> {
    Written(&'a Template),
    Literal(&'a Value),
}

/// The problems of `input` (at `path`, `input`) against `schema`; `action` names the
/// action in messages (`core.sleep`).
pub fn check(input: &Template, schema: &Value, action: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    walk(Part::Written(input), schema, "input", action, &mut problems);
    problems
}

const UNCHECKED: &[&str] = &["$ref", "anyOf", "oneOf", "allOf", "not", "if"];

fn walk(part: Part, schema: &Value, path: &str, action: &str, out: &mut Vec<Problem>) {
    let Some(schema) = schema.as_object() else { return };
    if UNCHECKED.iter().any(|k| schema.contains_key(*k)) {
        return;
    }
    let Some(kind) = kind_of(part) else { return }; // an expression: known at run time
    if let Some(expected) = schema.get("type")
        && !type_allows(expected, kind, part)
    {
        let message = format!("`{path}` must be {}, got {}", type_phrase(expected), got(part, kind));
        out.push(Problem { path: path.to_string(), message, hint: None });
        return;
    }
    if let Part::Literal(value) = part {
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            let message = format!("`{path}` must be one of {}, got {value}", list.join(", "));
            out.push(Problem { path: path.to_string(), message, hint: None });
        }
        if let Some(constant) = schema.get("const")
            && constant != value
        {
            let message = format!("`{path}` must be {constant}, got {value}");
            out.push(Problem { path: path.to_string(), message, hint: None });
        }
    }
    match kind {
        "object" => object(part, schema, path, action, out),
        "array" => {
            if let Some(items) = schema.get("items") {
                for (i, element) in elements(part).into_iter().enumerate() {
                    walk(element, items, &format!("{path}.{i}"), action, out);
                }
            }
        }
        _ => {}
    }
}

fn object(part: Part, schema: &serde_json::Map<String, Value>, path: &str, action: &str, out: &mut Vec<Problem>) {
    let fields = fields(part);
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    for (key, value) in &fields {
        let field_path = format!("{path}.{key}");
        match properties.and_then(|p| p.get(*key)) {
            Some(sub) => walk(*value, sub, &field_path, action, out),
            None if additional == Some(&Value::Bool(false)) => {
                let names: Vec<&str> = properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let message =
                    format!("`{field_path}` is not a field of {action}'s input (its fields: {})", names.join(", "));
                let hint = did_you_mean(key, names.iter().copied());
                out.push(Problem { path: field_path, message, hint });
            }
            None => {
                if let Some(sub) = additional.filter(|a| a.is_object()) {
                    walk(*value, sub, &field_path, action, out);
                }
            }
        }
    }
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !fields.iter().any(|(k, _)| *k == required) {
            let message = format!("`{path}` has no `{required}`, which {action} requires");
            out.push(Problem { path: path.to_string(), message, hint: None });
        }
    }
}

/// The JSON type of a part, if it is known before run time.
fn kind_of(part: Part) -> Option<&'static str> {
    let value = match part {
        Part::Written(Template::Expr(_)) => return None,
        Part::Written(Template::Interpolated(_)) => return Some("string"),
        Part::Written(Template::Array(_)) => return Some("array"),
        Part::Written(Template::Object(_)) => return Some("object"),
        Part::Written(Template::Literal(value)) | Part::Literal(value) => value,
    };
    Some(match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

fn type_allows(expected: &Value, kind: &str, part: Part) -> bool {
    let allows = |t: &str| {
        t == kind
            || (t == "number" && kind == "integer")
            // 2.0 is an integer in JSON Schema.
            || (t == "integer" && matches!(part, Part::Literal(v) | Part::Written(Template::Literal(v)) if v.as_f64().is_some_and(|f| f.fract() == 0.0)))
    };
    match expected {
        Value::String(t) => allows(t),
        Value::Array(types) => types.iter().filter_map(Value::as_str).any(allows),
        _ => true,
    }
}

fn type_phrase(expected: &Value) -> String {
    let phrase = |t: &str| match t {
        "object" => "an object".to_string(),
        "array" => "a list".to_string(),
        "integer" => "an integer".to_string(),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    };
    match expected {
        Value::String(t) => phrase(t),
        Value::Array(types) => types.iter().filter_map(Value::as_str).map(phrase).collect::<Vec<_>>().join(" or "),
        _ => "something else".to_string(),
    }
}

fn got(part: Part, kind: &str) -> String {
    match part {
        Part::Written(Template::Literal(v)) | Part::Literal(v) => {
            let text = v.to_string();
            if text.len() <= 40 { format!("{} ({text})", describe_value(v)) } else { describe_value(v).to_string() }
        }
        _ => type_phrase(&Value::String(kind.to_string())),
    }
}

/// The fields of an object part, in order.
fn fields(part: Part<'_>) -> Vec<(&str, Part<'_>)> {
    match part {
        Part::Written(Template::Object(map)) => map.iter().map(|(k, t)| (k.as_str(), Part::Written(t))).collect(),
        Part::Written(Template::Literal(Value::Object(map))) | Part::Literal(Value::Object(map)) => {
            map.iter().map(|(k, v)| (k.as_str(), Part::Literal(v))).collect()
        }
        _ => Vec::new(),
    }
}

/// The elements of a list part, in order.
fn elements(part: Part<'_>) -> Vec<Part<'_>> {
    match part {
        Part::Written(Template::Array(items)) => items.iter().map(Part::Written).collect(),
        Part::Written(Template::Literal(Value::Array(items))) | Part::Literal(Value::Array(items)) => {
            items.iter().map(Part::Literal).collect()
        }
        _ => Vec::new(),
    }
}
