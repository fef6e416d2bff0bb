//! The `.env` and `env_file` format, as compose reads it: `KEY=value` lines, an optional `export `
//! prefix, `#` comments, single quotes (literal), double quotes (escapes and interpolation, may span
//! lines), unquoted values (trailing ` # comment` dropped, interpolated). A bare `KEY` takes its value
//! from the process environment and is skipped when that has none.

use indexmap::IndexMap;

use crate::diag::{Diagnostic, Loc};
use crate::load::interpolate::{self, InterpError};

use std::path::Path;
use std::sync::Arc;

/// An env file in compose's `format: raw`: `NAME=value` lines taken as they are, without
/// quotes, escapes or interpolation; blank lines and `#` comments are skipped.
pub fn parse_raw(text: &str) -> IndexMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// Parses dotenv text. `outer` supplies variables that are not defined earlier in the file
/// (the process environment). The first error ends the parse: later lines may depend on it.
pub fn parse(
    text: &str,
    file: &Arc<Path>,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, Diagnostic> {
    let mut vars: IndexMap<String, String> = IndexMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while n < lines.len() {
        let line_no = n + 1;
        let line = lines[n].trim_start();
        n += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let loc = |col: usize| Loc::new(file.clone(), line_no as u32, col as u32);
        let key_len = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .unwrap_or(line.len());
        let key = &line[..key_len];
        if key.is_empty() {
            return Err(
                Diagnostic::error(Some(loc(1)), format!("expected `NAME=value`, found {:?}", lines[n - 1]))
                    .with_help("each line of an env file is `NAME=value`, a `# comment`, or blank"),
            );
        }
        let rest = line[key_len..].trim_start();
        let Some(raw) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')) else {
            if rest.is_empty() || rest.starts_with('#') {
                if let Some(v) = outer(key) {
                    vars.insert(key.to_string(), v);
                }
                continue;
            }
            return Err(
                Diagnostic::error(Some(loc(key_len + 1)), format!("expected `=` after `{key}`"))
                    .with_help("write `NAME=value`; quote values that contain spaces"),
            );
        };
        let raw = raw.trim_start();
        let lookup = |name: &str| outer(name).or_else(|| vars.get(name).cloned());
        let value = match raw.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let mut body = raw[1..].to_string();
                let end = loop {
                    if let Some(end) = closing_quote(&body, q) {
                        break end;
                    }
                    if n >= lines.len() {
                        return Err(Diagnostic::error(
                            Some(loc(1)),
                            format!("the quoted value of `{key}` is never closed"),
                        )
                        .with_help(format!("add the closing {q} quote")));
                    }
                    body.push('\n');
                    body.push_str(lines[n]);
                    n += 1;
                };
                let inner = &body[..end];
                if q == '\'' {
                    inner.to_string()
                } else {
                    expand(&unescape(inner), &lookup, &loc(1))?
                }
            }
            _ => {
                let unquoted = match raw.find(" #") {
                    Some(i) => &raw[..i],
                    None if raw.starts_with('#') => "",
                    None => raw,
                };
                expand(unquoted.trim_end(), &lookup, &loc(1))?
            }
        };
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

fn closing_quote(body: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if q == '"' && !escaped => escaped = true,
            c if c == q && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>, loc: &Loc) -> Result<String, Diagnostic> {
    match interpolate::interpolate(value, &lookup) {
        Ok(done) => Ok(done.value),
        Err(InterpError::TooDeep) => Err(Diagnostic::error(
            Some(loc.clone()),
            format!(
                "defaults nested more than {} levels deep in {}",
                interpolate::MAX_NESTING,
                interpolate::excerpt(value)
            ),
        )
        .with_help("write the default once")),
        Err(InterpError::Syntax(_)) => Err(Diagnostic::error(
            Some(loc.clone()),
            format!("invalid interpolation in {}", interpolate::excerpt(value)),
        )
        .with_help("write `${NAME}` or `${NAME:-default}`, and `$$` for a literal `$`")),
        Err(InterpError::Required { name, message }) => Err(Diagnostic::error(
            Some(loc.clone()),
            format!("required variable `{name}` is missing a value: {message}"),
        )
        .with_help(format!("set {name} in the environment"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<IndexMap<String, String>, Diagnostic> {
        let outer = |n: &str| (n == "HOME").then(|| "/root".to_string());
        parse(text, &Arc::from(Path::new(".env")), &outer)
    }

    #[test]
    fn forms() {
        let v = p("# c\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"x\\ny $A\"\nE=${HOME}/d\nF=\nG: 7\nHOME\nNOPE\nH=\"multi\nline\"\n")
            .unwrap();
        let got: Vec<(&str, &str)> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("A", "1"),
                ("B", "two words"),
                ("C", "lit $A"),
                ("D", "x\ny 1"),
                ("E", "/root/d"),
                ("F", ""),
                ("G", "7"),
                ("HOME", "/root"),
                ("H", "multi\nline"),
            ]
        );
    }

    #[test]
    fn errors_are_located() {
        let e = p("A=1\nB='open\n").unwrap_err();
        assert_eq!(e.loc.unwrap().line, 2);
        let e = p("A=1\n=2\n").unwrap_err();
        assert_eq!(e.loc.unwrap().line, 2);
        let e = p("A B\n").unwrap_err();
        assert!(e.message.contains("expected `=`"), "{e}");
    }
}
