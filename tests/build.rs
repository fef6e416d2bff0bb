//! Building through the engine: the context honours `.dockerignore` as the Docker CLI does, and
//! is streamed, so neither an ignored 200 MB directory nor a large file that is sent makes
//! composed hold the context in memory.

mod support;

use std::process::Command;

use support::{Fixture, docker};

/// Runs `composed ARGS` in `dir` and returns (exit code, output, peak RSS in KiB), the peak as
/// the kernel accounts it for the finished child (getrusage, through Python's resource module).
fn composed_peak_rss(dir: &std::path::Path, args: &[&str]) -> (i32, String, u64) {
    let script = "import resource, subprocess, sys\n\
                  r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
                  print(r.stdout + r.stderr)\n\
                  print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.exit(r.returncode)";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(support::composed_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let peak = text
        .lines()
        .find_map(|l| l.strip_prefix("PEAK "))
        .and_then(|n| n.trim().parse().ok())
        .expect("peak RSS printed");
    (out.status.code().unwrap_or(-1), text, peak)
}

fn write_zeros(path: &std::path::Path, mib: usize) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        file.write_all(&block).unwrap();
    }
}

#[test]
fn the_build_context_honours_dockerignore_and_is_streamed() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    // An image left by an earlier run would be used as it is: build afresh.
    let _ = Command::new("docker").args(["rmi", "-f", "ctest-ignore-app"]).output();
    let f = Fixture::new(
        "ctest-ignore",
        "services:\n  app:\n    build: ./app\n    command: [sleep, '600']\n",
    );
    let app = f.dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM composed-test/busybox:1\nCOPY . /ctx\nRUN du -sm /ctx | cut -f1 > /ctx-mib\n",
    )
    .unwrap();
    std::fs::write(
        app.join(".dockerignore"),
        "# local files\n.env\ndata\n**/*.tmp\n!keep.tmp\n",
    )
    .unwrap();
    std::fs::write(app.join(".env"), "DB_PASSWORD=never-in-the-image\n").unwrap();
    std::fs::write(app.join("main.sh"), "echo hi\n").unwrap();
    std::fs::write(app.join("keep.tmp"), "kept\n").unwrap();
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("sub/scratch.tmp"), "").unwrap();
    write_zeros(&app.join("data/dump.bin"), 200);
    // Sent, so it must be streamed rather than held.
    write_zeros(&app.join("assets.bin"), 64);

    let (code, out, peak_kib) = composed_peak_rss(&f.dir, &["up", "-p", &f.name]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("app: running"), "{out}");
    let listing = docker(&["exec", "ctest-ignore-app-1", "ls", "-a", "/ctx", "/ctx/sub"]);
    for absent in [".env", "data", "scratch.tmp"] {
        assert!(
            !listing.split_whitespace().any(|n| n == absent),
            "{absent} is in the image:\n{listing}"
        );
    }
    for present in ["main.sh", "keep.tmp", "assets.bin", "Dockerfile", ".dockerignore"] {
        assert!(
            listing.split_whitespace().any(|n| n == present),
            "{present} is missing:\n{listing}"
        );
    }
    let mib: u64 = docker(&["exec", "ctest-ignore-app-1", "cat", "/ctx-mib"])
        .parse()
        .unwrap();
    assert!((64..100).contains(&mib), "the image's context holds {mib} MiB");
    assert!(
        peak_kib < 50 * 1024,
        "composed's peak RSS during the build was {} MiB",
        peak_kib / 1024
    );
    eprintln!("peak RSS of composed up with the build: {} MiB", peak_kib / 1024);
    let _ = Command::new("docker").args(["rmi", "-f", "ctest-ignore-app"]).output();
}
