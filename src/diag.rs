//! Located diagnostics: every complaint about an input names where it is and what to do.
//!
//! The loader never stops at the first problem: it collects [`Diagnostic`]s in a [`Diagnostics`]
//! list and the caller decides. Errors make a load fail; warnings are reported and the load goes
//! on. A diagnostic prints as `file:line:column: error: what is wrong` followed, when there is one,
//! by a `help:` line that says what to do.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A place in an input file. Lines and columns count from 1, columns in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Loc { file, line, col }
    }

    /// The place that stands for a whole file (line and column unknown).
    pub fn file(file: Arc<Path>) -> Self {
        Loc { file, line: 0, col: 0 }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match (self.line, self.col) {
            (0, _) => write!(f, "{file}"),
            (line, 0) => write!(f, "{file}:{line}"),
            (line, col) => write!(f, "{file}:{line}:{col}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One complaint about an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where the problem is; `None` only for problems that belong to no file (e.g. an unset
    /// variable named on the command line).
    pub loc: Option<Loc>,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(loc: Option<Loc>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            loc,
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(loc: Option<Loc>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            loc,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{word}: {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// An ordered collection of diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn error(&mut self, loc: Option<&Loc>, message: impl Into<String>) {
        self.push(Diagnostic::error(loc.cloned(), message));
    }

    pub fn error_help(&mut self, loc: Option<&Loc>, message: impl Into<String>, help: impl Into<String>) {
        self.push(Diagnostic::error(loc.cloned(), message).with_help(help));
    }

    pub fn warning(&mut self, loc: Option<&Loc>, message: impl Into<String>) {
        self.push(Diagnostic::warning(loc.cloned(), message));
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Replaces every occurrence of `values` (those of three characters or more, longest
    /// first) in the messages and help with `***`.
    pub fn mask(&mut self, values: &std::collections::BTreeSet<String>) {
        let mut values: Vec<&String> = values.iter().filter(|v| v.chars().count() >= 3).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let hide = |text: &mut String| {
            for v in &values {
                if text.contains(v.as_str()) {
                    *text = text.replace(v.as_str(), "***");
                }
            }
        };
        for d in &mut self.items {
            hide(&mut d.message);
            if let Some(help) = d.help.as_mut() {
                hide(help);
            }
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.82)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_location_message_and_help() {
        let loc = Loc::new(Arc::from(Path::new("compose.yaml")), 12, 5);
        let d = Diagnostic::error(Some(loc), "bad thing").with_help("do this");
        assert_eq!(d.to_string(), "compose.yaml:12:5: error: bad thing\n  help: do this");
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["restart", "environment", "image"];
        assert_eq!(did_you_mean("enviroment", keys), Some("environment"));
        assert_eq!(did_you_mean("imgae", keys), Some("image"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
