//! Server names from DNS answers: which name a client resolved to the
//! address it then connected to. It gives `server_name` (and Microsoft 365
//! recognition by name) to connections without SNI.
//!
//! Kept per server address: its last few answers with the client that
//! received each (a client's own answer is preferred; another's serves a
//! client whose resolver's answers were not captured), in two
//! generations: when the current one is full it becomes the previous one
//! and the older is dropped, so memory stays bounded under a flood of
//! answers and recent answers survive.

use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

/// An answer received at or before this much after a connection began is
/// taken as the one it used (answer and SYN can be reordered in a capture).
const SLACK_US: i64 = 2_000_000;

/// Answers kept per server address: the most recent, by distinct client.
const PER_SERVER: usize = 3;

/// One answer: who received it, when, which name.
type Answer = (IpAddr, i64, Arc<str>);

/// The latest answers for one server address.
#[derive(Debug, Clone, Default)]
struct Slot {
    answers: [Option<Answer>; PER_SERVER],
}

impl Slot {
    fn add(&mut self, client: IpAddr, ts: i64, name: &Arc<str>) {
        // The same client and name: a later sighting.
        if let Some(a) = self
            .answers
            .iter_mut()
            .flatten()
            .find(|a| a.0 == client && *a.2 == **name)
        {
            a.1 = a.1.max(ts);
            return;
        }
        // Else replace an empty place or the oldest answer.
        let i = (0..PER_SERVER)
            .min_by_key(|&i| self.answers[i].as_ref().map_or(i64::MIN, |a| a.1))
            .unwrap_or(0);
        self.answers[i] = Some((client, ts, name.clone()));
    }

    /// Among `answers`, the latest at or before `ts` (with slack), else the
    /// earliest after it.
    fn pick<'a>(answers: impl Iterator<Item = &'a Answer> + Clone, ts: i64) -> Option<&'a Answer> {
        answers
            .clone()
            .filter(|a| a.1 <= ts + SLACK_US)
            .max_by_key(|a| a.1)
            .or_else(|| answers.min_by_key(|a| a.1))
    }

    fn lookup(&self, client: IpAddr, ts: i64) -> Option<(&str, Resolved)> {
        let all = self.answers.iter().flatten();
        if let Some(a) = Self::pick(all.clone().filter(|a| a.0 == client), ts) {
            return Some((&a.2, Resolved::ByClient));
        }
        Self::pick(all, ts).map(|a| (&*a.2, Resolved::ByAnyone))
    }
}

/// Server names learned from DNS answers.
#[derive(Debug)]
pub struct ServerNames {
    cur: HashMap<IpAddr, Slot>,
    prev: HashMap<IpAddr, Slot>,
    cap: usize,
    rotations: u64,
}

/// How a server name was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// This client received the answer.
    ByClient,
    /// Some host received it (a resolver, or another client).
    ByAnyone,
}

impl ServerNames {
    /// Keeps the answers for at most about `cap` server addresses.
    pub fn new(cap: usize) -> Self {
        ServerNames {
            cur: HashMap::default(),
            prev: HashMap::default(),
            cap: cap.max(2) / 2,
            rotations: 0,
        }
    }

    /// An answer received by `client` at `ts` resolved `name` (escaped) to
    /// `server`.
    pub fn add(&mut self, ts: i64, client: IpAddr, server: IpAddr, name: &Arc<str>) {
        if let Some(s) = self.cur.get_mut(&server) {
            s.add(client, ts, name);
            return;
        }
        if self.cur.len() >= self.cap {
            self.prev = std::mem::take(&mut self.cur);
            self.rotations += 1;
        }
        let mut slot = self.prev.get(&server).cloned().unwrap_or_default();
        slot.add(client, ts, name);
        self.cur.insert(server, slot);
    }

    /// The name `client` had resolved for `server` at `ts`, else the name
    /// anyone had.
    pub fn lookup(&self, client: IpAddr, server: IpAddr, ts: i64) -> Option<(&str, Resolved)> {
        self.cur
            .get(&server)
            .or_else(|| self.prev.get(&server))?
            .lookup(client, ts)
    }

    /// Times a full generation was dropped.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Server addresses kept.
    pub fn len(&self) -> usize {
        self.cur.len() + self.prev.len()
    }

    /// None kept.
    pub fn is_empty(&self) -> bool {
        self.cur.is_empty() && self.prev.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn client_first_then_anyone() {
        let mut t = ServerNames::new(100);
        let outlook: Arc<str> = "outlook.office365.com".into();
        let other: Arc<str> = "cdn.example".into();
        t.add(1_000_000, ip("10.0.0.5"), ip("52.96.1.1"), &outlook);
        t.add(1_000_000, ip("10.0.0.9"), ip("52.96.1.1"), &other);
        assert_eq!(
            t.lookup(ip("10.0.0.5"), ip("52.96.1.1"), 5_000_000),
            Some(("outlook.office365.com", Resolved::ByClient))
        );
        assert_eq!(
            t.lookup(ip("10.0.0.7"), ip("52.96.1.1"), 5_000_000),
            Some(("cdn.example", Resolved::ByAnyone))
        );
        assert_eq!(t.lookup(ip("10.0.0.5"), ip("52.96.1.2"), 5_000_000), None);
    }

    #[test]
    fn time_aware() {
        let mut t = ServerNames::new(100);
        let a: Arc<str> = "a.example".into();
        let b: Arc<str> = "b.example".into();
        let (c, s) = (ip("10.0.0.5"), ip("192.0.2.1"));
        t.add(10_000_000, c, s, &a);
        t.add(50_000_000, c, s, &b);
        assert_eq!(t.lookup(c, s, 20_000_000).unwrap().0, "a.example");
        assert_eq!(t.lookup(c, s, 60_000_000).unwrap().0, "b.example");
        // Answer just after the SYN (reordered): still that one.
        assert_eq!(t.lookup(c, s, 49_000_000).unwrap().0, "b.example");
        // Before any answer: the earliest.
        assert_eq!(t.lookup(c, s, 0).unwrap().0, "a.example");
    }

    #[test]
    fn bounded_by_generations() {
        let mut t = ServerNames::new(10);
        let n: Arc<str> = "x.example".into();
        for i in 0..1000u32 {
            t.add(
                i64::from(i),
                ip("10.0.0.1"),
                IpAddr::from(i.to_be_bytes()),
                &n,
            );
        }
        assert!(t.len() <= 10);
        assert!(t.rotations() > 0);
        // The most recent survive.
        assert!(
            t.lookup(ip("10.0.0.1"), IpAddr::from(999u32.to_be_bytes()), 999)
                .is_some()
        );
        assert!(
            t.lookup(ip("10.0.0.1"), IpAddr::from(1u32.to_be_bytes()), 999)
                .is_none()
        );
    }
}
