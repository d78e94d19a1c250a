//! CloudEvents in: `POST /api/v1/events` takes one event or a batch, in the structured
//! JSON mode (`application/cloudevents+json`, `application/cloudevents-batch+json`, or
//! `application/json` with an object or a list) or in the HTTP binary mode (the attributes
//! in `ce-*` headers, the data as the body). Every event is in the durable log when the
//! answer comes; one whose `source` and `id` were accepted before is acknowledged as a
//! duplicate and not acted on again. `GET /api/v1/events` reads the log back.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use harmonia_model::pattern_matches;
use harmonia_runner::CloudEvent;
use harmonia_runner::events::{self, Accepted};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Role;
use super::table::Op;
use super::{ApiError, AppState};

/// The most events one request may carry.
pub const MAX_BATCH: usize = 1000;

pub(super) fn ops() -> Vec<Op> {
    // What CloudEvent::check accepts: attributes of 1 to 1024 characters without NUL,
    // extensions named with 1 to 20 lowercase letters and digits, `data` or `data_base64`.
    let text = json!({ "type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[^\\u0000]*$" });
    let event = json!({ "type": "object", "required": ["specversion", "id", "source", "type"], "properties": {
        "specversion": { "const": "1.0" }, "id": text, "source": text, "type": text, "subject": text,
        "time": { "type": "string", "format": "date-time" }, "datacontenttype": { "type": "string" }, "dataschema": { "type": "string" },
        "data": {}, "data_base64": { "type": "string" }, "correlationid": text, "executionid": text, "taskid": text, "sender": text },
        // Extensions: any other lowercase name (a context attribute's name is not one).
        "patternProperties": { "^(?!(specversion|id|source|type|subject|time|datacontenttype|dataschema|data|data_base64)$)[a-z0-9]{1,20}$":
            { "anyOf": [text, { "type": "number" }, { "type": "boolean" }] } },
        "additionalProperties": false,
        "not": { "required": ["data", "data_base64"] } });
    let batch = json!({ "type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": event.clone() });
    let acceptance = json!({ "type": "object", "properties": {
        "accepted": { "type": "integer", "description": "Events new to the log" },
        "duplicates": { "type": "integer", "description": "Events whose source and id were accepted before" },
        "events": { "type": "array", "items": { "type": "object", "properties": {
            "id": { "type": "string" }, "source": { "type": "string" }, "seq": { "type": "integer" }, "duplicate": { "type": "boolean" } } } } } });
    vec![
        Op::post("/api/v1/events", "publishEvents", "Publish CloudEvents: one, or a batch", publish)
            .role(Role::Operator)
            .describe("CloudEvents 1.0. Structured mode: `application/cloudevents+json` (one event), `application/cloudevents-batch+json` (a list), or `application/json` (either). \
                       Binary mode: the attributes as `ce-*` headers (`ce-specversion`, `ce-id`, `ce-source`, `ce-type`, ...) and the data as the body, of any content type. \
                       The answer comes once every event is in the durable log. An event whose `source` and `id` were accepted before is a duplicate: acknowledged, not acted on again. At most 1000 events a request.")
            .body(json!({
                "application/cloudevents+json": { "schema": event.clone() },
                "application/cloudevents-batch+json": { "schema": batch.clone() },
                "application/json": { "schema": { "oneOf": [event.clone(), batch] } },
            }), "The event or events")
            .ok(202, "In the log: each event's position, and whether it was a duplicate", acceptance)
            .errors(&[400, 415]),
        Op::get("/api/v1/events", "listEvents", "The CloudEvents log, oldest first", list)
            .query("after", json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }), "Events after this position (the `next` of the previous page)")
            .query("limit", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }), "Read at most this many (100 by default)")
            .query("type", json!({ "type": "string" }), "Only events of this type (`*` patterns)")
            .query("source", json!({ "type": "string" }), "Only events from this source (`*` patterns)")
            .ok(200, "A page of the log; `next` is null at its end", json!({ "type": "object", "properties": {
                "events": { "type": "array", "items": { "type": "object", "properties": {
                    "seq": { "type": "integer" }, "accepted_at": { "type": "integer" }, "event": event } } },
                "next": { "type": ["integer", "null"] } } }))
            .errors(&[400]),
    ]
}

/// `POST /api/v1/events`.
async fn publish(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let events = read_events(&headers, &body)?;
    let acceptances = state.runner.accept(events).await.map_err(super::store_error)?;
    let duplicates = acceptances.iter().filter(|a| a.duplicate).count();
    let answer = json!({ "accepted": acceptances.len() - duplicates, "duplicates": duplicates, "events": acceptances });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", message)
}

/// The events of a request, checked, in either mode.
fn read_events(headers: &HeaderMap, body: &[u8]) -> Result<Vec<CloudEvent>, ApiError> {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if headers.contains_key("ce-specversion") {
        return binary_event(headers, &media, body).map(|event| vec![event]);
    }
    let structured = ["application/cloudevents+json", "application/cloudevents-batch+json", "application/json"];
    if !structured.contains(&media.as_str()) {
        let message = format!(
            "cannot read events from {}: send application/cloudevents+json, application/cloudevents-batch+json or application/json, \
             or an event in binary mode with `ce-specversion` and the other `ce-*` headers",
            if media.is_empty() { "a body without a content type".to_string() } else { media.clone() }
        );
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let items = match (media.as_str(), value) {
        ("application/cloudevents+json", Value::Array(_)) => {
            return Err(bad(
                "application/cloudevents+json is one event: send a list as application/cloudevents-batch+json",
            ));
        }
        ("application/cloudevents-batch+json", value @ Value::Object(_)) => {
            return Err(bad(format!(
                "a batch must be a list of events, got {}",
                if value.is_object() { "an object" } else { "another value" }
            )));
        }
        (_, Value::Array(items)) => items,
        (_, value) => vec![value],
    };
    if items.is_empty() {
        return Err(bad("the batch is empty"));
    }
    if items.len() > MAX_BATCH {
        return Err(bad(format!("the batch has {} events, over the limit of {MAX_BATCH} a request", items.len())));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| CloudEvent::from_json(item).map_err(|e| bad(format!("event {}: {e}", i + 1))))
        .collect()
}

/// An event in the HTTP binary mode: `ce-*` headers are its attributes (percent-decoded),
/// the content type its `datacontenttype`, the body its data (JSON if the content type is,
/// else base64 in `data_base64`).
fn binary_event(headers: &HeaderMap, media: &str, body: &[u8]) -> Result<CloudEvent, ApiError> {
    let mut attributes = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else { continue };
        let text = value.to_str().map_err(|_| bad(format!("header {name} is not ASCII (percent-encode it)")))?;
        let decoded =
            percent_decode(text).ok_or_else(|| bad(format!("header {name} is not valid percent-encoded UTF-8")))?;
        attributes.insert(attribute.to_string(), Value::String(decoded));
    }
    if let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        attributes.insert("datacontenttype".into(), Value::String(kind.to_string()));
    }
    let data = if body.is_empty() {
        None
    } else if media == "application/json" || media.ends_with("+json") {
        Some(
            serde_json::from_slice(body)
                .map_err(|e| bad(format!("the data is not JSON, as its content type says: {e}")))?,
        )
    } else if let Some(text) = std::str::from_utf8(body).ok().filter(|_| media.starts_with("text/")) {
        Some(Value::String(text.to_string()))
    } else {
        attributes.insert("data_base64".into(), Value::String(base64(body)));
        None
    };
    events::cloudevent::from_attributes(attributes, data).map_err(|e| bad(e.0))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    source: Option<String>,
}

/// `GET /api/v1/events`: a page of the log after `after`; with `type` or `source`, only the
/// matching events of that page are listed, and `next` goes on after the page.
async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let limit = super::page_limit(query.limit)?;
    let after = query.after;
    let page: Vec<Accepted> = super::blocking(&state, move |store| events::read_after(store, after, limit)).await?;
    let next = page.last().map(|a| a.seq).filter(|_| page.len() == limit);
    let wanted = |a: &Accepted| {
        query.event_type.as_deref().is_none_or(|p| pattern_matches(p, &a.event.event_type))
            && query.source.as_deref().is_none_or(|p| pattern_matches(p, &a.event.source))
    };
    let events: Vec<&Accepted> = page.iter().filter(|a| wanted(a)).collect();
    Ok(Json(json!({ "events": events, "next": next })))
}

#[cfg(test)]
mod tests {
    use super::{base64, percent_decode};

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
        assert_eq!(percent_decode("a%20b%C3%A9").as_deref(), Some("a bé"));
        assert_eq!(percent_decode("bad%2"), None);
    }
}
