//! A CloudEvent (CloudEvents 1.0, JSON format): the required `specversion`, `id`, `source`
//! and `type`; the optional `subject`, `time`, `datacontenttype`, `dataschema` and `data`
//! (or `data_base64`); and extension attributes, among them Harmonia's `correlationid`
//! (what a waiting execution matches) and `executionid` (the execution an event concerns).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only CloudEvents version there is.
pub const SPEC_VERSION: &str = "1.0";

/// The longest `id`, `source`, `type`, `subject` or extension value, in bytes.
pub const MAX_ATTRIBUTE: usize = 1024;

/// Extensions Harmonia reads: the correlation a wait matches, the execution (and task) an
/// event concerns, who sent a signal.
const HARMONIA_EXTENSIONS: &[&str] = &["correlationid", "executionid", "taskid", "sender"];

/// Attributes the format defines; any other is an extension.
const CONTEXT: &[&str] =
    &["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64"];

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When it happened (RFC 3339), as the sender said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataschema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Data that is not JSON (binary mode with another content type), in base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// Extension attributes (`correlationid`, `executionid`, any other), by name.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, Value>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

impl CloudEvent {
    /// A new event of `event_type` from `source`, with `id`, and nothing else.
    pub fn new(id: impl Into<String>, source: impl Into<String>, event_type: impl Into<String>) -> CloudEvent {
        CloudEvent {
            specversion: SPEC_VERSION.into(),
            id: id.into(),
            source: source.into(),
            event_type: event_type.into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            data: None,
            data_base64: None,
            extensions: BTreeMap::new(),
        }
    }

    /// An event in the JSON format, checked.
    pub fn from_json(value: Value) -> Result<CloudEvent, EventError> {
        let Value::Object(map) = value else {
            return Err(EventError(format!("an event must be a JSON object, got {}", kind(&value))));
        };
        for required in ["specversion", "id", "source", "type"] {
            match map.get(required) {
                Some(Value::String(_)) => {}
                Some(other) => return Err(EventError(format!("`{required}` must be a string, got {}", kind(other)))),
                None => return Err(EventError(format!("the event has no `{required}`"))),
            }
        }
        for (name, value) in &map {
            if value.is_null() && name != "data" {
                return Err(EventError(format!("`{name}` must not be null (leave it out)")));
            }
            if !CONTEXT.contains(&name.as_str()) {
                check_extension(name, value)?;
            }
        }
        let event: CloudEvent =
            serde_json::from_value(Value::Object(map)).map_err(|e| EventError(format!("not a CloudEvent: {e}")))?;
        event.check()?;
        Ok(event)
    }

    /// Checks what the format and Harmonia's keys require.
    pub fn check(&self) -> Result<(), EventError> {
        if self.specversion != SPEC_VERSION {
            return Err(EventError(format!("`specversion` must be \"1.0\", got {:?}", self.specversion)));
        }
        for (name, value) in [("id", &self.id), ("source", &self.source), ("type", &self.event_type)] {
            attribute(name, value)?;
        }
        if let Some(subject) = &self.subject {
            attribute("subject", subject)?;
        }
        if let Some(time) = &self.time
            && !is_rfc3339(time)
        {
            return Err(EventError(format!("`time` must be an RFC 3339 timestamp, got {time:?}")));
        }
        if self.data.is_some() && self.data_base64.is_some() {
            return Err(EventError("an event has `data` or `data_base64`, not both".into()));
        }
        for (name, value) in &self.extensions {
            check_extension(name, value)?;
        }
        Ok(())
    }

    /// The `correlationid` extension, as text.
    pub fn correlation_id(&self) -> Option<String> {
        self.extensions.get("correlationid").map(text)
    }

    /// The `executionid` extension.
    pub fn execution_id(&self) -> Option<String> {
        self.extensions.get("executionid").map(text)
    }

    /// The event as a JSON object (what `event` is in expressions).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("an event is JSON")
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn attribute(name: &str, value: &str) -> Result<(), EventError> {
    if value.is_empty() {
        return Err(EventError(format!("`{name}` must not be empty")));
    }
    if value.len() > MAX_ATTRIBUTE {
        return Err(EventError(format!("`{name}` is {} bytes, over the limit of {MAX_ATTRIBUTE}", value.len())));
    }
    if value.contains('\0') {
        return Err(EventError(format!("`{name}` must not contain a NUL character")));
    }
    Ok(())
}

/// Extension names are lowercase letters and digits (the format says so); values are
/// strings, numbers or booleans.
fn check_extension(name: &str, value: &Value) -> Result<(), EventError> {
    if name.is_empty() || name.len() > 20 || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(EventError(format!(
            "extension attribute {name:?}: names are 1 to 20 lowercase letters and digits"
        )));
    }
    match value {
        Value::String(s) => attribute(name, s),
        // Harmonia's own extensions name things: text only.
        _ if HARMONIA_EXTENSIONS.contains(&name) => {
            Err(EventError(format!("`{name}` must be a string, got {}", kind(value))))
        }
        Value::Number(_) | Value::Bool(_) => Ok(()),
        other => Err(EventError(format!(
            "extension attribute `{name}` must be a string, a number or a boolean, got {}",
            kind(other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, as RFC 3339 writes a time.
pub fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b.get(range).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) {
        return false;
    }
    if !matches!(b[10], b'T' | b't' | b' ') || !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' {
        return false;
    }
    if !digits(17..19) {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The attributes of an event as the extension map of a structured JSON event holds them
/// (for binary mode: each `ce-` header).
pub fn from_attributes(mut attributes: Map<String, Value>, data: Option<Value>) -> Result<CloudEvent, EventError> {
    if let Some(data) = data {
        attributes.insert("data".into(), data);
    }
    CloudEvent::from_json(Value::Object(attributes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_structured_event_reads_with_its_extensions() {
        let event = CloudEvent::from_json(json!({
            "specversion": "1.0", "id": "e1", "source": "/files", "type": "doc.uploaded",
            "time": "2026-12-05T10:00:00.5+01:00", "data": { "size": 3 }, "correlationid": "order-7",
        }))
        .unwrap();
        assert_eq!(event.correlation_id().as_deref(), Some("order-7"));
        assert_eq!(event.data, Some(json!({ "size": 3 })));
        assert_eq!(event.to_value()["correlationid"], "order-7");
    }

    #[test]
    fn what_the_format_forbids_is_refused_saying_why() {
        let base = json!({ "specversion": "1.0", "id": "e1", "source": "/s", "type": "t" });
        let with = |key: &str, value: Value| {
            let mut e = base.clone();
            e[key] = value;
            CloudEvent::from_json(e).unwrap_err().0
        };
        assert!(with("specversion", json!("0.3")).contains("specversion"));
        assert!(with("id", json!("")).contains("`id` must not be empty"));
        assert!(with("type", json!(7)).contains("`type` must be a string"));
        assert!(with("time", json!("yesterday")).contains("RFC 3339"));
        assert!(with("Bad-Name", json!("x")).contains("lowercase"));
        assert!(with("nested", json!({ "a": 1 })).contains("a string, a number or a boolean"));
        assert!(with("time", Value::Null).contains("`time` must not be null"));
        assert!(with("executionid", json!(false)).contains("`executionid` must be a string"));
        assert!(CloudEvent::from_json(json!([1])).unwrap_err().0.contains("JSON object"));
        let mut no_id = base.clone();
        no_id.as_object_mut().unwrap().remove("id");
        assert!(CloudEvent::from_json(no_id).unwrap_err().0.contains("no `id`"));
    }

    #[test]
    fn rfc3339_times() {
        for ok in ["2026-12-05T10:00:00Z", "2026-12-05T10:00:00.123456789-07:00", "2026-12-05t10:00:00z"] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in ["2026-12-05", "2026-12-05T10:00Z", "2026-12-05T10:00:00", "2026-12-05T10:00:00.Z"] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
