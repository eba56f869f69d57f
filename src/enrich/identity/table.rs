//! The time-aware host table: address -> who held it, when.
//!
//! Each address has a short history of *tenancies*: spans of time in which
//! one device held it. A tenancy keeps the device's MAC (from DHCP, a
//! DHCPv6 DUID or a NetBIOS node status), its names with their source and
//! first/last sighting, and the best OS hint. A new tenancy starts when the
//! evidence says another device has the address: a different MAC, the
//! address given back (DHCP RELEASE or DECLINE) and taken again, or,
//! without MACs to compare, a different name from a source that gives a
//! host one name (DHCP, DHCPv6, NetBIOS, a Kerberos machine account).
//!
//! A lookup at time `t` answers from the tenancy in force at `t` (the last
//! one begun at or before `t`; the first one also covers the time before
//! it): a name learned later in the capture still names the address
//! earlier, unless another device's tenancy lies between. (The identity
//! also asks the frames: see [`super::observer::Identity::client`].)

use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;

use super::Source;
use super::os_hint::OsHint;
use crate::wire::names::Mac;

/// Bounds of the table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Addresses tracked; beyond it new addresses are refused (counted).
    pub max_hosts: usize,
    /// Tenancies kept per address (the oldest is dropped, counted).
    pub max_tenancies: usize,
    /// Names kept per tenancy (the least recently seen is dropped, counted).
    pub max_names: usize,
    /// Names kept in all (beyond it new names are refused, counted).
    pub max_names_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_hosts: 65_536,
            max_tenancies: 8,
            max_names: 16,
            max_names_total: 262_144,
        }
    }
}

/// What the bounds cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Facts about new addresses refused because the table was full.
    pub hosts_refused: u64,
    /// Old tenancies dropped.
    pub tenancies_dropped: u64,
    /// Names dropped from a full tenancy, or refused when the table held
    /// its total.
    pub names_dropped: u64,
}

#[derive(Debug, Clone)]
struct NameEntry {
    name: Box<str>,
    source: Source,
    first: i64,
    last: i64,
}

#[derive(Debug, Clone)]
struct Tenancy {
    start: i64,
    end: Option<i64>,
    mac: Option<(Mac, Source)>,
    names: Vec<NameEntry>,
    os: Option<(OsHint, i64)>,
    first: i64,
    last: i64,
}

impl Tenancy {
    fn new(start: i64, ts: i64) -> Self {
        Tenancy {
            start,
            end: None,
            mac: None,
            names: Vec::new(),
            os: None,
            first: ts,
            last: ts,
        }
    }
}

/// One fact about an address at a time.
#[derive(Debug, Clone, Default)]
pub struct Fact<'a> {
    /// A name (already escaped) and where it came from.
    pub name: Option<(&'a str, Source)>,
    /// The device's MAC and where it came from.
    pub mac: Option<(Mac, Source)>,
    /// An OS hint.
    pub os: Option<OsHint>,
}

/// What the table says of an address at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<'a> {
    /// The best name: by source (see [`Source`]), then nearest in time.
    pub name: Option<(&'a str, Source)>,
    /// The device's MAC.
    pub mac: Option<Mac>,
    /// The most precise OS hint.
    pub os: Option<&'a OsHint>,
    /// When the tenancy was first seen (a tenancy also covers the time
    /// before, back to the one before it).
    pub first: i64,
}

/// One row of `tlsready hosts`: address × name × source (× MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    /// The address.
    pub addr: IpAddr,
    /// The name, empty for a tenancy known only by its MAC.
    pub name: String,
    /// Where the name (or, without one, the MAC) came from.
    pub source: Source,
    /// The device's MAC in that tenancy.
    pub mac: Option<Mac>,
    /// The OS hint of that tenancy.
    pub os: Option<OsHint>,
    /// First sighting, microseconds since the epoch.
    pub first_seen: i64,
    /// Last sighting.
    pub last_seen: i64,
}

#[derive(Debug, Default)]
struct Host {
    /// Sorted by `start`; the first starts at `i64::MIN`.
    tenancies: Vec<Tenancy>,
}

impl Host {
    /// Index of the tenancy in force at `ts` (the first one for times
    /// before every start).
    fn at(&self, ts: i64) -> usize {
        self.tenancies
            .iter()
            .rposition(|t| t.start <= ts)
            .unwrap_or(0)
    }
}

/// The table.
#[derive(Debug, Default)]
pub struct HostTable {
    hosts: HashMap<IpAddr, Host>,
    names: usize,
    limits: Limits,
    stats: TableStats,
}

impl HostTable {
    /// An empty table with these bounds.
    pub fn new(limits: Limits) -> Self {
        HostTable {
            hosts: HashMap::default(),
            names: 0,
            limits,
            stats: TableStats::default(),
        }
    }

    /// What the bounds cost so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Addresses tracked.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// No address tracked.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Records a fact about `addr` at `ts`.
    pub fn learn(&mut self, addr: IpAddr, ts: i64, mut fact: Fact<'_>) {
        // An empty name (a DHCP host name of one NUL byte) names nothing.
        if fact.name.is_some_and(|(n, _)| n.trim().is_empty()) {
            fact.name = None;
        }
        if fact.name.is_none() && fact.mac.is_none() && fact.os.is_none() {
            return;
        }
        if !self.hosts.contains_key(&addr) && self.hosts.len() >= self.limits.max_hosts {
            self.stats.hosts_refused += 1;
            return;
        }
        let limits = self.limits;
        let host = self.hosts.entry(addr).or_default();
        if host.tenancies.is_empty() {
            // Room for one: most addresses have one holder (a first push
            // makes room for four, about 600 bytes an address).
            host.tenancies.reserve_exact(1);
            host.tenancies.push(Tenancy::new(i64::MIN, ts));
        }
        let mut i = host.at(ts);
        if starts_new_tenancy(&host.tenancies[i], ts, &fact) {
            let start = ts.max(host.tenancies[i].start);
            i += 1;
            host.tenancies.insert(i, Tenancy::new(start, ts));
            if host.tenancies.len() > limits.max_tenancies {
                self.names -= host.tenancies.remove(0).names.len();
                i -= 1;
                self.stats.tenancies_dropped += 1;
            }
        }
        let t = &mut host.tenancies[i];
        t.first = t.first.min(ts);
        t.last = t.last.max(ts);
        if let Some(m) = fact.mac
            && t.mac.is_none()
        {
            t.mac = Some(m);
        }
        if let Some((name, source)) = fact.name {
            match t
                .names
                .iter_mut()
                .find(|e| e.source == source && e.name.eq_ignore_ascii_case(name))
            {
                Some(e) => {
                    e.first = e.first.min(ts);
                    e.last = e.last.max(ts);
                }
                None if self.names >= limits.max_names_total => self.stats.names_dropped += 1,
                None => {
                    if t.names.len() >= limits.max_names
                        && let Some(oldest) = (0..t.names.len()).min_by_key(|&k| t.names[k].last)
                    {
                        t.names.remove(oldest);
                        self.names -= 1;
                        self.stats.names_dropped += 1;
                    }
                    t.names.push(NameEntry {
                        name: name.into(),
                        source,
                        first: ts,
                        last: ts,
                    });
                    self.names += 1;
                }
            }
        }
        if let Some(os) = fact.os {
            let better = match &t.os {
                None => true,
                Some((old, at)) => os.rank > old.rank || os.rank == old.rank && ts >= *at,
            };
            if better {
                t.os = Some((os, ts));
            }
        }
    }

    /// The address was given back at `ts` (DHCP RELEASE, DECLINE, NAK) by
    /// the device with `mac` (when known): its tenancy ends there.
    pub fn end(&mut self, addr: IpAddr, ts: i64, mac: Option<Mac>) {
        let Some(host) = self.hosts.get_mut(&addr) else {
            return;
        };
        let i = host.at(ts);
        let t = &mut host.tenancies[i];
        let same = match (t.mac, mac) {
            (Some((a, _)), Some(b)) => a == b,
            _ => true,
        };
        if same && t.end.is_none_or(|e| e > ts) {
            t.end = Some(ts);
        }
    }

    /// Who held `addr` at `ts`.
    pub fn lookup(&self, addr: IpAddr, ts: i64) -> Option<Held<'_>> {
        let host = self.hosts.get(&addr)?;
        let t = host.tenancies.get(host.at(ts))?;
        if t.end.is_some_and(|e| e < ts) {
            return None;
        }
        let distance = |e: &NameEntry| {
            if ts < e.first {
                e.first.saturating_sub(ts)
            } else {
                ts.saturating_sub(e.last).max(0)
            }
        };
        let name = t
            .names
            .iter()
            .min_by_key(|e| (e.source, distance(e)))
            .map(|e| (&*e.name, e.source));
        Some(Held {
            name,
            mac: t.mac.map(|(m, _)| m),
            os: t.os.as_ref().map(|(o, _)| o),
            first: t.first,
        })
        .filter(|h| h.name.is_some() || h.mac.is_some() || h.os.is_some())
    }

    /// Whether some row of [`HostTable::rows`] has a name or a MAC
    /// (without building them).
    pub fn names_any(&self) -> bool {
        self.hosts
            .values()
            .flat_map(|h| &h.tenancies)
            .any(|t| t.mac.is_some() || t.names.iter().any(|e| !e.name.is_empty()))
    }

    /// Names held, per source: each address × tenancy × name once (the
    /// rows of [`HostTable::rows`] that have a name), however often seen.
    pub fn names_by_source(&self) -> Vec<(Source, u64)> {
        let mut n: std::collections::BTreeMap<Source, u64> = Default::default();
        for e in self
            .hosts
            .values()
            .flat_map(|h| &h.tenancies)
            .flat_map(|t| &t.names)
            .filter(|e| !e.name.is_empty())
        {
            *n.entry(e.source).or_default() += 1;
        }
        n.into_iter().collect()
    }

    /// Everything learned: one row per address × tenancy × name (a tenancy
    /// without a name gives one row for its MAC or OS hint), by address
    /// then time.
    pub fn rows(&self) -> Vec<HostRow> {
        let mut out = Vec::new();
        for (&addr, host) in &self.hosts {
            for t in &host.tenancies {
                let mac = t.mac.map(|(m, _)| m);
                let os = t.os.as_ref().map(|(o, _)| o.clone());
                for e in &t.names {
                    out.push(HostRow {
                        addr,
                        name: e.name.to_string(),
                        source: e.source,
                        mac,
                        os: os.clone(),
                        first_seen: e.first,
                        last_seen: e.last,
                    });
                }
                if t.names.is_empty()
                    && let Some(source) = t.mac.map(|(_, s)| s)
                {
                    out.push(HostRow {
                        addr,
                        name: String::new(),
                        source,
                        mac,
                        os,
                        first_seen: t.first,
                        last_seen: t.last,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.addr, a.first_seen, a.source, &a.name).cmp(&(
                b.addr,
                b.first_seen,
                b.source,
                &b.name,
            ))
        });
        out
    }
}

/// Whether `fact` at `ts` shows another device than tenancy `t`'s.
fn starts_new_tenancy(t: &Tenancy, ts: i64, fact: &Fact<'_>) -> bool {
    if t.end.is_some_and(|e| e <= ts) {
        return true;
    }
    if let (Some((a, _)), Some((b, _))) = (t.mac, fact.mac) {
        return a != b;
    }
    match fact.name {
        Some((name, source))
            if source.one_name_per_host() && (t.mac.is_none() || fact.mac.is_none()) =>
        {
            t.names
                .iter()
                .any(|e| e.source == source && !e.name.eq_ignore_ascii_case(name))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
    const B: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x66];

    fn ip() -> IpAddr {
        "10.20.3.41".parse().unwrap()
    }

    fn name(n: &str, s: Source) -> Fact<'_> {
        Fact {
            name: Some((n, s)),
            ..Fact::default()
        }
    }

    fn held(t: &HostTable, ts: i64) -> Option<(String, Source)> {
        t.lookup(ip(), ts)
            .and_then(|h| h.name.map(|(n, s)| (n.to_string(), s)))
    }

    #[test]
    fn address_means_the_device_of_the_time() {
        let mut t = HostTable::new(Limits::default());
        t.learn(
            ip(),
            100,
            Fact {
                name: Some(("pc-a", Source::Dhcp)),
                mac: Some((A, Source::Dhcp)),
                os: None,
            },
        );
        t.learn(
            ip(),
            500,
            Fact {
                name: Some(("pc-b", Source::Dhcp)),
                mac: Some((B, Source::Dhcp)),
                os: None,
            },
        );
        // Before the first sighting, at it, between, after the change.
        assert_eq!(held(&t, 10), Some(("pc-a".into(), Source::Dhcp)));
        assert_eq!(held(&t, 499), Some(("pc-a".into(), Source::Dhcp)));
        assert_eq!(held(&t, 500), Some(("pc-b".into(), Source::Dhcp)));
        assert_eq!(t.lookup(ip(), 900).unwrap().mac, Some(B));
        assert_eq!(t.rows().len(), 2);
    }

    #[test]
    fn same_device_keeps_its_names_and_sources_rank() {
        let mut t = HostTable::new(Limits::default());
        // Empty names (a host name option of one NUL byte) name nothing.
        t.learn(ip(), 50, name("", Source::Dhcp));
        t.learn(ip(), 60, name("  ", Source::Nbns));
        t.learn(ip(), 100, name("pc-a.local", Source::Mdns));
        t.learn(ip(), 200, name("PC-A", Source::Nbns));
        t.learn(ip(), 300, name("alice@CORP", Source::KerberosUser));
        t.learn(ip(), 400, name("pc-a.local", Source::Mdns));
        assert_eq!(held(&t, 50), Some(("PC-A".into(), Source::Nbns)));
        let rows = t.rows();
        assert_eq!(rows.len(), 3);
        let mdns = rows.iter().find(|r| r.source == Source::Mdns).unwrap();
        assert_eq!((mdns.first_seen, mdns.last_seen), (100, 400));
    }

    #[test]
    fn a_new_name_without_macs_is_a_new_device() {
        let mut t = HostTable::new(Limits::default());
        t.learn(ip(), 100, name("PC-A", Source::Nbns));
        t.learn(ip(), 900, name("PC-B", Source::Nbns));
        assert_eq!(held(&t, 500), Some(("PC-A".into(), Source::Nbns)));
        assert_eq!(held(&t, 900), Some(("PC-B".into(), Source::Nbns)));
        // Several mDNS names are one device's.
        t.learn(ip(), 950, name("printer.local", Source::Mdns));
        t.learn(ip(), 960, name("scanner.local", Source::Mdns));
        assert_eq!(held(&t, 955), Some(("PC-B".into(), Source::Nbns)));
    }

    #[test]
    fn release_ends_the_tenancy() {
        let mut t = HostTable::new(Limits::default());
        let f = |n| Fact {
            name: Some((n, Source::Dhcp)),
            mac: Some((A, Source::Dhcp)),
            os: None,
        };
        t.learn(ip(), 100, f("pc-a"));
        t.end(ip(), 200, Some(A));
        assert_eq!(held(&t, 150), Some(("pc-a".into(), Source::Dhcp)));
        assert_eq!(held(&t, 300), None);
        // The same device takes it again: a second tenancy, same name.
        t.learn(ip(), 400, f("pc-a"));
        assert_eq!(held(&t, 300), None);
        assert_eq!(held(&t, 400), Some(("pc-a".into(), Source::Dhcp)));
        assert_eq!(t.rows().len(), 2);
        // Another MAC's release does not end it.
        t.end(ip(), 500, Some(B));
        assert_eq!(held(&t, 600), Some(("pc-a".into(), Source::Dhcp)));
    }

    #[test]
    fn mac_only_and_os_rows() {
        let mut t = HostTable::new(Limits::default());
        t.learn(
            ip(),
            100,
            Fact {
                mac: Some((A, Source::Dhcp)),
                ..Fact::default()
            },
        );
        let rows = t.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].name.as_str(), rows[0].mac), ("", Some(A)));
        let hint = |os: &str, rank| OsHint {
            os: os.into(),
            rank,
            evidence: "".into(),
        };
        for (ts, h) in [
            (110, hint("Windows", 1)),
            (120, hint("Windows 7", 3)),
            (130, hint("Windows", 1)),
        ] {
            t.learn(
                ip(),
                ts,
                Fact {
                    os: Some(h),
                    ..Fact::default()
                },
            );
        }
        assert_eq!(&*t.lookup(ip(), 100).unwrap().os.unwrap().os, "Windows 7");
    }

    #[test]
    fn bounded() {
        let mut t = HostTable::new(Limits {
            max_hosts: 2,
            max_tenancies: 3,
            max_names: 2,
            max_names_total: 6,
        });
        for i in 0..5u8 {
            let a: IpAddr = [10, 0, 0, i].into();
            t.learn(a, 1, name("x", Source::Mdns));
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.stats().hosts_refused, 3);
        let a: IpAddr = [10, 0, 0, 0].into();
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            t.learn(a, 10 + i as i64, name(n, Source::Mdns));
        }
        assert_eq!(t.stats().names_dropped, 2);
        for (i, n) in ["P1", "P2", "P3", "P4"].iter().enumerate() {
            t.learn(a, 100 + i as i64, name(n, Source::Nbns));
        }
        assert_eq!(t.stats().tenancies_dropped, 1);
        // Two in the second host, the rest in the first: 6 at most.
        let b: IpAddr = [10, 0, 0, 1].into();
        for (i, n) in ["q", "r", "s", "t"].iter().enumerate() {
            t.learn(b, 200 + i as i64, name(n, Source::Mdns));
        }
        let total: usize = t.rows().iter().filter(|r| !r.name.is_empty()).count();
        assert!(total <= 6, "{total}");
    }
}
