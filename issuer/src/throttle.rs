//! Slowing down token guessing: a client (by IP address) whose requests were refused authentication too often in a
//! window is answered 429 until the window ends, before its token is even looked up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refused authentications (401 or 403) allowed per client and window.
pub const MAX_AUTH_FAILURES: u32 = 20;
/// The window over which failures are counted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Clients tracked at once; past this, windows that ended are dropped, then the oldest.
const MAX_CLIENTS: usize = 10_000;

/// Failed authentications per client in the current window. Clients without an address (in-process tests) share
/// one count.
#[derive(Debug, Default)]
pub(crate) struct AuthFailures {
    clients: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl AuthFailures {
    /// How long `client` must still wait, if it used up its failures in the current window.
    pub(crate) fn blocked(&self, client: Option<IpAddr>) -> Option<Duration> {
        let clients = self.clients.lock().ok()?;
        let (start, failures) = clients.get(&client)?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*failures >= MAX_AUTH_FAILURES).then_some(left)
    }

    /// Count one refused authentication for `client`.
    pub(crate) fn record(&self, client: Option<IpAddr>) {
        let Ok(mut clients) = self.clients.lock() else { return };
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if clients.len() >= MAX_CLIENTS {
                if let Some(oldest) = clients.iter().min_by_key(|(_, (start, _))| *start).map(|(k, _)| *k) {
                    clients.remove(&oldest);
                }
            }
        }
        let entry = clients.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_blocked_after_its_failures_and_others_are_not() {
        let failures = AuthFailures::default();
        let (a, b) = (Some(IpAddr::from([10, 0, 0, 1])), Some(IpAddr::from([10, 0, 0, 2])));
        for _ in 0..MAX_AUTH_FAILURES - 1 {
            failures.record(a);
        }
        assert_eq!(failures.blocked(a), None, "one failure short of the limit");
        failures.record(a);
        let wait = failures.blocked(a).unwrap();
        assert!(wait <= WINDOW && wait > WINDOW - Duration::from_secs(5), "{wait:?}");
        assert_eq!(failures.blocked(b), None);
        assert_eq!(failures.blocked(None), None);
    }

    #[test]
    fn the_table_stays_bounded() {
        let failures = AuthFailures::default();
        for i in 0..u32::try_from(MAX_CLIENTS).unwrap() + 50 {
            failures.record(Some(IpAddr::from(i.to_be_bytes())));
        }
        assert!(failures.clients.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
