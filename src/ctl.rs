//! `composectl`'s commands: tables and detail views from the D-Bus API, the mutating calls, the
//! journal view, and the generated completions and man pages. Every failure is one line on stderr
//! and exit code 1.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::args::{ComposedArgs, CtlArgs, CtlCommand};
use crate::bus::client::{Client, Target};
use crate::bus::{Bus, PROJECT_INTERFACE, SERVICE_INTERFACE, ServiceView};

pub fn run(args: CtlArgs) -> ExitCode {
    let bus = args.bus;
    let result = match args.command {
        CtlCommand::Check(project) => return crate::cli::check(&project),
        CtlCommand::Completions { shell } => {
            clap_complete::generate(shell, &mut CtlArgs::command(), "composectl", &mut std::io::stdout());
            Ok(())
        }
        CtlCommand::Generate { dir } => generate(&dir).map_err(|e| format!("cannot write into {}: {e}", dir.display())),
        CtlCommand::Logs {
            target,
            follow,
            lines,
            since,
        } => logs(&target, follow, lines, since.as_deref()),
        command => runtime().block_on(over_bus(bus, command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("composectl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
}

async fn over_bus(bus: Bus, command: CtlCommand) -> Result<(), String> {
    let client = Client::connect(bus).await?;
    match command {
        CtlCommand::Ps { project, json } => {
            let services = client.services(project.as_deref()).await?;
            if json {
                let text = serde_json::to_string_pretty(&services).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                print!("{}", table(&services, crate::clock::unix_micros()));
            }
            Ok(())
        }
        CtlCommand::Status { project } => status(&client, project.as_deref()).await,
        CtlCommand::Start { target } => call(&client, &target, "start").await,
        CtlCommand::Stop { target } => call(&client, &target, "stop").await,
        CtlCommand::Down { project } => {
            let target = Target { project, service: None };
            call(&client, &target, "down").await
        }
        CtlCommand::Restart { target } => call(&client, &target, "restart").await,
        CtlCommand::Reexec => {
            for daemon in client.daemons.clone() {
                let line = client
                    .manager(&daemon)
                    .await?
                    .reexec()
                    .await
                    .map_err(|e| client.explain(&e))?;
                println!("{line}");
            }
            Ok(())
        }
        CtlCommand::Reload { project } => {
            let daemons = match &project {
                Some(p) => vec![client.daemon_of(p).await?],
                None => client.daemons.clone(),
            };
            for daemon in daemons {
                let line = client
                    .manager(&daemon)
                    .await?
                    .reload()
                    .await
                    .map_err(|e| client.explain(&e))?;
                println!("{line}");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Start, stop, restart or take down a project or a service; prints the daemon's answer.
async fn call(client: &Client, target: &Target, verb: &str) -> Result<(), String> {
    let (daemon, path) = client.path_of(target).await?;
    let interface = match target.service {
        Some(_) => SERVICE_INTERFACE,
        None => PROJECT_INTERFACE,
    };
    let method = match verb {
        "start" => "Start",
        "stop" => "Stop",
        "down" => "Down",
        _ => "Restart",
    };
    let answer: zbus::Result<String> = async {
        let proxy = zbus::Proxy::new(&client.connection, daemon, path, interface).await?;
        proxy.call(method, &()).await
    }
    .await;
    let line = answer.map_err(|e| format!("{verb} {target}: {}", client.explain(&e)))?;
    println!("{line}");
    Ok(())
}

/// `composectl ps`: one row per service.
pub fn table(services: &[ServiceView], now: u64) -> String {
    let mut rows: Vec<[String; 8]> = vec![[
        "PROJECT".into(),
        "SERVICE".into(),
        "STATE".into(),
        "HEALTH".into(),
        "RESTARTS".into(),
        "PORTS".into(),
        "SINCE".into(),
        "NOTE".into(),
    ]];
    for s in services {
        rows.push([
            s.project.clone(),
            s.service.clone(),
            s.state.clone(),
            if s.health.is_empty() {
                "-".into()
            } else {
                s.health.clone()
            },
            s.restart_count.to_string(),
            if s.ports.is_empty() {
                "-".into()
            } else {
                s.ports.join(", ")
            },
            ago(s.since, now),
            match s.rollback.as_str() {
                "" => String::new(),
                why => format!("rolled back: {why}"),
            },
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 7 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

async fn status(client: &Client, project: Option<&str>) -> Result<(), String> {
    let now = crate::clock::unix_micros();
    let projects = client.projects().await?;
    let mut shown = 0;
    for (daemon, p) in projects.iter().filter(|(_, p)| project.is_none_or(|n| n == p.name)) {
        shown += 1;
        let services = client
            .manager(daemon)
            .await?
            .list_services(&p.name)
            .await
            .map_err(|e| client.explain(&e))?;
        println!("● {}: {} ({})", p.name, p.state, p.status);
        println!("    daemon: {daemon}");
        for f in &p.files {
            println!("    file: {f}");
        }
        if !p.config_error.is_empty() {
            println!(
                "    config error: {} (the last good configuration runs)",
                p.config_error
            );
        }
        for s in services.iter().filter(|s| s.project == p.name) {
            let health = if s.health.is_empty() {
                String::new()
            } else {
                format!(", {}", s.health)
            };
            let detail = if s.detail == s.state || s.detail == s.health {
                String::new()
            } else {
                format!(" — {}", s.detail)
            };
            println!("  {}: {}{health}{detail}", s.service, s.state);
            println!("      since: {} ({})", utc(s.since), ago(s.since, now));
            println!(
                "      container: {} ({} in all), image: {}",
                short_id(&s.container_id),
                s.containers,
                s.image
            );
            if !s.ports.is_empty() {
                println!("      ports: {}", s.ports.join(", "));
            }
            let exit = match s.last_exit_code {
                -1 => "none".to_string(),
                code => format!("{code}, {}", s.last_exit_reason),
            };
            println!("      restarts: {}, last exit: {exit}", s.restart_count);
        }
    }
    if shown == 0 {
        return Err(match project {
            Some(p) => format!("no project `{p}`"),
            None => "composed manages no projects".to_string(),
        });
    }
    Ok(())
}

/// `composectl logs`: journalctl with the fields composed writes, so nobody has to remember
/// them: container output (`COMPOSE_PROJECT`/`COMPOSE_SERVICE`) or composed's own lines about
/// it (`PROJECT`/`SERVICE`).
fn logs(target: &Target, follow: bool, lines: Option<u32>, since: Option<&str>) -> Result<(), String> {
    let args = journal_args(target, follow, lines, since);
    let mut command = std::process::Command::new("journalctl");
    command.args(&args);
    use std::os::unix::process::CommandExt;
    let e = command.exec();
    Err(format!("cannot run journalctl: {e}"))
}

pub fn journal_args(target: &Target, follow: bool, lines: Option<u32>, since: Option<&str>) -> Vec<String> {
    let mut args = vec![format!("COMPOSE_PROJECT={}", target.project)];
    if let Some(s) = &target.service {
        args.push(format!("COMPOSE_SERVICE={s}"));
    }
    args.push("+".into());
    args.push(format!("PROJECT={}", target.project));
    if let Some(s) = &target.service {
        args.push(format!("SERVICE={s}"));
    }
    if follow {
        args.push("--follow".into());
    }
    if let Some(n) = lines {
        args.push(format!("--lines={n}"));
    }
    if let Some(t) = since {
        args.push(format!("--since={t}"));
    }
    args
}

/// Man pages (composed.8, composectl.1) and completion scripts, from the CLI definitions.
fn generate(dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    for (command, section) in [(ComposedArgs::command(), "8"), (CtlArgs::command(), "1")] {
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone())
            .section(section)
            .render(&mut page)?;
        std::fs::write(man.join(format!("{}.{section}", command.get_name())), page)?;
    }
    use clap_complete::Shell;
    for (shell, file) in [
        (Shell::Bash, "composectl"),
        (Shell::Zsh, "_composectl"),
        (Shell::Fish, "composectl.fish"),
    ] {
        let mut out = std::fs::File::create(completions.join(file))?;
        clap_complete::generate(shell, &mut CtlArgs::command(), "composectl", &mut out);
        out.flush()?;
    }
    Ok(())
}

fn short_id(id: &str) -> &str {
    if id.is_empty() { "none" } else { &id[..id.len().min(12)] }
}

/// `5s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn ago(since: u64, now: u64) -> String {
    if since == 0 {
        return "-".into();
    }
    let s = now.saturating_sub(since) / 1_000_000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// A timestamp as `2026-11-23 20:05:38 UTC`.
pub fn utc(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (days, rest) = ((secs / 86400) as i64, secs % 86400);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(service: &str, state: &str, health: &str, ports: &[&str], since: u64) -> ServiceView {
        ServiceView {
            project: "yelb".into(),
            service: service.into(),
            state: state.into(),
            health: health.into(),
            detail: state.into(),
            ready: true,
            restart_count: 2,
            last_exit_code: -1,
            last_exit_reason: String::new(),
            container_id: "0123456789abcdef".into(),
            containers: 1,
            image: "redis:4".into(),
            ports: ports.iter().map(|p| p.to_string()).collect(),
            since,
            rollback: String::new(),
        }
    }

    #[test]
    fn the_table_aligns_columns_and_fills_blanks() {
        let now = 1_000_000_000_000;
        let mut rolled_back = view("db", "running", "", &[], now - 60_000_000);
        rolled_back.rollback = "the new container exited with code 1 before it was ready".into();
        let t = table(
            &[
                view("redis-server", "running", "healthy", &[], now - 5_000_000),
                view("ui", "restarting", "", &["8080->80/tcp"], now - 7_200_000_000),
                rolled_back,
            ],
            now,
        );
        assert_eq!(
            t,
            "PROJECT  SERVICE       STATE       HEALTH   RESTARTS  PORTS         SINCE   NOTE\n\
             yelb     redis-server  running     healthy  2         -             5s ago\n\
             yelb     ui            restarting  -        2         8080->80/tcp  2h ago\n\
             yelb     db            running     -        2         -             1m ago  rolled back: the new container exited with code 1 before it was ready\n"
        );
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_464_338_000_000), "2026-11-23 20:05:38 UTC");
        assert_eq!(utc(951_782_400_000_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(ago(0, 5), "-");
        assert_eq!(ago(1, 90_000_001), "1m ago");
        assert_eq!(ago(1, 3 * 86_400_000_000 + 1), "3d ago");
    }

    #[test]
    fn logs_match_container_output_or_composeds_own_lines() {
        let t: Target = "yelb/redis-server".parse().unwrap();
        assert_eq!(
            journal_args(&t, true, Some(50), None),
            [
                "COMPOSE_PROJECT=yelb",
                "COMPOSE_SERVICE=redis-server",
                "+",
                "PROJECT=yelb",
                "SERVICE=redis-server",
                "--follow",
                "--lines=50"
            ]
        );
    }
}
