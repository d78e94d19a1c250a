//! Subscriptions: stored rules that pick events out of the CloudEvents log (type patterns,
//! source, subject, a `${...}` filter over `event`), may reshape their data (`transform`,
//! a template over `event`), and send what they picked to a destination: an outgoing
//! webhook, a workflow to start, a plugin action, or only the live streams
//! (`GET /api/v1/subscriptions/{name}/stream`). Delivery is in `deliveries.rs`.
//!
//! Kept in the store (`Space::Meta`): the definition at `subscription\0<name>`, how far its
//! delivery got at `subscription-state\0<name>`, and what could not be delivered after the
//! last attempt at `dead-letter\0<name>\0<position>`.

use std::time::Duration;

use harmonia_model::{Expr, Root, Scope, Template, pattern_matches, types::Span};
use harmonia_store::{Batch, Space, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Accepted, CloudEvent};

/// The most type patterns a subscription may have.
pub const MAX_TYPES: usize = 32;

/// One subscription, as it is stored and shown (without the webhook's secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub name: String,
    /// Event type patterns (`doc.*`, `*.failed`); one must match. All types when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// A pattern the event's `source` must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A pattern the event's `subject` must match (an event without one does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A `${...}` expression over `event` that must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The delivered event's `data`: a template over `event` (JSON whose strings may hold
    /// `${...}`); the event's own data without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Value>,
    pub destination: Destination,
    #[serde(default)]
    pub retry: DeliveryRetry,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: u64,
}

/// Where a subscription sends the events it picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// Nowhere: clients read them from the subscription's live stream.
    Stream,
    /// An HTTP POST of the event (structured JSON) to `url`.
    Webhook {
        url: String,
        /// Signs each body: `X-Harmonia-Signature: sha256=<hex HMAC-SHA256 of the body>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// How long an attempt may take (`10s` by default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
    },
    /// An execution of a workflow, whose input is the event's data (transformed) and in
    /// whose expressions the event is `event`.
    Workflow {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// A call of a plugin action with the event as input (an adapter to a message bus).
    Plugin { plugin: String, action: String },
}

/// How often, and how far apart, a delivery is tried before it becomes a dead letter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryRetry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt.
    pub delay: String,
    /// Each wait is the previous one times this.
    pub factor: f64,
    /// The longest wait.
    pub max_delay: String,
}

impl Default for DeliveryRetry {
    /// 8 attempts over about two minutes: 1 s, 2 s, 4 s, ... 64 s apart.
    fn default() -> DeliveryRetry {
        DeliveryRetry { max_attempts: 8, delay: "1s".into(), factor: 2.0, max_delay: "5m".into() }
    }
}

/// The most attempts a delivery may have.
pub const MAX_ATTEMPTS: u32 = 100;

/// A subscription ready to pick events: its expressions compiled, its durations read.
#[derive(Debug)]
pub struct Compiled {
    pub def: Subscription,
    filter: Option<Expr>,
    transform: Option<Template>,
    pub max_attempts: u32,
    delay: Duration,
    factor: f64,
    max_delay: Duration,
    /// A webhook's timeout.
    pub timeout: Duration,
}

/// The default timeout of a webhook attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a subscription makes of one event.
#[derive(Debug)]
pub enum Selection {
    /// Not for it.
    Skip,
    /// The event to deliver (its data transformed).
    Deliver(CloudEvent),
    /// For it, but the filter or the transformation failed: a dead letter, with why.
    Failed(CloudEvent, String),
}

impl Compiled {
    /// Checks `def` and compiles its expressions; why not, for the caller.
    pub fn new(def: Subscription) -> Result<Compiled, String> {
        crate::tokens::check_name(&def.name)
            .map_err(|_| "a subscription's name is 1 to 64 letters, digits, '.', '_' or '-'".to_string())?;
        if def.types.len() > MAX_TYPES {
            return Err(format!("a subscription may have at most {MAX_TYPES} type patterns"));
        }
        for pattern in def.types.iter().chain(&def.source).chain(&def.subject) {
            if pattern.is_empty() || pattern.len() > 1024 || pattern.contains('\0') {
                return Err(format!("{pattern:?}: a pattern is 1 to 1024 characters, without NUL"));
            }
        }
        let filter = match &def.filter {
            None => None,
            Some(text) => match Template::parse_str(text, Span::default()).map_err(|e| format!("`filter`: {e}"))? {
                Template::Expr(expr) => Some(expr),
                _ => return Err(format!("`filter` must be one `${{...}}` expression, got {text:?}")),
            },
        };
        let transform = match &def.transform {
            None => None,
            Some(value) => Some(Template::from_value(value, Span::default()).map_err(|e| format!("`transform`: {e}"))?),
        };
        for (what, expr) in filter
            .iter()
            .map(|e| ("filter", e))
            .chain(transform.iter().flat_map(|t| t.exprs()).map(|e| ("transform", e)))
        {
            if let Some(root) = expr.roots().find(|r| *r != Root::Event) {
                return Err(format!("`{what}` may use only `event`, not `{}`", root.name()));
            }
        }
        let retry = &def.retry;
        if !(1..=MAX_ATTEMPTS).contains(&retry.max_attempts) {
            return Err(format!("`retry.max_attempts` must be 1 to {MAX_ATTEMPTS}"));
        }
        if !(retry.factor.is_finite() && (1.0..=100.0).contains(&retry.factor)) {
            return Err("`retry.factor` must be 1 to 100".into());
        }
        let duration = |name: &str, text: &str| {
            if text.is_empty() || text.len() > 64 {
                return Err(format!("`{name}` must be 1 to 64 characters"));
            }
            harmonia_model::parse_duration(text).map_err(|e| format!("`{name}` is not a duration: {e}"))
        };
        let (delay, max_delay) =
            (duration("retry.delay", &retry.delay)?, duration("retry.max_delay", &retry.max_delay)?);
        let timeout = match &def.destination {
            Destination::Webhook { url, timeout, .. } => {
                check_url(url)?;
                match timeout {
                    Some(text) => duration("timeout", text)?,
                    None => DEFAULT_TIMEOUT,
                }
            }
            Destination::Workflow { name, version } if name.is_empty() || version.as_deref() == Some("") => {
                return Err("`workflow` needs a name, and a version that is not empty".into());
            }
            Destination::Plugin { plugin, action } if plugin.is_empty() || action.is_empty() => {
                return Err("`plugin` needs a plugin and an action".into());
            }
            _ => DEFAULT_TIMEOUT,
        };
        if let Destination::Webhook { secret: Some(secret), .. } = &def.destination
            && !(16..=1024).contains(&secret.chars().count())
        {
            return Err("a webhook's secret must be 16 to 1024 characters".into());
        }
        Ok(Compiled {
            filter,
            transform,
            max_attempts: retry.max_attempts,
            delay,
            factor: retry.factor,
            max_delay,
            timeout,
            def,
        })
    }

    /// Whether the event's type, source and subject match (the cheap part of [`Compiled::select`]).
    pub fn matches(&self, event: &CloudEvent) -> bool {
        let def = &self.def;
        (def.types.is_empty() || def.types.iter().any(|p| pattern_matches(p, &event.event_type)))
            && def.source.as_deref().is_none_or(|p| pattern_matches(p, &event.source))
            && def.subject.as_deref().is_none_or(|p| event.subject.as_deref().is_some_and(|s| pattern_matches(p, s)))
    }

    /// What this subscription makes of `accepted`.
    pub fn select(&self, accepted: &Accepted) -> Selection {
        if !self.matches(&accepted.event) {
            return Selection::Skip;
        }
        if self.filter.is_none() && self.transform.is_none() {
            return Selection::Deliver(accepted.event.clone());
        }
        let value = accepted.event.to_value();
        let scope = Scope::empty().with_event(&value);
        if let Some(filter) = &self.filter {
            match filter.eval_bool(&scope) {
                Ok(true) => {}
                Ok(false) => return Selection::Skip,
                Err(e) => return Selection::Failed(accepted.event.clone(), format!("the filter failed: {e}")),
            }
        }
        let mut event = accepted.event.clone();
        if let Some(transform) = &self.transform {
            match transform.render(&scope) {
                Ok(data) => {
                    event.data = Some(data);
                    event.data_base64 = None;
                    event.datacontenttype = Some("application/json".into());
                }
                Err(e) => return Selection::Failed(event, format!("the transformation failed: {e}")),
            }
        }
        Selection::Deliver(event)
    }

    /// The wait before attempt `attempt + 1`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let grown = self.delay.as_secs_f64() * self.factor.powi(attempt.saturating_sub(1).min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max_delay.as_secs_f64()))
    }
}

/// An `http://` or `https://` URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && url.len() <= 2048
                && !url.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

impl Subscription {
    /// What listings show: everything but a webhook's secret (and whether it has one).
    pub fn public(&self) -> Value {
        let mut value = serde_json::to_value(self).expect("a subscription is JSON");
        if let Some(webhook) = value.pointer_mut("/destination/webhook").and_then(Value::as_object_mut) {
            let signed = webhook.remove("secret").is_some();
            webhook.insert("signed".into(), Value::Bool(signed));
        }
        value
    }
}

/// How far a subscription's delivery got, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// The position of the last event handled (delivered, skipped or dead-lettered).
    pub after: u64,
    /// Events delivered.
    pub delivered: u64,
    /// Events that became dead letters.
    pub dead_letters: u64,
    /// The last event delivered or dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Outcome>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub seq: u64,
    /// `delivered` or `dead_letter`.
    pub result: String,
    pub attempts: Vec<Attempt>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it began, milliseconds since the Unix epoch.
    pub at: u64,
    /// How long it took, in milliseconds.
    pub ms: u64,
    /// A webhook's HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An event a subscription could not deliver after its last attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub subscription: String,
    /// The event's position in the log.
    pub seq: u64,
    /// The event as it was to be delivered (transformed).
    pub event: CloudEvent,
    pub attempts: Vec<Attempt>,
}

fn key(name: &str) -> Vec<u8> {
    format!("subscription\0{name}").into_bytes()
}

fn state_key(name: &str) -> Vec<u8> {
    format!("subscription-state\0{name}").into_bytes()
}

fn dead_letter_prefix(name: &str) -> Vec<u8> {
    format!("dead-letter\0{name}\0").into_bytes()
}

fn dead_letter_key(name: &str, seq: u64) -> Vec<u8> {
    let mut key = dead_letter_prefix(name);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn get(store: &dyn Store, name: &str) -> Result<Option<Subscription>, StoreError> {
    super::read_meta(store, &key(name))
}

/// Every subscription, by name.
pub fn list(store: &dyn Store) -> Result<Vec<Subscription>, StoreError> {
    super::list_meta(store, b"subscription\0")
}

/// Stores `subscription`; a new one starts after position `after` of the log, one that
/// replaces another goes on where that one was. True if it replaced one.
pub fn put(store: &dyn Store, subscription: &Subscription, after: u64) -> Result<bool, StoreError> {
    let existed = store.get(Space::Meta, &key(&subscription.name))?.is_some();
    let mut batch = Batch::new();
    batch.put(Space::Meta, key(&subscription.name), serde_json::to_vec(subscription).expect("a subscription is JSON"));
    if !existed {
        let state = DeliveryState { after, ..DeliveryState::default() };
        batch.put(Space::Meta, state_key(&subscription.name), serde_json::to_vec(&state).expect("JSON"));
    }
    store.commit(batch)?;
    Ok(existed)
}

/// Deletes a subscription with its state and dead letters; false if there was none.
pub fn delete(store: &dyn Store, name: &str) -> Result<bool, StoreError> {
    if store.get(Space::Meta, &key(name))?.is_none() {
        return Ok(false);
    }
    let mut batch = Batch::new();
    batch.delete(Space::Meta, key(name));
    batch.delete(Space::Meta, state_key(name));
    let prefix = dead_letter_prefix(name);
    harmonia_store::scan_pages(store, Space::Meta, &prefix, None, 256, |key, _| {
        batch.delete(Space::Meta, key);
        Ok::<_, StoreError>(true)
    })?;
    store.commit(batch)?;
    Ok(true)
}

pub fn state(store: &dyn Store, name: &str) -> Result<DeliveryState, StoreError> {
    Ok(super::read_meta(store, &state_key(name))?.unwrap_or_default())
}

/// Adds the state to `batch`, with the dead letter if the event became one.
pub(crate) fn record(batch: &mut Batch, name: &str, state: &DeliveryState, dead: Option<&DeadLetter>) {
    batch.put(Space::Meta, state_key(name), serde_json::to_vec(state).expect("JSON"));
    if let Some(dead) = dead {
        batch.put(Space::Meta, dead_letter_key(name, dead.seq), serde_json::to_vec(dead).expect("JSON"));
    }
}

/// At most `limit` dead letters of a subscription after position `after`, oldest first.
pub fn dead_letters(store: &dyn Store, name: &str, after: u64, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let start = dead_letter_key(name, after);
    let entries = store.scan_prefix(Space::Meta, &dead_letter_prefix(name), Some(&start), limit)?;
    entries
        .into_iter()
        .map(|(key, value)| {
            serde_json::from_slice(&value).map_err(|e| StoreError::corrupt(Space::Meta, &key, e.to_string()))
        })
        .collect()
}

pub fn dead_letter(store: &dyn Store, name: &str, seq: u64) -> Result<Option<DeadLetter>, StoreError> {
    super::read_meta(store, &dead_letter_key(name, seq))
}

/// Removes dead letter `seq` of `name`; false if there was none.
pub fn discard_dead_letter(store: &dyn Store, name: &str, seq: u64) -> Result<bool, StoreError> {
    if store.get(Space::Meta, &dead_letter_key(name, seq))?.is_none() {
        return Ok(false);
    }
    let mut batch = Batch::new();
    set_dead_letter(&mut batch, name, seq, None);
    store.commit(batch)?;
    Ok(true)
}

/// Replaces (`Some`) or removes (`None`) dead letter `seq` of `name`.
pub(crate) fn set_dead_letter(batch: &mut Batch, name: &str, seq: u64, dead: Option<&DeadLetter>) {
    match dead {
        Some(dead) => batch.put(Space::Meta, dead_letter_key(name, seq), serde_json::to_vec(dead).expect("JSON")),
        None => batch.delete(Space::Meta, dead_letter_key(name, seq)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(json: Value) -> Result<Compiled, String> {
        let mut json = json;
        json["name"] = "s".into();
        Compiled::new(serde_json::from_value(json).map_err(|e| e.to_string())?)
    }

    fn accepted(event: Value) -> Accepted {
        Accepted { seq: 1, accepted_at: 0, event: CloudEvent::from_json(event).expect("an event") }
    }

    #[test]
    fn picks_by_type_source_subject_and_filter_and_reshapes_the_data() {
        let s = subscription(serde_json::json!({
            "types": ["doc.*"], "source": "files/*", "subject": "invoices/*",
            "filter": "${event.data.size > 10}",
            "transform": { "path": "${event.data.path}", "kb": "${event.data.size / 1024}" },
            "destination": "stream",
        }))
        .expect("valid");
        let event = |ty: &str, source: &str, subject: &str, size: u64| {
            accepted(
                serde_json::json!({ "specversion": "1.0", "id": "1", "type": ty, "source": source, "subject": subject,
                "data": { "path": "/a", "size": size } }),
            )
        };
        match s.select(&event("doc.uploaded", "files/eu", "invoices/7", 4096)) {
            Selection::Deliver(e) => assert_eq!(e.data, Some(serde_json::json!({ "path": "/a", "kb": 4 }))),
            other => panic!("expected a delivery, got {other:?}"),
        }
        for skipped in [
            event("img.uploaded", "files/eu", "invoices/7", 4096),
            event("doc.uploaded", "mail/eu", "invoices/7", 4096),
            event("doc.uploaded", "files/eu", "receipts/7", 4096),
            event("doc.uploaded", "files/eu", "invoices/7", 3),
        ] {
            assert!(matches!(s.select(&skipped), Selection::Skip), "{skipped:?}");
        }
    }

    #[test]
    fn a_failing_transformation_is_a_dead_letter_and_bad_definitions_are_refused() {
        let s =
            subscription(serde_json::json!({ "transform": "${event.data.missing.deeper}", "destination": "stream" }))
                .expect("valid");
        let event =
            accepted(serde_json::json!({ "specversion": "1.0", "id": "1", "type": "t", "source": "s", "data": {} }));
        assert!(matches!(s.select(&event), Selection::Failed(_, why) if why.contains("transformation")));
        for (bad, says) in [
            (serde_json::json!({ "filter": "${input.x}", "destination": "stream" }), "only `event`"),
            (serde_json::json!({ "filter": "plain", "destination": "stream" }), "one `${...}`"),
            (serde_json::json!({ "destination": { "webhook": { "url": "ftp://x" } } }), "not an http"),
            (serde_json::json!({ "destination": "stream", "retry": { "max_attempts": 0 } }), "max_attempts"),
            (serde_json::json!({ "destination": "stream", "retry": { "delay": "soon" } }), "retry.delay"),
        ] {
            let error = subscription(bad.clone()).expect_err("refused");
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_longest_wait() {
        let s = subscription(serde_json::json!({ "destination": "stream",
            "retry": { "max_attempts": 10, "delay": "100ms", "factor": 2, "max_delay": "1s" } }))
        .expect("valid");
        let waits: Vec<u128> = (1..=6).map(|n| s.delay_after(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
