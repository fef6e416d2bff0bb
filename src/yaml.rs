//! A located YAML tree: the one place that reads YAML text.
//!
//! [`parse`] turns one YAML document into a [`Node`] tree in which every value and every key keeps
//! its file, line and column. Anchors and aliases are resolved, `<<` merge keys are applied (explicit
//! keys win, then earlier merged mappings), duplicate keys are refused, and compose's `!reset` and
//! `!override` tags are kept on the node for the multi-file merge. Two limits keep hostile input
//! harmless: nesting depth and the total number of nodes after alias expansion (a "billion laughs"
//! document is refused instead of eating memory).

use std::path::Path;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::diag::{Diagnostic, Loc};

/// Deeper nesting than this is refused; compose files are a handful of levels deep.
pub const MAX_DEPTH: usize = 64;
/// More nodes than this, counting alias expansions, is refused.
pub const MAX_NODES: usize = 250_000;

/// The compose merge tags a node may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: remove the value inherited from earlier files.
    Reset,
    /// `!override`: replace the value from earlier files instead of merging with it.
    Override,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub loc: Loc,
    pub tag: Option<Tag>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain (unquoted) scalars may be null, booleans or numbers; quoted ones are strings.
    pub plain: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub value: Node,
}

impl Node {
    pub fn scalar(text: impl Into<String>, plain: bool, loc: Loc) -> Node {
        Node {
            kind: Kind::Scalar(Scalar {
                text: text.into(),
                plain,
            }),
            loc,
            tag: None,
        }
    }

    pub fn null(loc: Loc) -> Node {
        Node::scalar("", true, loc)
    }

    pub fn map(entries: Vec<Entry>, loc: Loc) -> Node {
        Node {
            kind: Kind::Map(entries),
            loc,
            tag: None,
        }
    }

    pub fn seq(items: Vec<Node>, loc: Loc) -> Node {
        Node {
            kind: Kind::Seq(items),
            loc,
            tag: None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if s.plain && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) if !self.is_null() => Some(&s.text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value)
    }

    /// A short description of what this node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            _ if self.is_null() => "nothing (null)".to_string(),
            Kind::Scalar(s) => {
                let mut shown: String = s.text.chars().take(40).collect();
                if shown.len() < s.text.len() {
                    shown.push('…');
                }
                format!("the value {shown:?}")
            }
            Kind::Seq(_) => "a list".to_string(),
            Kind::Map(_) => "a mapping".to_string(),
        }
    }
}

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str, file: &Arc<Path>) -> Result<Node, Diagnostic> {
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: Vec::new(),
        nodes: 0,
        root: None,
    };
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            let loc = Loc::new(file.clone(), m.line() as u32, m.col() as u32 + 1);
            Diagnostic::error(Some(loc), format!("invalid YAML: {}", e.info())).with_help(syntax_help(
                e.info(),
                text,
                m.line(),
            ))
        })?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(
                        Some(builder.loc(&span)),
                        "a compose file holds one YAML document, this is a second one",
                    )
                    .with_help("remove the `---` line, or split the documents into separate files"));
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            other => builder.event(other, span)?,
        }
    }
    Ok(builder
        .root
        .unwrap_or_else(|| Node::map(Vec::new(), Loc::new(file.clone(), 1, 1))))
}

/// What to do about a YAML syntax error, from the parser's message and the offending line.
fn syntax_help(info: &str, text: &str, line: usize) -> String {
    let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
    if line_text.starts_with('\t') || info.contains("tab") {
        "YAML does not allow tabs for indentation; indent with spaces".to_string()
    } else if info.contains("mapping values are not allowed") {
        "a value contains `: `; put the value in quotes, e.g. `command: \"echo a: b\"`".to_string()
    } else if info.contains("did not find expected key") || info.contains("did not find expected '-'") {
        "this line's indentation does not match the lines above it; keys of one mapping line up at the same column"
            .to_string()
    } else {
        "check the indentation and quoting on this line and the one before it".to_string()
    }
}

enum Open {
    Seq {
        node: Node,
        anchor: usize,
    },
    Map {
        node: Node,
        anchor: usize,
        pending_key: Option<(String, Loc)>,
        merges: Vec<Node>,
    },
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Open>,
    anchors: Vec<(usize, Node, usize)>,
    nodes: usize,
    root: Option<Node>,
}

impl Builder {
    fn loc(&self, span: &Span) -> Loc {
        Loc::new(self.file.clone(), span.start.line() as u32, span.start.col() as u32 + 1)
    }

    fn tag(&self, tag: Option<&saphyr_parser::Tag>, loc: &Loc) -> Result<(Option<Tag>, bool), Diagnostic> {
        let Some(tag) = tag else { return Ok((None, false)) };
        match (tag.handle.as_str(), tag.suffix.as_str()) {
            ("!", "reset") => Ok((Some(Tag::Reset), false)),
            ("!", "override") => Ok((Some(Tag::Override), false)),
            ("!!", "str") | ("tag:yaml.org,2002:", "str") => Ok((None, true)),
            ("!!", _) | ("tag:yaml.org,2002:", _) => Ok((None, false)),
            (handle, suffix) => Err(Diagnostic::error(
                Some(loc.clone()),
                format!("unknown YAML tag `{handle}{suffix}`"),
            )
            .with_help("compose files accept only the `!reset` and `!override` tags")),
        }
    }

    fn count(&mut self, n: usize, loc: &Loc) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::error(
                Some(loc.clone()),
                format!("the document expands to more than {MAX_NODES} values through its aliases"),
            )
            .with_help(
                "a compose file this large is almost certainly an alias loop or an alias bomb; reduce the aliases",
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        let loc = self.loc(&span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let (tag, force_str) = self.tag(tag.as_deref(), &loc)?;
                let plain = style == ScalarStyle::Plain && !force_str;
                let mut node = Node::scalar(text.into_owned(), plain, loc.clone());
                node.tag = tag;
                self.count(1, &loc)?;
                self.finish(node, anchor)
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let is_seq = matches!(event, Event::SequenceStart(..));
                let (Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)) = event else {
                    return Ok(());
                };
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Diagnostic::error(
                        Some(loc),
                        format!("values are nested more than {MAX_DEPTH} levels deep"),
                    )
                    .with_help("a compose file is never this deep; check for a runaway indentation"));
                }
                let (tag, _) = self.tag(tag.as_deref(), &loc)?;
                self.count(1, &loc)?;
                let mut node = if is_seq {
                    Node::seq(Vec::new(), loc)
                } else {
                    Node::map(Vec::new(), loc)
                };
                node.tag = tag;
                self.stack.push(if is_seq {
                    Open::Seq { node, anchor }
                } else {
                    Open::Map {
                        node,
                        anchor,
                        pending_key: None,
                        merges: Vec::new(),
                    }
                });
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq { node, anchor }) => self.finish(node, anchor),
                _ => Err(Diagnostic::error(Some(loc), "invalid YAML: unexpected end of a list")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map {
                    mut node,
                    anchor,
                    merges,
                    ..
                }) => {
                    apply_merges(&mut node, merges);
                    self.finish(node, anchor)
                }
                _ => Err(Diagnostic::error(
                    Some(loc),
                    "invalid YAML: unexpected end of a mapping",
                )),
            },
            Event::Alias(id) => {
                let Some((_, node, size)) = self.anchors.iter().rev().find(|(a, _, _)| *a == id) else {
                    return Err(Diagnostic::error(Some(loc), "alias refers to an unknown anchor")
                        .with_help("define the anchor with `&name` before using `*name`"));
                };
                let (node, size) = (node.clone(), *size);
                self.count(size, &loc)?;
                self.finish(node, 0)
            }
            _ => Ok(()),
        }
    }

    /// Places a complete node into its parent (or makes it the root).
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor > 0 {
            let size = count_nodes(&node);
            self.anchors.push((anchor, node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Open::Seq { node: parent, .. }) => {
                if let Kind::Seq(items) = &mut parent.kind {
                    items.push(node);
                }
                Ok(())
            }
            Some(Open::Map {
                node: parent,
                pending_key,
                merges,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match &node.kind {
                        Kind::Scalar(s) => s.text.clone(),
                        _ => {
                            return Err(Diagnostic::error(
                                Some(node.loc),
                                "a mapping key must be a plain name, not a list or mapping",
                            )
                            .with_help("check the indentation: a value may have ended up where a key belongs"));
                        }
                    };
                    *pending_key = Some((key, node.loc));
                    Ok(())
                }
                Some((key, key_loc)) => {
                    if key == "<<" {
                        return match &node.kind {
                            Kind::Map(_) => {
                                merges.push(node);
                                Ok(())
                            }
                            Kind::Seq(items) if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) => {
                                merges.extend(items.iter().cloned());
                                Ok(())
                            }
                            _ => Err(Diagnostic::error(
                                Some(node.loc),
                                "a `<<` merge key takes a mapping or a list of mappings",
                            )
                            .with_help("write `<<: *anchor` where `&anchor` names a mapping")),
                        };
                    }
                    let Kind::Map(entries) = &mut parent.kind else {
                        return Ok(());
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        return Err(Diagnostic::error(
                            Some(key_loc),
                            format!("duplicate key `{key}`, first defined at line {}", first.key_loc.line),
                        )
                        .with_help("remove one of the two, or merge their contents"));
                    }
                    entries.push(Entry {
                        key,
                        key_loc,
                        value: node,
                    });
                    Ok(())
                }
            },
        }
    }
}

/// Adds the entries of `<<` merged mappings that the mapping does not define itself.
fn apply_merges(node: &mut Node, merges: Vec<Node>) {
    let Kind::Map(entries) = &mut node.kind else { return };
    for merged in merges {
        if let Kind::Map(merged_entries) = merged.kind {
            for entry in merged_entries {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Scalar(_) => 0,
        Kind::Seq(items) => items.iter().map(count_nodes).sum(),
        Kind::Map(entries) => entries.iter().map(|e| count_nodes(&e.value)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diagnostic> {
        parse(text, &Arc::from(Path::new("t.yaml")))
    }

    #[test]
    fn keeps_locations() {
        let n = p("a:\n  b: [1, two]\n").unwrap();
        let b = n.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.loc.line, b.loc.col), (2, 6));
        let two = &b.as_seq().unwrap()[1];
        assert_eq!((two.loc.line, two.loc.col, two.as_str()), (2, 10, Some("two")));
    }

    #[test]
    fn merge_keys_explicit_wins_then_first_merged() {
        let n = p("x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\nz:\n  <<: [*x, *y]\n  a: 0\n").unwrap();
        let z = n.get("z").unwrap();
        let got: Vec<_> = z
            .as_map()
            .unwrap()
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str().unwrap()))
            .collect();
        assert_eq!(got, vec![("a", "0"), ("b", "1"), ("c", "2")]);
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.loc.as_ref().map(|l| (l.line, l.col)), Some((3, 1)));
        assert!(e.message.contains("first defined at line 1"), "{e}");
    }

    #[test]
    fn tags_and_quoting() {
        let n = p("a: !reset []\nb: !override {x: 1}\nc: '1'\nd: 1\ne: !!str 1\n").unwrap();
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
        assert!(matches!(&n.get("c").unwrap().kind, Kind::Scalar(s) if !s.plain));
        assert!(matches!(&n.get("d").unwrap().kind, Kind::Scalar(s) if s.plain));
        assert!(matches!(&n.get("e").unwrap().kind, Kind::Scalar(s) if !s.plain));
        assert!(p("a: !custom 1\n").is_err());
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            doc.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let e = p(&doc).unwrap_err();
        assert!(e.message.contains("expands to more than"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "[".repeat(10_000);
        assert!(p(&doc).is_err());
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = p("a: 1\n b: 2\n").unwrap_err();
        assert!(e.loc.is_some());
        assert!(p("").unwrap().as_map().unwrap().is_empty());
        assert!(p("a: 1\n---\nb: 2\n").is_err());
    }
}
