//! Ethernet source MACs of client frames, and the router rule.
//!
//! A MAC names a device only when the capture point is on the client's own
//! segment. Behind a router every client's frames carry the router's MAC:
//! one MAC sourcing several IPv4 addresses at once (two or more active
//! within a minute), or many over time (more than 16 IPv4 or 32 IPv6
//! addresses), is taken for a router, and none of its addresses is given
//! its MAC. Two is enough: two clients behind a router taken for one device
//! would hide the one that will break behind the one that is ready; a host
//! whose address changes within a minute only loses its MAC (its addresses
//! are then two clients). IPv6 privacy addresses stay below the counts.

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use crate::flow::names::{MAX_V4, MAX_V6};
use crate::wire::names::Mac;

/// IPv4 addresses active at once (within [`WINDOW_US`]) that make a router.
const CONCURRENT_V4: usize = 2;
/// Activity window, microseconds.
const WINDOW_US: i64 = 60_000_000;
/// MACs kept per address.
const MACS_PER_ADDR: usize = 4;

/// Bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// MACs tracked.
    pub max_macs: usize,
    /// Addresses tracked.
    pub max_addrs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_macs: 65_536,
            max_addrs: 65_536,
        }
    }
}

#[derive(Debug, Default)]
struct MacInfo {
    /// Addresses sourced: (address, first, last), up to the router counts.
    addrs: Vec<(IpAddr, i64, i64)>,
    router: bool,
}

/// MACs seen, per address, and the routers among them.
#[derive(Debug, Default)]
pub struct MacTable {
    by_mac: HashMap<Mac, MacInfo>,
    by_addr: HashMap<IpAddr, Vec<(Mac, i64, i64)>>,
    limits: Limits,
    /// Observations refused because a table was full.
    pub refused: u64,
    /// The router met last (behind a router, nearly every frame is its).
    last_router: Option<Mac>,
}

/// A MAC taken for a router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Its MAC.
    pub mac: Mac,
    /// Distinct addresses it was seen sourcing (up to the counts kept).
    pub addresses: usize,
}

impl MacTable {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        MacTable {
            limits,
            ..MacTable::default()
        }
    }

    /// A frame from `addr` carried source MAC `mac` at `ts`.
    pub fn observe(&mut self, ts: i64, mac: Mac, addr: IpAddr) {
        // Group (multicast/broadcast) and all-zero MACs name nothing; nor
        // does the unspecified address a DHCP client sends from before it
        // has one (0.0.0.0, then its lease within a minute: not a router).
        if mac[0] & 1 != 0
            || mac == [0; 6]
            || self.last_router == Some(mac)
            || addr.is_unspecified()
        {
            return;
        }
        if self.by_mac.len() >= self.limits.max_macs && !self.by_mac.contains_key(&mac) {
            self.refused += 1;
            return;
        }
        let info = self.by_mac.entry(mac).or_default();
        if info.router {
            self.last_router = Some(mac);
            return;
        }
        match info.addrs.iter_mut().find(|(a, _, _)| *a == addr) {
            Some(e) => {
                e.1 = e.1.min(ts);
                e.2 = e.2.max(ts);
            }
            None => info.addrs.push((addr, ts, ts)),
        }
        let v4 = info.addrs.iter().filter(|(a, _, _)| a.is_ipv4());
        let concurrent = v4
            .clone()
            .filter(|(_, first, last)| *last >= ts - WINDOW_US && *first <= ts + WINDOW_US)
            .count();
        let v4 = v4.count();
        let v6 = info.addrs.len() - v4;
        if addr.is_ipv4() && concurrent >= CONCURRENT_V4 || v4 > MAX_V4 || v6 > MAX_V6 {
            info.router = true;
            self.last_router = Some(mac);
            return;
        }
        if !self.by_addr.contains_key(&addr) && self.by_addr.len() >= self.limits.max_addrs {
            self.refused += 1;
            return;
        }
        let macs = self.by_addr.entry(addr).or_default();
        match macs.iter_mut().find(|(m, _, _)| *m == mac) {
            Some(e) => {
                e.1 = e.1.min(ts);
                e.2 = e.2.max(ts);
            }
            None => {
                if macs.len() >= MACS_PER_ADDR {
                    macs.remove(0);
                }
                macs.push((mac, ts, ts));
            }
        }
    }

    /// Whether some address has a MAC of its own (not a router's).
    pub fn names_any(&self) -> bool {
        self.by_addr
            .values()
            .flatten()
            .any(|(m, _, _)| !self.is_router(m))
    }

    /// Whether `mac` was taken for a router.
    pub fn is_router(&self, mac: &Mac) -> bool {
        self.by_mac.get(mac).is_some_and(|i| i.router)
    }

    /// Whether the frames show one device at `addr` before `start` and
    /// another from `start` on: the MAC seen nearest `ts` among those
    /// first seen before `start` is not among those seen from `start` on
    /// (routers excepted; false when either side has no frames).
    pub fn another_before(&self, addr: IpAddr, start: i64, ts: i64) -> bool {
        let Some(seen) = self.by_addr.get(&addr) else {
            return false;
        };
        let seen = || seen.iter().filter(|(m, _, _)| !self.is_router(m));
        let before = seen()
            .filter(|(_, first, _)| *first < start)
            .min_by_key(|(_, first, last)| distance(ts, *first, *last));
        let Some((earlier, _, _)) = before else {
            return false;
        };
        let mut from = seen().filter(|(_, _, last)| *last >= start).peekable();
        from.peek().is_some() && from.all(|(m, _, _)| m != earlier)
    }

    /// The MAC that sourced `addr`'s frames nearest `ts`, routers excepted.
    pub fn mac_for(&self, addr: IpAddr, ts: i64) -> Option<Mac> {
        self.by_addr
            .get(&addr)?
            .iter()
            .filter(|(m, _, _)| !self.is_router(m))
            .min_by_key(|(_, first, last)| distance(ts, *first, *last))
            .map(|(m, _, _)| *m)
    }

    /// Every MAC taken for a router.
    pub fn routers(&self) -> Vec<Router> {
        let mut v: Vec<Router> = self
            .by_mac
            .iter()
            .filter(|(_, i)| i.router)
            .map(|(m, i)| Router {
                mac: *m,
                addresses: i.addrs.len(),
            })
            .collect();
        v.sort_by_key(|r| r.mac);
        v
    }
}

/// How far `ts` lies from the span `first..=last` of sightings.
fn distance(ts: i64, first: i64, last: i64) -> i64 {
    if ts < first {
        first - ts
    } else {
        (ts - last).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Mac = [0x90, 0xb1, 0x1c, 0x99, 0x49, 0x29];
    const GW: Mac = [0x00, 0x0c, 0x29, 0x40, 0x0e, 0xef];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_host_changing_address_is_not_a_router() {
        let mut t = MacTable::new(Limits::default());
        // DHCP gives it a new address each day; IPv6 privacy addresses rotate.
        for day in 0..5i64 {
            let ts = day * 86_400_000_000;
            t.observe(ts, HOST, ip(&format!("10.0.0.{}", day + 10)));
            t.observe(ts, HOST, ip(&format!("2001:db8::{:x}", day + 1)));
            t.observe(ts, HOST, ip("fe80::1"));
        }
        assert!(!t.is_router(&HOST));
        assert_eq!(t.mac_for(ip("10.0.0.12"), 0), Some(HOST));
        // A DHCP client: DISCOVER and REQUEST from 0.0.0.0, then its lease.
        let mut t = MacTable::new(Limits::default());
        t.observe(1_000_000, HOST, ip("0.0.0.0"));
        t.observe(2_000_000, HOST, ip("10.0.0.20"));
        t.observe(3_000_000, HOST, ip("::"));
        assert!(!t.is_router(&HOST));
        assert_eq!(t.mac_for(ip("10.0.0.20"), 0), Some(HOST));
    }

    #[test]
    fn many_addresses_at_once_is_a_router() {
        let mut t = MacTable::new(Limits::default());
        t.observe(1_000_000, GW, ip("192.0.2.1"));
        assert_eq!(t.mac_for(ip("192.0.2.1"), 0), Some(GW));
        // Two clients behind a router are not one device.
        t.observe(2_000_000, GW, ip("198.51.100.7"));
        assert!(t.is_router(&GW));
        t.observe(3_000_000, GW, ip("203.0.113.9"));
        // Nothing is attributed to it, before or after.
        assert_eq!(t.mac_for(ip("192.0.2.1"), 0), None);
        assert_eq!(t.mac_for(ip("203.0.113.9"), 0), None);
        // Its later frames (taken at once) change nothing; a host's still count.
        t.observe(4_000_000, GW, ip("192.0.2.44"));
        t.observe(4_000_000, HOST, ip("192.0.2.45"));
        assert_eq!(t.mac_for(ip("192.0.2.44"), 0), None);
        assert_eq!(t.mac_for(ip("192.0.2.45"), 0), Some(HOST));
        t.observe(5_000_000, GW, ip("192.0.2.46"));
        assert_eq!(
            t.routers(),
            vec![Router {
                mac: GW,
                addresses: 2
            }]
        );
    }

    #[test]
    fn group_macs_ignored_and_bounded() {
        let mut t = MacTable::new(Limits {
            max_macs: 1,
            max_addrs: 1,
        });
        t.observe(0, [0xff; 6], ip("10.0.0.1"));
        t.observe(0, [0x01, 0, 0x5e, 0, 0, 0xfb], ip("10.0.0.1"));
        assert_eq!(t.mac_for(ip("10.0.0.1"), 0), None);
        t.observe(0, HOST, ip("10.0.0.1"));
        t.observe(0, GW, ip("10.0.0.2"));
        // (Two minutes later: not at once, so not a router's.)
        t.observe(120_000_000, HOST, ip("10.0.0.3"));
        assert_eq!(t.refused, 2);
    }
}
