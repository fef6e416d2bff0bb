//! Sizes (`512m`, `1G`, `128mb`) and durations (`1m30s`, `10s`, `1.5h`) as compose reads and prints
//! them: sizes are binary multiples (go-units' `RAMInBytes`), durations are Go durations.

use std::time::Duration;

/// Parses a memory size into bytes. `None` when it is not one.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = value * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`). A number with no unit is refused, as Go does.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(number_end);
        let value: f64 = number.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += value * scale;
        rest = tail;
    }
    (nanos.is_finite() && nanos < 1e19).then(|| Duration::from_nanos(nanos.round() as u64))
}

/// Prints a duration the way Go's `time.Duration.String` does (`1m30s`, `1h0m0s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", with_fraction(nanos / scale, nanos % scale, scale));
    }
    let secs_total = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let (h, m, s) = (secs_total / 3600, (secs_total / 60) % 60, secs_total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", with_fraction(s, frac, 1_000_000_000)));
    out
}

fn with_fraction(whole: u128, frac: u128, scale: u128) -> String {
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, want) in [
            ("512m", 536_870_912),
            ("512M", 536_870_912),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("128mb", 128 << 20),
            ("64k", 64 << 10),
            ("1024", 1024),
            ("1.5g", 1_610_612_736),
            ("2 GiB", 2 << 30),
            ("10b", 10),
        ] {
            assert_eq!(parse_size(text), Some(want), "{text}");
        }
        for bad in ["", "m", "1x", "-1m", "1.m", "1..5m", "99999999999999999999999p"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations_round_trip_like_go() {
        for (text, printed) in [
            ("1m30s", "1m30s"),
            ("90s", "1m30s"),
            ("1m", "1m0s"),
            ("10s", "10s"),
            ("1h", "1h0m0s"),
            ("1.5h", "1h30m0s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("2us", "2µs"),
            ("1500us", "1.5ms"),
            ("0", "0s"),
            ("3h2m1s", "3h2m1s"),
        ] {
            let d = parse_duration(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(format_duration(d), printed, "{text}");
        }
        for bad in ["", "10", "s", "1x", "1.5", "-1s", "1 s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
