//! Restart backoff: an iterator of delays that doubles from `initial` up to `max`, and starts over
//! once a container has run for `reset_after` without dying.
//!
//! Defaults, compared with the systems in `shared/notes/anchors.md`: kubelet waits 10 s doubling
//! to 300 s (newer: 1 s to 60 s) and resets after 10 minutes without a crash; systemd restarts
//! after `RestartSec=` (100 ms) and gives up after 5 starts in 10 s; Docker's `restart: always`
//! waits 100 ms doubling to 1 minute and resets after 10 s of running. composed restarts the first
//! time at once, then waits 100 ms doubling to 60 s, reset after 5 minutes of running: the first
//! restart is quicker than Docker's own, a crash loop settles at one attempt a minute (never spinning the CPU, and never reset by a
//! container that crashes after 10 s), and a service that recovered gets quick restarts again.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub reset_after: Duration,
    /// The first restart after a reset happens at once; the delays start with the second.
    pub immediate_first: bool,
    next: Duration,
    attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            immediate_first: true,
            ..Backoff::new(
                Duration::from_millis(100),
                Duration::from_secs(60),
                Duration::from_secs(300),
            )
        }
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, reset_after: Duration) -> Self {
        Backoff {
            initial,
            max,
            reset_after,
            immediate_first: false,
            next: initial,
            attempts: 0,
        }
    }

    /// How many restarts this backoff has handed out since its last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A container that ran for `ran` before it died: resets the backoff when that was long enough.
    pub fn observe_run(&mut self, ran: Duration) {
        if ran >= self.reset_after {
            self.reset();
        }
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
        self.attempts = 0;
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.immediate_first && self.attempts == 0 {
            self.attempts = 1;
            return Some(Duration::ZERO);
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        self.attempts += 1;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let first: Vec<u128> = b.by_ref().take(12).map(|d| d.as_millis()).collect();
        assert_eq!(
            first,
            vec![0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000]
        );
        assert_eq!(b.attempts(), 12);
        b.observe_run(Duration::from_secs(10));
        assert_eq!(b.next(), Some(Duration::from_secs(60)), "a short run does not reset");
        b.observe_run(Duration::from_secs(300));
        assert_eq!(b.attempts(), 0);
        assert_eq!(
            b.next(),
            Some(Duration::ZERO),
            "the first restart after a reset is immediate"
        );
        assert_eq!(b.next(), Some(Duration::from_millis(100)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_crash_loop_waits_out_its_delays() {
        // On paused time: ten restarts of a container that dies at once take the sum of the
        // delays, so a crash loop cannot spin.
        let start = tokio::time::Instant::now();
        let mut b = Backoff::default();
        for _ in 0..10 {
            tokio::time::sleep(b.next().unwrap()).await;
        }
        let want_ms = 100 + 200 + 400 + 800 + 1600 + 3200 + 6400 + 12800 + 25600;
        assert_eq!(start.elapsed(), Duration::from_millis(want_ms));
    }
}
