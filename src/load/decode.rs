//! Decoding the located YAML tree into the raw model, collecting every error.
//!
//! [`Decode`] is a small serde-like trait that, unlike serde, never stops at the first problem and
//! always knows where it is: a bad value is reported at its file:line:column with the path of keys
//! that lead to it (`services.web.ports[1]`) and decoding goes on with the next value. Structs are
//! declared with [`decode_struct!`](crate::decode_struct), which refuses unknown keys by name (with a
//! "did you mean" when one is close), keeps `x-` extension keys, and treats a null value as absent.

use crate::diag::{Diagnostic, Diagnostics, Loc, did_you_mean};
use crate::yaml::{Entry, Kind, Node};

/// Decoding context: where diagnostics go and the key path to the value being decoded.
pub struct Cx<'a> {
    pub diags: &'a mut Diagnostics,
    path: Vec<String>,
}

impl<'a> Cx<'a> {
    pub fn new(diags: &'a mut Diagnostics) -> Self {
        Cx {
            diags,
            path: Vec::new(),
        }
    }

    pub fn push(&mut self, key: impl Into<String>) {
        self.path.push(key.into());
    }

    pub fn pop(&mut self) {
        self.path.pop();
    }

    /// The dotted path of the value being decoded, e.g. `services.web.ports[1]`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for part in &self.path {
            if !out.is_empty() && !part.starts_with('[') {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }

    pub fn error(&mut self, loc: &Loc, message: impl Into<String>, help: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(Some(loc.clone()), message).with_help(help));
    }

    pub fn type_error(&mut self, node: &Node, expected: &str) {
        let path = self.path();
        self.diags.push(
            Diagnostic::error(
                Some(node.loc.clone()),
                format!("`{path}` must be {expected}, found {}", node.describe()),
            )
            .with_help(help_for_type(&path, expected, node)),
        );
    }

    pub fn unknown_key(&mut self, entry: &Entry, known: &[&str]) {
        let path = self.path();
        let place = if path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{path}`")
        };
        let key = entry.key.as_str();
        let (message, help) = if let Some(reason) = unsupported_reason(key) {
            (
                format!("`{key}` {place} is not supported by composed"),
                reason.to_string(),
            )
        } else if let Some(home) = belongs_elsewhere(key) {
            (
                format!("unknown key `{key}` {place}"),
                format!("`{key}` belongs under `{home}`"),
            )
        } else if let Some(close) = did_you_mean(key, known.iter().copied()) {
            (
                format!("unknown key `{key}` {place}"),
                format!("did you mean `{close}`?"),
            )
        } else {
            (
                format!("unknown key `{key}` {place}"),
                format!(
                    "remove it, or prefix it with `x-` to keep it as an extension; known keys are: {}",
                    known.join(", ")
                ),
            )
        };
        self.diags
            .push(Diagnostic::error(Some(entry.key_loc.clone()), message).with_help(help));
    }

    /// Decodes `node` as the value of `key`, with `key` on the path while it runs.
    pub fn field<T: Decode>(&mut self, key: &str, node: &Node) -> Option<T> {
        self.push(key);
        let out = T::decode(node, self);
        self.pop();
        out
    }
}

fn help_for_type(path: &str, expected: &str, node: &Node) -> String {
    match path {
        "volumes" | "networks" | "secrets" | "configs" | "services" => {
            let name = node
                .as_str()
                .and_then(|s| s.split(':').next())
                .filter(|n| !n.is_empty())
                .unwrap_or("name");
            format!(
                "write a mapping of names to settings, each name on its own line followed by a colon:\n    {path}:\n      {name}: {{}}"
            )
        }
        _ => format!("write {expected} here"),
    }
}

/// Keys of the compose specification that composed refuses on purpose, and why.
fn unsupported_reason(key: &str) -> Option<&'static str> {
    Some(match key {
        "develop" => "`develop` (watch mode) is for development machines; composed runs production services",
        "provider" => {
            "a `provider` service is created by a Docker CLI plugin (`docker-<type>`) that composed does not run; create that resource outside the project and give the service an `image`, or run this project with docker compose"
        }
        "models" => {
            "`models` needs the `docker model` CLI plugin (Docker Model Runner), which composed does not drive; run the model with `docker model run` and pass its URL to the service in `environment`"
        }
        "isolation" | "credential_spec" => "Windows containers only: composed runs Linux engines",
        _ => return None,
    })
}

/// Keys people write at the wrong level.
fn belongs_elsewhere(key: &str) -> Option<&'static str> {
    Some(match key {
        "restart_policy" | "resources" | "replicas" => "deploy",
        "limits" | "reservations" => "deploy.resources",
        "aliases" | "ipv4_address" | "ipv6_address" => "the service's `networks.<name>`",
        "context" | "dockerfile" | "args" => "build",
        _ => return None,
    })
}

pub trait Decode: Sized {
    /// What a value of this type looks like, for "must be X" messages.
    const EXPECTED: &'static str;
    /// Decodes `node`, or reports why it cannot and returns `None`.
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self>;
}

/// A value with the location it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T: Decode> Decode for Spanned<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        Some(Spanned {
            value: T::decode(node, cx)?,
            loc: node.loc.clone(),
        })
    }
}

impl Decode for Node {
    const EXPECTED: &'static str = "any value";
    fn decode(node: &Node, _: &mut Cx) -> Option<Self> {
        Some(node.clone())
    }
}

impl Decode for String {
    const EXPECTED: &'static str = "a string";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                cx.type_error(node, Self::EXPECTED);
                None
            }
        }
    }
}

impl Decode for bool {
    const EXPECTED: &'static str = "true or false";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match node.as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on" | "y") => Some(true),
            Some("false" | "no" | "off" | "n") => Some(false),
            _ => {
                cx.type_error(node, Self::EXPECTED);
                None
            }
        }
    }
}

macro_rules! decode_number {
    ($($t:ty => $what:literal),*) => {$(
        impl Decode for $t {
            const EXPECTED: &'static str = $what;
            fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
                match node.as_str().and_then(|s| s.trim().parse::<$t>().ok()) {
                    Some(v) => Some(v),
                    None => {
                        cx.type_error(node, Self::EXPECTED);
                        None
                    }
                }
            }
        }
    )*};
}
decode_number!(u16 => "a whole number from 0 to 65535", u32 => "a whole number", u64 => "a whole number", i64 => "a whole number", f64 => "a number");

impl<T: Decode> Decode for Vec<T> {
    const EXPECTED: &'static str = "a list";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        let Some(items) = node.as_seq() else {
            cx.type_error(node, Self::EXPECTED);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            cx.push(format!("[{i}]"));
            if let Some(v) = T::decode(item, cx) {
                out.push(v);
            }
            cx.pop();
        }
        Some(out)
    }
}

impl<T: Decode> Decode for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        if node.is_null() {
            Some(None)
        } else {
            T::decode(node, cx).map(Some)
        }
    }
}

/// One entry of a mapping, with the location of its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed<T> {
    pub key: String,
    pub key_loc: Loc,
    pub value: T,
}

/// A mapping from names to values, in file order, keeping where each name was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Map<T>(pub Vec<Keyed<T>>);

impl<T> Default for Map<T> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<T> Map<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|k| k.key == key).map(|k| &k.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Keyed<T>> {
        self.0.iter()
    }

    /// The entries by name, dropping the key locations.
    pub fn into_btree(self) -> std::collections::BTreeMap<String, T> {
        self.0.into_iter().map(|k| (k.key, k.value)).collect()
    }
}

impl<T: Decode> Decode for Map<T> {
    const EXPECTED: &'static str = "a mapping";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        if node.is_null() {
            return Some(Map(Vec::new()));
        }
        let Some(entries) = node.as_map() else {
            cx.type_error(node, Self::EXPECTED);
            return None;
        };
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            cx.push(e.key.clone());
            if let Some(value) = T::decode(&e.value, cx) {
                out.push(Keyed {
                    key: e.key.clone(),
                    key_loc: e.key_loc.clone(),
                    value,
                });
            }
            cx.pop();
        }
        Some(Map(out))
    }
}

/// A value written either as one string or as a list of strings (`command`, `dns`, `tmpfs`, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum StrOrList {
    One(String),
    List(Vec<String>),
}

impl StrOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StrOrList::One(s) => vec![s],
            StrOrList::List(v) => v,
        }
    }
}

impl Decode for StrOrList {
    const EXPECTED: &'static str = "a string or a list of strings";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            Kind::Scalar(_) if !node.is_null() => String::decode(node, cx).map(StrOrList::One),
            Kind::Seq(_) => Vec::<String>::decode(node, cx).map(StrOrList::List),
            _ => {
                cx.type_error(node, Self::EXPECTED);
                None
            }
        }
    }
}

/// A value written either as a list of `KEY=value` strings or as a mapping (`environment`,
/// `labels`, `sysctls`, `build.args`, ...). A name with no value is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListOrMap(pub Vec<Keyed<Option<String>>>);

impl ListOrMap {
    /// Decodes the list form with `sep` between name and value (`=`, or `:` as well for `extra_hosts`).
    pub fn decode_with(node: &Node, cx: &mut Cx, seps: &[char]) -> Option<Self> {
        let mut out: Vec<Keyed<Option<String>>> = Vec::new();
        let mut put = |k: Keyed<Option<String>>| {
            out.retain(|e| e.key != k.key);
            out.push(k);
        };
        match &node.kind {
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    cx.push(format!("[{i}]"));
                    if let Some(text) = String::decode(item, cx) {
                        let split = text
                            .find(seps)
                            .map(|i| (text[..i].to_string(), Some(text[i + 1..].to_string())));
                        let (key, value) = split.unwrap_or((text, None));
                        put(Keyed {
                            key,
                            key_loc: item.loc.clone(),
                            value,
                        });
                    }
                    cx.pop();
                }
            }
            Kind::Map(entries) => {
                for e in entries {
                    cx.push(e.key.clone());
                    let value = if e.value.is_null() {
                        Some(None)
                    } else {
                        String::decode(&e.value, cx).map(Some)
                    };
                    if let Some(value) = value {
                        put(Keyed {
                            key: e.key.clone(),
                            key_loc: e.key_loc.clone(),
                            value,
                        });
                    }
                    cx.pop();
                }
            }
            _ if node.is_null() => {}
            _ => {
                cx.type_error(node, Self::EXPECTED);
                return None;
            }
        }
        Some(ListOrMap(out))
    }
}

impl Decode for ListOrMap {
    const EXPECTED: &'static str = "a mapping or a list of `KEY=value` strings";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        ListOrMap::decode_with(node, cx, &['='])
    }
}

/// Declares a raw-model struct whose fields are all optional and its [`Decode`] impl.
///
/// `field: Type = "key"` maps a compose key to a field. Unknown keys are errors, `x-` keys are kept
/// in `extensions`, and null values leave the field `None`.
#[macro_export]
macro_rules! decode_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:ident : $ty:ty = $key:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            /// Where this mapping starts.
            pub loc: Option<$crate::diag::Loc>,
            $(pub $field: Option<$ty>,)*
            /// `x-` keys, kept as written.
            pub extensions: Vec<$crate::yaml::Entry>,
        }

        impl $name {
            /// The keys this mapping accepts.
            pub const KEYS: &'static [&'static str] = &[$($key),*];
        }

        impl $crate::load::decode::Decode for $name {
            const EXPECTED: &'static str = "a mapping";
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::load::decode::Cx) -> Option<Self> {
                let mut out = Self { loc: Some(node.loc.clone()), ..Self::default() };
                if node.is_null() {
                    return Some(out);
                }
                let Some(entries) = node.as_map() else {
                    cx.type_error(node, Self::EXPECTED);
                    return None;
                };
                for e in entries {
                    match e.key.as_str() {
                        $($key => if !e.value.is_null() { out.$field = cx.field(&e.key, &e.value); },)*
                        k if k.starts_with("x-") => out.extensions.push(e.clone()),
                        _ => cx.unknown_key(e, Self::KEYS),
                    }
                }
                Some(out)
            }
        }
    };
}

/// Declares an enum with a short (string) form and a long (mapping) form.
#[macro_export]
macro_rules! short_or_long {
    ($(#[$meta:meta])* pub enum $name:ident { Short, Long($long:ty) }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // decoded once per file; boxing would only add noise
        pub enum $name {
            Short($crate::load::decode::Spanned<String>),
            Long($long),
        }

        impl $crate::load::decode::Decode for $name {
            const EXPECTED: &'static str = "a string or a mapping";
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::load::decode::Cx) -> Option<Self> {
                match &node.kind {
                    $crate::yaml::Kind::Map(_) => <$long>::decode(node, cx).map($name::Long),
                    $crate::yaml::Kind::Scalar(_) if !node.is_null() => {
                        $crate::load::decode::Spanned::<String>::decode(node, cx).map($name::Short)
                    }
                    _ => {
                        cx.type_error(node, Self::EXPECTED);
                        None
                    }
                }
            }
        }
    };
}
