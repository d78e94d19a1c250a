//! Retry decisions and delays. Jitter comes from a hash of the call, not from a random
//! source, so the engine stays deterministic and replays give the same delays.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use harmonia_model::{Backoff, RetryPolicy};

use crate::event::{CallId, Failure};

/// Whether the policy retries this failure: by kind, or by code.
pub fn retries(policy: &RetryPolicy, failure: &Failure) -> bool {
    policy.retries(&failure.kind, failure.code.as_deref())
}

/// The delay before attempt `attempt + 1`, after attempt `attempt` (from 1) failed.
pub fn delay(policy: &RetryPolicy, execution: &str, call: &CallId, attempt: u32) -> Duration {
    let base = policy.delay.as_secs_f64();
    let n = f64::from(attempt.saturating_sub(1));
    let mut secs = match policy.backoff {
        Backoff::Fixed => base,
        Backoff::Linear => base + base * policy.factor * n,
        Backoff::Exponential => base * policy.factor.powf(n),
    };
    if policy.jitter > 0.0 {
        // A fraction in [-1, 1) from the call's identity.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (execution, call, attempt).hash(&mut hasher);
        let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
        secs *= 1.0 + policy.jitter * (2.0 * unit - 1.0);
    }
    // The cap holds after jitter too.
    if let Some(max) = policy.max_delay {
        secs = secs.min(max.as_secs_f64());
    }
    Duration::from_secs_f64(secs.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            delay: Duration::from_secs(1),
            backoff,
            factor: 2.0,
            max_delay: Some(Duration::from_secs(10)),
            jitter,
            retry_on: vec![],
        }
    }

    #[test]
    fn backoff_shapes() {
        let call = CallId::task("t");
        let d = |b, a| delay(&policy(b, 0.0), "e", &call, a).as_secs_f64();
        assert_eq!([d(Backoff::Fixed, 1), d(Backoff::Fixed, 3)], [1.0, 1.0]);
        assert_eq!([d(Backoff::Linear, 1), d(Backoff::Linear, 2), d(Backoff::Linear, 3)], [1.0, 3.0, 5.0]);
        assert_eq!([d(Backoff::Exponential, 1), d(Backoff::Exponential, 3)], [1.0, 4.0]);
        assert_eq!(d(Backoff::Exponential, 8), 10.0, "capped by max_delay");
    }

    #[test]
    fn jitter_stays_within_bounds_and_is_deterministic() {
        let p = policy(Backoff::Fixed, 0.25);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let call = CallId::item("t", i);
            let d = delay(&p, "exec", &call, 1).as_secs_f64();
            assert!((0.75..=1.25).contains(&d), "{d}");
            assert_eq!(d, delay(&p, "exec", &call, 1).as_secs_f64());
            seen.insert((d * 1000.0) as u64);
        }
        assert!(seen.len() > 100, "jitter spreads delays: {} distinct", seen.len());
    }

    #[test]
    fn retry_on_kinds_and_codes() {
        let mut p = policy(Backoff::Fixed, 0.0);
        let mut f = Failure::new("fatal", "x");
        assert!(!retries(&p, &f));
        assert!(retries(&p, &Failure::new("timeout", "x")));
        p.retry_on = vec!["http-503".into()];
        f.code = Some("http-503".into());
        assert!(retries(&p, &f));
        assert!(!retries(&p, &Failure::new("retryable", "x")));
    }
}
