//! Health endpoints (protocol.md section 6): liveness, readiness, and the drain state behind them.
//!
//! Both servers ask [`Health::answer`] before routing, so `/health/live`, `/health/ready` and
//! `/health` need no user code, are not counted against the in-flight cap, and are answered
//! even when every handler is busy. No I/O happens here.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::Error;
use crate::handler::Response;

/// The paths the framework answers itself, before any route.
pub const HEALTH_PATHS: [&str; 3] = ["/health/live", "/health/ready", "/health"];

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

type Check = Box<dyn Fn() -> bool + Send + Sync>;

struct Inner {
    state: AtomicU8,
    check: Option<Check>,
}

/// A service's health: starting, ready or draining, plus the service's own readiness check.
///
/// Cheap to clone (one `Arc`). A [`Server`](crate::Server) gets one in `serve` and answers the
/// health paths with [`Health::answer`]; the [`Service`](crate::Service) moves it from starting
/// to ready once the server runs, and to draining when it stops.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

impl Default for Health {
    fn default() -> Health {
        Health::new(None)
    }
}

impl Health {
    /// A health in the starting state; `check`, if any, is asked on every readiness probe.
    pub fn new(check: Option<Box<dyn Fn() -> bool + Send + Sync>>) -> Health {
        Health {
            inner: Arc::new(Inner {
                state: AtomicU8::new(STARTING),
                check,
            }),
        }
    }

    /// Marks the service ready (unless it is already draining).
    pub fn set_ready(&self) {
        let _ = self
            .inner
            .state
            .compare_exchange(STARTING, READY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Marks the service draining: readiness answers 503 from now on, for good.
    pub fn set_draining(&self) {
        self.inner.state.store(DRAINING, Ordering::SeqCst);
    }

    /// Whether a drain has begun (servers then answer with `Connection: close`).
    pub fn is_draining(&self) -> bool {
        self.inner.state.load(Ordering::Relaxed) == DRAINING
    }

    /// Readiness: `Ok` when ready, else why not (`starting`, `draining`, `not ready`).
    pub fn readiness(&self) -> Result<(), &'static str> {
        match self.inner.state.load(Ordering::SeqCst) {
            STARTING => Err("starting"),
            DRAINING => Err("draining"),
            _ => match &self.inner.check {
                // A panicking check counts as not ready; its text goes nowhere.
                Some(check) if !catch_unwind(AssertUnwindSafe(check)).unwrap_or(false) => Err("not ready"),
                _ => Ok(()),
            },
        }
    }

    /// Whether `path` is one of the [`HEALTH_PATHS`].
    pub fn is_health_path(path: &str) -> bool {
        HEALTH_PATHS.contains(&path)
    }

    /// The answer to a request for one of the health paths, or `None` for any other path.
    ///
    /// `GET` or `HEAD`: 200 `{"status":"ok"}`, or 503 `{"status":"draining"}` (or `starting`,
    /// `not ready`) for readiness; any other method gets the 405 error JSON, named `service`.
    pub fn answer(&self, method: &str, path: &str, service: &str) -> Option<Response> {
        if !Health::is_health_path(path) {
            return None;
        }
        if method != "GET" && method != "HEAD" {
            let err = Error::new(405, format!("method {method} not allowed on {path}"));
            return Some(Response::error(&err, service).with_header("Allow", "GET, HEAD"));
        }
        let state = if path == "/health/live" {
            Ok(())
        } else {
            self.readiness()
        };
        let (status, body) = match state {
            Ok(()) => (200, r#"{"status":"ok"}"#.to_string()),
            Err(why) => (503, format!(r#"{{"status":"{why}"}}"#)),
        };
        Some(
            Response::bytes("application/json", body)
                .with_status(status)
                .with_header("Cache-Control", "no-store"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn body(resp: &Response) -> &str {
        std::str::from_utf8(resp.body.bytes()).unwrap()
    }

    #[test]
    fn liveness_always_readiness_follows_the_state() {
        let health = Health::default();
        let ready = |h: &Health, path| h.answer("GET", path, "svc").unwrap();
        assert_eq!(ready(&health, "/health/live").status, 200);
        let resp = ready(&health, "/health/ready");
        assert_eq!((resp.status, body(&resp)), (503, r#"{"status":"starting"}"#));
        health.set_ready();
        for path in HEALTH_PATHS {
            let resp = ready(&health, path);
            assert_eq!((resp.status, body(&resp)), (200, r#"{"status":"ok"}"#), "{path}");
            assert_eq!(resp.header("content-type"), Some("application/json"));
        }
        health.set_draining();
        health.set_ready(); // draining is for good
        assert!(health.is_draining());
        assert_eq!(ready(&health, "/health/live").status, 200);
        for path in ["/health", "/health/ready"] {
            let resp = ready(&health, path);
            assert_eq!((resp.status, body(&resp)), (503, r#"{"status":"draining"}"#));
        }
    }

    #[test]
    fn the_service_check_decides_readiness_and_may_panic() {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let health = Health::new(Some(Box::new(move || {
            assert!(f.load(Ordering::SeqCst), "secret");
            true
        })));
        health.set_ready();
        let resp = health.answer("HEAD", "/health", "svc").unwrap();
        assert_eq!((resp.status, body(&resp)), (503, r#"{"status":"not ready"}"#));
        flag.store(true, Ordering::SeqCst);
        assert_eq!(health.answer("GET", "/health", "svc").unwrap().status, 200);
    }

    #[test]
    fn other_paths_and_methods() {
        let health = Health::default();
        assert!(health.answer("GET", "/healthz", "svc").is_none());
        assert!(health.answer("GET", "/health/", "svc").is_none());
        let resp = health.answer("POST", "/health", "svc").unwrap();
        assert_eq!(resp.status, 405);
        assert_eq!(resp.header("allow"), Some("GET, HEAD"));
        assert!(body(&resp).contains(r#""id":"svc""#), "{}", body(&resp));
    }
}
