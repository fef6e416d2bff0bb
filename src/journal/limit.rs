//! A per-container limit on forwarded lines, so one chatty container cannot push every other
//! unit's logs out of the journal: at most `burst` lines per `interval`; the rest of the interval
//! is dropped, counted, and reported in one entry when the next interval begins (or when
//! forwarding ends). Set with `COMPOSED_LOG_RATE_LIMIT=LINES/SECONDS` (`0` turns it off);
//! the default is journald's own default for a unit, 10000 lines per 30 s, per container.

use std::time::{Duration, Instant};

/// The environment variable that sets the limit.
pub const ENV: &str = "COMPOSED_LOG_RATE_LIMIT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub burst: u64,
    pub interval: Duration,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            burst: 10_000,
            interval: Duration::from_secs(30),
        }
    }
}

impl Limit {
    /// `LINES/SECONDS`, or `0` for no limit (`None`); anything else is an error to report.
    pub fn parse(text: &str) -> Result<Option<Limit>, String> {
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let parsed = text.split_once('/').and_then(|(lines, secs)| {
            let burst = lines.trim().parse::<u64>().ok().filter(|b| *b > 0)?;
            let secs = secs.trim().parse::<u64>().ok().filter(|s| *s > 0)?;
            Some(Limit {
                burst,
                interval: Duration::from_secs(secs),
            })
        });
        parsed
            .map(Some)
            .ok_or_else(|| format!("{ENV}={text:?} is not LINES/SECONDS (e.g. 10000/30) or 0"))
    }

    /// From the environment: the default when unset, with a warning when malformed.
    pub fn from_env() -> Option<Limit> {
        match std::env::var(ENV) {
            Err(_) => Some(Limit::default()),
            Ok(text) => Limit::parse(&text).unwrap_or_else(|e| {
                tracing::warn!(
                    "{e}; using the default {}/{}",
                    Limit::default().burst,
                    Limit::default().interval.as_secs()
                );
                Some(Limit::default())
            }),
        }
    }
}

/// The state of one container's limit.
#[derive(Debug)]
pub struct Window {
    limit: Option<Limit>,
    started: Instant,
    sent: u64,
    suppressed: u64,
}

/// What to do with a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Send,
    /// Send it, after reporting this many lines dropped in the interval that just ended.
    SendAfterDropped(u64),
    Drop,
}

impl Window {
    pub fn new(limit: Option<Limit>, now: Instant) -> Window {
        Window {
            limit,
            started: now,
            sent: 0,
            suppressed: 0,
        }
    }

    pub fn admit(&mut self, now: Instant) -> Admit {
        let Some(limit) = self.limit else { return Admit::Send };
        let mut dropped = 0;
        if now.duration_since(self.started) >= limit.interval {
            dropped = std::mem::take(&mut self.suppressed);
            self.started = now;
            self.sent = 0;
        }
        if self.sent >= limit.burst {
            self.suppressed += 1;
            return Admit::Drop;
        }
        self.sent += 1;
        match dropped {
            0 => Admit::Send,
            n => Admit::SendAfterDropped(n),
        }
    }

    pub fn limit(&self) -> Option<Limit> {
        self.limit
    }

    /// Lines dropped and not reported yet (reported when forwarding ends).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_drops_then_one_report() {
        let t0 = Instant::now();
        let mut w = Window::new(
            Some(Limit {
                burst: 3,
                interval: Duration::from_secs(10),
            }),
            t0,
        );
        let seen: Vec<Admit> = (0..5).map(|_| w.admit(t0)).collect();
        assert_eq!(seen, [Admit::Send, Admit::Send, Admit::Send, Admit::Drop, Admit::Drop]);
        assert_eq!(w.admit(t0 + Duration::from_secs(10)), Admit::SendAfterDropped(2));
        assert_eq!(w.admit(t0 + Duration::from_secs(11)), Admit::Send);
        assert_eq!(w.take_dropped(), 0);
    }

    #[test]
    fn no_limit_sends_everything_and_the_setting_parses() {
        let mut w = Window::new(None, Instant::now());
        assert!((0..100_000).all(|_| w.admit(Instant::now()) == Admit::Send));
        assert_eq!(Limit::parse("0"), Ok(None));
        assert_eq!(
            Limit::parse("500/10"),
            Ok(Some(Limit {
                burst: 500,
                interval: Duration::from_secs(10)
            }))
        );
        assert!(Limit::parse("fast").is_err());
        assert!(Limit::parse("0/10").is_err());
    }
}
