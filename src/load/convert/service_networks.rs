//! How a service is networked: `network_mode` (a `service:NAME` target is recorded for the
//! dependency checks) and the service's `networks` with their aliases and addresses (recorded
//! for the check against the top-level `networks`).

use std::collections::BTreeMap;

use super::ServiceConversion;
use crate::load::decode::{Keyed, Spanned};
use crate::load::raw::{RawServiceNetwork, RawServiceNetworks};
use crate::model::ServiceNetwork;

impl ServiceConversion<'_, '_> {
    pub(super) fn network_mode(&mut self, mode: Option<Spanned<String>>, has_networks: bool) -> Option<String> {
        let mode = mode?;
        if has_networks {
            self.error(
                &mode.loc,
                "`network_mode` cannot be combined with `networks`",
                "remove one of the two",
            );
        }
        match mode.value.as_str() {
            "bridge" | "host" | "none" | "default" => {}
            v if v.starts_with("container:") => {}
            v if v.starts_with("service:") => {
                let target = v["service:".len()..].to_string();
                self.refs
                    .service_modes
                    .push((self.name.to_string(), target, mode.loc.clone()));
            }
            other => self.error(
                &mode.loc,
                format!("unknown network_mode {other:?}"),
                "use `bridge`, `host`, `none`, `service:NAME` or `container:NAME`",
            ),
        }
        Some(mode.value)
    }

    pub(super) fn service_networks(
        &mut self,
        networks: Option<RawServiceNetworks>,
        has_mode: bool,
    ) -> BTreeMap<String, Option<ServiceNetwork>> {
        let mut out = BTreeMap::new();
        let Some(networks) = networks else {
            if !has_mode {
                out.insert("default".to_string(), None);
                self.refs
                    .networks
                    .push((self.name.to_string(), "default".to_string(), self.loc.clone()));
            }
            return out;
        };
        for Keyed { key, key_loc, value } in networks.0.0 {
            self.refs.networks.push((self.name.to_string(), key.clone(), key_loc));
            for addr in [&value.ipv4_address, &value.ipv6_address].into_iter().flatten() {
                if addr.value.parse::<std::net::IpAddr>().is_err() {
                    self.error(
                        &addr.loc,
                        format!("{:?} is not an IP address", addr.value),
                        "write an address inside the network's subnet, e.g. `172.28.0.10`",
                    );
                }
            }
            // `name: {}` prints as `{}`, a bare name (or `name:`) as null, as compose prints them.
            let written = value.loc.is_some();
            let RawServiceNetwork {
                loc: _,
                aliases,
                ipv4_address,
                ipv6_address,
                priority,
                mac_address,
                interface_name,
                gw_priority,
                driver_opts,
                link_local_ips,
                extensions: _,
            } = value;
            let settings = ServiceNetwork {
                aliases: aliases.unwrap_or_default(),
                ipv4_address: ipv4_address.map(|a| a.value),
                ipv6_address: ipv6_address.map(|a| a.value),
                priority,
                mac_address,
                interface_name,
                gw_priority,
                driver_opts: driver_opts.map(|d| d.into_btree()).unwrap_or_default(),
                link_local_ips: link_local_ips.unwrap_or_default(),
            };
            let empty = settings == ServiceNetwork::default();
            out.insert(key, (written || !empty).then_some(settings));
        }
        out
    }
}
