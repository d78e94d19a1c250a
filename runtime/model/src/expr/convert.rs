//! JSON <-> CEL values.
//!
//! JSON integers become CEL `int` (or `uint` above `i64::MAX`), other numbers `double`, so
//! that `input.limit + 1` stays an integer. Back to JSON, `int`/`uint` are integers,
//! `double` a number (NaN and infinities have no JSON form: an error), timestamps an RFC 3339
//! string, durations a string of seconds (`"90s"`, as CEL's `string(duration)` writes them),
//! bytes a string if they are UTF-8 (an error otherwise).

use std::collections::HashMap;

use cel::Value as Cel;
use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
use cel::common::value::Val;
use cel::objects::Key;
use serde_json::Value;

use super::analyze::Paths;

/// The whole of a JSON value as a CEL value that borrows its strings (no copy of them).
pub(crate) fn to_val<'v>(value: &'v Value) -> Box<dyn Val + 'v> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(to_val).collect::<Vec<_>>())),
        Value::Object(map) => cel_map(map.iter().map(|(k, v)| (k.as_str().into(), to_val(v)))),
    }
}

/// Only the parts of `value` that `paths` reads: an object keeps only the fields read (which
/// behaves the same for the expression, missing fields included), anything else is whole.
pub(crate) fn to_val_pruned<'v>(value: &'v Value, paths: &Paths) -> Box<dyn Val + 'v> {
    match value {
        Value::Object(map) if !paths.whole => cel_map(paths.fields.iter().filter_map(|(field, sub)| {
            let (k, v) = map.get_key_value(field.as_str())?;
            Some((k.as_str().into(), to_val_pruned(v, sub)))
        })),
        _ => to_val(value),
    }
}

/// [`to_val_pruned`] of a value that may be absent.
pub(crate) fn pruned<'v>(value: Option<&'v Value>, paths: &Paths) -> Option<Box<dyn Val + 'v>> {
    value.map(|v| to_val_pruned(v, paths))
}

/// A CEL map with string keys (borrowed or owned).
pub(crate) fn cel_map<'v>(entries: impl Iterator<Item = (CelMapKey<'v>, Box<dyn Val + 'v>)>) -> Box<dyn Val + 'v> {
    let map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = entries.collect();
    Box::new(CelMap::from(map))
}

/// A CEL integer (loop indexes, iterations).
pub(crate) fn int<'v>(i: u64) -> Box<dyn Val + 'v> {
    Box::new(CelInt::from(i64::try_from(i).unwrap_or(i64::MAX)))
}

/// A CEL string borrowed for `'v`.
pub(crate) fn string(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

/// A CEL result as JSON; the error says why it has no JSON form.
pub(crate) fn to_json(value: &Cel) -> Result<Value, String> {
    Ok(match value {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::from(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => return Err(format!("the result {f} is not a number JSON can hold")),
        },
        Cel::String(s) => Value::String(s.to_string()),
        Cel::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => {
                return Err("the result is bytes that are not UTF-8, which JSON cannot hold \
                            (use base64.encode)"
                    .into());
            }
        },
        Cel::List(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Cel::Map(map) => {
            let mut object = serde_json::Map::with_capacity(map.map.len());
            for (k, v) in map.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                object.insert(key, to_json(v)?);
            }
            // HashMap order is random: sort so that the same result always renders the same.
            object.sort_keys();
            Value::Object(object)
        }
        Cel::Timestamp(t) => Value::String(t.to_rfc3339()),
        Cel::Duration(d) => Value::String(duration_text(d.num_seconds(), d.subsec_nanos())),
        other => {
            return Err(format!("the result is a {}, which has no JSON form", other.type_of()));
        }
    })
}

/// `90s`, `1.5s`: CEL's text form of a duration.
fn duration_text(secs: i64, nanos: i32) -> String {
    if nanos == 0 {
        format!("{secs}s")
    } else {
        let frac = format!("{:09}", nanos.abs());
        let sign = if secs == 0 && nanos < 0 { "-" } else { "" };
        format!("{sign}{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// The CEL type name of a value, for messages.
pub(crate) fn type_name(value: &Cel) -> String {
    value.type_of().to_string()
}
