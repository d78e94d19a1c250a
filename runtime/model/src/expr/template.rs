//! Templates: JSON values whose strings may hold `${...}` expressions.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::Value;

use super::{EvalError, Expr, ExprError, Scope, advance};
use crate::types::Span;

/// A JSON value with expressions in it, compiled once.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// No expression inside: rendering is a clone.
    Literal(Value),
    /// A string that is exactly one `${...}`: the value keeps its JSON type.
    Expr(Expr),
    /// Text with expressions in it: rendered as a string.
    Interpolated(Vec<Part>),
    Array(Vec<Template>),
    Object(IndexMap<String, Template>),
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// Strings are inserted as they are, other values as compact JSON.
    Expr(Expr),
}

/// One `${...}` or `$${` found in a string, as byte ranges.
pub(crate) enum Piece<'s> {
    Text(&'s str),
    /// `$${`: a literal `${`.
    Escape,
    /// The source between `${` and `}`, and the character offset of the `$`.
    Expr(&'s str, usize),
}

/// Splits `text` into text and `${...}` pieces; the error is the character offset of a `${`
/// that is not closed.
pub(crate) fn split(text: &str) -> Result<Vec<Piece<'_>>, usize> {
    let mut pieces = Vec::new();
    let bytes = text.as_bytes();
    let (mut i, mut text_start) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'$' && text[i..].starts_with("$${") {
            if text_start < i {
                pieces.push(Piece::Text(&text[text_start..i]));
            }
            pieces.push(Piece::Escape);
            i += 3;
            text_start = i;
        } else if bytes[i] == b'$' && text[i..].starts_with("${") {
            let Some(close) = find_close(text, i + 1) else {
                return Err(text[..i].chars().count());
            };
            if text_start < i {
                pieces.push(Piece::Text(&text[text_start..i]));
            }
            pieces.push(Piece::Expr(&text[i + 2..close], text[..i].chars().count()));
            i = close + 1;
            text_start = i;
        } else {
            i += 1;
        }
    }
    if text_start < bytes.len() {
        pieces.push(Piece::Text(&text[text_start..]));
    }
    Ok(pieces)
}

/// The byte index of the `}` that closes the `{` at byte `open`, skipping CEL string
/// literals and nested braces (map literals).
pub(crate) fn find_close(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            q @ (b'\'' | b'"') => {
                let raw = i > 0 && matches!(bytes[i - 1], b'r' | b'R');
                let triple = bytes[i..].starts_with(&[q, q, q]);
                i += if triple { 3 } else { 1 };
                loop {
                    if i >= bytes.len() {
                        return None;
                    }
                    if bytes[i] == b'\\' && !raw {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == q && (!triple || bytes[i..].starts_with(&[q, q, q])) {
                        i += if triple { 2 } else { 0 };
                        break;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

impl Template {
    /// The template of one string; `span` is where its first character is.
    pub fn parse_str(text: &str, span: Span) -> Result<Template, ExprError> {
        if !text.contains("${") {
            return Ok(Template::Literal(Value::String(text.to_string())));
        }
        let pieces = split(text).map_err(|offset| ExprError {
            message: "`${` is not closed by `}`".into(),
            hint: Some("write `$${` for a literal `${`".into()),
            span: advance(span, text, offset),
        })?;
        let mut parts: Vec<Part> = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(t) => push_text(&mut parts, t),
                Piece::Escape => push_text(&mut parts, "${"),
                Piece::Expr(source, offset) => {
                    parts.push(Part::Expr(Expr::compile(source, advance(span, text, offset))?));
                }
            }
        }
        Ok(match parts.len() {
            0 => Template::Literal(Value::String(String::new())),
            1 => match parts.pop() {
                Some(Part::Expr(e)) => Template::Expr(e),
                Some(Part::Text(t)) => Template::Literal(Value::String(t)),
                None => unreachable!(),
            },
            _ => Template::Interpolated(parts),
        })
    }

    /// The template of a JSON value whose every string sits at `span` (a value built in
    /// code rather than read from a file).
    pub fn from_value(value: &Value, span: Span) -> Result<Template, ExprError> {
        Ok(match value {
            Value::String(s) => Template::parse_str(s, span)?,
            Value::Array(items) => {
                Template::array(items.iter().map(|v| Template::from_value(v, span)).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => Template::object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Template::from_value(v, span)?)))
                    .collect::<Result<_, ExprError>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// An array; a literal if all its items are.
    pub fn array(items: Vec<Template>) -> Template {
        if items.iter().all(Template::is_literal) {
            Template::Literal(Value::Array(items.into_iter().map(Template::into_literal).collect()))
        } else {
            Template::Array(items)
        }
    }

    /// An object; a literal if all its values are.
    pub fn object(entries: IndexMap<String, Template>) -> Template {
        if entries.values().all(Template::is_literal) {
            Template::Literal(Value::Object(entries.into_iter().map(|(k, v)| (k, v.into_literal())).collect()))
        } else {
            Template::Object(entries)
        }
    }

    fn into_literal(self) -> Value {
        match self {
            Template::Literal(v) => v,
            _ => unreachable!("checked by is_literal"),
        }
    }

    /// True if the template holds no expression.
    pub fn is_literal(&self) -> bool {
        matches!(self, Template::Literal(_))
    }

    /// Renders the template in `scope`.
    pub fn render(&self, scope: &Scope) -> Result<Value, EvalError> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Expr(e) => e.eval(scope)?,
            Template::Interpolated(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(e) => text.push_str(&e.eval_text(scope)?),
                    }
                }
                Value::String(text)
            }
            Template::Array(items) => Value::Array(items.iter().map(|t| t.render(scope)).collect::<Result<_, _>>()?),
            Template::Object(map) => Value::Object(
                map.iter().map(|(k, t)| Ok((k.clone(), t.render(scope)?))).collect::<Result<_, EvalError>>()?,
            ),
        })
    }

    /// Every expression of the template, in order.
    pub fn exprs(&self) -> std::vec::IntoIter<&Expr> {
        let mut out = Vec::new();
        self.collect_exprs(&mut out);
        out.into_iter()
    }

    fn collect_exprs<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Template::Literal(_) => {}
            Template::Expr(e) => out.push(e),
            Template::Interpolated(parts) => out.extend(parts.iter().filter_map(|p| match p {
                Part::Expr(e) => Some(e),
                Part::Text(_) => None,
            })),
            Template::Array(items) => items.iter().for_each(|t| t.collect_exprs(out)),
            Template::Object(map) => map.values().for_each(|t| t.collect_exprs(out)),
        }
    }

    /// The tasks the template's expressions refer to.
    pub fn task_refs(&self) -> BTreeSet<String> {
        self.exprs().flat_map(|e| e.task_refs().iter().cloned()).collect()
    }
}

fn push_text(parts: &mut Vec<Part>, text: &str) {
    if let Some(Part::Text(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(Part::Text(text.to_string()));
    }
}
