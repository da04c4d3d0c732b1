//! The call policy both clients share: each attempt's budget, which failures are retried, the
//! backoff between tries, and the metrics of a finished call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Call;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::name::Target;

/// A failed attempt: the error, and whether it provably never reached the server (nothing
/// connected, a stream refused, or above a GOAWAY's last stream): only those are retried,
/// unless the call is idempotent.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What the caller gets if no retry follows.
    pub error: Error,
    /// The server cannot have processed the request.
    pub not_sent: bool,
}

impl Failure {
    /// A failure that may have reached the server.
    pub fn sent(error: Error) -> Failure {
        Failure {
            error,
            not_sent: false,
        }
    }

    /// A failure that provably never reached the server.
    pub fn not_sent(error: Error) -> Failure {
        Failure {
            error,
            not_sent: true,
        }
    }
}

/// What a client brings to [`with_retries`]: its defaults and its metrics.
pub(crate) struct Policy<'a> {
    /// The budget of a call without one of its own.
    pub timeout: Duration,
    /// Retries of a call without its own count.
    pub retries: u32,
    /// Where retries are counted.
    pub metrics: Option<&'a Arc<Metrics>>,
}

/// Runs `attempt` with each attempt's budget, retrying failures that provably never reached
/// the server (or any failure of an idempotent call), with backoff, within the call's deadline.
pub(crate) fn with_retries<T>(
    policy: &Policy<'_>,
    call: &Call<'_>,
    target: &Target,
    mut attempt: impl FnMut(Duration) -> Result<T, Failure>,
) -> Result<T, Error> {
    let retries = call.options.retries.unwrap_or(policy.retries);
    let mut tries = 0;
    loop {
        let budget = budget(policy.timeout, call, target)?;
        let failure = match attempt(budget) {
            Ok(done) => return Ok(done),
            Err(failure) => failure,
        };
        if tries >= retries || !(failure.not_sent || call.options.idempotent) {
            return Err(failure.error);
        }
        let pause = backoff(tries);
        if call.deadline.is_some_and(|d| Instant::now() + pause >= d) {
            return Err(failure.error);
        }
        log::debug!(
            "retrying {} {} on {target} in {pause:?} after: {}",
            call.service,
            call.endpoint,
            failure.error
        );
        if let Some(metrics) = policy.metrics {
            metrics.client_retry(call.service, call.endpoint);
        }
        std::thread::sleep(pause);
        tries += 1;
    }
}

/// The budget of one attempt: the call's (or `default`), cut to what the deadline leaves.
pub(crate) fn budget(default: Duration, call: &Call<'_>, target: &Target) -> Result<Duration, Error> {
    let budget = call.options.timeout.unwrap_or(default);
    let Some(deadline) = call.deadline else {
        return Ok(budget);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout(format!(
            "{target}: deadline spent before the call"
        )));
    }
    Ok(budget.min(left))
}

/// 10 ms x 2^attempt, between half and all of it at random, at most 1 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let full = Duration::from_millis(10)
        .saturating_mul(1 << attempt.min(7))
        .min(Duration::from_secs(1));
    // RandomState is seeded afresh per instance: enough jitter without a random-number crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    full / 2 + full.mul_f64((random % 1000) as f64 / 2000.0)
}

/// Counts one call in `metrics`: its status, or the error's.
pub(crate) fn observe(
    metrics: Option<&Arc<Metrics>>,
    call: &Call<'_>,
    started: Instant,
    outcome: Result<Result<u16, &Error>, &Error>,
) {
    if let Some(metrics) = metrics {
        let code = match outcome {
            Ok(Ok(status)) => status,
            Ok(Err(err)) | Err(err) => err.status(),
        };
        metrics.client_call(call.service, call.endpoint, code, started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::CallOptions;
    use std::cell::Cell;

    fn target() -> Target {
        Target {
            host: "srv".into(),
            port: 9080,
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps_at_one_second() {
        for attempt in 0..10 {
            let full = Duration::from_millis(10 * (1 << attempt.min(7))).min(Duration::from_secs(1));
            let pause = backoff(attempt);
            assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?}");
        }
    }

    #[test]
    fn only_failures_never_sent_are_retried_unless_idempotent() {
        let policy = Policy {
            timeout: Duration::from_secs(1),
            retries: 2,
            metrics: None,
        };
        let options = CallOptions::default();
        let call = Call::new("srv", "A.B", "application/json", b"", &options);
        let tries = Cell::new(0);
        let err = with_retries(&policy, &call, &target(), |_| -> Result<(), Failure> {
            tries.set(tries.get() + 1);
            Err(Failure::not_sent(Error::Unreachable("refused".into())))
        })
        .unwrap_err();
        assert_eq!((tries.get(), err.status()), (3, 503));
        tries.set(0);
        let _ = with_retries(&policy, &call, &target(), |_| -> Result<(), Failure> {
            tries.set(tries.get() + 1);
            Err(Failure::sent(Error::Unreachable("reset".into())))
        });
        assert_eq!(
            tries.get(),
            1,
            "a failure that may have reached the server is final"
        );
        let idempotent = CallOptions {
            idempotent: true,
            retries: Some(1),
            ..CallOptions::default()
        };
        let call = Call::new("srv", "A.B", "application/json", b"", &idempotent);
        tries.set(0);
        let _ = with_retries(&policy, &call, &target(), |_| -> Result<(), Failure> {
            tries.set(tries.get() + 1);
            Err(Failure::sent(Error::Unreachable("reset".into())))
        });
        assert_eq!(tries.get(), 2);
    }

    #[test]
    fn a_spent_deadline_fails_before_any_attempt() {
        let options = CallOptions::default();
        let mut call = Call::new("srv", "A.B", "application/json", b"", &options);
        call.deadline = Some(Instant::now());
        let err = budget(Duration::from_secs(1), &call, &target()).unwrap_err();
        assert_eq!(err.status(), 408);
        call.deadline = Some(Instant::now() + Duration::from_secs(60));
        assert_eq!(
            budget(Duration::from_secs(1), &call, &target()).unwrap(),
            Duration::from_secs(1)
        );
    }
}
