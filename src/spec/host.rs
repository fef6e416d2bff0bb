//! The `HostConfig` of a container, apart from mounts, ports and networks: resources (memory,
//! CPU, pids, ulimits, devices and device requests), namespaces and isolation (privileges,
//! capabilities, cgroup, user namespace, runtime), and the small things (DNS, hosts, logging).
//!
//! A field the file leaves unset stays unset here, so that a service that uses none of a
//! newer key keeps its config hash across upgrades of composed.

use bollard::models::{
    DeviceMapping, DeviceRequest as EngineDeviceRequest, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig,
    ResourcesBlkioWeightDevice, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum, ThrottleDevice,
};

use super::network::shared_namespace;
use crate::model::{BlkioRate, DeviceRequest, Project, ResourceSet, Service, Ulimit};

/// Everything in `HostConfig` a service sets besides mounts, ports and networks.
pub fn host_config(project: &Project, service: &Service) -> Result<HostConfig, String> {
    let mut host = HostConfig {
        // composed owns restarts, so they follow dependency order and health.
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        ..Default::default()
    };
    resources(service, &mut host);
    cpu_and_memory_tunables(service, &mut host);
    block_io(service, &mut host);
    devices(service, &mut host);
    isolation(project, service, &mut host)?;
    naming_and_logging(service, &mut host);
    Ok(host)
}

fn limits(service: &Service) -> Option<&ResourceSet> {
    service.deploy.as_ref()?.resources.as_ref()?.limits.as_ref()
}

fn reservations(service: &Service) -> Option<&ResourceSet> {
    service.deploy.as_ref()?.resources.as_ref()?.reservations.as_ref()
}

fn resources(service: &Service, host: &mut HostConfig) {
    let limits = limits(service);
    host.memory = service.mem_limit.or(limits.and_then(|l| l.memory)).map(|m| m as i64);
    host.memory_reservation = service
        .mem_reservation
        .or(reservations(service).and_then(|r| r.memory))
        .map(|m| m as i64);
    host.memory_swap = service.memswap_limit;
    host.nano_cpus = service.cpus.or(limits.and_then(|l| l.cpus)).map(|c| (c * 1e9) as i64);
    host.cpu_shares = service.cpu_shares;
    host.cpuset_cpus = service.cpuset.clone();
    host.pids_limit = service.pids_limit.or(limits.and_then(|l| l.pids));
    host.oom_score_adj = service.oom_score_adj;
    host.shm_size = service.shm_size.map(|s| s as i64);
    host.ulimits = (!service.ulimits.is_empty()).then(|| service.ulimits.iter().map(ulimit).collect());
}

fn block_io(service: &Service, host: &mut HostConfig) {
    let Some(b) = &service.blkio_config else { return };
    let throttle = |rates: &[BlkioRate]| {
        (!rates.is_empty()).then(|| {
            rates
                .iter()
                .map(|r| ThrottleDevice {
                    path: Some(r.path.clone()),
                    rate: Some(r.rate as i64),
                })
                .collect()
        })
    };
    host.blkio_weight = b.weight;
    host.blkio_weight_device = (!b.weight_device.is_empty()).then(|| {
        b.weight_device
            .iter()
            .map(|w| ResourcesBlkioWeightDevice {
                path: Some(w.path.clone()),
                weight: Some(usize::from(w.weight)),
            })
            .collect()
    });
    host.blkio_device_read_bps = throttle(&b.device_read_bps);
    host.blkio_device_write_bps = throttle(&b.device_write_bps);
    host.blkio_device_read_iops = throttle(&b.device_read_iops);
    host.blkio_device_write_iops = throttle(&b.device_write_iops);
}

fn ulimit((name, u): (&String, &Ulimit)) -> ResourcesUlimits {
    let (soft, hard) = match u {
        Ulimit::Single(n) => (*n, *n),
        Ulimit::Pair { soft, hard } => (*soft, *hard),
    };
    ResourcesUlimits {
        name: Some(name.clone()),
        soft: Some(soft),
        hard: Some(hard),
    }
}

fn cpu_and_memory_tunables(service: &Service, host: &mut HostConfig) {
    host.cpu_quota = service.cpu_quota;
    host.cpu_period = service.cpu_period;
    host.cpu_realtime_runtime = service.cpu_rt_runtime;
    host.cpu_realtime_period = service.cpu_rt_period;
    host.memory_swappiness = service.mem_swappiness.map(|s| s as i64);
    host.oom_kill_disable = service.oom_kill_disable.then_some(true);
    host.cgroup_parent = service.cgroup_parent.clone();
    host.cpu_count = service.cpu_count;
    host.cpu_percent = service.cpu_percent.map(|p| p as i64);
    host.storage_opt = (!service.storage_opt.is_empty()).then(|| service.storage_opt.clone().into_iter().collect());
}

/// Device files, cgroup device rules, and device requests: reserved devices as written, then
/// `gpus` with the `gpu` capability added, as compose sends them.
fn devices(service: &Service, host: &mut HostConfig) {
    host.devices = (!service.devices.is_empty()).then(|| {
        service
            .devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.source.clone()),
                path_in_container: Some(d.target.clone()),
                cgroup_permissions: Some(d.permissions.clone()),
            })
            .collect()
    });
    host.device_cgroup_rules = non_empty(&service.device_cgroup_rules);
    let reserved = reservations(service).map(|r| r.devices.as_slice()).unwrap_or_default();
    let requests: Vec<EngineDeviceRequest> = reserved
        .iter()
        .map(|d| device_request(d, None))
        .chain(service.gpus.iter().map(|d| device_request(d, Some("gpu"))))
        .collect();
    host.device_requests = (!requests.is_empty()).then_some(requests);
}

fn device_request(d: &DeviceRequest, extra_capability: Option<&str>) -> EngineDeviceRequest {
    let mut capabilities = d.capabilities.clone();
    capabilities.extend(extra_capability.map(str::to_string));
    EngineDeviceRequest {
        driver: Some(d.driver.clone().unwrap_or_default()),
        count: d.count,
        device_ids: (!d.device_ids.is_empty()).then(|| d.device_ids.clone()),
        capabilities: Some(vec![capabilities]),
        options: (!d.options.is_empty()).then(|| d.options.clone().into_iter().collect()),
    }
}

/// Privileges, capabilities, namespaces, runtime and init.
fn isolation(project: &Project, service: &Service, host: &mut HostConfig) -> Result<(), String> {
    host.privileged = Some(service.privileged);
    host.cap_add = non_empty(&service.cap_add);
    host.cap_drop = non_empty(&service.cap_drop);
    host.security_opt = non_empty(&service.security_opt);
    host.readonly_rootfs = Some(service.read_only);
    host.init = service.init;
    host.runtime = service.runtime.clone();
    host.userns_mode = service.userns_mode.clone();
    host.uts_mode = service.uts.clone();
    host.cgroupns_mode = service.cgroup.as_deref().map(|c| match c {
        "host" => HostConfigCgroupnsModeEnum::HOST,
        _ => HostConfigCgroupnsModeEnum::PRIVATE,
    });
    host.pid_mode = service
        .pid
        .as_deref()
        .map(|p| shared_namespace(project, p, "pid"))
        .transpose()?;
    host.ipc_mode = service
        .ipc
        .as_deref()
        .map(|p| shared_namespace(project, p, "ipc"))
        .transpose()?;
    host.sysctls = (!service.sysctls.is_empty()).then(|| service.sysctls.clone().into_iter().collect());
    host.annotations = (!service.annotations.is_empty()).then(|| service.annotations.clone().into_iter().collect());
    Ok(())
}

fn naming_and_logging(service: &Service, host: &mut HostConfig) {
    host.dns = non_empty(&service.dns);
    host.dns_search = non_empty(&service.dns_search);
    host.dns_options = non_empty(&service.dns_opt);
    host.extra_hosts = (!service.extra_hosts.is_empty())
        .then(|| service.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect());
    host.group_add = non_empty(&service.group_add);
    host.tmpfs = (!service.tmpfs.is_empty()).then(|| {
        service
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((path, opts)) => (path.to_string(), opts.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect()
    });
    host.log_config = service.logging.as_ref().map(|l| HostConfigLogConfig {
        typ: l.driver.clone(),
        config: Some(
            l.options
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect(),
        ),
    });
}

pub fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}
