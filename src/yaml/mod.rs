//! A located YAML tree: the one place that reads YAML text.
//!
//! [`parse`] turns one YAML document into a [`Node`] tree in which every value and every key keeps
//! its file, line and column. The grammar is libyaml's (through `libyaml-safer`), the one compose's
//! go-yaml implements: what compose reads, this reads, and a syntax error is refused at the place
//! compose refuses it. Anchors and aliases are resolved, `<<` merge keys are applied (explicit keys
//! win, then earlier merged mappings), duplicate keys are refused, and compose's `!reset` and
//! `!override` tags are kept on the node for the multi-file merge. Three limits keep hostile input
//! harmless, all counted after alias expansion: nesting depth (an alias placed deep counts its
//! own depth), the number of nodes and the bytes of text (a "billion laughs" document, or one that
//! copies a long string many times, is refused instead of eating memory or the stack).

use std::cell::Cell;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Once};

use libyaml_safer::{EventData, Mark, Parser, ScalarStyle};

use crate::diag::{Diagnostic, Loc};

/// Deeper nesting than this is refused; compose files are a handful of levels deep.
pub const MAX_DEPTH: usize = 64;
/// More nodes than this, counting alias expansions, is refused.
pub const MAX_NODES: usize = 250_000;
/// More text than this (keys and scalars), counting alias expansions, is refused.
pub const MAX_BYTES: usize = 64 << 20;

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
///
/// The grammar is libyaml's, the one compose's go-yaml implements, so a file compose accepts is
/// accepted here and a file it refuses is refused.
pub fn parse(text: &str, file: &Arc<Path>) -> Result<Node, Diagnostic> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(d) = control_character(text, file) {
        return Err(d);
    }
    // libyaml-safer panics on a few malformed inputs that libyaml reads or refuses: a tag followed
    // by `,` in a flow collection, a backslash that ends the input inside double quotes, a block
    // scalar indicator where it cannot be (`a: ''|`). Such a panic is caught here (this needs
    // `panic = "unwind"`, the default) and reported as a syntax error where the parser had got to.
    let mut last = Mark::default();
    let read = {
        let _quiet = QuietPanics::start();
        std::panic::catch_unwind(AssertUnwindSafe(|| read(text, file, &mut last)))
    };
    read.unwrap_or_else(|_| {
        let loc = Loc::new(file.clone(), last.line as u32 + 1, last.column as u32 + 1);
        let next = usize::try_from(last.index)
            .ok()
            .and_then(|i| text.get(i..))
            .and_then(|rest| rest.trim_start().chars().next());
        let help = if next == Some('!') {
            "`!` starts a YAML tag and must be followed by a space; quote a value that begins with `!`"
        } else {
            "check the quoting, brackets and indentation just after this point"
        };
        Err(Diagnostic::error(Some(loc), "invalid YAML: cannot read the text after this point").with_help(help))
    })
}

/// Reads the events of `text` into a tree; `last` follows the end of the last event read.
fn read(text: &str, file: &Arc<Path>, last: &mut Mark) -> Result<Node, Diagnostic> {
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: Vec::new(),
        total: Weight::default(),
        root: None,
    };
    // The parser reads a byte-order mark itself: giving it one keeps it from taking a first
    // character whose UTF-8 starts with 0xEF (U+F000..U+FFFF) for a broken mark.
    let mut parser = Parser::new();
    parser.set_input(Read::chain(UTF8_BOM, text.as_bytes()));
    let mut documents = 0;
    for event in parser {
        let event = event.map_err(|e| syntax_error(&e, text, file, *last))?;
        *last = event.end_mark;
        let loc = builder.loc(event.start_mark);
        match event.data {
            EventData::DocumentStart { .. } => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(
                        Some(loc),
                        "a compose file holds one YAML document, this is a second one",
                    )
                    .with_help("remove the `---` line, or split the documents into separate files"));
                }
            }
            EventData::StreamStart { .. } | EventData::StreamEnd | EventData::DocumentEnd { .. } => {}
            other => builder.event(other, loc)?,
        }
    }
    Ok(builder
        .root
        .unwrap_or_else(|| Node::map(Vec::new(), Loc::new(file.clone(), 1, 1))))
}

thread_local! {
    static PARSING: Cell<bool> = const { Cell::new(false) };
}

/// While alive, a panic on this thread prints nothing: a parser panic is reported as a syntax
/// error, not as a crash in the journal. Panics elsewhere go to the hook there was before.
struct QuietPanics;

impl QuietPanics {
    fn start() -> QuietPanics {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !PARSING.with(Cell::get) {
                    previous(info);
                }
            }));
        });
        PARSING.with(|p| p.set(true));
        QuietPanics
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        PARSING.with(|p| p.set(false));
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// libyaml refuses control characters before it reads any YAML, without a location; this finds
/// the first one with the same rule and says where it is.
fn control_character(text: &str, file: &Arc<Path>) -> Option<Diagnostic> {
    let allowed =
        |c: char| matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{fffd}' | '\u{10000}'..);
    let (at, c) = text.char_indices().find(|&(_, c)| !allowed(c))?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Some(
        Diagnostic::error(
            Some(Loc::new(file.clone(), line as u32, col as u32)),
            format!("invalid YAML: the control character U+{:04X} is not allowed", c as u32),
        )
        .with_help(format!(
            "remove it; a value that needs it can write it as `\\u{:04X}` inside double quotes",
            c as u32
        )),
    )
}

/// A libyaml scanner or parser error as a located diagnostic: the place of the problem, what
/// was being read and where that began, and what to do about it.
fn syntax_error(e: &libyaml_safer::Error, text: &str, file: &Arc<Path>, last: Mark) -> Diagnostic {
    let mark = e.problem_mark().unwrap_or(last);
    let loc = Loc::new(file.clone(), mark.line as u32 + 1, mark.column as u32 + 1);
    let mut message = format!("invalid YAML: {}", e.problem());
    if let (Some(context), Some(at)) = (e.context(), e.context_mark().filter(|at| *at != mark)) {
        message.push_str(&format!(
            " ({context} that starts at line {}, column {})",
            at.line + 1,
            at.column + 1
        ));
    }
    let at_char = usize::try_from(mark.index)
        .ok()
        .and_then(|i| text.get(i..))
        .and_then(|rest| rest.chars().next());
    Diagnostic::error(Some(loc), message).with_help(syntax_help(e.problem(), e.context(), at_char))
}

/// What to do about a YAML syntax error, from the parser's problem and context and the character
/// the problem was found at.
fn syntax_help(problem: &str, context: Option<&str>, at: Option<char>) -> &'static str {
    let context = context.unwrap_or("");
    let has = |words: &str| problem.contains(words);
    if at == Some('\t') || has("tab") {
        "compose's YAML does not allow tabs for indentation; indent with spaces"
    } else if has("mapping values are not allowed") {
        "a value contains `: `; put the value in quotes, e.g. `command: \"echo a: b\"`"
    } else if has("did not find expected key") || has("did not find expected '-'") {
        "this line's indentation does not match the lines above it; keys of one mapping line up at the same column"
    } else if has("did not find expected ',' or ']'") {
        "a list in `[ ]` separates its items with `,` and ends with `]`; quote an item that contains `,`, `[`, `]`, `{`, `}` or `#`"
    } else if has("did not find expected ',' or '}'") {
        "a mapping in `{ }` separates its entries with `,` and ends with `}`; quote a value that contains `,`, `[`, `]`, `{`, `}` or `#`"
    } else if has("escape") {
        "inside double quotes a backslash starts an escape: write `\\\\` for a backslash, or use single quotes, which take the text as it is"
    } else if context.contains("quoted scalar") {
        "close the quote that starts there"
    } else if context.contains("simple key") {
        "a key needs a `:` after it on the same line; a value that goes on over several lines is indented more than its key"
    } else if context.contains("anchor") || context.contains("alias") {
        "an anchor `&name` or alias `*name` is made of letters, digits, `-` and `_` and is followed by a space; quote a value that begins with `&` or `*`"
    } else if context.contains("tag") || has("tag handle") {
        "compose files accept only the `!reset` and `!override` tags; quote a value that begins with `!`"
    } else if has("cannot start any token") || has("did not find expected node content") {
        "a value cannot start with this character; put the value in quotes"
    } else if has("block sequence entries are not allowed") {
        "a `- ` list item cannot follow a key's value on the same line; start the list on the next line, indented"
    } else if has("<document start>") {
        "the YAML document ended before this line: look for a `...` line above, or a first line indented more than this one; top-level keys start at column 1"
    } else {
        "check the indentation and quoting on this line and the one before it"
    }
}

enum Open {
    Seq {
        node: Node,
        anchor: Option<String>,
    },
    Map {
        node: Node,
        anchor: Option<String>,
        pending_key: Option<(String, Loc)>,
        merges: Vec<Node>,
    },
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Open>,
    /// Anchor name, the node it names and that node's weight; a later anchor of the same name
    /// wins.
    anchors: Vec<(String, Node, Weight)>,
    /// What the document weighs so far, aliases expanded.
    total: Weight,
    root: Option<Node>,
}

/// How much a node expands to: nodes, bytes of text, and depth below it.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
    depth: usize,
}

impl Weight {
    fn of(node: &Node) -> Weight {
        let mut w = Weight {
            nodes: 1,
            bytes: 0,
            depth: 0,
        };
        let mut add = |child: Weight, key_bytes: usize| {
            w.nodes += child.nodes;
            w.bytes += child.bytes + key_bytes;
            w.depth = w.depth.max(child.depth + 1);
        };
        match &node.kind {
            Kind::Scalar(s) => w.bytes = s.text.len(),
            Kind::Seq(items) => items.iter().for_each(|i| add(Weight::of(i), 0)),
            Kind::Map(entries) => entries.iter().for_each(|e| add(Weight::of(&e.value), e.key.len())),
        }
        w
    }
}

impl Builder {
    fn loc(&self, mark: Mark) -> Loc {
        Loc::new(self.file.clone(), mark.line as u32 + 1, mark.column as u32 + 1)
    }

    /// The compose tag a node carries, and whether `!!str` makes a plain scalar a string. The
    /// parser hands tags over resolved: `!!str` arrives as `tag:yaml.org,2002:str`.
    fn tag(&self, tag: Option<&str>, loc: &Loc) -> Result<(Option<Tag>, bool), Diagnostic> {
        const STANDARD: &str = "tag:yaml.org,2002:";
        let Some(tag) = tag else { return Ok((None, false)) };
        match tag {
            "!reset" => Ok((Some(Tag::Reset), false)),
            "!override" => Ok((Some(Tag::Override), false)),
            _ if tag.strip_prefix(STANDARD) == Some("str") => Ok((None, true)),
            _ if tag.starts_with(STANDARD) => Ok((None, false)),
            _ => Err(
                Diagnostic::error(Some(loc.clone()), format!("unknown YAML tag `{tag}`"))
                    .with_help("compose files accept only the `!reset` and `!override` tags"),
            ),
        }
    }

    fn count(&mut self, w: Weight, loc: &Loc) -> Result<(), Diagnostic> {
        self.total.nodes += w.nodes;
        self.total.bytes += w.bytes;
        if self.stack.len() + w.depth > MAX_DEPTH {
            return Err(Diagnostic::error(
                Some(loc.clone()),
                format!("values are nested more than {MAX_DEPTH} levels deep (aliases included)"),
            )
            .with_help("a compose file is never this deep; check for aliases that nest each other"));
        }
        if self.total.bytes > MAX_BYTES {
            return Err(Diagnostic::error(
                Some(loc.clone()),
                format!(
                    "the document expands to more than {} MiB of text through its aliases",
                    MAX_BYTES >> 20
                ),
            )
            .with_help("an alias copies its whole value each time it is used; reduce the aliases"));
        }
        if self.total.nodes > MAX_NODES {
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

    fn event(&mut self, event: EventData, loc: Loc) -> Result<(), Diagnostic> {
        let is_seq = matches!(event, EventData::SequenceStart { .. });
        match event {
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let (tag, force_str) = self.tag(tag.as_deref(), &loc)?;
                // Block scalars (`|`, `>`) are not plain: like quoted ones, they are strings.
                let plain = style == ScalarStyle::Plain && !force_str;
                let weight = Weight {
                    nodes: 1,
                    bytes: value.len(),
                    depth: 0,
                };
                let mut node = Node::scalar(value, plain, loc.clone());
                node.tag = tag;
                self.count(weight, &loc)?;
                self.finish(node, anchor)
            }
            EventData::SequenceStart { anchor, tag, .. } | EventData::MappingStart { anchor, tag, .. } => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Diagnostic::error(
                        Some(loc),
                        format!("values are nested more than {MAX_DEPTH} levels deep"),
                    )
                    .with_help("a compose file is never this deep; check for a runaway indentation"));
                }
                let (tag, _) = self.tag(tag.as_deref(), &loc)?;
                self.count(
                    Weight {
                        nodes: 1,
                        ..Weight::default()
                    },
                    &loc,
                )?;
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
            EventData::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq { node, anchor }) => self.finish(node, anchor),
                _ => Err(Diagnostic::error(Some(loc), "invalid YAML: unexpected end of a list")
                    .with_help("check the indentation and brackets of this list")),
            },
            EventData::MappingEnd => match self.stack.pop() {
                Some(Open::Map {
                    mut node,
                    anchor,
                    merges,
                    ..
                }) => {
                    apply_merges(&mut node, merges);
                    self.finish(node, anchor)
                }
                _ => Err(
                    Diagnostic::error(Some(loc), "invalid YAML: unexpected end of a mapping")
                        .with_help("check the indentation and braces of this mapping"),
                ),
            },
            EventData::Alias { anchor } => {
                let Some((_, node, weight)) = self.anchors.iter().rev().find(|(a, _, _)| *a == anchor) else {
                    return Err(
                        Diagnostic::error(Some(loc), format!("alias `*{anchor}` refers to an unknown anchor"))
                            .with_help("define the anchor with `&name` before using `*name`"),
                    );
                };
                let (node, weight) = (node.clone(), *weight);
                self.count(weight, &loc)?;
                self.finish(node, None)
            }
            EventData::StreamStart { .. }
            | EventData::StreamEnd
            | EventData::DocumentStart { .. }
            | EventData::DocumentEnd { .. } => Ok(()),
        }
    }

    /// Places a complete node into its parent (or makes it the root).
    fn finish(&mut self, node: Node, anchor: Option<String>) -> Result<(), Diagnostic> {
        if let Some(anchor) = anchor {
            let weight = Weight::of(&node);
            self.anchors.push((anchor, node.clone(), weight));
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

#[cfg(test)]
mod tests;
