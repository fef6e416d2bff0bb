//! Variable interpolation as Docker Compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+replacement}`, `${VAR+replacement}`,
//! nested inside defaults, and `$$` for a literal `$`. A `$` followed by anything else is kept as it
//! is, like compose does. Only values are interpolated, never keys.

use crate::diag::{Diagnostics, Loc};
use crate::yaml::{Kind, Node};

/// Where variable values come from, in order: the process environment, then the `.env` file.
pub trait Vars {
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum InterpError {
    /// `${` with no closing brace, or a brace body that is not `NAME[op[word]]`.
    Syntax(String),
    /// `${VAR:?message}` or `${VAR?message}` with VAR missing.
    Required { name: String, message: String },
    /// Defaults nested more than [`MAX_NESTING`] deep.
    TooDeep,
}

/// How deep `${A:-${B:-...}}` may nest; real files nest one or two levels.
pub const MAX_NESTING: usize = 16;

/// The result of interpolating one string: its value and the variables that were not set.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    pub unset: Vec<String>,
}

pub fn interpolate(text: &str, vars: &dyn Vars) -> Result<Interpolated, InterpError> {
    interpolate_nested(text, vars, 0)
}

fn interpolate_nested(text: &str, vars: &dyn Vars, depth: usize) -> Result<Interpolated, InterpError> {
    if depth > MAX_NESTING {
        return Err(InterpError::TooDeep);
    }
    let mut out = Interpolated::default();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.value.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.value.push('$');
            rest = tail;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = closing_brace(body_start).ok_or_else(|| InterpError::Syntax(text.to_string()))?;
            braced(&body_start[..end], vars, &mut out, text, depth)?;
            rest = &body_start[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                out.value.push('$');
                rest = after;
            } else {
                let name = &after[..len];
                lookup(name, vars, &mut out);
                rest = &after[len..];
            }
        }
    }
    out.value.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, vars: &dyn Vars, out: &mut Interpolated) {
    match vars.var(name) {
        Some(v) => out.value.push_str(&v),
        None => out.unset.push(name.to_string()),
    }
}

/// Length of the variable name at the start of `s` (0 when there is none).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(*c == '_' || c.is_ascii_alphanumeric()))
        .map_or(s.len(), |(i, _)| i)
}

/// Index of the `}` that closes a `${`, counting nested `${ ... }`.
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(body: &str, vars: &dyn Vars, out: &mut Interpolated, whole: &str, depth: usize) -> Result<(), InterpError> {
    let len = name_len(body);
    if len == 0 {
        return Err(InterpError::Syntax(whole.to_string()));
    }
    let (name, op) = body.split_at(len);
    let value = vars.var(name);
    let (colon, op) = match op.strip_prefix(':') {
        Some(o) => (true, o),
        None => (false, op),
    };
    let Some(kind) = op.chars().next() else {
        if colon {
            return Err(InterpError::Syntax(whole.to_string()));
        }
        lookup(name, vars, out);
        return Ok(());
    };
    let word = &op[1..];
    // With a colon, an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match kind {
        '-' => {
            if set {
                out.value.push_str(value.as_deref().unwrap_or_default());
            } else {
                expand_word(word, vars, out, depth + 1)?;
            }
        }
        '+' => {
            if set {
                expand_word(word, vars, out, depth + 1)?;
            }
        }
        '?' => {
            if set {
                out.value.push_str(value.as_deref().unwrap_or_default());
            } else {
                let message = interpolate_nested(word, vars, depth + 1)?.value;
                return Err(InterpError::Required {
                    name: name.to_string(),
                    message,
                });
            }
        }
        _ => return Err(InterpError::Syntax(whole.to_string())),
    }
    Ok(())
}

fn expand_word(word: &str, vars: &dyn Vars, out: &mut Interpolated, depth: usize) -> Result<(), InterpError> {
    let inner = interpolate_nested(word, vars, depth)?;
    out.value.push_str(&inner.value);
    out.unset.extend(inner.unset);
    Ok(())
}

/// Interpolates every scalar value of a parsed file in place (keys are left alone). Unset
/// variables become warnings; malformed templates and missing required variables become errors
/// at the scalar's location.
pub fn interpolate_tree(node: &mut Node, vars: &dyn Vars, diags: &mut Diagnostics) {
    match &mut node.kind {
        Kind::Scalar(s) => {
            if !s.text.contains('$') {
                return;
            }
            match interpolate(&s.text, vars) {
                Ok(done) => {
                    for name in done.unset {
                        warn_unset(&node.loc, &name, diags);
                    }
                    s.text = done.value;
                    // An interpolated value is a string, even when it came out empty ("" is not null).
                    s.plain = false;
                }
                Err(e) => report(&node.loc, &s.text, e, diags),
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(|i| interpolate_tree(i, vars, diags)),
        Kind::Map(entries) => entries
            .iter_mut()
            .for_each(|e| interpolate_tree(&mut e.value, vars, diags)),
    }
}

fn warn_unset(loc: &Loc, name: &str, diags: &mut Diagnostics) {
    diags.warning(
        Some(loc),
        format!("variable `{name}` is not set, using an empty string"),
    );
}

/// The start of a long value, for a message.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{:?}…", &text[..i]),
        None => format!("{text:?}"),
    }
}

pub fn report(loc: &Loc, text: &str, e: InterpError, diags: &mut Diagnostics) {
    match e {
        InterpError::TooDeep => diags.error_help(
            Some(loc),
            format!(
                "defaults nested more than {MAX_NESTING} levels deep in {}",
                excerpt(text)
            ),
            "a value is never this deep; write the default once",
        ),
        InterpError::Syntax(_) => diags.error_help(
            Some(loc),
            format!("invalid interpolation in {}", excerpt(text)),
            "write `${NAME}`, `${NAME:-default}` or `${NAME:?message}`, and `$$` for a literal `$`",
        ),
        InterpError::Required { name, message } => {
            let tail = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            diags.error_help(
                Some(loc),
                format!("required variable `{name}` is missing a value{tail}"),
                format!("set {name} in the environment or in the project's .env file"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("foo".into()),
            "EMPTY" => Some(String::new()),
            "TAG" => Some("1.2".into()),
            _ => None,
        }
    }

    fn i(s: &str) -> String {
        interpolate(s, &env).unwrap().value
    }

    #[test]
    fn forms_match_compose() {
        // Each row was checked against `docker-compose config` (v2.26).
        let table = [
            ("a$", "a$"),
            ("cost $5", "cost $5"),
            ("x${UNSET:-${BAR:-deep}}y", "xdeepy"),
            ("${UNSET-d}", "d"),
            ("${EMPTY-d}|${EMPTY:-d}", "|d"),
            ("${EMPTY:+r}|${EMPTY+r}|${UNSET+r}", "|r|"),
            ("$${FOO}", "${FOO}"),
            ("$FOO_BAR-x", "-x"),
            ("$FOO-x", "foo-x"),
            ("nginx:${TAG}", "nginx:1.2"),
            ("${FOO:?x}", "foo"),
            ("$$$FOO", "$foo"),
            ("${FOO:-a}}", "foo}"),
            ("${UNSET:-a{b}c", "a{bc"),
        ];
        for (input, want) in table {
            assert_eq!(i(input), want, "{input}");
        }
    }

    #[test]
    fn deep_defaults_are_refused_not_recursed() {
        let mut text = String::from("x");
        for _ in 0..5_000 {
            text = format!("${{A:-{text}}}");
        }
        assert_eq!(interpolate(&text, &env), Err(InterpError::TooDeep));
        let ok = "${A:-${B:-${C:-d}}}";
        assert_eq!(interpolate(ok, &env).unwrap().value, "d");
    }

    #[test]
    fn errors() {
        for bad in ["${FOO", "${1A}", "${FOO:x}", "${}", "${FOO:}"] {
            assert!(matches!(interpolate(bad, &env), Err(InterpError::Syntax(_))), "{bad}");
        }
        assert_eq!(
            interpolate("${UNSET:?must set}", &env),
            Err(InterpError::Required {
                name: "UNSET".into(),
                message: "must set".into()
            })
        );
        assert_eq!(
            interpolate("${EMPTY:?}", &env),
            Err(InterpError::Required {
                name: "EMPTY".into(),
                message: String::new()
            })
        );
        assert_eq!(i("${EMPTY?}"), "");
    }

    #[test]
    fn unset_variables_are_reported() {
        let r = interpolate("$A ${B} ${C:-x} ${FOO}", &env).unwrap();
        assert_eq!(r.value, "  x foo");
        assert_eq!(r.unset, vec!["A".to_string(), "B".to_string()]);
    }
}
