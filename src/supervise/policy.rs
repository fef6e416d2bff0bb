//! What to do when a container exits or turns unhealthy: a pure decision from the service's
//! restart settings (`restart`, or `deploy.restart_policy`, and `x-composed`).

use std::time::Duration;

use crate::model::{Restart, RestartCondition, Service};

/// The restart settings of one service, reduced to what supervision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRule {
    pub when: When,
    /// Give up after this many restarts in a row (`on-failure:N`, `max_attempts`).
    pub max_attempts: Option<u64>,
    /// The first delay (`restart_policy.delay`), else the backoff default.
    pub initial_delay: Option<Duration>,
    /// Restart a container whose healthcheck reports it unhealthy.
    pub on_unhealthy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Never,
    OnFailure,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Restart after the backoff delay.
    Restart,
    /// Leave it exited (policy says so, or it succeeded under on-failure).
    Leave,
    /// Stop trying: the reason goes to the service's state.
    GiveUp(String),
}

impl RestartRule {
    pub fn of(service: &Service) -> RestartRule {
        let deploy = service.deploy.as_ref().and_then(|d| d.restart_policy.as_ref());
        let (when, max_attempts, initial_delay) = match (deploy, service.restart) {
            (Some(p), _) => (
                match p.when {
                    RestartCondition::None => When::Never,
                    RestartCondition::OnFailure => When::OnFailure,
                    RestartCondition::Any | RestartCondition::UnlessStopped => When::Always,
                },
                p.max_attempts,
                p.delay,
            ),
            (None, Some(Restart::Always | Restart::UnlessStopped)) => (When::Always, None, None),
            (None, Some(Restart::OnFailure(n))) => (When::OnFailure, n, None),
            (None, Some(Restart::No) | None) => (When::Never, None, None),
        };
        let on_unhealthy = service.composed.restart_on_unhealthy.unwrap_or(when != When::Never);
        RestartRule {
            when,
            max_attempts,
            initial_delay,
            on_unhealthy,
        }
    }

    /// After a container exited with `exit_code`, having been restarted `attempts` times in a row.
    pub fn on_exit(&self, exit_code: i64, attempts: u32) -> Decision {
        let wanted = match self.when {
            When::Never => false,
            When::OnFailure => exit_code != 0,
            When::Always => true,
        };
        if !wanted {
            return Decision::Leave;
        }
        match self.max_attempts {
            Some(max) if u64::from(attempts) >= max => Decision::GiveUp(format!(
                "exited with code {exit_code} after {attempts} restarts (limit {max})"
            )),
            _ => Decision::Restart,
        }
    }

    /// After the container turned unhealthy.
    pub fn on_unhealthy(&self, attempts: u32) -> Decision {
        if !self.on_unhealthy {
            return Decision::Leave;
        }
        match self.max_attempts {
            Some(max) if u64::from(attempts) >= max => {
                Decision::GiveUp(format!("unhealthy after {attempts} restarts (limit {max})"))
            }
            _ => Decision::Restart,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml_service: &str) -> RestartRule {
        let p = crate::load::test_project(&format!("services:\n  s:\n    image: x\n{yaml_service}"));
        RestartRule::of(&p.services["s"])
    }

    #[test]
    fn decisions() {
        let no = rule("");
        assert_eq!(no.on_exit(1, 0), Decision::Leave);
        assert!(!no.on_unhealthy);

        let always = rule("    restart: always\n");
        assert_eq!(always.on_exit(0, 0), Decision::Restart);
        assert_eq!(always.on_unhealthy(3), Decision::Restart);

        let on_failure = rule("    restart: on-failure:2\n");
        assert_eq!(on_failure.on_exit(0, 0), Decision::Leave);
        assert_eq!(on_failure.on_exit(1, 1), Decision::Restart);
        assert!(matches!(on_failure.on_exit(1, 2), Decision::GiveUp(r) if r.contains("limit 2")));

        let deploy = rule("    deploy:\n      restart_policy: {condition: any, delay: 3s, max_attempts: 5}\n");
        assert_eq!(
            (deploy.when, deploy.max_attempts, deploy.initial_delay),
            (When::Always, Some(5), Some(Duration::from_secs(3)))
        );

        let opted_out = rule("    restart: always\n    x-composed: {restart-on-unhealthy: false}\n");
        assert_eq!(opted_out.on_unhealthy(0), Decision::Leave);
        let opted_in = rule("    x-composed: {restart-on-unhealthy: true}\n");
        assert_eq!(opted_in.on_unhealthy(0), Decision::Restart);
    }
}
