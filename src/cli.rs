//! Command-line front ends shared by `composed` and `composectl`: the arguments that name a
//! project, and the `check` and `config` commands (the loader, no engine needed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::engine::{DockerEngine, Engine};
use crate::execute::{self, Pass, Reconciled, reconcile_once};
use crate::load::{self, Loaded};
use crate::state::ServiceState;

/// Which project: files, directory, name, profiles (as docker compose takes them).
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// Compose file(s), merged in order [default: compose.yaml and compose.override.yaml in DIR]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name [default: `name:` in the file, else the directory name]
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Enable services of this profile (repeatable; adds to COMPOSE_PROFILES)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// Project directory [default: the first file's directory, else the current directory]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ProjectArgs {
    pub fn options(&self) -> load::Options {
        load::Options {
            files: self.files.clone(),
            project_dir: self.dir.clone(),
            project_name: self.project_name.clone(),
            profiles: self.profiles.clone(),
            environment: None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Loads the project, printing every diagnostic to stderr. `None` when it has errors.
pub fn load_reporting(args: &ProjectArgs) -> Option<Loaded> {
    match load::load(&args.options()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            Some(loaded)
        }
        Err(failed) => {
            for d in &failed.diagnostics {
                eprintln!("{d}");
            }
            let n = failed.errors().count();
            eprintln!("{n} error{} found; nothing was changed", if n == 1 { "" } else { "s" });
            None
        }
    }
}

/// `check`: validates like `nginx -t`; one summary line on success.
pub fn check(args: &ProjectArgs) -> ExitCode {
    let Some(loaded) = load_reporting(args) else {
        return ExitCode::FAILURE;
    };
    let p = &loaded.project;
    let data_warnings = engine_advice(p);
    for w in &data_warnings {
        eprintln!("{w}");
    }
    let warnings = loaded.warnings.len() + data_warnings.len();
    println!(
        "{}: ok, {} service{} ({}), {} warning{}",
        p.name,
        p.services.len(),
        if p.services.len() == 1 { "" } else { "s" },
        p.services.keys().cloned().collect::<Vec<_>>().join(", "),
        warnings,
        if warnings == 1 { "" } else { "s" }
    );
    ExitCode::SUCCESS
}

/// What only the engine can tell about a project (its images' `VOLUME`s), when an engine
/// answers within a moment; nothing otherwise (`check` works without one).
fn engine_advice(project: &crate::model::Project) -> Vec<String> {
    let Ok(engine) = DockerEngine::connect() else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return Vec::new();
    };
    runtime.block_on(async {
        let limit = std::time::Duration::from_secs(3);
        tokio::time::timeout(limit, unnamed_data_warnings(&engine, project))
            .await
            .unwrap_or_default()
    })
}

/// One warning per image `VOLUME` a service mounts nothing at: its data lives in an anonymous
/// volume. Images not on the engine are skipped.
async fn unnamed_data_warnings(engine: &DockerEngine, project: &crate::model::Project) -> Vec<String> {
    let mut out = Vec::new();
    for service in project.services.values() {
        let image = crate::identity::image_name(project, service);
        let Ok(volumes) = engine.image_volumes(&image).await else {
            continue;
        };
        for path in crate::spec::unnamed_image_volumes(service, &volumes) {
            let key = format!("{}-data", service.name);
            out.push(format!(
                "warning: service `{}`: the image {image} keeps data in {path} (a VOLUME) and the file names no volume there, so it lives in an anonymous volume; composed carries it over on every recreate, but `docker volume prune` deletes it once the container is gone\n  help: name it: `volumes: [\"{key}:{path}\"]` under the service and `{key}: {{}}` under the top-level `volumes:`",
                service.name
            ));
        }
    }
    out
}

/// `config`: prints the normalised project.
pub fn config(args: &ProjectArgs, format: Format) -> ExitCode {
    let Some(loaded) = load_reporting(args) else {
        return ExitCode::FAILURE;
    };
    let value = escape_dollars(serde_json::to_value(&loaded.project).unwrap_or(Value::Null));
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default()),
        Format::Yaml => print!("{}", to_yaml(&value)),
    }
    ExitCode::SUCCESS
}

/// Writes `$` as `$$` in every string value, so the printed config loads back unchanged (as
/// `docker compose config` does).
pub fn escape_dollars(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.into_iter().map(escape_dollars).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, escape_dollars(v))).collect()),
        other => other,
    }
}

/// A small block-style YAML writer for the printed config.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write_yaml(v, 0, &mut out);
    out
}

fn write_yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, val) in o {
                out.push_str(&format!("{pad}{}:", scalar(&Value::String(k.clone()))));
                block_or_inline(val, indent, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for val in a {
                out.push_str(&format!("{pad}-"));
                match val {
                    Value::Object(o) if !o.is_empty() => {
                        let mut inner = String::new();
                        write_yaml(val, indent + 2, &mut inner);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => block_or_inline(val, indent, out),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

fn block_or_inline(val: &Value, indent: usize, out: &mut String) {
    match val {
        Value::Object(o) if !o.is_empty() => {
            out.push('\n');
            write_yaml(val, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_yaml(val, indent + 2, out);
        }
        other => out.push_str(&format!(" {}\n", scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./@".contains(c))
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
                )
                && s.parse::<f64>().is_err()
                && !s.starts_with(['-', '.', '@'])
                && !s.starts_with("0x")
                && !s.starts_with("0o");
            if plain {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

/// Loads the project and connects to the engine, printing what went wrong.
async fn project_and_engine(args: &ProjectArgs) -> Option<(Loaded, DockerEngine)> {
    let loaded = load_reporting(args)?;
    match DockerEngine::connect() {
        Ok(engine) => Some((loaded, engine)),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The project's observed state, or `None` after printing why it could not be read.
async fn observe_reporting(engine: &DockerEngine, project: &str) -> Option<crate::observed::Observed> {
    match engine.observe(project).await {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

fn print_progress(subject: &str, what: &str) {
    eprintln!("{subject}: {what}");
}

/// `up`: make the engine match the project.
pub async fn up(args: &ProjectArgs, wait: bool) -> ExitCode {
    let Some((loaded, engine)) = project_and_engine(args).await else {
        return ExitCode::FAILURE;
    };
    let project = &loaded.project;
    let pass = Pass {
        start_exited: true,
        held: Default::default(),
        pinned: Default::default(),
        wait,
        // As `docker compose up`: a failed recreate is reported, not undone.
        rollback: false,
        check_engine: true,
    };
    let report = match reconcile_once(&engine, project, &pass, |_| {}, &print_progress).await {
        Ok(Reconciled {
            report: Some(report), ..
        }) => report,
        Ok(Reconciled { report: None, .. }) => {
            eprintln!("{}: up to date", project.name);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    for (service, state) in &report.services {
        // The operator's own terminal: the full reason, engine message included.
        match report.failures.get(service) {
            Some(reason) => println!("{service}: failed: {}", reason.full()),
            None => println!("{service}: {}", outcome_words(state)),
        }
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How `up` reports a service: a started one is `running` (its health apart, with `--wait`).
fn outcome_words(state: &ServiceState) -> String {
    match state {
        ServiceState::Starting => "running".to_string(),
        other => other.to_string(),
    }
}

/// `down`: stop and remove the project's containers and networks; volumes only on request.
pub async fn down(args: &ProjectArgs, volumes: bool) -> ExitCode {
    let Some((loaded, engine)) = project_and_engine(args).await else {
        return ExitCode::FAILURE;
    };
    let Some(observed) = observe_reporting(&engine, &loaded.project.name).await else {
        return ExitCode::FAILURE;
    };
    let report = execute::down(&engine, &loaded.project, &observed, volumes, &print_progress).await;
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `plan`: print what `up` would change, touching nothing.
pub async fn plan(args: &ProjectArgs, json: bool) -> ExitCode {
    let Some((loaded, engine)) = project_and_engine(args).await else {
        return ExitCode::FAILURE;
    };
    let Some(observed) = observe_reporting(&engine, &loaded.project.name).await else {
        return ExitCode::FAILURE;
    };
    for w in unnamed_data_warnings(&engine, &loaded.project).await {
        eprintln!("{w}");
    }
    let plan = crate::plan::plan(&loaded.project, &observed);
    match json {
        true => println!("{}", serde_json::to_string_pretty(&plan.summary()).unwrap_or_default()),
        false => print!("{plan}"),
    }
    ExitCode::SUCCESS
}

/// `ps`: the project's containers.
pub async fn ps(args: &ProjectArgs) -> ExitCode {
    let Some((loaded, engine)) = project_and_engine(args).await else {
        return ExitCode::FAILURE;
    };
    let Some(observed) = observe_reporting(&engine, &loaded.project.name).await else {
        return ExitCode::FAILURE;
    };
    println!("{:<30} {:<20} {:<12} {:<10}", "NAME", "SERVICE", "STATE", "HEALTH");
    let mut containers = observed.containers.clone();
    containers.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    for c in containers {
        let health = match c.health {
            Some(crate::observed::Health::Healthy) => "healthy",
            Some(crate::observed::Health::Unhealthy) => "unhealthy",
            Some(crate::observed::Health::Starting) => "starting",
            None => "",
        };
        println!(
            "{:<30} {:<20} {:<12} {:<10}",
            c.name,
            c.service,
            format!("{:?}", c.state).to_lowercase(),
            health
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_yaml_reads_as_something_else_are_quoted() {
        for word in [
            "@127.0.0.1",
            "True",
            "NO",
            "y",
            "0x1F",
            "0o17",
            "-x",
            ".5",
            "1e3",
            "null",
        ] {
            assert!(scalar(&Value::String(word.into())).starts_with('"'), "{word}");
        }
        assert_eq!(scalar(&Value::String("db-1".into())), "db-1");
    }

    #[test]
    fn yaml_output_reads_back() {
        let v = serde_json::json!({"name": "p", "services": {"s": {"command": ["a b", "1"], "environment": {"A": null, "B": "x: y"}, "ports": [{"target": 80}]}}, "e": {}, "l": []});
        let text = to_yaml(&v);
        let tree = crate::yaml::parse(&text, &std::sync::Arc::from(std::path::Path::new("out.yaml"))).unwrap();
        let s = tree.get("services").unwrap().get("s").unwrap();
        assert_eq!(s.get("command").unwrap().as_seq().unwrap()[0].as_str(), Some("a b"));
        assert_eq!(s.get("environment").unwrap().get("B").unwrap().as_str(), Some("x: y"));
        assert!(s.get("environment").unwrap().get("A").unwrap().is_null());
        assert_eq!(
            s.get("ports").unwrap().as_seq().unwrap()[0]
                .get("target")
                .unwrap()
                .as_str(),
            Some("80")
        );
    }
}
