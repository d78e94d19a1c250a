//! Workflow templates: a workflow file with a top-level `parameters:` map, whose
//! `${params.x}` placeholders are filled in by `harmonia template render FILE --param k=v`.
//!
//! Only expressions over `params` alone are evaluated; every other `${...}` is a run-time
//! expression of the workflow and is left as written.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::check::check_params;
use crate::diag::{Diagnostic, Diagnostics, did_you_mean};
use crate::expr::template::{Piece, split};
use crate::expr::{Expr, Root, Scope, advance};
use crate::parse::{parse_workflow, read_params};
use crate::read::Reader;
use crate::types::{InputParam, ParamType};
use crate::yaml::{self, Kind, Node, Out};

/// Renders a template with `params` (`k=v` pairs as given on the command line) into the
/// text of a workflow, which is checked with [`parse_workflow`].
pub fn render_template(
    text: &str,
    file: Option<&Path>,
    params: &[(String, String)],
) -> Result<String, Diagnostics> {
    let root = yaml::parse(text).map_err(|d| Diagnostics::from(d).finish(file))?;
    let mut r = Reader::default();
    let entries = r.entries(&root, "", "template", "key");
    let declared = match entries.iter().find(|e| e.key == "parameters") {
        Some(e) => read_params(&mut r, e.value, "parameters"),
        None => {
            r.error(
                root.span,
                "a template needs `parameters:` (without it, it is a plain workflow)",
            );
            IndexMap::new()
        }
    };
    let values = convert_params(&declared, params, &mut r.diags);
    let mut renderer = Renderer {
        params: Value::Object(values),
        declared: &declared,
        diags: Vec::new(),
    };
    let out = Out::Map(
        entries
            .iter()
            .filter(|e| e.key != "parameters")
            .map(|e| (e.key.to_string(), renderer.node(e.value, &mut r)))
            .collect(),
    );
    r.diags.extend(renderer.diags);
    if !r.diags.is_empty() {
        return Err(Diagnostics(r.diags).finish(file));
    }
    let rendered = yaml::emit(&out);
    match parse_workflow(&rendered, None) {
        Ok(_) => Ok(rendered),
        Err(Diagnostics(diags)) => Err(Diagnostics(
            diags
                .into_iter()
                .map(|mut d| {
                    d.message = format!("in the rendered workflow: {}", d.message);
                    d.file = file.map(Path::to_path_buf);
                    // Positions are those of the rendered text, not of the template.
                    d.line = 0;
                    d
                })
                .collect(),
        )),
    }
}

/// Converts the `k=v` strings to the declared types, then fills defaults and checks that
/// required parameters are there.
fn convert_params(
    declared: &IndexMap<String, InputParam>,
    given: &[(String, String)],
    diags: &mut Vec<Diagnostic>,
) -> Map<String, Value> {
    let mut values = Map::new();
    for (name, text) in given {
        let Some(param) = declared.get(name) else {
            let hint = did_you_mean(name, declared.keys().map(String::as_str)).or_else(|| {
                Some(format!(
                    "known: {}",
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            });
            diags.push(
                Diagnostic::unplaced(format!("unknown parameter `{name}`")).with_hint_opt(hint),
            );
            continue;
        };
        match convert(param.kind, text) {
            Ok(v) => {
                if values.insert(name.clone(), v).is_some() {
                    diags.push(Diagnostic::unplaced(format!(
                        "parameter `{name}` is given twice"
                    )));
                }
            }
            Err(expected) => diags.push(Diagnostic::unplaced(format!(
                "parameter `{name}` must be {expected}, got `{text}`"
            ))),
        }
    }
    match check_params(declared, &Value::Object(values.clone()), "parameter") {
        Ok(mut filled) => {
            // An optional parameter with no default renders as null.
            for name in declared.keys() {
                filled.entry(name.clone()).or_insert(Value::Null);
            }
            filled
        }
        Err(d) => {
            // Unknown names were reported above.
            diags.extend(
                d.0.into_iter()
                    .filter(|d| !d.message.starts_with("unknown")),
            );
            values
        }
    }
}

/// One command-line value as `kind`; the error says what was expected.
fn convert(kind: ParamType, text: &str) -> Result<Value, &'static str> {
    match kind {
        ParamType::String => Ok(Value::String(text.to_string())),
        ParamType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "an integer"),
        ParamType::Number => match text.trim().parse::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("a number"),
        },
        ParamType::Boolean => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("true or false"),
        },
        ParamType::Object => match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err("a JSON object"),
        },
        ParamType::Array => match serde_json::from_str(text) {
            Ok(v @ Value::Array(_)) => Ok(v),
            _ => Err("a JSON list"),
        },
        // JSON if it reads as JSON, else the text itself.
        ParamType::Any => {
            Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
        }
    }
}

struct Renderer<'a> {
    params: Value,
    declared: &'a IndexMap<String, InputParam>,
    diags: Vec<Diagnostic>,
}

impl Renderer<'_> {
    fn node(&mut self, node: &Node, r: &mut Reader) -> Out {
        match &node.kind {
            Kind::Scalar(s) => match Node::scalar_value(s) {
                Value::String(text) if text.contains("${") => {
                    self.string(&text, node.content_span())
                }
                Value::String(text) => Out::Value(Value::String(text)),
                _ if s.plain => Out::Raw(s.text.clone()),
                other => Out::Value(other),
            },
            Kind::Seq(items) => Out::Seq(items.iter().map(|n| self.node(n, r)).collect()),
            Kind::Map(_) => {
                let entries = r.entries(node, "", "mapping", "key");
                Out::Map(
                    entries
                        .iter()
                        .map(|e| (e.key.to_string(), self.node(e.value, r)))
                        .collect(),
                )
            }
        }
    }

    /// A string with `${...}` in it: `${params...}` evaluated, the rest kept as written.
    fn string(&mut self, text: &str, span: crate::types::Span) -> Out {
        let Ok(pieces) = split(text) else {
            // Not closed: the workflow's own parse reports it.
            return Out::Value(Value::String(text.to_string()));
        };
        let mut out = String::new();
        let single = pieces.len() == 1;
        for piece in pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Escape => out.push_str("$${"),
                Piece::Expr(source, offset) => {
                    let at = advance(span, text, offset);
                    match self.param_expr(source, at) {
                        Some(value) if single => return Out::Value(value),
                        Some(Value::String(s)) => out.push_str(&s),
                        Some(value) => out.push_str(&value.to_string()),
                        None => {
                            out.push_str("${");
                            out.push_str(source);
                            out.push('}');
                        }
                    }
                }
            }
        }
        Out::Value(Value::String(out))
    }

    /// The value of an expression over `params`; None for a run-time expression (or an
    /// error, reported).
    fn param_expr(&mut self, source: &str, span: crate::types::Span) -> Option<Value> {
        let expr = match Expr::compile(source, span) {
            Ok(e) => e,
            Err(e) => {
                self.diags
                    .push(Diagnostic::new(e.span, e.message).with_hint_opt(e.hint));
                return None;
            }
        };
        if !expr.uses(Root::Params) {
            return None;
        }
        if let Some(other) = expr.roots().find(|r| *r != Root::Params) {
            self.diags.push(
                Diagnostic::new(span, format!("`${{{source}}}` mixes `params` with `{}`", other.name()))
                    .with_hint("template parameters are filled in before the workflow runs: use them in an expression of their own"),
            );
            return None;
        }
        for field in expr.fields_of(Root::Params).unwrap_or_default() {
            if !self.declared.contains_key(field) {
                let hint =
                    did_you_mean(field, self.declared.keys().map(String::as_str)).or_else(|| {
                        Some(format!(
                            "known: {}",
                            self.declared.keys().cloned().collect::<Vec<_>>().join(", ")
                        ))
                    });
                self.diags.push(
                    Diagnostic::new(
                        span,
                        format!("unknown parameter `{field}` in `${{{source}}}`"),
                    )
                    .with_hint_opt(hint),
                );
                return None;
            }
            // A required parameter that was not given: reported already.
            self.params.get(field)?;
        }
        match expr.eval(&Scope::empty().with_params(&self.params)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.diags.push(Diagnostic::new(span, e.to_string()));
                None
            }
        }
    }
}
