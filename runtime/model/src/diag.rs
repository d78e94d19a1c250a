//! Diagnostics: errors that point at a place in a workflow file.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::types::Span;

/// One error, at a position of a file (line 0: no position, e.g. an execution's input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Option<PathBuf>,
    /// 1-based; 0 when the error has no place in a file.
    pub line: u32,
    /// 1-based.
    pub column: u32,
    pub message: String,
    /// What to do about it, e.g. the closest valid key.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span` of no file yet (the parser fills the file in at the end).
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Diagnostic { file: None, line: span.line, column: span.column, message: message.into(), hint: None }
    }

    /// An error without a position.
    pub fn unplaced(message: impl Into<String>) -> Self {
        Diagnostic::new(Span::default(), message)
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// The position as a [`Span`].
    pub fn span(&self) -> Span {
        Span { line: self.line, column: self.column }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
        }
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if self.file.is_some() || self.line > 0 {
            f.write_str(" ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// All the errors of one file (or one input), sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by position (stable: errors at one place keep their order) and sets the file of
    /// those that have none.
    pub fn finish(mut self, file: Option<&Path>) -> Self {
        for d in &mut self.0 {
            if d.file.is_none() {
                d.file = file.map(Path::to_path_buf);
            }
        }
        self.0.sort_by_key(|d| (d.line, d.column));
        self
    }

    /// `Ok(ok)` if there is no error.
    pub fn into_result<T>(self, ok: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() { Ok(ok) } else { Err(self) }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// The candidate closest to `word`, if one is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_what_is_missing() {
        let d = Diagnostic::new(Span { line: 3, column: 7 }, "bad").with_hint("fix it");
        assert_eq!(d.to_string(), "3:7: bad (hint: fix it)");
        let placed = Diagnostics(vec![d.clone()]).finish(Some(Path::new("w.yaml")));
        assert_eq!(placed.to_string(), "w.yaml:3:7: bad (hint: fix it)");
        assert_eq!(Diagnostic::unplaced("no place").to_string(), "no place");
        let in_file = Diagnostics(vec![Diagnostic::unplaced("x")]).finish(Some(Path::new("f")));
        assert_eq!(in_file.to_string(), "f: x");
    }

    #[test]
    fn sorted_by_position() {
        let at = |line, column| Diagnostic::new(Span { line, column }, format!("{line}:{column}"));
        let all = Diagnostics(vec![at(5, 1), at(2, 9), at(2, 3)]).finish(None);
        assert_eq!(all.to_string(), "2:3: 2:3\n2:9: 2:9\n5:1: 5:1");
    }

    #[test]
    fn closest_words() {
        assert_eq!(closest("dependson", ["depends_on", "description"]), Some("depends_on"));
        assert_eq!(closest("zzz", ["depends_on"]), None);
    }
}
