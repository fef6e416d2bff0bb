//! The YAML layer against what compose (libyaml) accepts and refuses, with locations.

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
fn aliases_that_nest_each_other_are_refused_by_depth() {
    let mut doc = String::from("a0: &a0 [x]\n");
    for i in 1..200 {
        doc.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
    }
    let e = p(&doc).unwrap_err();
    assert!(e.message.contains("nested more than"), "{}", e.message);
}

#[test]
fn a_long_string_copied_by_aliases_is_refused_by_bytes() {
    let long = "x".repeat(300_000);
    let mut doc = format!("s: &s {long}\nl: &l [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n");
    for i in 0..40 {
        doc.push_str(&format!("k{i}: [*l, *l, *l, *l, *l, *l]\n"));
    }
    assert!(doc.len() < 400_000);
    let e = p(&doc).unwrap_err();
    assert!(e.message.contains("MiB of text"), "{}", e.message);
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

fn error_at(text: &str) -> (u32, u32, Diagnostic) {
    let e = p(text).unwrap_err();
    let loc = e.loc.clone().expect("a located error");
    assert!(e.help.is_some(), "no help: {e}");
    (loc.line, loc.col, e)
}

fn strings(n: &Node) -> Vec<(&str, bool)> {
    n.as_seq()
        .unwrap()
        .iter()
        .map(|i| match &i.kind {
            Kind::Scalar(s) => (s.text.as_str(), s.plain),
            _ => panic!("not a scalar: {i:?}"),
        })
        .collect()
}

#[test]
fn flow_sequence_closed_at_the_key_indentation() {
    let n = p("services:\n  web:\n    image: x\n    healthcheck:\n      test: [\n        \"CMD\", \"true\"  # comment\n      ]\n")
        .unwrap();
    let test = n
        .get("services")
        .unwrap()
        .get("web")
        .unwrap()
        .get("healthcheck")
        .unwrap()
        .get("test")
        .unwrap();
    assert_eq!(strings(test), vec![("CMD", false), ("true", false)]);
    assert_eq!((test.loc.line, test.loc.col), (5, 13));
    let item = &test.as_seq().unwrap()[1];
    assert_eq!((item.loc.line, item.loc.col), (6, 16));
    // One item a line, a comment after each.
    let n = p("command: [\n  \"sh\",  # the shell\n  \"-c\",  # runs\n  \"true\"\n]\n").unwrap();
    assert_eq!(
        strings(n.get("command").unwrap()),
        vec![("sh", false), ("-c", false), ("true", false)]
    );
}

#[test]
fn flow_mapping_closed_at_the_key_indentation() {
    let n = p("services:\n  web:\n    environment: {\n      A: \"1\",  # one\n      B: '2'\n    }\n    image: x\n")
        .unwrap();
    let web = n.get("services").unwrap().get("web").unwrap();
    let env = web.get("environment").unwrap();
    let got: Vec<_> = env
        .as_map()
        .unwrap()
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str().unwrap()))
        .collect();
    assert_eq!(got, vec![("A", "1"), ("B", "2")]);
    assert_eq!(web.get("image").unwrap().as_str(), Some("x"));
}

#[test]
fn flow_items_and_bracket_at_column_zero() {
    let n = p("services:\n  web:\n    command: [\n\"sh\", \"-c\",\n\"true\"\n]\n    image: x\n").unwrap();
    let web = n.get("services").unwrap().get("web").unwrap();
    assert_eq!(
        strings(web.get("command").unwrap()),
        vec![("sh", false), ("-c", false), ("true", false)]
    );
    assert_eq!(web.get("image").unwrap().as_str(), Some("x"));
}

#[test]
fn what_compose_refuses_is_refused_where_it_refuses_it() {
    // A tab that indents a block mapping.
    let (line, col, e) = error_at("services:\n\tweb:\n\t\timage: x\n");
    assert_eq!((line, col), (2, 1));
    assert!(e.help.as_deref().unwrap().contains("tabs"), "{e}");
    // A flow sequence never closed: found at the end, with where the list began.
    let (line, col, e) = error_at("services:\n  web:\n    image: x\n    command: [\"a\", \"b\"\n");
    assert_eq!((line, col), (5, 1));
    assert!(e.message.contains("did not find expected ',' or ']'"), "{e}");
    assert!(
        e.message.contains("flow sequence that starts at line 4, column 14"),
        "{e}"
    );
    // A quoted value never closed.
    let (line, col, e) = error_at("a: \"x\nb: 1\n");
    assert_eq!((line, col), (3, 1));
    assert!(e.message.contains("line 1, column 4"), "{e}");
    // Block context still counts indentation.
    assert_eq!(error_at("a:\n  b: 1\n c: 2\n").0, 3);
}

#[test]
fn parser_panics_and_control_characters_are_located_errors() {
    // libyaml-safer panics on a tag followed by `,` in a flow sequence.
    let (line, col, e) = error_at("a: 1\nb: [!x, y]\n");
    assert_eq!((line, col), (2, 5));
    assert!(e.help.as_deref().unwrap().contains("`!`"), "{e}");
    // ... and on a quoted value followed by `|`, where libyaml says "did not find
    // expected key" at the same place.
    let (line, col, _) = error_at("a: ''|\n 0");
    assert_eq!((line, col), (1, 6));
    // ... and on a backslash that ends the input inside double quotes.
    let (line, col, e) = error_at("a: 1\nb: \"x\\");
    assert_eq!((line, col), (2, 2));
    assert!(e.message.contains("cannot read"), "{e}");
    let (line, col, e) = error_at("a: 1\nb: x\u{1}y\n");
    assert_eq!((line, col), (2, 5));
    assert!(e.message.contains("U+0001"), "{e}");
}

#[test]
fn byte_order_mark_and_first_characters() {
    let n = p("\u{feff}a: 1\n").unwrap();
    assert_eq!(n.as_map().unwrap()[0].key_loc.col, 1);
    // A first character whose UTF-8 begins like a byte-order mark.
    let n = p("\u{f8ff}: 1\n").unwrap();
    assert_eq!(n.as_map().unwrap()[0].key, "\u{f8ff}");
}

#[test]
fn block_scalars_are_strings() {
    let n = p("a: |\n  1\nb: >\n  true\nc: !!str true\nd: true\n").unwrap();
    for (key, plain) in [("a", false), ("b", false), ("c", false), ("d", true)] {
        assert!(
            matches!(&n.get(key).unwrap().kind, Kind::Scalar(s) if s.plain == plain),
            "{key}"
        );
    }
    assert_eq!(n.get("a").unwrap().as_str(), Some("1\n"));
}
