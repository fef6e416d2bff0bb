//! Property tests of the loader: whatever the input, it never panics, and every error it reports
//! names a file, a line and a column.
//!
//! Three sources of input: YAML documents generated from compose's own vocabulary (keys, ports,
//! sizes, durations, interpolations, anchors), random mutations of every valid compose file in the
//! repository and the seeds (lines deleted, duplicated, swapped, re-indented, characters inserted),
//! and arbitrary text. The case counts are fixed so every run covers the same amount of ground.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use composed::load::{self, Options};
use proptest::prelude::*;

static CASES: AtomicUsize = AtomicUsize::new(0);

/// Cases per property: 4000 by default, `COMPOSED_FUZZ_CASES` for longer runs.
fn cases() -> u32 {
    std::env::var("COMPOSED_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4000)
}

/// Loads `text` as `compose.yaml` in `dir` and checks the properties.
fn check(dir: &Path, text: &str) -> Result<(), TestCaseError> {
    CASES.fetch_add(1, Ordering::Relaxed);
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
    let opts = Options {
        project_dir: Some(dir.to_path_buf()),
        environment: Some([("HOME".to_string(), "/home/ops".to_string())].into_iter().collect()),
        ..Options::default()
    };
    if let Err(failed) = load::load(&opts) {
        prop_assert!(failed.errors().count() > 0, "a failed load reported no error");
        for e in failed.errors() {
            let loc = e.loc.as_ref();
            prop_assert!(
                loc.is_some_and(|l| l.line >= 1 && l.col >= 1),
                "unlocated error {e}\nfor input:\n{text}"
            );
            prop_assert!(e.help.is_some(), "error without help: {e}\nfor input:\n{text}");
        }
    }
    Ok(())
}

fn fuzz_dir(name: &str) -> PathBuf {
    let dir = support::project_dir(&[
        ("html/index.html", "hi"),
        ("app.env", "A=1\n"),
        ("secrets/token.txt", "t"),
    ]);
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fuzz directory whose `compose.override.yaml` touches every merge rule.
fn fuzz_dir_with_override() -> PathBuf {
    let dir = fuzz_dir("with-override");
    let over = "services:\n  web:\n    environment: {OVR: '1'}\n    ports: ['9999:9999']\n    labels: [a=b]\n    volumes: ['./html:/ovr']\n    logging: {options: {max-size: 1m}}\n    command: ['true']\n    depends_on: [db]\n    networks: [default]\n  db:\n    environment: [X=1]\n    healthcheck: {test: [CMD, 'true']}\n    ulimits: {nofile: 1}\n";
    std::fs::write(dir.join("compose.override.yaml"), over).unwrap();
    dir
}

const KEYS: &[&str] = &[
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "name",
    "version",
    "include",
    "x-base",
    "image",
    "build",
    "context",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "depends_on",
    "condition",
    "healthcheck",
    "test",
    "interval",
    "restart",
    "deploy",
    "resources",
    "limits",
    "memory",
    "cpus",
    "mem_limit",
    "ulimits",
    "nofile",
    "soft",
    "hard",
    "logging",
    "labels",
    "container_name",
    "networks",
    "aliases",
    "network_mode",
    "extra_hosts",
    "tmpfs",
    "stop_grace_period",
    "profiles",
    "extends",
    "service",
    "file",
    "target",
    "published",
    "source",
    "type",
    "required",
    "replicas",
    "scale",
    "<<",
    "web",
    "db",
    "default",
    "data",
    "links",
    "volumes_from",
    "post_start",
    "pre_stop",
    "gpus",
    "blkio_config",
    "use_api_socket",
    "label_file",
    "dockerfile_inline",
    "interface_name",
    "mac_address",
    "pull_policy",
];

const SCALARS: &[&str] = &[
    "busybox",
    "8080:80",
    "127.0.0.1:5432:5432/tcp",
    "9000-9001:9000",
    "70000",
    "0",
    "-1",
    "512m",
    "1g",
    "1m30s",
    "10",
    "true",
    "no",
    "null",
    "~",
    "",
    "${VAR}",
    "${VAR:-x}",
    "${VAR:?need}",
    "$$",
    "${",
    "$",
    "service_healthy",
    "always",
    "on-failure:3",
    "./html:/h:ro",
    "data:/d",
    "/anon",
    "db",
    "web",
    "CMD-SHELL",
    "'quoted'",
    "\"dq\\n\"",
    "*a",
    "&a x",
    "!reset",
    "!override",
    "[]",
    "{}",
    "a: b",
    "- x",
    "#",
    "|",
    ">",
    "host=1.2.3.4",
    "${A:-${B:-${C:-${D:-x}}}}",
    "${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-x}}}}}}}}}}}}}}}}}}",
    "/dev/zero",
    "every_1w2d",
    "name:/d/:z",
    "*a",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(SCALARS).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ]
}

#[derive(Debug, Clone)]
enum Doc {
    Scalar(String),
    Seq(Vec<Doc>),
    Map(Vec<(String, Doc)>),
}

fn doc() -> impl Strategy<Value = Doc> {
    scalar().prop_map(Doc::Scalar).prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Doc::Seq),
            proptest::collection::vec((proptest::sample::select(KEYS).prop_map(str::to_string), inner), 0..6)
                .prop_map(Doc::Map),
        ]
    })
}

fn render(d: &Doc, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match d {
        Doc::Scalar(s) => out.push_str(&format!(" {s}\n")),
        Doc::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Doc::Map(items) if items.is_empty() => out.push_str(" {}\n"),
        Doc::Seq(items) => {
            out.push('\n');
            for i in items {
                out.push_str(&format!("{pad}-"));
                render(i, indent + 2, out);
            }
        }
        Doc::Map(items) => {
            out.push('\n');
            for (k, v) in items {
                out.push_str(&format!("{pad}{k}:"));
                render(v, indent + 2, out);
            }
        }
    }
}

fn valid_files() -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![
        support::repo().join("tests/compat"),
        support::repo().join("../shared/seeds"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                files.push(std::fs::read_to_string(p).unwrap());
            }
        }
    }
    files.sort();
    files
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Indent(usize, i8),
    Insert(usize, String),
    ReplaceChar(usize, char),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), -4i8..4).prop_map(|(a, b)| Mutation::Indent(a, b)),
        (any::<usize>(), scalar()).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (
            any::<usize>(),
            proptest::sample::select(vec![
                ':', '-', ' ', '\t', '"', '\'', '{', '[', '$', '&', '*', '!', '#', '\n', 'x', '0'
            ])
        )
            .prop_map(|(a, c)| Mutation::ReplaceChar(a, c)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let n = lines.len();
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::Indent(i, by) => {
            let l = &mut lines[i % n];
            if *by > 0 {
                *l = format!("{}{l}", " ".repeat(*by as usize));
            } else {
                let cut = l.len() - l.trim_start().len();
                *l = l[cut.min((-*by) as usize)..].to_string();
            }
        }
        _ if lines.join("").is_empty() => {}
        Mutation::Insert(at, s) => {
            let joined = lines.join("\n");
            let at = floor_char(&joined, at % joined.len());
            return format!("{}{s}{}", &joined[..at], &joined[at..]);
        }
        Mutation::ReplaceChar(at, c) => {
            let joined = lines.join("\n");
            let at = floor_char(&joined, at % joined.len());
            let mut out: String = joined[..at].to_string();
            out.push(*c);
            out.push_str(joined[at..].chars().skip(1).collect::<String>().as_str());
            return out;
        }
        Mutation::Truncate(at) => {
            let joined = lines.join("\n");
            let at = floor_char(&joined, at % joined.len());
            return joined[..at].to_string();
        }
    }
    lines.join("\n")
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents(d in doc()) {
        let dir = fuzz_dir("generated");
        let mut text = String::new();
        render(&Doc::Map(vec![("services".into(), d.clone())]), 0, &mut text);
        check(&dir, &text)?;
        let mut top = String::new();
        render(&d, 0, &mut top);
        check(&dir, &top)?;
    }

    #[test]
    fn mutated_valid_files(index in any::<usize>(), ms in proptest::collection::vec(mutation(), 1..4)) {
        let files = valid_files();
        let mut text = files[index % files.len()].clone();
        for m in &ms {
            text = mutate(&text, m);
        }
        // Half the cases also merge an override file, so the merge rules meet mutated input.
        let dir = if index % 2 == 0 { fuzz_dir("mutated") } else { fuzz_dir_with_override() };
        check(&dir, &text)?;
    }

    #[test]
    fn arbitrary_text(text in "(?s).{0,300}") {
        check(&fuzz_dir("arbitrary"), &text)?;
    }
}

// The hostile shapes build large trees by design (up to the limits): a twentieth of the cases.
proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 20, failure_persistence: None, ..ProptestConfig::default() })]

    /// The shapes of the hostile inputs (nested defaults, aliases nesting or copying each
    /// other), at random depths and widths around the limits.
    #[test]
    fn hostile_shapes(nesting in 1usize..40, chain in 1usize..120, fanout in 1usize..3, text in 1usize..2000) {
        let mut value = String::from("x");
        for _ in 0..nesting {
            value = format!("${{A:-{value}}}");
        }
        let mut doc = format!("x-s: &s \"{}\"\nx-a0: &a0 [*s]\n", "y".repeat(text));
        for i in 1..chain {
            let refs = vec![format!("*a{}", i - 1); fanout].join(", ");
            doc.push_str(&format!("x-a{i}: &a{i} [{refs}]\n"));
        }
        doc.push_str(&format!("services:\n  a:\n    image: \"{value}\"\n    command: *a{}\n", chain - 1));
        check(&fuzz_dir("hostile"), &doc)?;
    }

}

#[test]
fn zz_report_case_count() {
    // Runs last in name order when tests run on one thread; the count is informational.
    eprintln!(
        "loader fuzz cases so far in this process: {}",
        CASES.load(Ordering::Relaxed)
    );
}
