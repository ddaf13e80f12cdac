//! Repeated failed authentication from one peer address: counted per fixed window, logged once
//! per window (not once per request, so a scan cannot flood the log), and refused with 429
//! once a peer has failed [`FAILURES_PER_WINDOW`] times in the window, until the window ends.
//!
//! Counted per peer address of the TCP connection; behind a proxy every client shares the
//! proxy's address. Loopback peers are never refused: they are already on the machine, and a
//! local misconfigured client must not lock the operator's own console and CLI out. Written here rather than with a rate-limiting crate because what is
//! limited is failures (known only after the handler answered 401), not requests.

use super::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failed authentications one peer may make in a window before it is refused.
pub const FAILURES_PER_WINDOW: u32 = 30;
/// The length of a counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Peers tracked at most; expired windows are dropped first when the table is full.
const MAX_PEERS: usize = 10_000;

/// One peer's failures in its current window.
#[derive(Debug, Clone, Copy)]
struct PeerWindow {
    started: Instant,
    failures: u32,
}

/// Failed authentications per peer address.
#[derive(Debug, Default)]
pub struct AuthFailures {
    peers: Mutex<HashMap<IpAddr, PeerWindow>>,
}

/// What the table says about a peer before its request runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Refused until this much time has passed.
    Refused(Duration),
}

impl AuthFailures {
    /// Whether `peer` may be served at `now`.
    pub fn admit(&self, peer: IpAddr, now: Instant) -> Admission {
        let peers = self.peers.lock();
        match peers.get(&peer) {
            Some(w) if w.failures >= FAILURES_PER_WINDOW && now < w.started + WINDOW => {
                Admission::Refused(w.started + WINDOW - now)
            }
            _ => Admission::Allowed,
        }
    }

    /// Records a failed authentication; returns the peer's failures in the current window.
    pub fn record(&self, peer: IpAddr, now: Instant) -> u32 {
        let mut peers = self.peers.lock();
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, w| now < w.started + WINDOW);
        }
        let window = peers.entry(peer).or_insert(PeerWindow {
            started: now,
            failures: 0,
        });
        if now >= window.started + WINDOW {
            *window = PeerWindow {
                started: now,
                failures: 0,
            };
        }
        window.failures += 1;
        window.failures
    }
}

/// Middleware: refuses peers over the limit with 429, counts and logs 401 answers.
pub async fn limit_auth_failures(
    State(failures): State<Arc<AuthFailures>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(peer) = peer_address(&req).filter(|ip| !ip.is_loopback()) else {
        return next.run(req).await;
    };
    if let Admission::Refused(wait) = failures.admit(peer, Instant::now()) {
        return too_many_failures(wait);
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let count = failures.record(peer, Instant::now());
        log_failure(peer, count);
    }
    response
}

/// The connection's peer (none in in-process tests, which are not limited).
fn peer_address(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn log_failure(peer: IpAddr, count: u32) {
    if count == 1 {
        tracing::warn!(%peer, "authentication failed (unknown or missing token); further failures from this address in the next {}s are counted, not logged", WINDOW.as_secs());
    } else if count == FAILURES_PER_WINDOW {
        tracing::warn!(%peer, failures = count, "too many failed authentications: refusing this address with 429 until its {}s window ends", WINDOW.as_secs());
    }
}

fn too_many_failures(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed authentications",
    )
    .with_details(format!(
        "{FAILURES_PER_WINDOW} requests from this address had an unknown or missing token within {}s; try again in {seconds}s with a valid token",
        WINDOW.as_secs()
    ))
    .into_response();
    response.headers_mut().insert(RETRY_AFTER, seconds.into());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_refused_after_the_limit_until_its_window_ends() {
        let table = AuthFailures::default();
        let peer: IpAddr = "10.0.0.7".parse().unwrap();
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        let t0 = Instant::now();
        for n in 1..FAILURES_PER_WINDOW {
            assert_eq!(table.record(peer, t0), n);
            assert_eq!(table.admit(peer, t0), Admission::Allowed);
        }
        table.record(peer, t0);
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            table.admit(peer, later),
            Admission::Refused(Duration::from_secs(40))
        );
        assert_eq!(table.admit(other, later), Admission::Allowed, "per peer");
        assert_eq!(table.admit(peer, t0 + WINDOW), Admission::Allowed);
        assert_eq!(table.record(peer, t0 + WINDOW), 1, "a new window");
    }
}
