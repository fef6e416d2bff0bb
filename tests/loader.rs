//! The loader against whole projects on disk: every kind of bad input gets one located message
//! that says what to do, several errors are reported together, and the good inputs load.

mod support;

use std::collections::HashMap;

use composed::diag::Diagnostic;
use composed::load::{self, Loaded, Options};

fn options(dir: &std::path::Path, env: &[(&str, &str)]) -> Options {
    let mut environment: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    environment.entry("HOME".into()).or_insert("/home/ops".into());
    Options {
        project_dir: Some(dir.to_path_buf()),
        environment: Some(environment),
        ..Options::default()
    }
}

fn load_ok(files: &[(&str, &str)], env: &[(&str, &str)]) -> Loaded {
    let dir = support::project_dir(files);
    match load::load(&options(&dir, env)) {
        Ok(l) => l,
        Err(f) => panic!(
            "unexpected errors:\n{}",
            f.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn load_errors(compose: &str) -> Vec<Diagnostic> {
    let dir = support::project_dir(&[("compose.yaml", compose)]);
    match load::load(&options(&dir, &[])) {
        Ok(_) => panic!("expected errors for:\n{compose}"),
        Err(f) => f.errors().cloned().collect(),
    }
}

/// Each row: a compose file, the line and column the error must name, words the message or its
/// help must contain.
const BAD: &[(&str, &str, u32, u32, &str)] = &[
    (
        "top-level volumes as a string (the mysql seed)",
        "services:\n  db:\n    image: mysql\n    volumes: [data:/d]\nvolumes:\n  data:/var/lib/mysql\n",
        6,
        3,
        "must be a mapping",
    ),
    (
        "misspelt top-level key",
        "servces:\n  a:\n    image: x\n",
        1,
        1,
        "did you mean `services`",
    ),
    (
        "misspelt service key",
        "services:\n  a:\n    image: x\n    enviroment: {A: 1}\n",
        4,
        5,
        "did you mean `environment`",
    ),
    (
        "key at the wrong level",
        "services:\n  a:\n    image: x\n    restart_policy: {condition: any}\n",
        4,
        5,
        "belongs under `deploy`",
    ),
    (
        "refused key",
        "services:\n  a:\n    image: x\n    develop: {watch: []}\n",
        4,
        5,
        "not supported",
    ),
    (
        "wrong type",
        "services:\n  a:\n    image: x\n    ports: \"80:80\"\n",
        4,
        12,
        "must be a list",
    ),
    (
        "undefined dependency",
        "services:\n  web:\n    image: x\n    depends_on: [dbb]\n  db:\n    image: y\n",
        4,
        18,
        "undefined service `dbb`",
    ),
    (
        "dependency cycle",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    depends_on: [a]\n",
        4,
        18,
        "a -> b -> a",
    ),
    (
        "memory conflict",
        "services:\n  a:\n    image: x\n    mem_limit: 512m\n    deploy: {resources: {limits: {memory: 1g}}}\n",
        2,
        3,
        "different values",
    ),
    (
        "container_name with replicas",
        "services:\n  a:\n    image: x\n    container_name: one\n    deploy: {replicas: 2}\n",
        4,
        21,
        "replicas",
    ),
    (
        "port out of range",
        "services:\n  a:\n    image: x\n    ports: [\"70000:80\"]\n",
        4,
        13,
        "out of range",
    ),
    (
        "bad size",
        "services:\n  a:\n    image: x\n    mem_limit: 512q\n",
        4,
        16,
        "not a size",
    ),
    (
        "bad duration",
        "services:\n  a:\n    image: x\n    stop_grace_period: 10\n",
        4,
        24,
        "not a duration",
    ),
    (
        "bad restart",
        "services:\n  a:\n    image: x\n    restart: sometimes\n",
        4,
        14,
        "unknown restart policy",
    ),
    (
        "missing required variable",
        "services:\n  a:\n    image: x\n    environment:\n      P: ${DB_PASSWORD:?set the password}\n",
        5,
        10,
        "required variable `DB_PASSWORD`",
    ),
    (
        "bad interpolation",
        "services:\n  a:\n    image: \"x:${TAG\"\n",
        3,
        12,
        "invalid interpolation",
    ),
    (
        "undefined network",
        "services:\n  a:\n    image: x\n    networks: [back]\n",
        4,
        16,
        "undefined network `back`",
    ),
    (
        "undefined volume",
        "services:\n  a:\n    image: x\n    volumes: [\"data:/d\"]\n",
        4,
        15,
        "not declared under the top-level `volumes:`",
    ),
    (
        "undefined secret",
        "services:\n  a:\n    image: x\n    secrets: [token]\n",
        4,
        15,
        "undefined secret `token`",
    ),
    (
        "duplicate key",
        "services:\n  a:\n    image: x\n    image: y\n",
        4,
        5,
        "duplicate key `image`",
    ),
    (
        "YAML syntax",
        "services:\n  a:\n    image: x\n   command: y\n",
        4,
        4,
        "indentation",
    ),
    ("tab indentation", "services:\n\ta:\n", 2, 1, "tabs"),
    (
        "unquoted colon in a value",
        "services:\n  a:\n    image: x\n    command: echo a: b\n",
        4,
        20,
        "quote",
    ),
    (
        "unknown tag",
        "services:\n  a:\n    image: !secret x\n",
        3,
        12,
        "unknown YAML tag",
    ),
    (
        "no image or build",
        "services:\n  a:\n    command: x\n",
        2,
        3,
        "neither `image` nor `build`",
    ),
    (
        "healthcheck list form",
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: [curl, localhost]\n",
        5,
        13,
        "must start with",
    ),
    (
        "bad depends_on condition",
        "services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: healthy}\n  b:\n    image: y\n",
        5,
        22,
        "service_healthy",
    ),
    (
        "dependency on a disabled profile",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    profiles: [debug]\n",
        4,
        18,
        "COMPOSE_PROFILES=debug",
    ),
    (
        "extends an undefined service",
        "services:\n  a:\n    image: x\n    extends: nothing\n",
        4,
        14,
        "undefined service `nothing`",
    ),
    (
        "include of a missing file",
        "include:\n  - other/compose.yaml\nservices:\n  a:\n    image: x\n",
        2,
        5,
        "does not exist",
    ),
    (
        "missing env_file",
        "services:\n  a:\n    image: x\n    env_file: nope.env\n",
        4,
        15,
        "cannot read env file",
    ),
    ("root is a list", "- a\n- b\n", 1, 1, "must be a mapping"),
    (
        "bad volume option",
        "services:\n  a:\n    image: x\n    volumes: [\"./d:/d:rx\"]\n",
        4,
        15,
        "unknown mount option",
    ),
    (
        "relative container path",
        "services:\n  a:\n    image: x\n    volumes: [\"./d:data\"]\n",
        4,
        15,
        "must be absolute",
    ),
    (
        "network_mode with networks",
        "services:\n  a:\n    image: x\n    network_mode: host\n    networks: [default]\n",
        4,
        19,
        "cannot be combined",
    ),
];

#[test]
fn every_bad_input_is_located_and_explained() {
    let mut failures = Vec::new();
    for (what, compose, line, col, words) in BAD {
        let errors = load_errors(compose);
        let found = errors.iter().any(|e| {
            let text = e.to_string();
            let loc = e.loc.as_ref().map(|l| (l.line, l.col));
            loc == Some((*line, *col)) && text.contains(words) && e.help.is_some()
        });
        if !found {
            failures.push(format!(
                "{what}: wanted {line}:{col} with {words:?} and a help line, got:\n  {}",
                errors
                    .iter()
                    .map(|e| e.to_string().replace('\n', "\n  "))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
        // Every error names its file, and a message never ends with a period.
        for e in &errors {
            assert!(e.loc.is_some(), "{what}: error without a location: {e}");
            assert!(!e.message.ends_with('.'), "{what}: message ends with a period: {e}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn several_errors_are_reported_together() {
    let errors = load_errors(
        "services:\n  a:\n    image: x\n    restart: sometimes\n    ports: [\"99999:1\"]\n    mem_limit: lots\n  b:\n    imagee: y\n",
    );
    assert!(errors.len() >= 4, "{errors:?}");
    let lines: Vec<u32> = errors.iter().filter_map(|e| e.loc.as_ref().map(|l| l.line)).collect();
    for line in [4, 5, 6, 8] {
        assert!(lines.contains(&line), "no error on line {line}: {errors:?}");
    }
}

#[test]
fn the_seeds_load_and_mysql_is_refused_at_its_volumes_value() {
    let seeds = support::repo().join("../shared/seeds");
    if !support::require("seeds", seeds.is_dir()) {
        return;
    }
    for seed in ["postgres", "yelb", "webapp"] {
        let opts = Options {
            files: vec![seeds.join(format!("{seed}.compose.yml"))],
            ..Options::default()
        };
        let loaded = load::load(&opts).unwrap_or_else(|f| panic!("{seed}: {:?}", f.diagnostics));
        assert!(!loaded.project.services.is_empty());
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.message.contains("`version` is obsolete"))
        );
    }
    let opts = Options {
        files: vec![seeds.join("mysql.compose.yml")],
        ..Options::default()
    };
    let failed = load::load(&opts).unwrap_err();
    let errors: Vec<_> = failed.errors().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0];
    let loc = e.loc.as_ref().unwrap();
    assert_eq!((loc.line, loc.col), (21, 3));
    assert!(loc.file.ends_with("mysql.compose.yml"));
    assert!(e.message.contains("`volumes` must be a mapping"), "{e}");
    assert!(e.help.as_deref().unwrap().contains("mysqldata: {}"), "{e}");
}

#[test]
fn project_name_precedence() {
    let files = [("compose.yaml", "name: fromfile\nservices:\n  a:\n    image: x\n")];
    assert_eq!(load_ok(&files, &[]).project.name, "fromfile");
    assert_eq!(
        load_ok(&files, &[("COMPOSE_PROJECT_NAME", "fromenv")]).project.name,
        "fromenv"
    );
    let dir = support::project_dir(&files);
    let opts = Options {
        project_name: Some("explicit".into()),
        ..options(&dir, &[("COMPOSE_PROJECT_NAME", "fromenv")])
    };
    assert_eq!(load::load(&opts).unwrap().project.name, "explicit");
    // From the directory name, normalised.
    let dir =
        support::project_dir(&[("My.App_Dir/compose.yaml", "services:\n  a:\n    image: x\n")]).join("My.App_Dir");
    assert_eq!(load::load(&options(&dir, &[])).unwrap().project.name, "myapp_dir");
    let dir = support::project_dir(&[("compose.yaml", "name: Bad Name\nservices:\n  a:\n    image: x\n")]);
    let f = load::load(&options(&dir, &[])).unwrap_err();
    assert!(
        f.errors()
            .any(|e| e.message.contains("not a valid project name") && e.loc.as_ref().unwrap().line == 1)
    );
}

#[test]
fn env_and_dotenv_precedence_and_unset_warning() {
    let files = [
        (
            "compose.yaml",
            "services:\n  a:\n    image: \"x:${TAG}\"\n    environment:\n      U: \"${UNSET}\"\n",
        ),
        (".env", "TAG=fromdotenv\n"),
    ];
    let l = load_ok(&files, &[]);
    assert_eq!(l.project.services["a"].image.as_deref(), Some("x:fromdotenv"));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("`UNSET` is not set") && w.loc.as_ref().unwrap().line == 5)
    );
    let l = load_ok(&files, &[("TAG", "fromprocess")]);
    assert_eq!(l.project.services["a"].image.as_deref(), Some("x:fromprocess"));
    assert!(l.inputs.iter().any(|p| p.ends_with(".env")));
}

#[test]
fn profiles_select_services() {
    let files = [(
        "compose.yaml",
        "services:\n  a:\n    image: x\n  b:\n    image: y\n    profiles: [debug]\n",
    )];
    assert_eq!(load_ok(&files, &[]).project.services.len(), 1);
    assert_eq!(
        load_ok(&files, &[("COMPOSE_PROFILES", "debug")]).project.services.len(),
        2
    );
    assert_eq!(load_ok(&files, &[("COMPOSE_PROFILES", "*")]).project.services.len(), 2);
}

#[test]
fn override_file_is_merged_and_reset_works() {
    let l = load_ok(
        &[
            (
                "compose.yaml",
                "services:\n  a:\n    image: x\n    ports: [\"80:80\"]\n",
            ),
            (
                "compose.override.yaml",
                "services:\n  a:\n    image: y\n    ports: !reset []\n",
            ),
        ],
        &[],
    );
    let a = &l.project.services["a"];
    assert_eq!(a.image.as_deref(), Some("y"));
    assert!(a.ports.is_empty());
    assert_eq!(l.project.config_files.len(), 2);
}

#[test]
fn errors_in_an_override_file_name_that_file() {
    let dir = support::project_dir(&[
        ("compose.yaml", "services:\n  a:\n    image: x\n"),
        ("compose.override.yaml", "services:\n  a:\n    restart: sometimes\n"),
    ]);
    let f = load::load(&options(&dir, &[])).unwrap_err();
    let e = f.errors().next().unwrap();
    assert!(e.loc.as_ref().unwrap().file.ends_with("compose.override.yaml"), "{e}");
    assert_eq!(e.loc.as_ref().unwrap().line, 3);
}

#[test]
fn no_compose_file_is_a_clear_error() {
    let dir = support::project_dir(&[("README", "nothing here")]);
    let f = load::load(&options(&dir, &[])).unwrap_err();
    let e = f.errors().next().unwrap();
    assert!(e.message.contains("no compose file found"), "{e}");
    assert!(e.help.as_deref().unwrap().contains("compose.yaml"));
}

#[test]
fn check_command_summary_and_exit_codes() {
    let dir = support::project_dir(&[(
        "compose.yaml",
        "name: demo\nservices:\n  a:\n    image: x\n  b:\n    image: y\n",
    )]);
    let (code, out, _) = support::composed(&dir, &["check"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "demo: ok, 2 services (a, b), 0 warnings");
    let dir = support::project_dir(&[(
        "compose.yaml",
        "services:\n  a:\n    image: x\n    restart: sometimes\n",
    )]);
    let (code, out, err) = support::composed(&dir, &["check"]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("compose.yaml:4:14: error: unknown restart policy"),
        "{err}"
    );
}
