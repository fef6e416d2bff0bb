//! The engine's own floor for the reconcile benchmark (`bench/reconcile.sh`): the same container
//! creates and starts (or stops and removes) composed makes, sent straight to the Engine API
//! through bollard with full parallelism and nothing else. Prints the elapsed seconds.
//!
//! `cargo bench --bench engine_floor -- up N PROJECT` / `-- down N PROJECT`

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
            let _ = docker
                .create_network(NetworkCreateRequest {
                    name: network.clone(),
                    ..Default::default()
                })
                .await;
            join_all(names.iter().enumerate().map(|(i, name)| {
                let docker = docker.clone();
                let network = network.clone();
                async move {
                    let body = ContainerCreateBody {
                        image: Some("composed-test/server:1".into()),
                        labels: Some(HashMap::from([("floor".to_string(), project_label(name))])),
                        host_config: Some(HostConfig {
                            network_mode: Some(network.clone()),
                            ..Default::default()
                        }),
                        networking_config: Some(NetworkingConfig {
                            endpoints_config: Some(HashMap::from([(
                                network,
                                EndpointSettings {
                                    aliases: Some(vec![format!("s{i}")]),
                                    ..Default::default()
                                },
                            )])),
                        }),
                        ..Default::default()
                    };
                    let id = docker
                        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
                        .await
                        .expect("create")
                        .id;
                    docker
                        .start_container(&id, None::<StartContainerOptions>)
                        .await
                        .expect("start");
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
        other => panic!("unknown mode {other}"),
    }
    println!("{:.3}", t0.elapsed().as_secs_f64());
}

fn project_label(name: &str) -> String {
    name.split('-').next().unwrap_or_default().to_string()
}
