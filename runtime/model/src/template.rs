//! Workflow templates: a workflow file with a top-level `parameters:` map, whose
//! `${params.x}` placeholders are filled in, from `k=v` strings
//! (`harmonia template render FILE --param k=v`, [`render_template`]) or JSON values (the
//! HTTP API, [`render_template_json`]). [`check_template`] checks one before any values.
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
use crate::limits::Limits;
use crate::parse::{parse_workflow, read_params};
use crate::read::{Entry, Reader};
use crate::types::{InputParam, ParamType};
use crate::yaml::{self, Kind, Node, Out};

/// The parameters a template declares, by name, in the order written.
pub type Declared = IndexMap<String, InputParam>;

/// Why a template did not render, by what is to be fixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template itself: its YAML, its `parameters:`, a `${params...}` placeholder. Any
    /// errors in the values given are listed too.
    #[error("{0}")]
    Template(Diagnostics),
    /// The values given: unknown, missing, of the wrong type, or failing an expression.
    #[error("{0}")]
    Params(Diagnostics),
    /// The workflow made does not validate. Positions would be those of the rendered text,
    /// which the author never saw: the diagnostics have none.
    #[error("{0}")]
    Workflow(Diagnostics),
}

impl RenderError {
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            RenderError::Template(d) | RenderError::Params(d) | RenderError::Workflow(d) => d,
        }
    }

    pub fn into_diagnostics(self) -> Diagnostics {
        match self {
            RenderError::Template(d) | RenderError::Params(d) | RenderError::Workflow(d) => d,
        }
    }
}

/// Checks a template without rendering it: its YAML, its `parameters:` block and that every
/// `${params...}` placeholder names a declared parameter. Returns what it declares. The rest
/// of the workflow can only be checked once rendered with values.
pub fn check_template(text: &str, file: Option<&Path>) -> Result<Declared, Diagnostics> {
    let root = yaml::parse(text, &Limits::default()).map_err(|d| Diagnostics::from(d).finish(file))?;
    let mut r = Reader::default();
    let (entries, declared) = read_template(&mut r, &root);
    // No values: every placeholder is checked and none is evaluated.
    let mut renderer = Renderer::new(Map::new(), &declared);
    for e in entries.iter().filter(|e| e.key != "parameters") {
        renderer.node(e.value, &mut r);
    }
    r.diags.extend(renderer.template_diags);
    Diagnostics(r.diags).finish(file).into_result(declared)
}

/// Whether `name` may name a template: the rule of workflow names, `[A-Za-z0-9_-]+`.
pub fn is_template_name(name: &str) -> bool {
    crate::read::is_name(name)
}

/// Renders a template with `params` (`k=v` pairs as given on the command line, converted
/// to the declared types) into the text of a workflow, which is checked with
/// [`parse_workflow`].
pub fn render_template(text: &str, file: Option<&Path>, params: &[(String, String)]) -> Result<String, Diagnostics> {
    render(text, file, |declared, diags| convert_params(declared, params, diags)).map_err(RenderError::into_diagnostics)
}

/// Renders a template with `params` as JSON values (an API request), each of the declared
/// type, as an execution's input is checked: `5` is no string and `"5"` no number.
pub fn render_template_json(
    text: &str,
    file: Option<&Path>,
    params: &Map<String, Value>,
) -> Result<String, RenderError> {
    render(text, file, |declared, diags| match check_params(declared, &Value::Object(params.clone()), "parameter") {
        Ok(filled) => with_nulls(declared, filled),
        Err(d) => {
            diags.extend(d.0);
            Map::new()
        }
    })
}

/// The top-level entries of a template and the parameters it declares; errors go to `r`.
fn read_template<'n>(r: &mut Reader, root: &'n Node) -> (Vec<Entry<'n>>, Declared) {
    let entries = r.entries(root, "", "template", "key");
    let declared = match entries.iter().find(|e| e.key == "parameters") {
        Some(e) => read_params(r, e.value, "parameters"),
        None => {
            r.error(root.span, "a template needs `parameters:` (without it, it is a plain workflow)");
            IndexMap::new()
        }
    };
    (entries, declared)
}

/// Renders with the values `values` makes of the declared parameters (its errors go to
/// the diagnostics it is given).
fn render(
    text: &str,
    file: Option<&Path>,
    values: impl FnOnce(&Declared, &mut Vec<Diagnostic>) -> Map<String, Value>,
) -> Result<String, RenderError> {
    let root =
        yaml::parse(text, &Limits::default()).map_err(|d| RenderError::Template(Diagnostics::from(d).finish(file)))?;
    let mut r = Reader::default();
    let (entries, declared) = read_template(&mut r, &root);
    let mut value_diags = Vec::new();
    let values = values(&declared, &mut value_diags);
    let mut renderer = Renderer::new(values, &declared);
    let out = Out::Map(
        entries
            .iter()
            .filter(|e| e.key != "parameters")
            .map(|e| (e.key.to_string(), renderer.node(e.value, &mut r)))
            .collect(),
    );
    r.diags.extend(renderer.template_diags);
    value_diags.extend(renderer.value_diags);
    if !r.diags.is_empty() {
        r.diags.extend(value_diags);
        return Err(RenderError::Template(Diagnostics(r.diags).finish(file)));
    }
    if !value_diags.is_empty() {
        return Err(RenderError::Params(Diagnostics(value_diags).finish(file)));
    }
    let rendered = yaml::emit(&out);
    match parse_workflow(&rendered, None) {
        Ok(_) => Ok(rendered),
        Err(Diagnostics(diags)) => Err(RenderError::Workflow(Diagnostics(
            diags
                .into_iter()
                .map(|mut d| {
                    d.message = format!("in the rendered workflow: {}", d.message);
                    d.file = file.map(Path::to_path_buf);
                    // Positions are those of the rendered text, not of the template.
                    d.line = 0;
                    d.column = 0;
                    d
                })
                .collect(),
        ))),
    }
}

/// Converts the `k=v` strings to the declared types, then fills defaults and checks that
/// required parameters are there.
fn convert_params(declared: &Declared, given: &[(String, String)], diags: &mut Vec<Diagnostic>) -> Map<String, Value> {
    let mut values = Map::new();
    for (name, text) in given {
        let Some(param) = declared.get(name) else {
            let hint = did_you_mean(name, declared.keys().map(String::as_str))
                .or_else(|| Some(format!("known: {}", declared.keys().cloned().collect::<Vec<_>>().join(", "))));
            diags.push(Diagnostic::unplaced(format!("unknown parameter `{name}`")).with_hint_opt(hint));
            continue;
        };
        match convert(param.kind, text) {
            Ok(v) => {
                if values.insert(name.clone(), v).is_some() {
                    diags.push(Diagnostic::unplaced(format!("parameter `{name}` is given twice")));
                }
            }
            Err(expected) => {
                diags.push(Diagnostic::unplaced(format!("parameter `{name}` must be {expected}, got `{text}`")))
            }
        }
    }
    match check_params(declared, &Value::Object(values.clone()), "parameter") {
        Ok(filled) => with_nulls(declared, filled),
        Err(d) => {
            // Unknown names were reported above.
            diags.extend(d.0.into_iter().filter(|d| !d.message.starts_with("unknown")));
            values
        }
    }
}

/// An optional parameter with no default renders as null.
fn with_nulls(declared: &Declared, mut filled: Map<String, Value>) -> Map<String, Value> {
    for name in declared.keys() {
        filled.entry(name.clone()).or_insert(Value::Null);
    }
    filled
}

/// One command-line value as `kind`; the error says what was expected.
fn convert(kind: ParamType, text: &str) -> Result<Value, &'static str> {
    match kind {
        ParamType::String => Ok(Value::String(text.to_string())),
        ParamType::Integer => text.trim().parse::<i64>().map(Value::from).map_err(|_| "an integer"),
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
        ParamType::Any => Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))),
    }
}

struct Renderer<'a> {
    params: Value,
    declared: &'a Declared,
    /// Errors of the template, whatever the values.
    template_diags: Vec<Diagnostic>,
    /// Expressions that failed on the values given.
    value_diags: Vec<Diagnostic>,
}

impl<'a> Renderer<'a> {
    fn new(values: Map<String, Value>, declared: &'a Declared) -> Renderer<'a> {
        Renderer { params: Value::Object(values), declared, template_diags: Vec::new(), value_diags: Vec::new() }
    }

    fn node(&mut self, node: &Node, r: &mut Reader) -> Out {
        match &node.kind {
            Kind::Scalar(s) => match Node::scalar_value(s) {
                Value::String(text) if text.contains("${") => self.string(&text, node.content_span()),
                Value::String(text) => Out::Value(Value::String(text)),
                _ if s.plain => Out::Raw(s.text.clone()),
                other => Out::Value(other),
            },
            Kind::Seq(items) => Out::Seq(items.iter().map(|n| self.node(n, r)).collect()),
            Kind::Map(_) => {
                let entries = r.entries(node, "", "mapping", "key");
                Out::Map(entries.iter().map(|e| (e.key.to_string(), self.node(e.value, r))).collect())
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
                self.template_diags.push(Diagnostic::new(e.span, e.message).with_hint_opt(e.hint));
                return None;
            }
        };
        if !expr.uses(Root::Params) {
            return None;
        }
        if let Some(other) = expr.roots().find(|r| *r != Root::Params) {
            self.template_diags.push(
                Diagnostic::new(span, format!("`${{{source}}}` mixes `params` with `{}`", other.name()))
                    .with_hint("template parameters are filled in before the workflow runs: use them in an expression of their own"),
            );
            return None;
        }
        for field in expr.fields_of(Root::Params).unwrap_or_default() {
            if !self.declared.contains_key(field) {
                let hint = did_you_mean(field, self.declared.keys().map(String::as_str)).or_else(|| {
                    Some(format!("known: {}", self.declared.keys().cloned().collect::<Vec<_>>().join(", ")))
                });
                self.template_diags.push(
                    Diagnostic::new(span, format!("unknown parameter `{field}` in `${{{source}}}`"))
                        .with_hint_opt(hint),
                );
                return None;
            }
            // A required parameter not given (reported already), or no values at all.
            self.params.get(field)?;
        }
        match expr.eval(&Scope::empty().with_params(&self.params)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.value_diags.push(Diagnostic::new(span, e.to_string()));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::ParamType;

    const TEMPLATE: &str = "parameters:
  name: { type: string }
  count: { type: integer, default: 2 }
  tags: { type: array, required: false }
  extra: { type: any, required: false }
name: ${params.name}
version: 1
vars:
  count: ${params.count}
  tags: ${params.tags}
  extra: ${params.extra}
  double: ${params.count * 2}
tasks:
  a: { component: core, action: echo, input: { text: \"${input.text}\" } }
";

    fn json_params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn vars(text: &str) -> Vec<(String, Value)> {
        let wf = parse_workflow(text, None).unwrap();
        wf.vars.iter().map(|(k, t)| (k.clone(), t.render(&crate::Scope::empty()).unwrap())).collect()
    }

    #[test]
    fn check_lists_the_declared_parameters_without_values() {
        let declared = check_template(TEMPLATE, None).unwrap();
        let kinds: Vec<(&str, ParamType, bool)> =
            declared.iter().map(|(n, p)| (n.as_str(), p.kind, p.required)).collect();
        assert_eq!(
            kinds,
            [
                ("name", ParamType::String, true),
                ("count", ParamType::Integer, false),
                ("tags", ParamType::Array, false),
                ("extra", ParamType::Any, false),
            ]
        );
    }

    #[test]
    fn check_reports_yaml_parameter_and_placeholder_errors_with_positions() {
        let err = check_template("parameters:\n  a: { type: strin }\nname: [\n", None).unwrap_err();
        assert!(err.0[0].line > 0, "{err}");
        let err = check_template("parameters:\n  a: { type: strin }\nname: x\n", None).unwrap_err();
        assert_eq!((err.0[0].line, err.0[0].column), (2, 14), "{err}");
        let text = "parameters:\n  a: string\nname: ${params.b}\nversion: 1\ntasks: {}\n";
        let err = check_template(text, None).unwrap_err();
        assert_eq!((err.0[0].line, err.0[0].column), (3, 7), "{err}");
        assert_eq!(err.0[0].message, "unknown parameter `b` in `${params.b}`");
        let err = check_template("name: t\nversion: 1\ntasks: {}\n", None).unwrap_err();
        assert!(err.to_string().contains("a template needs `parameters:`"), "{err}");
    }

    #[test]
    fn json_values_keep_their_types() {
        let params = json_params(json!({ "name": "wf", "count": 3, "tags": ["x", "y"], "extra": "123" }));
        let text = render_template_json(TEMPLATE, None, &params).unwrap();
        assert_eq!(
            vars(&text),
            [
                ("count".to_string(), json!(3)),
                ("tags".to_string(), json!(["x", "y"])),
                ("extra".to_string(), json!("123")), // a string, not the number the CLI would read
                ("double".to_string(), json!(6)),
            ]
        );
        let defaults = render_template_json(TEMPLATE, None, &json_params(json!({ "name": "wf" }))).unwrap();
        assert_eq!(vars(&defaults)[0], ("count".to_string(), json!(2)));
        assert_eq!(vars(&defaults)[1], ("tags".to_string(), json!(null)));
    }

    #[test]
    fn json_values_of_the_wrong_type_or_missing_are_parameter_errors() {
        let given = json_params(json!({ "count": "3", "name": 5, "nope": 1 }));
        let Err(RenderError::Params(d)) = render_template_json(TEMPLATE, None, &given) else {
            panic!("a parameter error expected");
        };
        let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown parameter `nope`",
                "parameter `name` must be a string, got an integer",
                "parameter `count` must be an integer, got a string",
            ]
        );
        let Err(RenderError::Params(d)) = render_template_json(TEMPLATE, None, &Map::new()) else {
            panic!("a parameter error expected");
        };
        assert_eq!(d.to_string(), "missing required parameter `name`");
    }

    #[test]
    fn a_workflow_that_does_not_validate_is_a_workflow_error() {
        let given = json_params(json!({ "name": "not a name" }));
        let Err(RenderError::Workflow(d)) = render_template_json(TEMPLATE, None, &given) else {
            panic!("a workflow error expected");
        };
        assert!(d.to_string().starts_with("in the rendered workflow: "), "{d}");
        assert_eq!((d.0[0].line, d.0[0].column), (0, 0));
    }
}
