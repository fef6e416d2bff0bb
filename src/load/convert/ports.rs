//! A service's `ports` and `expose`. The short syntax: `"8080:80"`, `"127.0.0.1:8443:443/tcp"`,
//! `"[::1]:53:53/udp"`, `"9000-9001:9000-9001"`, `53`; and the long form (`target`, `published`,
//! `host_ip`, `protocol`, `mode`, …). Short-form ranges expand into one [`Port`] per container
//! port, as compose does.

use super::ServiceConversion;
use crate::load::decode::Spanned;
use crate::load::raw::{RawPort, RawPortLong};
use crate::model::{Port, Protocol};

impl ServiceConversion<'_, '_> {
    pub(super) fn ports(&mut self, raw: Vec<RawPort>) -> Vec<Port> {
        let mut out = Vec::new();
        for p in raw {
            match p {
                RawPort::Short(s) => match parse_short(&s.value) {
                    Ok(v) => out.extend(v),
                    Err(e) => self.error(
                        &s.loc,
                        format!("invalid port {:?}: {e}", s.value),
                        "write `HOST:CONTAINER`, e.g. `\"8080:80\"` or `\"127.0.0.1:5432:5432/tcp\"`",
                    ),
                },
                RawPort::Long(l) => out.extend(self.long_port(l)),
            }
        }
        out
    }

    fn long_port(&mut self, l: RawPortLong) -> Option<Port> {
        let RawPortLong {
            loc,
            name,
            target,
            published,
            host_ip,
            protocol,
            mode,
            app_protocol,
            extensions: _,
        } = l;
        let Some(target) = target else {
            let loc = loc.unwrap_or_else(|| self.loc.clone());
            self.error(
                &loc,
                "port has no `target`",
                "add `target: PORT`, the port inside the container",
            );
            return None;
        };
        let t = match parse_range(&target.value, "container port") {
            Ok((a, b)) if a == b => a,
            Ok(_) => {
                self.error(
                    &target.loc,
                    "a long-form port `target` is one port, not a range",
                    "list each port separately",
                );
                return None;
            }
            Err(e) => {
                self.error(
                    &target.loc,
                    format!("invalid port: {e}"),
                    "write a port number from 1 to 65535",
                );
                return None;
            }
        };
        if let Some(p) = &published
            && let Err(e) = parse_range(&p.value, "published port")
        {
            self.error(
                &p.loc,
                format!("invalid port: {e}"),
                "write a port number or range from 1 to 65535",
            );
        }
        let protocol = match protocol {
            None => Protocol::Tcp,
            Some(p) => parse_protocol(&p.value).unwrap_or_else(|e| {
                self.error(&p.loc, e, "use tcp, udp or sctp");
                Protocol::Tcp
            }),
        };
        let mode = match mode {
            None => "ingress".to_string(),
            Some(m) if m.value == "host" || m.value == "ingress" => m.value,
            Some(m) => {
                self.error(
                    &m.loc,
                    format!("unknown port mode {:?}", m.value),
                    "use `host` or `ingress`",
                );
                "ingress".to_string()
            }
        };
        Some(Port {
            name,
            mode,
            host_ip,
            target: t,
            published: published.map(|p| p.value),
            protocol,
            app_protocol,
        })
    }

    pub(super) fn expose(&mut self, raw: Vec<Spanned<String>>) -> Vec<String> {
        for e in &raw {
            let (port, proto) = e.value.split_once('/').unwrap_or((&e.value, "tcp"));
            if let Err(msg) = parse_range(port, "exposed port").and_then(|_| parse_protocol(proto)) {
                self.error(
                    &e.loc,
                    format!("invalid `expose` entry {:?}: {msg}", e.value),
                    "write a port, e.g. `\"3000\"` or `\"3000/udp\"`",
                );
            }
        }
        raw.into_iter().map(|e| e.value).collect()
    }
}

/// Parses the short syntax. The error says what is wrong with the text.
fn parse_short(text: &str) -> Result<Vec<Port>, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, parse_protocol(proto)?),
        None => (text, Protocol::Tcp),
    };
    let (host_ip, rest) = split_host_ip(spec)?;
    let (published, target) = match rest.rsplit_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    if let Some(p) = published
        && p.contains(':')
    {
        return Err(format!("too many `:` in {text:?}"));
    }
    let targets = parse_range(target, "container port")?;
    let published = match published {
        Some("") | None => None,
        Some(p) => Some(parse_range(p, "published port")?),
    };
    let port = |target: u16, published: Option<String>| Port {
        name: None,
        mode: "ingress".to_string(),
        host_ip: host_ip.map(str::to_string),
        target,
        published,
        protocol,
        app_protocol: None,
    };
    let (first, last) = targets;
    match published {
        None => Ok((first..=last).map(|t| port(t, None)).collect()),
        Some((pf, pl)) if first == last => {
            let shown = if pf == pl { pf.to_string() } else { format!("{pf}-{pl}") };
            Ok(vec![port(first, Some(shown))])
        }
        Some((pf, pl)) if pl - pf == last - first => Ok((first..=last)
            .zip(pf..=pl)
            .map(|(t, p)| port(t, Some(p.to_string())))
            .collect()),
        Some(_) => Err(format!(
            "the published range and the container range in {text:?} have different lengths"
        )),
    }
}

fn split_host_ip(spec: &str) -> Result<(Option<&str>, &str), String> {
    if let Some(rest) = spec.strip_prefix('[') {
        let (ip, rest) = rest
            .split_once(']')
            .ok_or_else(|| format!("unclosed `[` in {spec:?}"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("expected `:` after `[{ip}]`"))?;
        return Ok((Some(ip), rest));
    }
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.len() {
        1 | 2 => Ok((None, spec)),
        3 => {
            let ip = parts[0];
            if ip.is_empty() {
                // `:8080:80`, `::80`: no address, as compose reads it.
                return Ok((None, &spec[1..]));
            }
            if ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(format!(
                    "{ip:?} is not an IPv4 address (write IPv6 addresses in brackets: `[::1]:80:80`)"
                ));
            }
            Ok((Some(ip), &spec[ip.len() + 1..]))
        }
        _ => Err(format!("too many `:` in {spec:?}")),
    }
}

fn parse_protocol(text: &str) -> Result<Protocol, String> {
    match text {
        "tcp" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        "sctp" => Ok(Protocol::Sctp),
        other => Err(format!("unknown protocol {other:?} (use tcp, udp or sctp)")),
    }
}

/// `80` or `8000-8010`, each from 1 to 65535.
fn parse_range(text: &str, what: &str) -> Result<(u16, u16), String> {
    let number = |s: &str| -> Result<u16, String> {
        match s.trim().parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(n) => Err(format!("{what} {n} is out of range (1-65535)")),
            Err(_) => Err(format!("{what} {s:?} is not a number")),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if a > b {
                return Err(format!("{what} range {text:?} runs backwards"));
            }
            Ok((a, b))
        }
        None => {
            let n = number(text)?;
            Ok((n, n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(text: &str) -> Vec<(Option<String>, u16, Option<String>, Protocol)> {
        parse_short(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.host_ip, p.target, p.published, p.protocol))
            .collect()
    }

    #[test]
    fn short_forms() {
        assert_eq!(short("80"), vec![(None, 80, None, Protocol::Tcp)]);
        assert_eq!(short("8080:80"), vec![(None, 80, Some("8080".into()), Protocol::Tcp)]);
        assert_eq!(
            short("127.0.0.1:8443:443/tcp"),
            vec![(Some("127.0.0.1".into()), 443, Some("8443".into()), Protocol::Tcp)]
        );
        assert_eq!(
            short("127.0.0.1::80"),
            vec![(Some("127.0.0.1".into()), 80, None, Protocol::Tcp)]
        );
        assert_eq!(
            short("[::1]:53:53/udp"),
            vec![(Some("::1".into()), 53, Some("53".into()), Protocol::Udp)]
        );
        assert_eq!(
            short("9000-9001:9000-9001/udp"),
            vec![
                (None, 9000, Some("9000".into()), Protocol::Udp),
                (None, 9001, Some("9001".into()), Protocol::Udp)
            ]
        );
        assert_eq!(
            short("8000-8010:80"),
            vec![(None, 80, Some("8000-8010".into()), Protocol::Tcp)]
        );
        assert_eq!(short("3000-3001").len(), 2);
    }

    #[test]
    fn bad_ports() {
        for bad in [
            "0",
            "70000",
            "80:abc",
            "80/xyz",
            "1:2:3:4",
            "8000-8001:80-82",
            "90-80",
            "host:80:80",
            "[::1:80",
        ] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }
}
