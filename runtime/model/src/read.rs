//! Typed reading of YAML nodes, collecting every error instead of stopping at the first.

use std::collections::HashMap;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use crate::diag::{Diagnostic, did_you_mean};
use crate::expr::{Expr, Template};
use crate::types::Span;
use crate::yaml::{Kind, Node};

/// Where the values of a workflow were written, by path (`tasks.a.depends_on.1`,
/// `tasks.a.retry.jitter`), so that checks on the model can point at the exact place.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpanTable(HashMap<String, Span>);

impl SpanTable {
    pub fn get(&self, path: &str) -> Option<Span> {
        self.0.get(path).copied()
    }

    pub fn insert(&mut self, path: String, span: Span) {
        self.0.entry(path).or_insert(span);
    }

    /// The positions of task inputs only (what schema checks point at).
    pub fn inputs(&self) -> SpanTable {
        let input = |path: &str| {
            let rest = path.strip_prefix("tasks.").and_then(|r| r.split_once('.').map(|(_, r)| r));
            rest.or_else(|| path.strip_prefix("on_failure.")).is_some_and(|r| r == "input" || r.starts_with("input."))
        };
        SpanTable(self.0.iter().filter(|(p, _)| input(p)).map(|(p, s)| (p.clone(), *s)).collect())
    }

    /// The position of `path`, or of the nearest enclosing value that has one.
    pub fn nearest(&self, mut path: &str) -> Option<Span> {
        loop {
            if let Some(span) = self.get(path) {
                return Some(span);
            }
            path = &path[..path.rfind('.')?];
        }
    }
}

/// `a.b` (or `b` at the top).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// One entry of a mapping.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'n> {
    pub key: &'n str,
    pub key_node: &'n Node,
    pub value: &'n Node,
}

/// Reads nodes into values, collecting diagnostics and positions.
#[derive(Default)]
pub(crate) struct Reader {
    pub diags: Vec<Diagnostic>,
    pub spans: SpanTable,
}

impl Reader {
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(span, message));
    }

    pub fn error_hint(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.diags.push(Diagnostic::new(span, message).with_hint_opt(hint));
    }

    /// The entries of a mapping at `path`, in file order, without duplicates (each reported
    /// as `duplicate <what> ...`). Records the position of every value.
    pub fn entries<'n>(&mut self, node: &'n Node, path: &str, name: &str, what: &str) -> Vec<Entry<'n>> {
        let Kind::Map(pairs) = &node.kind else {
            if !is_null(node) {
                self.error(node.span, format!("`{name}` must be a mapping, got {}", node.describe()));
            }
            return Vec::new();
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let Some(key) = k.scalar() else {
                self.error(k.span, format!("keys of `{name}` must be strings, got {}", k.describe()));
                continue;
            };
            if let Some(first) = seen.get(key.text.as_str()) {
                self.error(k.span, format!("duplicate {what} `{}` (first defined at line {})", key.text, first.line));
                continue;
            }
            seen.insert(&key.text, k.span);
            self.spans.insert(join(path, &key.text), v.span);
            out.push(Entry { key: &key.text, key_node: k, value: v });
        }
        out
    }

    /// Reports the keys that are not in `allowed`, with the closest one as hint.
    pub fn known_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        for e in entries {
            if !allowed.contains(&e.key) {
                let hint = did_you_mean(e.key, allowed.iter().copied())
                    .unwrap_or_else(|| format!("valid keys: {}", allowed.join(", ")));
                self.error_hint(e.key_node.span, format!("unknown key `{}` {context}", e.key), Some(hint));
            }
        }
    }

    /// A string; numbers and booleans are taken as written.
    pub fn string(&mut self, node: &Node, name: &str) -> Option<String> {
        match node.scalar() {
            Some(s) if !matches!(Node::scalar_value(s), Value::Null) => Some(s.text.clone()),
            _ => {
                self.error(node.span, format!("`{name}` must be a string, got {}", node.describe()));
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, name: &str) -> Option<bool> {
        match json_scalar(node) {
            Some(Value::Bool(b)) => Some(b),
            _ => {
                self.error(node.span, format!("`{name}` must be true or false, got {}", node.describe()));
                None
            }
        }
    }

    /// A whole number that fits in a u32.
    pub fn u32(&mut self, node: &Node, name: &str) -> Option<u32> {
        match json_scalar(node).as_ref().and_then(Value::as_u64) {
            Some(n) if n <= u32::MAX as u64 => Some(n as u32),
            _ => {
                let got = match (node.scalar(), json_scalar(node)) {
                    (Some(s), Some(Value::Number(_))) => format!("`{}`", s.text),
                    _ => node.describe().to_string(),
                };
                self.error(node.span, format!("`{name}` must be a whole number, got {got}"));
                None
            }
        }
    }

    pub fn f64(&mut self, node: &Node, name: &str) -> Option<f64> {
        match json_scalar(node).as_ref().and_then(Value::as_f64) {
            Some(f) => Some(f),
            None => {
                self.error(node.span, format!("`{name}` must be a number, got {}", node.describe()));
                None
            }
        }
    }

    /// `30s`, `500ms`, `2m`, `1h30m`, `1.5s`, or a number of seconds.
    pub fn duration(&mut self, node: &Node, name: &str) -> Option<Duration> {
        let parsed = match json_scalar(node) {
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|s| *s >= 0.0 && s.is_finite())
                .map(Duration::from_secs_f64)
                .ok_or_else(|| "a negative number".to_string()),
            Some(Value::String(s)) => parse_duration(&s),
            _ => Err(node.describe().to_string()),
        };
        match parsed {
            Ok(d) => Some(d),
            Err(got) => {
                self.error_hint(
                    node.span,
                    format!("`{name}` must be a duration, got {got}"),
                    Some("write e.g. 30s, 500ms, 2m, 1h30m, or a number of seconds".into()),
                );
                None
            }
        }
    }

    /// One of `choices`.
    pub fn choice<'c>(&mut self, node: &Node, name: &str, choices: &[&'c str]) -> Option<&'c str> {
        let text = self.string(node, name)?;
        match choices.iter().find(|c| **c == text) {
            Some(c) => Some(c),
            None => {
                self.error_hint(
                    node.span,
                    format!("`{name}` must be one of {}, got `{text}`", choices.join(", ")),
                    Some(format!("`{name}` is one of: {}", choices.join(", "))),
                );
                None
            }
        }
    }

    /// A task id or a list of them; records the position of each at `path.<i>`.
    pub fn id_list(&mut self, node: &Node, path: &str, name: &str) -> Vec<String> {
        match &node.kind {
            Kind::Scalar(s) if matches!(Node::scalar_value(s), Value::String(_)) => {
                self.spans.insert(join(path, "0"), node.span);
                vec![s.text.clone()]
            }
            Kind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.scalar().filter(|s| matches!(Node::scalar_value(s), Value::String(_))) {
                        Some(s) => {
                            self.spans.insert(join(path, &i.to_string()), item.span);
                            out.push(s.text.clone());
                        }
                        None => self.error(
                            item.span,
                            format!("`{name}` must be a list of task ids, got {} in it", item.describe()),
                        ),
                    }
                }
                out
            }
            _ => {
                self.error(node.span, format!("`{name}` must be a list of task ids, got {}", node.describe()));
                Vec::new()
            }
        }
    }

    /// A JSON value with no expression in it (defaults, parameters).
    pub fn json(&mut self, node: &Node, path: &str) -> Value {
        match &node.kind {
            Kind::Scalar(s) => Node::scalar_value(s),
            Kind::Seq(items) => {
                Value::Array(items.iter().enumerate().map(|(i, n)| self.json(n, &join(path, &i.to_string()))).collect())
            }
            Kind::Map(_) => {
                let entries = self.entries(node, path, path, "key");
                Value::Object(
                    entries.iter().map(|e| (e.key.to_string(), self.json(e.value, &join(path, e.key)))).collect(),
                )
            }
        }
    }

    /// A template: any JSON value whose strings may hold `${...}`.
    pub fn template(&mut self, node: &Node, path: &str) -> Template {
        match &node.kind {
            Kind::Scalar(s) => match Node::scalar_value(s) {
                Value::String(text) => match Template::parse_str(&text, node.content_span()) {
                    Ok(t) => t,
                    Err(e) => {
                        self.error_hint(e.span, e.message, e.hint);
                        Template::Literal(Value::Null)
                    }
                },
                other => Template::Literal(other),
            },
            Kind::Seq(items) => Template::array(
                items.iter().enumerate().map(|(i, n)| self.template(n, &join(path, &i.to_string()))).collect(),
            ),
            Kind::Map(_) => {
                let entries = self.entries(node, path, path, "key");
                let map: IndexMap<String, Template> =
                    entries.iter().map(|e| (e.key.to_string(), self.template(e.value, &join(path, e.key)))).collect();
                Template::object(map)
            }
        }
    }

    /// A string that is exactly one `${...}` (or `true`/`false`).
    pub fn expr(&mut self, node: &Node, name: &str) -> Option<Expr> {
        let hint = Some(format!("write `{name}: \"${{...}}\"`"));
        match json_scalar(node) {
            Some(Value::Bool(b)) => return Expr::parse(&b.to_string(), node.span).ok(),
            Some(Value::String(_)) => {}
            _ => {
                self.error_hint(
                    node.span,
                    format!("`{name}` must be a `${{...}}` expression, got {}", node.describe()),
                    hint,
                );
                return None;
            }
        }
        match self.template(node, name) {
            Template::Expr(e) => Some(e),
            Template::Literal(Value::Null) => None, // the error is already reported
            Template::Literal(_) => {
                self.error_hint(node.span, format!("`{name}` must be a `${{...}}` expression, got plain text"), hint);
                None
            }
            _ => {
                self.error_hint(node.span, format!("`{name}` must be exactly one `${{...}}` expression"), hint);
                None
            }
        }
    }
}

/// The JSON value of a scalar node.
pub(crate) fn json_scalar(node: &Node) -> Option<Value> {
    node.scalar().map(Node::scalar_value)
}

pub(crate) fn is_null(node: &Node) -> bool {
    matches!(json_scalar(node), Some(Value::Null))
}

/// `[A-Za-z0-9_-]+`: names of workflows and ids of tasks.
pub(crate) fn is_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Harmonia's one grammar of durations, in workflow files, query strings (`?wait=`) and
/// flags: `1h30m`, `500ms`, `1.5s`, `2d`, `30` (seconds); units `ms`, `s`/`sec`,
/// `m`/`min`, `h`, `d`. The error describes what was found.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`");
    let text_trim = text.trim();
    if let Ok(secs) = text_trim.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text_trim;
    if rest.is_empty() {
        return Err("an empty string".into());
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(number * seconds).map_err(|_| bad())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5 min"), Err("`5 min`".into()));
        assert_eq!(parse_duration("s"), Err("`s`".into()));
        assert_eq!(parse_duration("10x"), Err("`10x`".into()));
        assert_eq!(parse_duration(""), Err("an empty string".into()));
    }

    #[test]
    fn names() {
        assert!(is_name("extract_text-2"));
        assert!(!is_name("a.b"));
        assert!(!is_name(""));
    }
}
