//! A small YAML tree with the position of every node, read from `saphyr-parser` events.
//!
//! Our own tree rather than a YAML loader's, for two reasons: loaders silently keep the last
//! of two equal keys (a duplicate task id must be an error), and they drop positions.
//! JSON is YAML 1.2, so JSON files go through the same code.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use crate::diag::Diagnostic;
use crate::expr::template::find_close;
use crate::limits::Limits;
use crate::types::Span;

/// A node of a YAML document.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub span: Span,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in file order, duplicates kept (the reader of the map reports them).
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    pub text: String,
    /// Plain scalars are typed by their text (`10`, `true`, `null`); others are strings.
    pub plain: bool,
    /// `!!str` and friends.
    pub tag: Option<String>,
}

impl Node {
    /// The node as a string scalar's text, if it is a scalar.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The JSON value of a scalar by the YAML 1.2 core schema.
    pub fn scalar_value(s: &Scalar) -> Value {
        match s.tag.as_deref() {
            Some("str") => return Value::String(s.text.clone()),
            Some("null") => return Value::Null,
            _ => {}
        }
        if !s.plain {
            return Value::String(s.text.clone());
        }
        resolve_plain(&s.text)
    }

    /// "a string", "a list" ... for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Scalar(s) => describe_value(&Node::scalar_value(s)),
        }
    }

    /// Where the content of a scalar starts (after its opening quote).
    pub fn content_span(&self) -> Span {
        match &self.kind {
            Kind::Scalar(s) if !s.plain => Span { line: self.span.line, column: self.span.column + 1 },
            _ => self.span,
        }
    }
}

/// "a string", "an integer" ... for messages about JSON values.
pub(crate) fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = text.trim_start_matches('+').parse::<u64>() {
            return Value::from(u);
        }
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::from(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::from(i);
    }
    if is_float(digits)
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    // `.inf` and `.nan` have no JSON form: they stay text.
    Value::String(text.to_string())
}

/// `[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+...` (sign already stripped).
fn is_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        all_digits(int) && frac.is_none_or(all_digits) && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Characters that YAML treats as syntax inside a plain scalar, and the private-use
/// characters that stand for them while the document is parsed.
const SHIELDED: [(char, char); 7] = [
    ('{', '\u{E000}'),
    ('}', '\u{E001}'),
    ('[', '\u{E002}'),
    (']', '\u{E003}'),
    (',', '\u{E004}'),
    (':', '\u{E005}'),
    ('#', '\u{E006}'),
];

/// Hides the YAML syntax characters of every `${...}` so that an unquoted expression is a
/// plain scalar, also in a flow mapping (`{ path: ${input.path} }`, as the plan writes it,
/// which strict YAML would reject). Every character keeps its place, so positions hold.
/// Quoted and block scalars are shielded too: their text is unshielded like any other.
fn shield(text: &str) -> Option<String> {
    if !text.contains("${") || text.chars().any(|c| SHIELDED.iter().any(|(_, s)| *s == c)) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = 0;
    for line in text.split_inclusive('\n') {
        let mut i = 0;
        while let Some(found) = line[i..].find("${") {
            let open = i + found + 1;
            let Some(close) = find_close(line, open) else {
                break;
            };
            out.push_str(&line[i..open]);
            for c in line[open..=close].chars() {
                out.push(SHIELDED.iter().find(|(plain, _)| *plain == c).map_or(c, |(_, s)| *s));
            }
            i = close + 1;
        }
        out.push_str(&line[i..]);
        rest += line.len();
    }
    debug_assert_eq!(rest, text.len());
    Some(out)
}

fn unshield(text: &mut String) {
    if text.chars().any(|c| ('\u{E000}'..='\u{E006}').contains(&c)) {
        *text = text.chars().map(|c| SHIELDED.iter().find(|(_, s)| *s == c).map_or(c, |(plain, _)| *plain)).collect();
    }
}

fn span_of(marker: saphyr_parser::Marker) -> Span {
    Span { line: marker.line() as u32, column: marker.col() as u32 + 1 }
}

enum Open {
    Seq(Span, usize, Vec<Node>),
    Map(Span, usize, Vec<(Node, Node)>, Option<Node>),
}

/// Parses one YAML (or JSON) document. A syntax error is one diagnostic, and so is a
/// document over `limits` (nesting depth, nodes with aliases expanded): it is refused as
/// soon as the count passes the limit, so the tree never grows beyond it.
pub(crate) fn parse(text: &str, limits: &Limits) -> Result<Node, Diagnostic> {
    let shielded = shield(text);
    let source = shielded.as_deref().unwrap_or(text);
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Open> = Vec::new();
    // Each anchored node with the number of nodes it holds: an alias costs that many.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    // Nodes of the tree so far, and of each open collection (to size an anchored one).
    let mut nodes = 0usize;
    let mut opened_at: Vec<usize> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) =
            event.map_err(|e| Diagnostic::new(span_of(*e.marker()), format!("YAML syntax error: {}", e.info())))?;
        let at = span_of(span.start);
        let is_end = matches!(event, Event::SequenceEnd | Event::MappingEnd);
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::new(at, "a workflow file holds one YAML document, this is a second one"));
                }
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let mut text = value.into_owned();
                unshield(&mut text);
                let tag = tag.map(|t| if t.is_yaml_core_schema() { t.suffix.clone() } else { t.to_string() });
                let node =
                    Node { span: at, kind: Kind::Scalar(Scalar { text, plain: style == ScalarStyle::Plain, tag }) };
                Some((node, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    // Counted before the copy is made.
                    count(&mut nodes, *size - 1, limits, at)?;
                    Some((node.clone(), 0))
                }
                None => return Err(Diagnostic::new(at, "alias to an unknown anchor")),
            },
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= limits.max_depth {
                    let message =
                        Limits::exceeded("the nesting of mappings and lists", limits.max_depth, "workflow_max_depth");
                    return Err(Diagnostic::new(at, message));
                }
                opened_at.push(nodes);
                stack.push(match event {
                    Event::SequenceStart(..) => Open::Seq(at, anchor, Vec::new()),
                    _ => Open::Map(at, anchor, Vec::new(), None),
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(span, anchor, items)) => Some((Node { span, kind: Kind::Seq(items) }, anchor)),
                Some(Open::Map(span, anchor, entries, _)) => Some((Node { span, kind: Kind::Map(entries) }, anchor)),
                None => None,
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = done else { continue };
        // The node itself; a collection's contents were counted as they came.
        let before = if is_end { opened_at.pop().unwrap_or(nodes) } else { nodes };
        count(&mut nodes, 1, limits, at)?;
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), nodes - before));
        }
        match stack.last_mut() {
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
            None => root = Some(node),
        }
    }
    match root {
        Some(node) if !matches!(&node.kind, Kind::Scalar(s) if s.plain && s.text.is_empty()) => Ok(node),
        _ => Err(Diagnostic::new(Span { line: 1, column: 1 }, "the file is empty")),
    }
}

/// Adds `more` nodes to the count, refusing the document past the limit.
fn count(nodes: &mut usize, more: usize, limits: &Limits, at: Span) -> Result<(), Diagnostic> {
    *nodes = nodes.saturating_add(more);
    if *nodes > limits.max_nodes {
        let what = "the number of YAML nodes (with aliases expanded)";
        return Err(Diagnostic::new(at, Limits::exceeded(what, limits.max_nodes, "workflow_max_nodes")));
    }
    Ok(())
}

/// A tree to write out as YAML: nodes kept as written, or JSON values.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A plain scalar kept as written (`1.10`, `true`, `0x1f`): its text is its meaning.
    Raw(String),
    Value(Value),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

impl Out {
    fn expand(&self) -> Option<Out> {
        match self {
            Out::Value(Value::Array(items)) => Some(Out::Seq(items.iter().cloned().map(Out::Value).collect())),
            Out::Value(Value::Object(map)) => {
                Some(Out::Map(map.iter().map(|(k, v)| (k.clone(), Out::Value(v.clone()))).collect()))
            }
            _ => None,
        }
    }
}

/// Writes `out` as a YAML document: block style, strings quoted where YAML would read them
/// otherwise.
pub(crate) fn emit(out: &Out) -> String {
    let mut text = String::new();
    emit_node(out, 0, true, &mut text);
    text
}

/// Writes a node that follows `key:` or `-` (or starts the document if `top`).
fn emit_node(out: &Out, indent: usize, top: bool, text: &mut String) {
    if let Some(expanded) = out.expand() {
        return emit_node(&expanded, indent, top, text);
    }
    let pad = " ".repeat(indent);
    match out {
        Out::Map(entries) if !entries.is_empty() => {
            for (i, (key, value)) in entries.iter().enumerate() {
                if !top || i > 0 {
                    text.push('\n');
                }
                text.push_str(&pad);
                text.push_str(&string_text(key));
                text.push(':');
                emit_node(value, indent + 2, false, text);
            }
        }
        Out::Seq(items) if !items.is_empty() => {
            for (i, value) in items.iter().enumerate() {
                if !top || i > 0 {
                    text.push('\n');
                }
                text.push_str(&pad);
                text.push('-');
                emit_node(value, indent + 2, false, text);
            }
        }
        Out::Map(_) => text.push_str(if top { "{}" } else { " {}" }),
        Out::Seq(_) => text.push_str(if top { "[]" } else { " []" }),
        Out::Raw(raw) => {
            if !top {
                text.push(' ');
            }
            text.push_str(raw);
        }
        Out::Value(value) => {
            if !top {
                text.push(' ');
            }
            text.push_str(&match value {
                Value::String(s) => string_text(s),
                other => other.to_string(),
            });
        }
    }
    if top {
        text.push('\n');
    }
}

/// A string plain if YAML reads it back as the same string, else double-quoted (JSON
/// escapes are valid YAML double-quoted escapes).
pub(crate) fn string_text(s: &str) -> String {
    let plain_safe = !s.is_empty()
        && s.trim() == s
        && matches!(resolve_plain(s), Value::String(_))
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`$~".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && s.chars().all(|c| !c.is_control() && !('\u{E000}'..='\u{E006}').contains(&c));
    if plain_safe { s.to_string() } else { Value::String(s.to_string()).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_follow_the_yaml_1_2_core_schema() {
        let cases = [
            ("~", json!(null)),
            ("", json!(null)),
            ("True", json!(true)),
            ("no", json!("no")), // YAML 1.1's booleans are strings in 1.2
            ("10", json!(10)),
            ("-3", json!(-3)),
            ("0x1f", json!(31)),
            ("0o17", json!(15)),
            ("1.0", json!(1.0)),
            ("1e3", json!(1000.0)),
            (".5", json!(0.5)),
            ("1.2.3", json!("1.2.3")),
            (".inf", json!(".inf")),
            ("18446744073709551615", json!(18446744073709551615u64)),
        ];
        for (text, value) in cases {
            assert_eq!(resolve_plain(text), value, "{text}");
        }
    }

    #[test]
    fn shielding_keeps_every_position() {
        let text = "a: { b: ${x[0] + {'k': 1}['k']}, c: 1 } # ${comment\n";
        let shielded = shield(text).unwrap();
        assert_eq!(shielded.chars().count(), text.chars().count());
        assert!(shielded.starts_with("a: { b: $\u{E000}x\u{E002}0\u{E003}"));
        assert!(shielded.ends_with("# ${comment\n"), "an unclosed `${{` is left alone");
        let mut back = shielded.clone();
        unshield(&mut back);
        assert_eq!(back, text);
        let node = parse(text, &Limits::default()).unwrap();
        let Kind::Map(entries) = node.kind else { panic!() };
        let Kind::Map(inner) = &entries[0].1.kind else { panic!() };
        assert_eq!(inner[0].1.scalar().unwrap().text, "${x[0] + {'k': 1}['k']}");
        assert_eq!(inner[0].1.span, Span { line: 1, column: 9 });
    }

    #[test]
    fn anchors_and_aliases_are_copies() {
        let node = parse("a: &x { k: 1 }\nb: *x\n", &Limits::default()).unwrap();
        let Kind::Map(entries) = node.kind else { panic!() };
        assert!(matches!(&entries[1].1.kind, Kind::Map(m) if m.len() == 1));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_where_it_goes_too_deep() {
        let limits = Limits::default();
        // Block lists 100,000 deep overflowed the stack; flow ones too, in the parser.
        for text in
            [format!("k:\n{}x\n", "- ".repeat(100_000)), format!("k: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))]
        {
            let e = parse(&text, &limits).unwrap_err();
            assert!(e.message.contains("nesting") || e.message.contains("recursion limit"), "{}", e.message);
        }
        let e = parse(&format!("k:\n{}x\n", "- ".repeat(100_000)), &limits).unwrap_err();
        assert!(e.message.contains("limit of 64 (workflow_max_depth"), "{}", e.message);
        assert_eq!(e.line, 2);
        // Up to the limit is fine, and an operator's higher limit lets more through.
        let at_limit = format!("{}x\n", "- ".repeat(64));
        assert!(parse(&at_limit, &limits).is_ok());
        let deeper = format!("{}x\n", "- ".repeat(100));
        assert!(parse(&deeper, &limits).is_err());
        assert!(parse(&deeper, &Limits { max_depth: 100, ..limits }).is_ok());
    }

    #[test]
    fn aliases_count_as_every_node_they_copy() {
        // 8 levels of 10 aliases: 433 bytes that expanded to 10^8 nodes (out of memory).
        let mut text = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..=8 {
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(",")));
        }
        let e = parse(&text, &Limits::default()).unwrap_err();
        assert!(
            e.message.contains("the number of YAML nodes (with aliases expanded) exceeds the limit of 1000000"),
            "{}",
            e.message
        );
        assert!(e.message.contains("workflow_max_nodes"), "{}", e.message);
        // Five of them (a0 to a4: lists of 11, 111, ... 111,111 nodes) are well within.
        let small: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
        let node = parse(&small, &Limits::default()).unwrap();
        let Kind::Map(entries) = &node.kind else { panic!() };
        let Kind::Seq(a4) = &entries[4].1.kind else { panic!() };
        assert_eq!(a4.len(), 10);
        // The count is exact: a document of n nodes passes a limit of n and fails n - 1
        // (the root mapping, its five keys and their lists).
        let nodes = 1 + 5 + 11 + 111 + 1_111 + 11_111 + 111_111;
        assert!(parse(&small, &Limits { max_nodes: nodes, ..Limits::default() }).is_ok());
        assert!(parse(&small, &Limits { max_nodes: nodes - 1, ..Limits::default() }).is_err());
    }

    #[test]
    fn emitted_yaml_reads_back() {
        let value = json!({ "s": ["a: b", "1.0", "", "x\ny", "${e}", "plain"], "n": 1.5, "e": {}, "l": [], "z": null });
        let out = Out::Map(vec![("v".into(), Out::Raw("1.10".into())), ("d".into(), Out::Value(value.clone()))]);
        let text = emit(&out);
        let node = parse(&text, &Limits::default()).unwrap();
        let Kind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries[0].1.scalar().unwrap().text, "1.10");
        let mut r = crate::read::Reader::default();
        assert_eq!(r.json(&entries[1].1, "d"), value, "{text}");
    }
}
