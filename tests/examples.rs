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

/// The first command of the README's "Try it": the daemon on an example in the foreground.
fn readme_first_command() -> Vec<String> {
    let readme = std::fs::read_to_string(support::repo().join("README.md")).unwrap();
    let try_it = &readme[readme.find("## Try it").expect("a Try it section")..];
    let block = try_it
        .split("```sh\n")
        .nth(1)
        .expect("a sh block")
        .split("```")
        .next()
        .unwrap();
    block.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_readme_first_command_runs_an_example_until_ctrl_c() {
    let command = readme_first_command();
    assert_eq!(
        command.join(" "),
        "cargo run --bin composed -- --project examples/yelb",
        "the README's first command changed: update this test"
    );
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let _cleanup = support::CleanupProject("yelb");
    // What `cargo run --bin composed --` runs, with the README's arguments, from the clone.
    let args = &command[command.iter().position(|a| a == "--").unwrap() + 1..];
    let mut child = Command::new(support::composed_bin())
        .args(args)
        .current_dir(support::repo())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !seen.iter().any(|l: &String| l.contains("ready: yelb: 4/4 ready")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("not ready within 90 s:\n{}", seen.join("\n"));
            }
        }
    }
    assert_eq!(support::inspect("yelb-yelb-ui-1", "{{.State.Running}}"), "true");
    // Ctrl-C.
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    seen.extend(rx.try_iter());
    assert!(status.success(), "exit {status}:\n{}", seen.join("\n"));
    assert!(seen.iter().any(|l| l.contains("stopping")), "{}", seen.join("\n"));
    assert_ne!(support::inspect("yelb-yelb-ui-1", "{{.State.Running}}"), "true");
}
