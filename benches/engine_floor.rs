//! The engine's own floor for the benchmarks (`bench/reconcile.sh`, `bench/daemon.sh`): the same
//! container creates and starts (or stops and removes) composed makes, sent straight to the
//! Engine API through bollard with full parallelism and nothing else. Prints the elapsed seconds.
//!
//! `cargo bench --bench engine_floor -- up N PROJECT` / `-- down N PROJECT`:
//! N containers created and started / stopped and removed.
//! `-- recreate 1 CONTAINER`: what a recreate asks of the engine: a new container created on
//! the old one's network, the old one stopped, the new one started (then removed again).
//! `-- ready N PROJECT`: the project network and N containers on it with a healthcheck created
//! and started, until every one reported healthy.

use std::collections::HashMap;
use std::time::Instant;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};
use futures_util::future::join_all;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (mode, n, project) = match args.as_slice() {
        [mode, n, project, ..] => (mode.clone(), n.parse::<usize>().expect("a count"), project.clone()),
        _ => {
            eprintln!("usage: engine_floor up|down N PROJECT");
            std::process::exit(2);
        }
    };
    let docker = Docker::connect_with_defaults().expect("engine");
    let network = format!("{project}_default");
    let names: Vec<String> = (0..n).map(|i| format!("{project}-s{i}-1")).collect();
    let t0 = Instant::now();
    match mode.as_str() {
        "up" => {
            create_network(&docker, &network).await;
            join_all(names.iter().enumerate().map(|(i, name)| {
                let docker = docker.clone();
                let network = network.clone();
                async move {
                    let body = ContainerCreateBody {
                        image: Some("composed-test/server:1".into()),
                        ..on_network(name, &network, &format!("s{i}"))
                    };
                    create_and_start(&docker, name, body).await;
                }
            }))
            .await;
        }
        "down" => {
            join_all(names.iter().map(|name| {
                let docker = docker.clone();
                async move {
                    let _ = docker
                        .stop_container(name, Some(StopContainerOptionsBuilder::default().t(10).build()))
                        .await;
                    let _ = docker
                        .remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
                        .await;
                }
            }))
            .await;
            let _ = docker.remove_network(&network).await;
        }
        "recreate" => {
            let old = project.clone();
            let inspected = docker
                .inspect_container(&old, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .expect("the container to recreate");
            let config = inspected.config.unwrap_or_default();
            let network = inspected.host_config.and_then(|h| h.network_mode).unwrap_or_default();
            let body = ContainerCreateBody {
                image: config.image,
                cmd: config.cmd,
                ..on_network(&old, &network, "floor")
            };
            let fresh = format!("{old}-floor");
            let t0 = Instant::now();
            let id = docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().name(&fresh).build()),
                    body,
                )
                .await
                .expect("create")
                .id;
            let _ = docker
                .stop_container(&old, Some(StopContainerOptionsBuilder::default().t(10).build()))
                .await;
            docker
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .expect("start");
            println!("{:.3}", t0.elapsed().as_secs_f64());
            let _ = docker
                .remove_container(
                    &fresh,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
            return;
        }
        "ready" => {
            create_network(&docker, &network).await;
            ready(&docker, &names, &project, &network).await;
        }
        other => panic!("unknown mode {other}"),
    }
    println!("{:.3}", t0.elapsed().as_secs_f64());
}

/// Creates the container `name` and starts it; its id.
async fn create_and_start(docker: &Docker, name: &str, body: ContainerCreateBody) -> String {
    let id = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .expect("create")
        .id;
    docker
        .start_container(&id, None::<StartContainerOptions>)
        .await
        .expect("start");
    id
}

/// The project's network, as composed creates it before the containers.
async fn create_network(docker: &Docker, network: &str) {
    let _ = docker
        .create_network(NetworkCreateRequest {
            name: network.to_string(),
            ..Default::default()
        })
        .await;
}

/// A container body labelled for cleaning up, joined to `network` under `alias`, as composed
/// joins every service to its project network.
fn on_network(name: &str, network: &str, alias: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        labels: Some(HashMap::from([("floor".to_string(), project_label(name))])),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_string()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_string(),
                EndpointSettings {
                    aliases: Some(vec![alias.to_string()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// Creates and starts containers with a healthcheck and waits until each reported healthy.
async fn ready(docker: &Docker, names: &[String], project: &str, network: &str) {
    use futures_util::StreamExt;
    let filters = HashMap::from([
        ("label".to_string(), vec![format!("floor={project}")]),
        ("event".to_string(), vec!["health_status".to_string()]),
    ]);
    // From a second before the first create: the stream is only opened once polled, and a
    // container can turn healthy before that.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
        - 1;
    let options = bollard::query_parameters::EventsOptionsBuilder::default()
        .filters(&filters)
        .since(&since.to_string())
        .build();
    // Read from the start, beside the creates: the engine keeps only its last 256 events.
    let mut events = docker.events(Some(options));
    let (healthy_tx, mut healthy_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if event.action.as_deref() == Some("health_status: healthy")
                && let Some(id) = event.actor.and_then(|a| a.id)
                && healthy_tx.send(id).is_err()
            {
                return;
            }
        }
    });
    let ids: std::collections::HashSet<String> = join_all(names.iter().enumerate().map(|(i, name)| async move {
        let body = ContainerCreateBody {
            image: Some("composed-test/busybox:1".into()),
            cmd: Some(vec![
                "sh".into(),
                "-c".into(),
                "trap 'exit 0' TERM; sleep 100000 & wait".into(),
            ]),
            healthcheck: Some(bollard::models::HealthConfig {
                test: Some(vec!["CMD".into(), "true".into()]),
                interval: Some(1_000_000_000),
                start_period: Some(30_000_000_000),
                start_interval: Some(1_000_000_000),
                ..Default::default()
            }),
            ..on_network(name, network, &format!("s{i}"))
        };
        create_and_start(docker, name, body).await
    }))
    .await
    .into_iter()
    .collect();
    let mut healthy = std::collections::HashSet::new();
    while healthy.len() < ids.len() {
        let Some(id) = healthy_rx.recv().await else { break };
        if ids.contains(&id) {
            healthy.insert(id);
        }
    }
}

fn project_label(name: &str) -> String {
    name.split('-').next().unwrap_or_default().to_string()
}
