//! The answer: a per-client tally of connections and a readiness verdict.
//!
//! Rows are keyed by client (address, and for mail its EHLO name), service
//! and server name. The verdict is decided per client and service:
//!
//! * `will-break`: the client never offered TLS 1.2 or higher (or sent mail
//!   in plaintext, or was refused STARTTLS, without ever offering TLS 1.2).
//! * `at-risk`: it offers TLS 1.2+, but used a legacy endpoint, or more than
//!   an occasional handshake ended below TLS 1.2. Occasional means at most
//!   one such handshake, or at most 5 % of them: Windows clients briefly fall
//!   back to TLS 1.0/1.1 after a timeout, and one fallback among many TLS 1.2
//!   connections is not a client that will break. Also a client whose offer
//!   is unknown that was only seen ending below TLS 1.2, or whose handshakes
//!   all failed with nothing known of its versions (Zeek rows without
//!   `version`, hellos cut short).
//! * `ready`: otherwise.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::m365::MatchKinds;
use crate::model::row::{ClientName, ConnRecord, Protocol, RowName, Status};
use crate::model::version::TlsVersion;

/// Most distinct fingerprints kept per row.
pub const MAX_FINGERPRINTS: usize = 8;

/// Which connections the tally covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Scope {
    /// Connections to Microsoft 365 endpoints only.
    #[default]
    M365,
    /// Every connection.
    All,
}

impl Scope {
    /// The connection is tallied in this scope.
    pub fn covers(self, r: &ConnRecord) -> bool {
        self == Scope::All || r.m365.m365
    }
}

/// Readiness of a client for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Never offers TLS 1.2 or higher.
    WillBreak,
    /// Offers TLS 1.2+ but sometimes ends up below it.
    AtRisk,
    /// Fine.
    Ready,
}

impl Verdict {
    /// `will-break`, `at-risk`, `ready`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::WillBreak => "will-break",
            Verdict::AtRisk => "at-risk",
            Verdict::Ready => "ready",
        }
    }
}

/// Row key: client, its EHLO name, service, server name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Client address.
    pub client_ip: IpAddr,
    /// EHLO/HELO name for mail clients, else empty.
    pub client_helo: String,
    /// Microsoft 365 service, or empty for other servers.
    pub service: String,
    /// SNI, else certificate name, else mail greeting host, else address.
    pub server_name: String,
}

/// Version columns of the tally, in order.
pub const VERSION_COLUMNS: [(&str, u16); 6] = [
    ("ssl2", 0x0002),
    ("ssl3", 0x0300),
    ("tls10", 0x0301),
    ("tls11", 0x0302),
    ("tls12", 0x0303),
    ("tls13", 0x0304),
];

/// Counts for one row.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Connections.
    pub connections: u64,
    /// Connections per negotiated version, in [`VERSION_COLUMNS`] order.
    pub by_version: [u64; 6],
    /// Negotiated versions not in the columns (drafts, unknown).
    pub other_version: u64,
    /// Handshakes without a ServerHello (failed, refused, not captured).
    pub no_server_hello: u64,
    /// Mail sessions in plaintext or with STARTTLS refused.
    pub plaintext: u64,
    /// Handshakes that ended (or could only end) below TLS 1.2.
    pub legacy_handshakes: u64,
    /// Handshakes that reached TLS 1.2 or higher.
    pub modern_handshakes: u64,
    /// Connections to opt-in legacy endpoints.
    pub legacy_endpoint: u64,
    /// Lowest negotiated version.
    pub lowest: Option<u16>,
    /// Highest negotiated version.
    pub highest: Option<u16>,
    /// Client's highest offered version over all its connections.
    pub max_offered: Option<u16>,
    /// First connection (µs).
    pub first_seen: i64,
    /// Last packet (µs).
    pub last_seen: i64,
    // The sets are kept in the entry itself (no allocation of their own):
    // an entry is then one place in memory, read once per connection.
    /// Distinct JA4 fingerprints (interned, at most [`MAX_FINGERPRINTS`]).
    ja4: Ids,
    /// Distinct JA3 fingerprints (interned, at most [`MAX_FINGERPRINTS`]).
    ja3: Ids,
    /// How the server was recognised as Microsoft 365 (interned, union).
    m365_match: Ids,
    /// Server ports, ascending (at most [`MAX_FINGERPRINTS`], the lowest).
    ports: arrayvec::ArrayVec<u16, MAX_FINGERPRINTS>,
    /// Protocols seen, one bit per [`Protocol::ALL`] index.
    protocols: u8,
}

impl Entry {
    /// Server ports, ascending (at most [`MAX_FINGERPRINTS`], the lowest).
    pub fn server_ports(&self) -> &[u16] {
        &self.ports
    }

    /// Protocols seen, in [`Protocol::ALL`] order.
    pub fn protocols(&self) -> Vec<Protocol> {
        Protocol::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.protocols & (1 << i) != 0)
            .map(|(_, p)| p)
            .collect()
    }

    fn add_port(&mut self, port: u16) {
        if let Err(at) = self.ports.binary_search(&port) {
            if at >= MAX_FINGERPRINTS {
                return;
            }
            if self.ports.is_full() {
                self.ports.pop();
            }
            let _ = self.ports.try_insert(at, port);
        }
    }
}

/// Strings kept once: names and fingerprints repeat across many rows.
#[derive(Debug, Default, Clone)]
struct Interner {
    ids: rustc_hash::FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Ids of the spellings of the 32 [`MatchKinds`] (id + 1; 0: not yet).
    kinds: [u32; 32],
    /// Ids of the empty name and of the services' names (id + 1; 0: not
    /// yet), in [`Interner::fixed_id`] order: asked for on every connection.
    fixed: [u32; 5],
    /// Ids of server addresses used as names (rows without a server name),
    /// without writing the address out again for every connection.
    addresses: rustc_hash::FxHashMap<IpAddr, u32>,
}

impl Interner {
    /// Id of the spelling of `k` (`sni+cert`...), without formatting it
    /// again for every connection.
    fn kinds_id(&mut self, k: MatchKinds) -> u32 {
        let bits = usize::from(k.sni)
            | usize::from(k.cert) << 1
            | usize::from(k.ip) << 2
            | usize::from(k.banner) << 3
            | usize::from(k.dns) << 4;
        match self.kinds.get(bits) {
            Some(&i) if i > 0 => i - 1,
            _ => {
                let i = self.id(&k.to_string());
                if let Some(slot) = self.kinds.get_mut(bits) {
                    *slot = i.saturating_add(1);
                }
                i
            }
        }
    }

    /// Id of the empty name (`None`) or of a service's name.
    fn fixed_id(&mut self, service: Option<crate::model::m365::Service>) -> u32 {
        use crate::model::m365::Service;
        let (slot, s) = match service {
            None => (0, ""),
            Some(s) => (
                1 + Service::ALL.iter().position(|x| *x == s).unwrap_or(0),
                s.as_str(),
            ),
        };
        match self.fixed.get(slot) {
            Some(&i) if i > 0 => i - 1,
            _ => {
                let i = self.id(s);
                if let Some(c) = self.fixed.get_mut(slot) {
                    *c = i.saturating_add(1);
                }
                i
            }
        }
    }

    /// Id of an address written out as a name.
    fn address_id(&mut self, ip: IpAddr) -> u32 {
        if let Some(&i) = self.addresses.get(&ip) {
            return i;
        }
        let i = self.id(&ip.to_string());
        self.addresses.insert(ip, i);
        i
    }

    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    fn get(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |s| s)
    }
}

/// A set of interned ids, at most [`MAX_FINGERPRINTS`].
type Ids = arrayvec::ArrayVec<u32, MAX_FINGERPRINTS>;

/// Adds `id` to a set of at most [`MAX_FINGERPRINTS`]: beyond that the
/// set keeps the names first in byte order, so that it is the same
/// whatever order connections come in (threads add them in any order).
fn add_id(set: &mut Ids, id: u32, names: &Interner) {
    if set.contains(&id) {
        return;
    }
    if set.try_push(id).is_ok() {
        return;
    }
    let last = set
        .iter()
        .enumerate()
        .max_by_key(|&(_, &i)| names.get(i))
        .map(|(at, &i)| (at, i));
    if let Some((at, i)) = last
        && names.get(id) < names.get(i)
        && let Some(slot) = set.get_mut(at)
    {
        *slot = id;
    }
}

/// A version's place in the order by age (ties by number).
fn order(v: u16) -> (u32, u16) {
    (TlsVersion(v).rank(), v)
}

fn max_by_rank(a: Option<u16>, b: u16) -> u16 {
    match a {
        Some(x) if order(x) >= order(b) => x,
        _ => b,
    }
}

fn min_by_rank(a: Option<u16>, b: u16) -> u16 {
    match a {
        Some(x) if order(x) <= order(b) => x,
        _ => b,
    }
}

fn modern(v: u16) -> bool {
    TlsVersion(v).at_least_tls12()
}

impl Entry {
    fn add(&mut self, r: &ConnRecord, names: &mut Interner) {
        if self.connections == 0 {
            self.first_seen = r.ts;
        }
        self.connections += 1;
        self.first_seen = self.first_seen.min(r.ts);
        self.last_seen = self.last_seen.max(r.last_ts);
        if matches!(r.status, Status::Plaintext | Status::StarttlsRefused) {
            self.plaintext += 1;
        }
        match r.negotiated_version {
            Some(v) => {
                match VERSION_COLUMNS
                    .iter()
                    .position(|(_, x)| *x == v || (v == 0x0200 && *x == 2))
                {
                    Some(i) => self.by_version[i] += 1,
                    None => self.other_version += 1,
                }
                self.lowest = Some(min_by_rank(self.lowest, v));
                self.highest = Some(max_by_rank(self.highest, v));
            }
            None => self.no_server_hello += 1,
        }
        if let Some(m) = r.client_best_version {
            self.max_offered = Some(max_by_rank(self.max_offered, m));
        }
        if r.below_tls12() {
            self.legacy_handshakes += 1;
        } else if r.negotiated_version.is_some_and(modern) {
            self.modern_handshakes += 1;
        }
        if r.m365.legacy {
            self.legacy_endpoint += 1;
        }
        self.add_port(r.server_port);
        if let Some(i) = Protocol::ALL.iter().position(|p| *p == r.protocol) {
            self.protocols |= 1 << i;
        }
        for (set, v) in [(&mut self.ja4, &r.ja4), (&mut self.ja3, &r.ja3)] {
            if !v.is_empty() {
                let id = names.id(v);
                add_id(set, id, names);
            }
        }
        if r.m365.matched.any() {
            let id = names.kinds_id(r.m365.matched);
            add_id(&mut self.m365_match, id, names);
        }
    }

    /// Adds the counts of `o` (another part of the same capture), whose
    /// interned ids `id` maps to ids in `names`.
    fn merge(&mut self, o: &Entry, id: &dyn Fn(u32) -> u32, names: &Interner) {
        if self.connections == 0 {
            self.first_seen = o.first_seen;
        }
        self.connections += o.connections;
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        for (a, b) in self.by_version.iter_mut().zip(o.by_version) {
            *a += b;
        }
        self.other_version += o.other_version;
        self.no_server_hello += o.no_server_hello;
        self.plaintext += o.plaintext;
        self.legacy_handshakes += o.legacy_handshakes;
        self.modern_handshakes += o.modern_handshakes;
        self.legacy_endpoint += o.legacy_endpoint;
        for &p in &o.ports {
            self.add_port(p);
        }
        self.protocols |= o.protocols;
        if let Some(v) = o.lowest {
            self.lowest = Some(min_by_rank(self.lowest, v));
        }
        if let Some(v) = o.highest {
            self.highest = Some(max_by_rank(self.highest, v));
        }
        if let Some(v) = o.max_offered {
            self.max_offered = Some(max_by_rank(self.max_offered, v));
        }
        for (set, other) in [
            (&mut self.ja4, &o.ja4),
            (&mut self.ja3, &o.ja3),
            (&mut self.m365_match, &o.m365_match),
        ] {
            for &i in other {
                add_id(set, id(i), names);
            }
        }
    }
}

/// Per client and service: what the verdict is computed from.
#[derive(Debug, Clone, Default)]
struct ClientService {
    max_offered: Option<u16>,
    /// Some handshake reached TLS 1.2 or higher (proof of a modern offer
    /// even when the ClientHello was not captured).
    negotiated_modern: bool,
    legacy_handshakes: u64,
    handshakes: u64,
    /// Handshakes that failed with nothing known of their versions (a
    /// Zeek row without `version`, a hello cut short).
    failed_unknown: u64,
    plaintext: u64,
    legacy_endpoint: u64,
}

impl ClientService {
    /// Adds the counts of `o` (another part of the capture, or another
    /// address of the same device).
    fn merge(&mut self, o: &ClientService) {
        if let Some(m) = o.max_offered {
            self.max_offered = Some(max_by_rank(self.max_offered, m));
        }
        self.negotiated_modern |= o.negotiated_modern;
        self.handshakes += o.handshakes;
        self.legacy_handshakes += o.legacy_handshakes;
        self.failed_unknown += o.failed_unknown;
        self.plaintext += o.plaintext;
        self.legacy_endpoint += o.legacy_endpoint;
    }

    fn verdict(&self) -> Verdict {
        let offers_modern = self.max_offered.is_some_and(modern) || self.negotiated_modern;
        if !offers_modern {
            return if self.max_offered.is_some() || self.plaintext > 0 {
                Verdict::WillBreak
            } else if self.legacy_handshakes > 0 || self.failed_unknown > 0 {
                // Ended below TLS 1.2, or never got through, and what it
                // offers was not seen.
                Verdict::AtRisk
            } else {
                Verdict::Ready
            };
        }
        let occasional =
            self.legacy_handshakes <= 1 || self.legacy_handshakes * 20 <= self.handshakes;
        if self.legacy_endpoint > 0 || self.plaintext > 0 || !occasional {
            Verdict::AtRisk
        } else {
            Verdict::Ready
        }
    }
}

/// The tally of every connection in scope.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    scope: Scope,
    names: Interner,
    /// (client, helo, service, server name) with names interned.
    rows: rustc_hash::FxHashMap<(IpAddr, u32, u32, u32), Entry>,
    /// (client, helo, service).
    per_client: rustc_hash::FxHashMap<(IpAddr, u32, u32), ClientService>,
    /// Who each client address was (see [`Tally::name_clients`]); grouped
    /// by device, who each device was.
    client_names: rustc_hash::FxHashMap<IpAddr, ClientName>,
    /// Grouped by device ([`Tally::regroup`]): the addresses of each
    /// device, keyed by the address that stands for it.
    devices: Option<rustc_hash::FxHashMap<IpAddr, Vec<IpAddr>>>,
    /// Who each client address was at its first connection, as rows read
    /// back say (`tally`; see [`Tally::name_clients_from_rows`]).
    row_names: rustc_hash::FxHashMap<IpAddr, (i64, RowName)>,
}

/// One output row of the tally.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Row key.
    pub key: Key,
    /// Counts.
    pub entry: &'a Entry,
    /// Verdict of this client for this service.
    pub verdict: Verdict,
    /// Distinct JA4 fingerprints.
    pub ja4: Vec<&'a str>,
    /// Distinct JA3 fingerprints.
    pub ja3: Vec<&'a str>,
    /// How the server was recognised as Microsoft 365.
    pub m365_match: Vec<&'a str>,
}

impl Tally {
    /// Adds the tally of another part of the same capture (a chunk read by
    /// another thread); the result does not depend on the order of parts.
    pub fn merge(&mut self, o: &Tally) {
        // Their interned ids, as ids here.
        let ids: Vec<u32> = o.names.names.iter().map(|n| self.names.id(n)).collect();
        let id = |i: u32| ids.get(i as usize).copied().unwrap_or(0);
        for (&(ip, h, s, n), e) in &o.rows {
            let mine = self.rows.entry((ip, id(h), id(s), id(n))).or_default();
            mine.merge(e, &id, &self.names);
        }
        for (&(ip, h, s), c) in &o.per_client {
            self.per_client
                .entry((ip, id(h), id(s)))
                .or_default()
                .merge(c);
        }
        for (ip, (ts, who)) in &o.row_names {
            self.name_row(*ip, *ts, who);
        }
    }

    /// A row read back said who its client was at `ts`: the earliest
    /// such row names the address.
    fn name_row(&mut self, ip: IpAddr, ts: i64, who: &RowName) {
        match self.row_names.get_mut(&ip) {
            Some(e) if e.0 <= ts => {}
            Some(e) => *e = (ts, who.clone()),
            None => {
                self.row_names.insert(ip, (ts, who.clone()));
            }
        }
    }

    /// Names the clients from the name columns of the rows read back
    /// (`tally`): each address as its earliest row says; the vendor from
    /// the MAC (the embedded registry).
    pub fn name_clients_from_rows(&mut self) {
        use crate::enrich::identity::{Source, oui};
        self.client_names = self
            .row_names
            .iter()
            .map(|(ip, (_, who))| {
                let mac = oui::parse_mac(&who.mac);
                let n = ClientName {
                    name: who.name.clone(),
                    source: Source::parse(&who.source).map_or("", Source::as_str),
                    mac: mac.map(|m| oui::format_mac(&m)).unwrap_or_default(),
                    vendor: mac
                        .map(|m| oui::Oui::embedded().vendor(&m).cell().to_string())
                        .unwrap_or_default(),
                    os_hint: String::new(),
                };
                (*ip, n)
            })
            .collect();
    }

    /// The tally with its client addresses grouped into devices (see
    /// `enrich::devices`, which decides what a device is): `device` maps
    /// an address to the address that stands for its device in the rows
    /// (absent: itself), `names` says who each device is, `addresses` lists
    /// the addresses of each device. Rows and verdicts are those of
    /// [`Tally::merge`]: the counts of a device's addresses added up, the
    /// verdict decided over all of them by the same rules.
    pub fn regroup(
        &self,
        device: &rustc_hash::FxHashMap<IpAddr, IpAddr>,
        names: rustc_hash::FxHashMap<IpAddr, ClientName>,
        addresses: rustc_hash::FxHashMap<IpAddr, Vec<IpAddr>>,
    ) -> Tally {
        let to = |ip: IpAddr| device.get(&ip).copied().unwrap_or(ip);
        let mut t = Tally {
            scope: self.scope,
            names: self.names.clone(),
            client_names: names,
            devices: Some(addresses),
            ..Default::default()
        };
        // The same interner: ids map to themselves.
        for (&(ip, h, s, n), e) in &self.rows {
            let mine = t.rows.entry((to(ip), h, s, n)).or_default();
            mine.merge(e, &|i| i, &t.names);
        }
        for (&(ip, h, s), c) in &self.per_client {
            t.per_client.entry((to(ip), h, s)).or_default().merge(c);
        }
        t
    }

    /// Each client address: its first and last packet in the tally (µs).
    pub fn client_spans(&self) -> rustc_hash::FxHashMap<IpAddr, (i64, i64)> {
        let mut spans = rustc_hash::FxHashMap::default();
        for (&(ip, ..), e) in &self.rows {
            let s = spans.entry(ip).or_insert((e.first_seen, e.last_seen));
            s.0 = s.0.min(e.first_seen);
            s.1 = s.1.max(e.last_seen);
        }
        spans
    }

    /// Grouped by device ([`Tally::regroup`]): the addresses of the device
    /// `ip` stands for, ascending (an address no device lists is its own
    /// device); `None` when grouped by address.
    pub fn device_addresses(&self, ip: IpAddr) -> Option<Vec<IpAddr>> {
        let devices = self.devices.as_ref()?;
        Some(devices.get(&ip).cloned().unwrap_or_else(|| vec![ip]))
    }

    /// Names the clients once the whole capture is read: `who` says who an
    /// address was at a time, asked at each client's first connection.
    pub fn name_clients(&mut self, who: &dyn Fn(IpAddr, i64) -> Option<ClientName>) {
        let mut first: rustc_hash::FxHashMap<IpAddr, i64> = rustc_hash::FxHashMap::default();
        for (&(ip, ..), e) in &self.rows {
            let t = first.entry(ip).or_insert(e.first_seen);
            *t = (*t).min(e.first_seen);
        }
        self.client_names = first
            .into_iter()
            .filter_map(|(ip, ts)| who(ip, ts).map(|n| (ip, n)))
            .collect();
    }

    /// Who a client was, when known: what [`Tally::name_clients`] learned
    /// of its address, else the name it gave in EHLO/HELO (`helo`).
    pub fn client_name(&self, ip: IpAddr, helo: &str) -> Option<ClientName> {
        let mut n = self.client_names.get(&ip).cloned();
        if !helo.is_empty() && n.as_ref().is_none_or(|n| n.name.is_empty()) {
            let n = n.get_or_insert_default();
            n.name = helo.to_string();
            n.source = "ehlo";
        }
        n
    }

    /// An empty tally for `scope`.
    pub fn new(scope: Scope) -> Self {
        Tally {
            scope,
            ..Default::default()
        }
    }

    /// Adds a connection (ignored when out of scope).
    pub fn add(&mut self, r: &ConnRecord) {
        if !self.scope.covers(r) {
            return;
        }
        if !r.who.is_empty() {
            self.name_row(r.client_ip, r.ts, &r.who);
        }
        // Borrowed; an address is written out once per address.
        let server_name = [
            r.sni.as_str(),
            &r.dns_name,
            r.cert_names.first().map_or("", String::as_str),
            r.server_banner.as_str(),
        ]
        .into_iter()
        .find(|s| !s.is_empty());
        let helo = if r.client_helo.is_empty() {
            self.names.fixed_id(None)
        } else {
            self.names.id(&r.client_helo)
        };
        let svc = self.names.fixed_id(r.m365.service);
        let server = match server_name {
            Some(name) => self.names.id(name),
            None => self.names.address_id(r.server_ip),
        };
        self.rows
            .entry((r.client_ip, helo, svc, server))
            .or_default()
            .add(r, &mut self.names);
        let cs = self.per_client.entry((r.client_ip, helo, svc)).or_default();
        if let Some(m) = r.client_best_version {
            cs.max_offered = Some(max_by_rank(cs.max_offered, m));
        }
        cs.negotiated_modern |= r.negotiated_version.is_some_and(modern);
        cs.handshakes +=
            u64::from(r.client_best_version.is_some() || r.negotiated_version.is_some());
        cs.legacy_handshakes += u64::from(r.below_tls12());
        cs.failed_unknown += u64::from(
            r.client_best_version.is_none()
                && r.negotiated_version.is_none()
                && matches!(
                    r.status,
                    Status::NoServerHello | Status::Alert | Status::Truncated
                ),
        );
        cs.plaintext += u64::from(matches!(
            r.status,
            Status::Plaintext | Status::StarttlsRefused
        ));
        cs.legacy_endpoint += u64::from(r.m365.legacy);
    }

    /// Verdict of a client for a service.
    pub fn verdict(&self, client: IpAddr, helo: &str, service: &str) -> Verdict {
        match (self.names.ids.get(helo), self.names.ids.get(service)) {
            (Some(&h), Some(&s)) => self.verdict_ids(client, h, s),
            _ => Verdict::Ready,
        }
    }

    fn verdict_ids(&self, client: IpAddr, helo: u32, service: u32) -> Verdict {
        self.per_client
            .get(&(client, helo, service))
            .map_or(Verdict::Ready, ClientService::verdict)
    }

    /// Rows, worst verdict first, then by client, service and server.
    pub fn rows(&self) -> Vec<Row<'_>> {
        // Listed in byte order: the same whatever order rows came in.
        let names = |ids: &[u32]| -> Vec<&str> {
            let mut v: Vec<&str> = ids.iter().map(|&i| self.names.get(i)).collect();
            v.sort_unstable();
            v
        };
        let mut v: Vec<Row<'_>> = self
            .rows
            .iter()
            .map(|(&(ip, helo, svc, server), entry)| Row {
                key: Key {
                    client_ip: ip,
                    client_helo: self.names.get(helo).to_string(),
                    service: self.names.get(svc).to_string(),
                    server_name: self.names.get(server).to_string(),
                },
                entry,
                verdict: self.verdict_ids(ip, helo, svc),
                ja4: names(&entry.ja4),
                ja3: names(&entry.ja3),
                m365_match: names(&entry.m365_match),
            })
            .collect();
        v.sort_by(|a, b| a.verdict.cmp(&b.verdict).then_with(|| a.key.cmp(&b.key)));
        v
    }

    /// Distinct (client, helo) per verdict and service: for the headline.
    pub fn headline(&self) -> BTreeMap<(Verdict, String), u64> {
        let mut out = BTreeMap::new();
        for ((_, _, service), cs) in &self.per_client {
            *out.entry((cs.verdict(), self.names.get(*service).to_string()))
                .or_default() += 1;
        }
        out
    }

    /// Distinct clients (address and EHLO name) whose worst verdict over
    /// their services is `verdict`: each client counts in one total, so
    /// the three add up to the clients.
    pub fn clients_with(&self, verdict: Verdict) -> usize {
        let mut worst: rustc_hash::FxHashMap<(IpAddr, u32), Verdict> = Default::default();
        for (&(ip, helo, _), cs) in &self.per_client {
            let v = cs.verdict();
            worst
                .entry((ip, helo))
                .and_modify(|w| *w = (*w).min(v))
                .or_insert(v);
        }
        worst.values().filter(|&&v| v == verdict).count()
    }

    /// Rows in the tally.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::m365::{Classification, Service};

    fn rec(client: &str, max: u16, neg: Option<u16>) -> ConnRecord {
        ConnRecord {
            ts: 1,
            last_ts: 2,
            client_ip: client.parse().unwrap(),
            client_port: 1,
            server_ip: "52.96.0.1".parse().unwrap(),
            server_port: 443,
            sni: "outlook.office365.com".into(),
            client_max_version: Some(max),
            client_best_version: Some(max),
            client_version: Some(max.min(0x0303)),
            negotiated_version: neg,
            status: if neg.is_some() {
                Status::Established
            } else {
                Status::NoServerHello
            },
            m365: Classification {
                m365: true,
                service: Some(Service::Exchange),
                ..Default::default()
            },
            m365_data: std::sync::Arc::from("built-in:2026073100"),
            ja4: "t10".into(),
            packets: 3,
            ..ConnRecord::default()
        }
    }

    #[test]
    fn verdicts() {
        let mut t = Tally::new(Scope::M365);
        for _ in 0..3 {
            t.add(&rec("10.0.0.1", 0x0301, None));
        }
        for _ in 0..20 {
            t.add(&rec("10.0.0.2", 0x0303, Some(0x0303)));
        }
        // One Windows-style fallback hello offering only TLS 1.0.
        t.add(&rec("10.0.0.2", 0x0301, Some(0x0301)));
        t.add(&rec("10.0.0.3", 0x0304, Some(0x0304)));
        t.add(&rec("10.0.0.3", 0x0304, Some(0x0301)));
        t.add(&rec("10.0.0.3", 0x0304, Some(0x0302)));
        let ex = "Exchange";
        assert_eq!(
            t.verdict("10.0.0.1".parse().unwrap(), "", ex),
            Verdict::WillBreak
        );
        assert_eq!(
            t.verdict("10.0.0.2".parse().unwrap(), "", ex),
            Verdict::Ready
        );
        assert_eq!(
            t.verdict("10.0.0.3".parse().unwrap(), "", ex),
            Verdict::AtRisk
        );
        let rows = t.rows();
        assert_eq!(rows[0].verdict, Verdict::WillBreak);
        assert_eq!(rows[0].ja4, vec!["t10"]);
        assert_eq!(rows[0].entry.connections, 3);
        assert_eq!(rows[0].entry.no_server_hello, 3);
        let r2 = rows
            .iter()
            .find(|r| r.key.client_ip.to_string() == "10.0.0.2")
            .unwrap();
        assert_eq!(r2.entry.by_version, [0, 0, 1, 0, 20, 0]);
        assert_eq!(r2.entry.lowest, Some(0x0301));
        assert_eq!(r2.entry.max_offered, Some(0x0303));
        assert_eq!(t.clients_with(Verdict::WillBreak), 1);
        // 10.0.0.2 is ready for Exchange and will break for SharePoint:
        // the totals count it once, under its worst verdict.
        let mut sp = rec("10.0.0.2", 0x0301, None);
        sp.m365.service = Some(Service::SharePoint);
        t.add(&sp);
        assert_eq!(
            t.verdict("10.0.0.2".parse().unwrap(), "", ex),
            Verdict::Ready
        );
        assert_eq!(t.clients_with(Verdict::WillBreak), 2);
        assert_eq!(t.clients_with(Verdict::AtRisk), 1);
        assert_eq!(t.clients_with(Verdict::Ready), 0);
    }

    #[test]
    fn hello_not_captured() {
        let mut t = Tally::new(Scope::M365);
        let mut r = rec("10.0.0.7", 0x0303, Some(0x0303));
        r.client_max_version = None;
        r.client_best_version = None;
        t.add(&r);
        let ip = "10.0.0.7".parse().unwrap();
        assert_eq!(t.verdict(ip, "", "Exchange"), Verdict::Ready);
        let mut r = rec("10.0.0.8", 0x0301, Some(0x0301));
        r.client_max_version = None;
        r.client_best_version = None;
        t.add(&r);
        assert_eq!(
            t.verdict("10.0.0.8".parse().unwrap(), "", "Exchange"),
            Verdict::AtRisk
        );
    }

    #[test]
    fn scope_filters_non_m365() {
        let mut r = rec("10.0.0.9", 0x0301, Some(0x0301));
        r.m365 = Classification::default();
        let mut t = Tally::new(Scope::M365);
        t.add(&r);
        assert!(t.is_empty());
        let mut all = Tally::new(Scope::All);
        all.add(&r);
        assert_eq!(all.rows()[0].key.service, "");
        assert_eq!(all.rows()[0].verdict, Verdict::WillBreak);
    }

    #[test]
    fn capped_fingerprints_do_not_depend_on_order() {
        // Twelve fingerprints for one client and server, more than kept.
        let recs: Vec<ConnRecord> = (0..12)
            .map(|i| {
                let mut r = rec("10.0.0.9", 0x0303, Some(0x0303));
                r.ja4 = format!("t12d{i:02}");
                r
            })
            .collect();
        let kept = |order: &mut dyn Iterator<Item = &ConnRecord>| {
            let mut t = Tally::new(Scope::M365);
            order.for_each(|r| t.add(r));
            let rows = t.rows();
            assert_eq!(rows.len(), 1);
            rows[0]
                .ja4
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        };
        let forward = kept(&mut recs.iter());
        let backward = kept(&mut recs.iter().rev());
        assert_eq!(forward, backward);
        let want: Vec<String> = (0..MAX_FINGERPRINTS)
            .map(|i| format!("t12d{i:02}"))
            .collect();
        assert_eq!(forward, want);
    }
}
