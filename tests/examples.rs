//! Every example passes `composectl check`, and the README's first command works.

mod support;

use std::process::Command;

#[test]
fn every_example_passes_composectl_check() {
    let mut dirs: Vec<_> = std::fs::read_dir(support::repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "{dirs:?}");
    for dir in dirs {
        let out = Command::new(env!("CARGO_BIN_EXE_composectl"))
            .arg("check")
            .arg(&dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(": ok,") && stdout.contains("0 warnings"),
            "{}: {stdout}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_readme_first_command_runs_an_example() {
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo run --bin composed -- config examples/yelb"),
        "the README's first command changed"
    );
    let (code, out, err) = support::composed(&support::repo(), &["config", "examples/yelb"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("yelb-appserver:") && out.contains("condition: service_healthy"),
        "{out}"
    );
}
