//! The raw model: a mirror of the compose file, every key optional, nothing validated beyond its
//! shape. [`convert`](super::convert) turns it into the validated [`Project`](crate::model::Project).
//! Keys are listed here exactly as the compose specification spells them; a key that is not listed
//! is refused by name when the file is decoded.

use crate::load::decode::{Cx, Decode, ListOrMap, Map, Spanned, StrOrList};
use crate::yaml::{Kind, Node};
use crate::{decode_struct, short_or_long};

decode_struct! {
    /// A whole compose file after merging, `include` and `extends`.
    pub struct RawProject {
        name: Spanned<String> = "name",
        version: Spanned<String> = "version",
        include: Node = "include",
        services: Map<RawService> = "services",
        networks: Map<Option<RawNetwork>> = "networks",
        volumes: Map<Option<RawVolume>> = "volumes",
        secrets: Map<RawFileObject> = "secrets",
        configs: Map<RawFileObject> = "configs",
    }
}

decode_struct! {
    pub struct RawService {
        image: Spanned<String> = "image",
        build: RawBuildOrContext = "build",
        command: Spanned<StrOrList> = "command",
        entrypoint: Spanned<StrOrList> = "entrypoint",
        environment: ListOrMap = "environment",
        env_file: RawEnvFiles = "env_file",
        ports: Vec<RawPort> = "ports",
        expose: Vec<Spanned<String>> = "expose",
        volumes: Vec<RawMount> = "volumes",
        depends_on: RawDependsOn = "depends_on",
        healthcheck: RawHealthcheck = "healthcheck",
        restart: Spanned<String> = "restart",
        deploy: RawDeploy = "deploy",
        mem_limit: Spanned<String> = "mem_limit",
        mem_reservation: Spanned<String> = "mem_reservation",
        memswap_limit: Spanned<String> = "memswap_limit",
        cpus: Spanned<f64> = "cpus",
        cpu_shares: i64 = "cpu_shares",
        cpuset: String = "cpuset",
        pids_limit: i64 = "pids_limit",
        oom_score_adj: i64 = "oom_score_adj",
        ulimits: Map<RawUlimit> = "ulimits",
        logging: RawLogging = "logging",
        labels: ListOrMap = "labels",
        container_name: Spanned<String> = "container_name",
        hostname: String = "hostname",
        domainname: String = "domainname",
        user: String = "user",
        group_add: Vec<String> = "group_add",
        working_dir: String = "working_dir",
        networks: RawServiceNetworks = "networks",
        network_mode: Spanned<String> = "network_mode",
        extra_hosts: RawExtraHosts = "extra_hosts",
        dns: StrOrList = "dns",
        dns_search: StrOrList = "dns_search",
        dns_opt: Vec<String> = "dns_opt",
        cap_add: Vec<String> = "cap_add",
        cap_drop: Vec<String> = "cap_drop",
        privileged: bool = "privileged",
        devices: Vec<RawDevice> = "devices",
        tmpfs: StrOrList = "tmpfs",
        read_only: bool = "read_only",
        init: bool = "init",
        tty: bool = "tty",
        stdin_open: bool = "stdin_open",
        stop_signal: String = "stop_signal",
        stop_grace_period: Spanned<String> = "stop_grace_period",
        sysctls: ListOrMap = "sysctls",
        security_opt: Vec<String> = "security_opt",
        shm_size: Spanned<String> = "shm_size",
        pid: String = "pid",
        ipc: String = "ipc",
        secrets: Vec<RawFileRef> = "secrets",
        configs: Vec<RawFileRef> = "configs",
        pull_policy: Spanned<String> = "pull_policy",
        scale: Spanned<u64> = "scale",
        profiles: Vec<String> = "profiles",
        platform: String = "platform",
        extends: Node = "extends",
        links: Vec<Spanned<String>> = "links",
        external_links: Vec<String> = "external_links",
        volumes_from: Vec<Spanned<String>> = "volumes_from",
        runtime: String = "runtime",
        cgroup: Spanned<String> = "cgroup",
        cgroup_parent: String = "cgroup_parent",
        userns_mode: String = "userns_mode",
        uts: String = "uts",
        mac_address: String = "mac_address",
        cpu_quota: Spanned<i64> = "cpu_quota",
        cpu_period: Spanned<i64> = "cpu_period",
        cpu_rt_runtime: Spanned<i64> = "cpu_rt_runtime",
        cpu_rt_period: Spanned<i64> = "cpu_rt_period",
        mem_swappiness: Spanned<i64> = "mem_swappiness",
        device_cgroup_rules: Vec<String> = "device_cgroup_rules",
        oom_kill_disable: bool = "oom_kill_disable",
        annotations: ListOrMap = "annotations",
        storage_opt: Map<String> = "storage_opt",
        gpus: RawGpus = "gpus",
        post_start: Vec<RawHook> = "post_start",
        pre_stop: Vec<RawHook> = "pre_stop",
        use_api_socket: bool = "use_api_socket",
        pull_refresh_after: Spanned<String> = "pull_refresh_after",
        blkio_config: RawBlkio = "blkio_config",
        cpu_count: i64 = "cpu_count",
        cpu_percent: f64 = "cpu_percent",
        attach: bool = "attach",
        label_file: StrOrList = "label_file",
    }
}

decode_struct! {
    /// `blkio_config`: block IO weight and limits.
    pub struct RawBlkio {
        weight: u16 = "weight",
        weight_device: Vec<RawBlkioWeight> = "weight_device",
        device_read_bps: Vec<RawBlkioRate> = "device_read_bps",
        device_write_bps: Vec<RawBlkioRate> = "device_write_bps",
        device_read_iops: Vec<RawBlkioRate> = "device_read_iops",
        device_write_iops: Vec<RawBlkioRate> = "device_write_iops",
    }
}
decode_struct! {
    pub struct RawBlkioWeight {
        path: String = "path",
        weight: u16 = "weight",
    }
}
decode_struct! {
    pub struct RawBlkioRate {
        path: String = "path",
        rate: Spanned<String> = "rate",
    }
}

decode_struct! {
    /// A request for GPUs or other devices (`gpus`, `deploy.resources.reservations.devices`).
    pub struct RawDeviceRequest {
        capabilities: Vec<String> = "capabilities",
        count: Spanned<String> = "count",
        device_ids: Vec<String> = "device_ids",
        driver: String = "driver",
        options: Map<String> = "options",
    }
}

/// `gpus: all`, or a list of device requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RawGpus(pub Vec<RawDeviceRequest>);

impl Decode for RawGpus {
    const EXPECTED: &'static str = "`all` or a list of device requests";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            Kind::Scalar(_) => {
                let all = Spanned::<String>::decode(node, cx)?;
                Some(RawGpus(vec![RawDeviceRequest {
                    loc: Some(node.loc.clone()),
                    count: Some(all),
                    ..RawDeviceRequest::default()
                }]))
            }
            _ => Vec::<RawDeviceRequest>::decode(node, cx).map(RawGpus),
        }
    }
}

decode_struct! {
    /// A lifecycle hook: a command run in the container after it starts or before it stops.
    pub struct RawHook {
        command: Spanned<StrOrList> = "command",
        user: String = "user",
        privileged: bool = "privileged",
        working_dir: String = "working_dir",
        environment: ListOrMap = "environment",
    }
}

decode_struct! {
    pub struct RawBuild {
        context: Spanned<String> = "context",
        dockerfile: String = "dockerfile",
        args: ListOrMap = "args",
        target: String = "target",
        labels: ListOrMap = "labels",
        network: String = "network",
        cache_from: Vec<String> = "cache_from",
        extra_hosts: RawExtraHosts = "extra_hosts",
        shm_size: Spanned<String> = "shm_size",
        pull: bool = "pull",
        no_cache: bool = "no_cache",
        dockerfile_inline: Spanned<String> = "dockerfile_inline",
        additional_contexts: ListOrMap = "additional_contexts",
        secrets: Vec<RawFileRef> = "secrets",
        ssh: StrOrList = "ssh",
        tags: Vec<String> = "tags",
        platforms: Vec<String> = "platforms",
        privileged: bool = "privileged",
        entitlements: Vec<String> = "entitlements",
        cache_to: Vec<String> = "cache_to",
        ulimits: Map<RawUlimit> = "ulimits",
        isolation: String = "isolation",
        provenance: String = "provenance",
        sbom: String = "sbom",
    }
}

/// `build: ./dir` or `build: {context: ./dir, ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawBuildOrContext(pub RawBuild);

impl Decode for RawBuildOrContext {
    const EXPECTED: &'static str = "a build context path or a mapping";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            Kind::Scalar(_) => {
                let context = Spanned::<String>::decode(node, cx)?;
                Some(RawBuildOrContext(RawBuild {
                    loc: Some(node.loc.clone()),
                    context: Some(context),
                    ..RawBuild::default()
                }))
            }
            _ => RawBuild::decode(node, cx).map(RawBuildOrContext),
        }
    }
}

decode_struct! {
    pub struct RawEnvFileLong {
        path: Spanned<String> = "path",
        required: bool = "required",
        format: Spanned<String> = "format",
    }
}
short_or_long! {
    /// An `env_file` entry: a path, or `{path, required}`.
    pub enum RawEnvFile { Short, Long(RawEnvFileLong) }
}

/// `env_file: path` is a one-entry list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawEnvFiles(pub Vec<RawEnvFile>);

impl Decode for RawEnvFiles {
    const EXPECTED: &'static str = "a path or a list of paths";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    cx.push(format!("[{i}]"));
                    out.extend(RawEnvFile::decode(item, cx));
                    cx.pop();
                }
                Some(RawEnvFiles(out))
            }
            _ => RawEnvFile::decode(node, cx).map(|e| RawEnvFiles(vec![e])),
        }
    }
}

decode_struct! {
    pub struct RawPortLong {
        name: String = "name",
        target: Spanned<String> = "target",
        published: Spanned<String> = "published",
        host_ip: String = "host_ip",
        protocol: Spanned<String> = "protocol",
        mode: Spanned<String> = "mode",
        app_protocol: String = "app_protocol",
    }
}
short_or_long! {
    pub enum RawPort { Short, Long(RawPortLong) }
}

decode_struct! {
    pub struct RawBindOptions {
        propagation: String = "propagation",
        create_host_path: bool = "create_host_path",
        selinux: String = "selinux",
        recursive: Spanned<String> = "recursive",
    }
}
decode_struct! {
    pub struct RawVolumeOptions {
        nocopy: bool = "nocopy",
        subpath: String = "subpath",
        labels: ListOrMap = "labels",
    }
}
decode_struct! {
    pub struct RawImageOptions {
        subpath: String = "subpath",
    }
}
decode_struct! {
    pub struct RawTmpfsOptions {
        size: Spanned<String> = "size",
        mode: Spanned<String> = "mode",
    }
}
decode_struct! {
    pub struct RawMountLong {
        kind: Spanned<String> = "type",
        source: Spanned<String> = "source",
        target: Spanned<String> = "target",
        read_only: bool = "read_only",
        consistency: String = "consistency",
        bind: RawBindOptions = "bind",
        volume: RawVolumeOptions = "volume",
        tmpfs: RawTmpfsOptions = "tmpfs",
        image: RawImageOptions = "image",
    }
}
short_or_long! {
    pub enum RawMount { Short, Long(RawMountLong) }
}

decode_struct! {
    pub struct RawDependency {
        condition: Spanned<String> = "condition",
        restart: bool = "restart",
        required: bool = "required",
    }
}

/// `depends_on` as a list of names or as a mapping of names to conditions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawDependsOn(pub Map<RawDependency>);

impl Decode for RawDependsOn {
    const EXPECTED: &'static str = "a list of service names or a mapping";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        names_or_map(node, cx).map(RawDependsOn)
    }
}

/// Decodes a list of names (each with default settings) or a mapping of names to settings.
fn names_or_map<T: Decode + Default>(node: &Node, cx: &mut Cx) -> Option<Map<T>> {
    match &node.kind {
        Kind::Seq(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                cx.push(format!("[{i}]"));
                if let Some(key) = String::decode(item, cx) {
                    out.push(crate::load::decode::Keyed {
                        key,
                        key_loc: item.loc.clone(),
                        value: T::default(),
                    });
                }
                cx.pop();
            }
            Some(Map(out))
        }
        _ => {
            let map = Map::<Option<T>>::decode(node, cx)?;
            Some(Map(map
                .0
                .into_iter()
                .map(|k| crate::load::decode::Keyed {
                    key: k.key,
                    key_loc: k.key_loc,
                    value: k.value.unwrap_or_default(),
                })
                .collect()))
        }
    }
}

decode_struct! {
    pub struct RawHealthcheck {
        test: Spanned<StrOrList> = "test",
        interval: Spanned<String> = "interval",
        timeout: Spanned<String> = "timeout",
        retries: u64 = "retries",
        start_period: Spanned<String> = "start_period",
        start_interval: Spanned<String> = "start_interval",
        disable: bool = "disable",
    }
}

decode_struct! {
    pub struct RawResourceSet {
        cpus: Spanned<f64> = "cpus",
        memory: Spanned<String> = "memory",
        pids: i64 = "pids",
        devices: Vec<RawDeviceRequest> = "devices",
        generic_resources: Node = "generic_resources",
    }
}
decode_struct! {
    pub struct RawResources {
        limits: RawResourceSet = "limits",
        reservations: RawResourceSet = "reservations",
    }
}
decode_struct! {
    pub struct RawRestartPolicy {
        condition: Spanned<String> = "condition",
        delay: Spanned<String> = "delay",
        max_attempts: u64 = "max_attempts",
        window: Spanned<String> = "window",
    }
}
decode_struct! {
    pub struct RawDeploy {
        mode: Spanned<String> = "mode",
        replicas: Spanned<u64> = "replicas",
        resources: RawResources = "resources",
        restart_policy: RawRestartPolicy = "restart_policy",
        labels: ListOrMap = "labels",
        update_config: Node = "update_config",
        rollback_config: Node = "rollback_config",
        placement: Node = "placement",
        endpoint_mode: Node = "endpoint_mode",
    }
}

decode_struct! {
    pub struct RawUlimitPair {
        soft: i64 = "soft",
        hard: i64 = "hard",
    }
}

/// `nofile: 1024` or `nofile: {soft: 1024, hard: 2048}`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawUlimit {
    Single(Spanned<i64>),
    Pair(RawUlimitPair),
}

impl Decode for RawUlimit {
    const EXPECTED: &'static str = "a number or a mapping with `soft` and `hard`";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.kind {
            Kind::Map(_) => RawUlimitPair::decode(node, cx).map(RawUlimit::Pair),
            _ => Spanned::<i64>::decode(node, cx).map(RawUlimit::Single),
        }
    }
}

decode_struct! {
    pub struct RawLogging {
        driver: String = "driver",
        options: Map<Option<String>> = "options",
    }
}

decode_struct! {
    pub struct RawServiceNetwork {
        aliases: Vec<String> = "aliases",
        ipv4_address: Spanned<String> = "ipv4_address",
        ipv6_address: Spanned<String> = "ipv6_address",
        priority: i64 = "priority",
        mac_address: String = "mac_address",
        interface_name: String = "interface_name",
        gw_priority: i64 = "gw_priority",
        driver_opts: Map<String> = "driver_opts",
        link_local_ips: Vec<String> = "link_local_ips",
    }
}

/// A service's `networks`: a list of names or a mapping of names to settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawServiceNetworks(pub Map<RawServiceNetwork>);

impl Decode for RawServiceNetworks {
    const EXPECTED: &'static str = "a list of network names or a mapping";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        names_or_map(node, cx).map(RawServiceNetworks)
    }
}

/// `extra_hosts` as a list of `host:ip` / `host=ip` or a mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawExtraHosts(pub ListOrMap);

impl Decode for RawExtraHosts {
    const EXPECTED: &'static str = "a list of `host=ip` strings or a mapping";
    fn decode(node: &Node, cx: &mut Cx) -> Option<Self> {
        // A mapping may give one host several addresses: `host: [ip1, ip2]`.
        if let Kind::Map(entries) = &node.kind
            && entries.iter().any(|e| matches!(e.value.kind, Kind::Seq(_)))
        {
            return several_addresses(entries, cx);
        }
        // A list keeps every entry: one host may be listed with several addresses.
        if let Kind::Seq(items) = &node.kind {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                cx.push(format!("[{i}]"));
                if let Some(text) = String::decode(item, cx) {
                    out.push(host_entry(text, item.loc.clone()));
                }
                cx.pop();
            }
            return Some(RawExtraHosts(ListOrMap(out)));
        }
        ListOrMap::decode_with(node, cx, &['=']).map(RawExtraHosts)
    }
}

/// `host=ip`, or the older `host:ip` split at the first colon (IPv6 addresses have more).
fn host_entry(text: String, loc: crate::diag::Loc) -> crate::load::decode::Keyed<Option<String>> {
    let (key, value) = match text.split_once('=').or_else(|| text.split_once(':')) {
        Some((host, ip)) => (host.to_string(), Some(ip.to_string())),
        None => (text, None),
    };
    crate::load::decode::Keyed {
        key,
        key_loc: loc,
        value,
    }
}

/// `extra_hosts` as a mapping whose values may be lists: one entry per address.
fn several_addresses(entries: &[crate::yaml::Entry], cx: &mut Cx) -> Option<RawExtraHosts> {
    let mut out = Vec::new();
    for e in entries {
        cx.push(e.key.clone());
        let addresses = match &e.value.kind {
            Kind::Seq(_) => Vec::<String>::decode(&e.value, cx),
            _ => String::decode(&e.value, cx).map(|a| vec![a]),
        };
        cx.pop();
        for address in addresses.unwrap_or_default() {
            out.push(crate::load::decode::Keyed {
                key: e.key.clone(),
                key_loc: e.key_loc.clone(),
                value: Some(address),
            });
        }
    }
    Some(RawExtraHosts(ListOrMap(out)))
}

decode_struct! {
    pub struct RawDeviceLong {
        source: Spanned<String> = "source",
        target: String = "target",
        permissions: String = "permissions",
    }
}
short_or_long! {
    /// A `devices` entry: `/dev/host[:/dev/container[:rwm]]`, or `{source, target, permissions}`.
    pub enum RawDevice { Short, Long(RawDeviceLong) }
}

decode_struct! {
    pub struct RawFileRefLong {
        source: Spanned<String> = "source",
        target: String = "target",
        uid: String = "uid",
        gid: String = "gid",
        mode: Spanned<String> = "mode",
    }
}
short_or_long! {
    /// A service's `secrets`/`configs` entry: a name, or `{source, target, uid, gid, mode}`.
    pub enum RawFileRef { Short, Long(RawFileRefLong) }
}

decode_struct! {
    pub struct RawIpamPool {
        subnet: Spanned<String> = "subnet",
        ip_range: String = "ip_range",
        gateway: String = "gateway",
        aux_addresses: Map<String> = "aux_addresses",
    }
}
decode_struct! {
    pub struct RawIpam {
        driver: String = "driver",
        config: Vec<RawIpamPool> = "config",
        options: Map<String> = "options",
    }
}
decode_struct! {
    pub struct RawNetwork {
        name: String = "name",
        driver: String = "driver",
        driver_opts: Map<String> = "driver_opts",
        ipam: RawIpam = "ipam",
        internal: bool = "internal",
        attachable: bool = "attachable",
        enable_ipv6: bool = "enable_ipv6",
        external: Spanned<bool> = "external",
        labels: ListOrMap = "labels",
    }
}
decode_struct! {
    pub struct RawVolume {
        name: String = "name",
        driver: String = "driver",
        driver_opts: Map<String> = "driver_opts",
        external: Spanned<bool> = "external",
        labels: ListOrMap = "labels",
    }
}
decode_struct! {
    /// A top-level secret or config.
    pub struct RawFileObject {
        name: String = "name",
        file: Spanned<String> = "file",
        environment: Spanned<String> = "environment",
        content: String = "content",
        external: Spanned<bool> = "external",
        labels: ListOrMap = "labels",
    }
}

decode_struct! {
    /// A service's `x-composed` block: composed's own settings.
    pub struct RawComposedSettings {
        restart_on_unhealthy: bool = "restart-on-unhealthy",
        rollback: bool = "rollback",
        ready_within: Spanned<String> = "ready-within",
        stable_for: Spanned<String> = "stable-for",
    }
}
