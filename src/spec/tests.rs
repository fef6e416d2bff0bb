//! The mapping's tests: everyday keys, the keys compose maps as they are, anonymous volumes,
//! and the hash (stable, and unchanged for files that use no newer key).

use bollard::models::RestartPolicyNameEnum;

use super::*;

fn project(yaml: &str) -> Project {
    crate::load::test_project(yaml)
}

#[test]
fn maps_the_everyday_keys() {
    let p = project(
        "services:\n  web:\n    image: nginx\n    environment: {A: '1', B: null}\n    ports: ['127.0.0.1:8080:80']\n    expose: ['3000']\n    volumes: ['data:/d', '/srv/app/h:/h:ro']\n    mem_limit: 512m\n    cpus: 0.5\n    stop_grace_period: 30s\n    healthcheck: {test: 'true', interval: 2s}\n    networks: {back: {aliases: [w]}}\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n",
    );
    let s = container_spec(&p, &p.services["web"], 1).unwrap();
    assert_eq!(s.name, "p-web-1");
    let b = &s.body;
    assert_eq!(b.env.as_deref(), Some(&["A=1".to_string(), "B".to_string()][..]));
    let hc = b.host_config.as_ref().unwrap();
    assert_eq!(hc.memory, Some(512 << 20));
    assert_eq!(hc.nano_cpus, Some(500_000_000));
    assert_eq!(
        hc.restart_policy.as_ref().unwrap().name,
        Some(RestartPolicyNameEnum::NO)
    );
    let binding = &hc.port_bindings.as_ref().unwrap()["80/tcp"].as_ref().unwrap()[0];
    assert_eq!(
        (binding.host_ip.as_deref(), binding.host_port.as_deref()),
        (Some("127.0.0.1"), Some("8080"))
    );
    let mounts = hc.mounts.as_ref().unwrap();
    assert_eq!(mounts[0].source.as_deref(), Some("p_data"));
    assert_eq!(mounts[1].read_only, Some(true));
    assert_eq!(hc.network_mode.as_deref(), Some("p_back"));
    let ep = &b.networking_config.as_ref().unwrap().endpoints_config.as_ref().unwrap()["p_back"];
    assert_eq!(
        ep.aliases.as_deref(),
        Some(&["p-web-1".to_string(), "web".to_string(), "w".to_string()][..])
    );
    assert_eq!(b.stop_timeout, Some(30));
    assert_eq!(b.healthcheck.as_ref().unwrap().interval, Some(2_000_000_000));
    assert_eq!(
        b.exposed_ports.as_ref().unwrap(),
        &vec!["3000/tcp".to_string(), "80/tcp".to_string()]
    );
    assert_eq!(b.labels.as_ref().unwrap()[identity::CONFIG_HASH], s.hash);
    assert_eq!(
        b.labels.as_ref().unwrap()[identity::COMPOSE_CONFIG_HASH],
        s.hash,
        "compose's commands list only containers with its label"
    );
}

#[test]
fn a_replacement_keeps_the_old_anonymous_volumes() {
    use crate::engine::VolumeMount;
    let p = project(
        "services:\n  db:\n    image: postgres\n    volumes: ['/anon', 'data:/named', './h:/bound']\n    tmpfs: [/scratch]\nvolumes:\n  data: {}\n",
    );
    let mut body = container_spec(&p, &p.services["db"], 1).unwrap().body;
    let old = |name: &str, target: &str| VolumeMount {
        name: name.into(),
        target: target.into(),
        read_only: false,
    };
    let old_mounts = [
        old("a1", "/anon"),
        old("p_data", "/named"),
        old("i1", "/var/lib/postgresql/data/"),
        old("s1", "/scratch"),
        old("gone", "/no-longer-a-volume"),
    ];
    let image = ["/var/lib/postgresql/data".to_string(), "/scratch".to_string()];
    let named = std::collections::BTreeSet::from(["p_data".to_string()]);
    inherit_anonymous_volumes(&mut body, &old_mounts, &image, &named);
    let mounts = body.host_config.as_ref().unwrap().mounts.clone().unwrap();
    let source_at = |t: &str| {
        mounts
            .iter()
            .find(|m| m.target.as_deref() == Some(t))
            .and_then(|m| m.source.clone())
    };
    assert_eq!(
        source_at("/anon").as_deref(),
        Some("a1"),
        "a `- /anon` volume keeps its volume"
    );
    assert_eq!(source_at("/named").as_deref(), Some("p_data"));
    assert_eq!(
        source_at("/var/lib/postgresql/data/").as_deref(),
        Some("i1"),
        "an image VOLUME keeps its volume"
    );
    assert!(source_at("/scratch").is_none(), "tmpfs stays tmpfs");
    assert!(source_at("/no-longer-a-volume").is_none());
}

#[test]
fn image_volumes_without_a_mount_are_found() {
    let p = project(
        "services:\n  db:\n    image: postgres\n    volumes: ['data:/var/lib/data/']\n    tmpfs: ['/run:size=1m']\nvolumes:\n  data: {}\n",
    );
    let image = ["/var/lib/data".to_string(), "/run".to_string(), "/logs".to_string()];
    assert_eq!(
        unnamed_image_volumes(&p.services["db"], &image),
        vec!["/logs".to_string()]
    );
}

#[test]
fn hash_is_stable_and_changes_with_config() {
    let a = project(
        "services:\n  s:\n    image: x\n    environment: {A: '1', B: '2', C: '3'}\n    labels: {l1: a, l2: b}\n",
    );
    let h1 = container_spec(&a, &a.services["s"], 1).unwrap().hash;
    for _ in 0..20 {
        assert_eq!(
            container_spec(&a, &a.services["s"], 1).unwrap().hash,
            h1,
            "hash must not depend on map order"
        );
    }
    let b = project(
        "services:\n  s:\n    image: x\n    environment: {A: '1', B: '2', C: '4'}\n    labels: {l1: a, l2: b}\n",
    );
    assert_ne!(container_spec(&b, &b.services["s"], 1).unwrap().hash, h1);
}

/// Files that use only keys composed mapped before the compose-spec keys were added: their hash
/// must not move, or an upgrade of composed would recreate every container.
#[test]
fn hash_of_files_without_newer_keys_is_unchanged() {
    let golden = [
        (
            "services:\n  web:\n    image: nginx\n    environment: {A: '1', B: ''}\n    ports: ['127.0.0.1:8080:80']\n    expose: ['3000']\n    volumes: ['data:/d', '/srv/app/h:/h:ro', '/anon']\n    mem_limit: 512m\n    cpus: 0.5\n    stop_grace_period: 30s\n    healthcheck: {test: 'true', interval: 2s}\n    networks: {back: {aliases: [w]}, front: {priority: 5}}\n    cap_add: [NET_ADMIN]\n    ulimits: {nofile: {soft: 10, hard: 20}}\n    logging: {driver: json-file, options: {max-size: 1m}}\n    tmpfs: [/t]\n    user: '1000'\n    command: [a, b]\n    labels: {x: y}\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n  front: {}\n",
            "web",
            "a4ea6b25feb30a0821ef5d6d57ad1a58011ff8d42abd56efb9b7db7ab2aa5684",
        ),
        (
            "services:\n  db:\n    image: postgres:16\n    restart: unless-stopped\n    deploy: {resources: {limits: {memory: 1g, pids: 100}, reservations: {memory: 100m}}}\n    devices: ['/dev/null:/dev/x']\n    sysctls: {net.core.somaxconn: 1024}\n    network_mode: host\n",
            "db",
            "23229f2df4efbafe5d3f01867c9dcb06d5a7f85e264f05cd98e02a9155b02c10",
        ),
    ];
    for (yaml, service, hash) in golden {
        let mut p = project(yaml);
        p.working_dir = "/srv/app".into();
        p.config_files = vec!["/srv/app/compose.yaml".into()];
        assert_eq!(
            container_spec(&p, &p.services[service], 1).unwrap().hash,
            hash,
            "{service}"
        );
    }
}

#[test]
fn compose_spec_keys_reach_the_create_body() {
    let p = project(
        "services:\n  db:\n    image: postgres\n  app:\n    image: app\n    links: ['db:database']\n    external_links: [legacy]\n    volumes_from: ['db:ro', 'container:other']\n    runtime: runc\n    cgroup: host\n    cgroup_parent: parent.slice\n    userns_mode: host\n    uts: host\n    mac_address: '02:42:ac:11:00:09'\n    cpu_quota: 50000\n    cpu_period: 100000\n    mem_swappiness: 10\n    device_cgroup_rules: ['c 1:3 mr']\n    oom_kill_disable: true\n    gpus: all\n    ipc: 'service:db'\n    environment: [UNSET_FOR_TEST_ONLY]\n    volumes: ['data:/data/:z', {type: image, source: alpine, target: /img, image: {subpath: etc}}]\n    networks:\n      back:\n        interface_name: eth7\n        gw_priority: 3\n        driver_opts: {k: v}\n        link_local_ips: ['169.254.1.1']\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n",
    );
    let s = container_spec(&p, &p.services["app"], 1).unwrap();
    let hc = s.body.host_config.as_ref().unwrap();
    assert_eq!(
        hc.links.as_deref().unwrap(),
        ["p-db-1:database", "p-db-1:db-1", "p-db-1:p-db-1", "legacy:legacy"]
    );
    assert_eq!(hc.volumes_from.as_deref().unwrap(), ["p-db-1:ro", "other"]);
    assert_eq!(hc.runtime.as_deref(), Some("runc"));
    assert_eq!(
        hc.cgroupns_mode,
        Some(bollard::models::HostConfigCgroupnsModeEnum::HOST)
    );
    assert_eq!(hc.cgroup_parent.as_deref(), Some("parent.slice"));
    assert_eq!(
        (hc.userns_mode.as_deref(), hc.uts_mode.as_deref()),
        (Some("host"), Some("host"))
    );
    assert_eq!((hc.cpu_quota, hc.cpu_period), (Some(50000), Some(100000)));
    assert_eq!(hc.memory_swappiness, Some(10));
    assert_eq!(hc.device_cgroup_rules.as_deref().unwrap(), ["c 1:3 mr"]);
    assert_eq!(hc.oom_kill_disable, Some(true));
    assert_eq!(hc.ipc_mode.as_deref(), Some("container:p-db-1"));
    let gpu = &hc.device_requests.as_ref().unwrap()[0];
    assert_eq!(
        (gpu.count, gpu.capabilities.clone()),
        (Some(-1), Some(vec![vec!["gpu".to_string()]]))
    );
    assert_eq!(hc.binds.as_deref().unwrap(), ["p_data:/data:rw,z"]);
    let image = &hc.mounts.as_ref().unwrap()[0];
    assert_eq!(image.typ, Some(bollard::models::MountType::IMAGE));
    assert_eq!(image.image_options.as_ref().unwrap().subpath.as_deref(), Some("etc"));
    assert_eq!(s.body.env.as_deref().unwrap(), ["UNSET_FOR_TEST_ONLY"]);
    let ep = &s
        .body
        .networking_config
        .as_ref()
        .unwrap()
        .endpoints_config
        .as_ref()
        .unwrap()["p_back"];
    assert_eq!(ep.mac_address.as_deref(), Some("02:42:ac:11:00:09"));
    assert_eq!(ep.gw_priority, Some(3));
    assert_eq!(ep.driver_opts.as_ref().unwrap()[identity::ENDPOINT_IFNAME], "eth7");
    assert_eq!(ep.driver_opts.as_ref().unwrap()["k"], "v");
    assert_eq!(
        ep.ipam_config.as_ref().unwrap().link_local_ips.as_deref().unwrap(),
        ["169.254.1.1"]
    );
    assert_eq!(ep.links, hc.links);
}

#[test]
fn a_service_mac_that_differs_from_its_network_mac_is_refused() {
    let p = project(
        "services:\n  a:\n    image: x\n    mac_address: '02:00:00:00:00:01'\n    networks: {n: {mac_address: '02:00:00:00:00:02'}}\nnetworks:\n  n: {}\n",
    );
    let e = container_spec(&p, &p.services["a"], 1).unwrap_err();
    assert!(e.message.contains("mac_address"), "{e}");
}

#[test]
fn use_api_socket_mounts_the_socket_and_points_docker_config_at_the_logins() {
    let p = project("services:\n  ci:\n    image: docker\n    use_api_socket: true\n");
    let s = container_spec(&p, &p.services["ci"], 1).unwrap();
    assert!(s.api_socket);
    let hc = s.body.host_config.as_ref().unwrap();
    let m = &hc.mounts.as_ref().unwrap()[0];
    assert_eq!(m.source.as_deref(), Some("/var/run/docker.sock"));
    assert_eq!(s.body.env.as_deref().unwrap(), ["DOCKER_CONFIG=/run/secrets/docker"]);
}
