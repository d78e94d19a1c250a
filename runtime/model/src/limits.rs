//! What one workflow document may hold at most. A document over a limit is refused with an
//! error that names the limit and how to raise it, before it can cost more than the limit
//! allows: parsing keeps count as it goes, so a 433-byte alias bomb stops at the node limit
//! instead of expanding into gigabytes, and a deeply nested one stops at the depth limit
//! instead of overflowing a stack.

/// Limits on a workflow document (and a template's). Operators raise them with the server's
/// settings of the same names (`harmonia serve --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Mappings and lists nested inside one another (`workflow_max_depth`).
    pub max_depth: usize,
    /// YAML nodes (scalars, lists, mappings) with every alias expanded (`workflow_max_nodes`).
    pub max_nodes: usize,
    /// Tasks of the workflow (`workflow_max_tasks`).
    pub max_tasks: usize,
}

/// Names and task ids hold at most this many characters; versions at most [`MAX_VERSION_LEN`].
pub const MAX_NAME_LEN: usize = 128;
/// Characters of a version.
pub const MAX_VERSION_LEN: usize = 64;

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_depth: 64, max_nodes: 1_000_000, max_tasks: 10_000 }
    }
}

impl Limits {
    /// The message of a refusal: what is over which limit, and the setting that raises it.
    pub(crate) fn exceeded(what: &str, limit: usize, setting: &str) -> String {
        format!("{what} exceeds the limit of {limit} ({setting}; an operator can raise it)")
    }
}
