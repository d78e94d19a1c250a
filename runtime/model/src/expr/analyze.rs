//! Static analysis of a compiled CEL expression: which roots (`input`, `tasks`, ...) it
//! uses, which tasks it refers to, and which fields of each root it reads, so that an
//! evaluation converts only what the expression can see.

use std::collections::{BTreeMap, BTreeSet};

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr as Ast, LiteralValue};

use super::Root;
use crate::diag::did_you_mean;

/// The fields of a value that an expression reads, as a tree of constant field names.
///
/// `whole` means the value is used as such (passed to a function, iterated, indexed by
/// a computed key ...), so all of it must be converted.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Paths {
    pub whole: bool,
    pub fields: BTreeMap<String, Paths>,
}

impl Paths {
    fn add(&mut self, path: &[String]) {
        if self.whole {
            return;
        }
        match path.split_first() {
            None => {
                self.whole = true;
                self.fields.clear();
            }
            Some((first, rest)) => self.fields.entry(first.clone()).or_default().add(rest),
        }
    }
}

/// What an expression uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage {
    /// One entry per root used, with the fields read from it.
    pub roots: BTreeMap<Root, Paths>,
    pub task_refs: BTreeSet<String>,
}

/// An error found by the analysis, with its character offset in the expression source.
pub(crate) struct AnalysisError {
    pub message: String,
    pub hint: Option<String>,
    pub offset: Option<u32>,
}

/// CEL type names, which are identifiers in expressions such as `type(x) == int`.
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
    "duration",
    "timestamp",
];

/// Fields of `tasks.<id>`.
pub(crate) const TASK_FIELDS: &[&str] = &["output", "status", "error"];

pub(crate) fn analyze(expr: &IdedExpr, offset_of: &dyn Fn(u64) -> Option<u32>) -> Result<Usage, AnalysisError> {
    let mut walker = Walker { usage: Usage::default(), bound: Vec::new(), offset_of };
    walker.visit(expr)?;
    Ok(walker.usage)
}

struct Walker<'a> {
    usage: Usage,
    /// Comprehension variables in scope (`x` in `list.map(x, ...)`), which shadow roots.
    bound: Vec<String>,
    offset_of: &'a dyn Fn(u64) -> Option<u32>,
}

impl Walker<'_> {
    fn error(&self, id: u64, message: String, hint: Option<String>) -> AnalysisError {
        AnalysisError { message, hint, offset: (self.offset_of)(id) }
    }

    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|b| b == name)
    }

    /// `root.a["b"].c` as (root ident node, [a, b, c]) if `expr` is such a chain of constant
    /// field accesses on an identifier.
    fn chain<'e>(&self, expr: &'e IdedExpr, path: &mut Vec<String>) -> Option<(&'e IdedExpr, &'e str)> {
        match &expr.expr {
            Ast::Ident(name) => Some((expr, name.as_str())),
            Ast::Select(select) => {
                let found = self.chain(&select.operand, path)?;
                path.push(select.field.clone());
                Some(found)
            }
            Ast::Call(call) if call.func_name == "_[_]" && call.target.is_none() && call.args.len() == 2 => {
                let Ast::Literal(LiteralValue::String(key)) = &call.args[1].expr else {
                    return None;
                };
                let found = self.chain(&call.args[0], path)?;
                path.push(key.inner().to_string());
                Some(found)
            }
            _ => None,
        }
    }

    fn visit(&mut self, expr: &IdedExpr) -> Result<(), AnalysisError> {
        let mut path = Vec::new();
        if let Some((ident, name)) = self.chain(expr, &mut path) {
            return self.use_ident(ident.id, name, &path);
        }
        match &expr.expr {
            Ast::Ident(_) => unreachable!("an identifier is a chain"),
            Ast::Unspecified | Ast::Literal(_) => Ok(()),
            Ast::Select(select) => self.visit(&select.operand),
            Ast::Call(call) => {
                if let Some(target) = &call.target {
                    // `base64.encode(x)`, `math.greatest(..)`: a namespace, not a variable.
                    let namespace = matches!(&target.expr, Ast::Ident(name)
                        if Root::from_name(name).is_none() && !self.is_bound(name));
                    if !namespace {
                        self.visit(target)?;
                    }
                }
                call.args.iter().try_for_each(|arg| self.visit(arg))
            }
            Ast::List(list) => list.elements.iter().try_for_each(|e| self.visit(e)),
            Ast::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(e) => {
                    self.visit(&e.key)?;
                    self.visit(&e.value)
                }
                EntryExpr::StructField(f) => self.visit(&f.value),
            }),
            Ast::Struct(s) => s.entries.iter().try_for_each(|entry| match &entry.expr {
                EntryExpr::MapEntry(e) => {
                    self.visit(&e.key)?;
                    self.visit(&e.value)
                }
                EntryExpr::StructField(f) => self.visit(&f.value),
            }),
            Ast::Comprehension(c) => {
                self.visit(&c.iter_range)?;
                self.visit(&c.accu_init)?;
                let before = self.bound.len();
                self.bound.push(c.iter_var.clone());
                if let Some(v) = &c.iter_var2 {
                    self.bound.push(v.clone());
                }
                self.bound.push(c.accu_var.clone());
                let result =
                    self.visit(&c.loop_cond).and_then(|_| self.visit(&c.loop_step)).and_then(|_| self.visit(&c.result));
                self.bound.truncate(before);
                result
            }
        }
    }

    fn use_ident(&mut self, id: u64, name: &str, path: &[String]) -> Result<(), AnalysisError> {
        if self.is_bound(name) {
            return Ok(());
        }
        let Some(root) = Root::from_name(name) else {
            if TYPE_NAMES.contains(&name) {
                return Ok(());
            }
            let hint = did_you_mean(name, Root::ALL.iter().map(|r| r.name()))
                .or_else(|| Some(format!("expressions can use {}", Root::list())));
            return Err(self.error(id, format!("unknown variable `{name}`"), hint));
        };
        if root == Root::Tasks {
            let Some(task) = path.first() else {
                return Err(self.error(
                    id,
                    "`tasks` must be followed by a task id".into(),
                    Some("write tasks.<id> or tasks[\"<id>\"]".into()),
                ));
            };
            if let Some(field) = path.get(1)
                && !TASK_FIELDS.contains(&field.as_str())
            {
                let hint = did_you_mean(field, TASK_FIELDS.iter().copied())
                    .unwrap_or_else(|| "a task has `output`, `status` and `error`".into());
                return Err(self.error(id, format!("tasks.{task} has no field `{field}`"), Some(hint)));
            }
            self.usage.task_refs.insert(task.clone());
        }
        self.usage.roots.entry(root).or_default().add(path);
        Ok(())
    }
}
