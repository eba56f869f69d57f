//! [`Identity`]: the observers that turn name traffic into host facts, and
//! the answers the report asks for (who is this client, at this time;
//! which name did this client resolve for this server).

use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use super::hosts_file::KnownHost;
use super::macs::{self, MacTable, Router};
use super::os_hint::{self, OsHint};
use super::oui::Oui;
use super::table::{self, Fact, HostRow, HostTable, TableStats};
use super::{Source, escape};
use crate::wire::names::{Mac, dhcp, dhcpv6, dns, http, kerberos, nbns};

/// One UDP datagram, or the start of one direction of a TCP stream.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Capture time, microseconds since the epoch.
    pub ts: i64,
    /// Ethernet source MAC of the frame, when the link has one.
    pub src_mac: Option<Mac>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The UDP payload, or the stream bytes so far.
    pub payload: &'a [u8],
}

/// What a TCP observer wants of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamWant {
    /// Nothing more: the stream named what it could, or names nothing.
    Done,
    /// Call again when the stream holds this many bytes.
    More(usize),
}

/// Bounds of everything [`Identity`] keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The host table.
    pub table: table::Limits,
    /// Frame MACs.
    pub macs: macs::Limits,
    /// DHCP clients whose claims await the server's answer.
    pub dhcp_clients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            table: table::Limits::default(),
            macs: macs::Limits::default(),
            dhcp_clients: 16_384,
        }
    }
}

/// Counts for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityStats {
    /// Names held, per source (an address's name once, however often
    /// seen; see `tlsready hosts`).
    pub names: Vec<(Source, u64)>,
    /// Messages of a name protocol that did not decode.
    pub undecoded: u64,
    /// Bounds of the host table.
    pub table: TableStats,
    /// Frame-MAC observations refused (tables full).
    pub macs_refused: u64,
    /// MACs taken for routers.
    pub routers: Vec<Router>,
}

impl IdentityStats {
    /// The summary's line (without its `Host names: ` heading): names
    /// learned per source (each address's name once, as `tlsready hosts`
    /// lists them, however often seen), routers, and what the bounds dropped (`dropped`:
    /// name frames not kept); empty when there is nothing to say.
    pub fn summary_line(&self, dropped: u64) -> String {
        let total: u64 = self.names.iter().map(|(_, n)| n).sum();
        let mut parts = Vec::new();
        if total > 0 {
            let each: Vec<String> = self
                .names
                .iter()
                .map(|(s, n)| format!("{} {n}", s.as_str()))
                .collect();
            parts.push(format!("{total} learned ({})", each.join(", ")));
        }
        if !self.routers.is_empty() {
            parts.push(format!(
                "{} MAC(s) taken for routers (their addresses get no MAC)",
                self.routers.len()
            ));
        }
        let t = &self.table;
        let bounded =
            t.hosts_refused + t.tenancies_dropped + t.names_dropped + self.macs_refused + dropped;
        if bounded > 0 {
            parts.push(format!(
                "tables full: {} addresses refused, {} tenancies and {} names dropped, {} MAC sightings refused, {} name frames not kept",
                t.hosts_refused, t.tenancies_dropped, t.names_dropped, self.macs_refused, dropped
            ));
        }
        if self.undecoded > 0 && !parts.is_empty() {
            parts.push(format!("{} messages did not decode", self.undecoded));
        }
        parts.join("; ")
    }
}

/// Who a client is, at a time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIdentity {
    /// Its name and the source of it.
    pub name: Option<(String, Source)>,
    /// Its MAC (never a router's).
    pub mac: Option<Mac>,
    /// The MAC's vendor (empty when unknown).
    pub vendor: String,
    /// The OS hint.
    pub os_hint: Option<String>,
}

/// What a DHCP client said of itself, awaiting the server's answer.
#[derive(Debug, Clone, Default)]
struct Claims {
    name: Option<String>,
    os: Option<OsHint>,
    mac: Option<Mac>,
    /// The address last assigned to it (for a RELEASE or DECLINE that
    /// does not say which address it gives back).
    assigned: Option<IpAddr>,
}

/// A bounded map keeping the most recent entries (two generations).
#[derive(Debug)]
struct Recent<K, V> {
    cur: HashMap<K, V>,
    prev: HashMap<K, V>,
    cap: usize,
}

impl<K: Hash + Eq, V> Recent<K, V> {
    fn new(cap: usize) -> Self {
        Recent {
            cur: HashMap::default(),
            prev: HashMap::default(),
            cap: cap.max(2) / 2,
        }
    }

    fn insert(&mut self, k: K, v: V) {
        if !self.cur.contains_key(&k) && self.cur.len() >= self.cap {
            self.prev = std::mem::take(&mut self.cur);
        }
        self.cur.insert(k, v);
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.cur.get(k).or_else(|| self.prev.get(k))
    }
}

/// Host identity learned from a capture.
#[derive(Debug)]
pub struct Identity {
    hosts: HostTable,
    macs: MacTable,
    known: std::collections::HashMap<IpAddr, KnownHost>,
    dhcp: Recent<Mac, Claims>,
    dhcp6: Recent<Vec<u8>, Claims>,
    oui: Option<Oui>,
    undecoded: u64,
    /// OS hints of recent User-Agents, by their raw bytes (a client sends
    /// the same one again and again).
    ua_hints: HashMap<Box<[u8]>, Option<OsHint>>,
}

/// User-Agents whose hints are kept (cleared when full).
const UA_CACHE: usize = 1024;

impl Default for Identity {
    fn default() -> Self {
        Identity::new(Limits::default())
    }
}

impl Identity {
    /// Nothing learned yet.
    pub fn new(limits: Limits) -> Self {
        Identity {
            hosts: HostTable::new(limits.table),
            macs: MacTable::new(limits.macs),
            known: std::collections::HashMap::new(),
            dhcp: Recent::new(limits.dhcp_clients),
            dhcp6: Recent::new(limits.dhcp_clients),
            oui: None,
            undecoded: 0,
            ua_hints: HashMap::default(),
        }
    }

    /// Names the user gave (`--hosts`): they win over learned ones.
    pub fn with_known(mut self, known: std::collections::HashMap<IpAddr, KnownHost>) -> Self {
        self.known = known;
        self
    }

    /// A vendor table to use instead of the embedded one (`--oui`).
    pub fn with_oui(mut self, oui: Oui) -> Self {
        self.oui = Some(oui);
        self
    }

    fn oui(&self) -> &Oui {
        self.oui.as_ref().unwrap_or_else(|| Oui::embedded())
    }

    fn learn(&mut self, addr: IpAddr, ts: i64, fact: Fact<'_>) {
        self.hosts.learn(addr, ts, fact);
    }

    fn name(&mut self, addr: IpAddr, ts: i64, name: &str, source: Source) {
        if name.is_empty() {
            return;
        }
        self.learn(
            addr,
            ts,
            Fact {
                name: Some((name, source)),
                ..Fact::default()
            },
        );
    }

    /// A UDP datagram: DHCP (67/68), DHCPv6 (546/547), DNS answers (from
    /// 53), mDNS (5353), LLMNR answers (from 5355), NetBIOS (137),
    /// Kerberos (88). Other ports are ignored.
    pub fn udp(&mut self, d: &Datagram<'_>) {
        let ports = (d.sport, d.dport);
        let ok = match ports {
            (67 | 68, 67 | 68) => self.dhcp4(d),
            (546 | 547, 546 | 547) => self.dhcp6(d),
            (53, _) => self.dns(d, d.payload),
            (5353, _) | (_, 5353) => self.multicast_dns(d, Source::Mdns),
            (5355, _) => self.multicast_dns(d, Source::Llmnr),
            (137, _) | (_, 137) => self.nbns(d),
            (88, _) | (_, 88) => self.kerberos(d, d.payload),
            _ => true,
        };
        if !ok {
            self.undecoded += 1;
        }
    }

    /// The start of one direction of a TCP stream: Kerberos (port 88, its
    /// 4-byte record length), DNS answers (from 53), else an HTTP request
    /// (its `User-Agent` gives the client an OS hint). Says how many bytes
    /// it still needs, if any.
    pub fn tcp_stream(&mut self, d: &Datagram<'_>) -> StreamWant {
        if d.sport == 88 || d.dport == 88 {
            return match kerberos::tcp_record(d.payload) {
                kerberos::TcpRecord::Complete(m) => {
                    if !self.kerberos(d, m) {
                        self.undecoded += 1;
                    }
                    StreamWant::Done
                }
                kerberos::TcpRecord::Incomplete(n) => StreamWant::More(n),
                kerberos::TcpRecord::Invalid => StreamWant::Done,
            };
        }
        if d.sport == 53 {
            return match dns::tcp_message(d.payload) {
                Some(m) => {
                    self.dns(d, m);
                    StreamWant::Done
                }
                None if d.payload.len() >= 2 => StreamWant::More(
                    2 + usize::from(u16::from_be_bytes([d.payload[0], d.payload[1]])),
                ),
                None => StreamWant::More(2),
            };
        }
        if let Some(r) = http::parse_request(d.payload)
            && let Some(ua) = r.user_agent
            && let Some(os) = self.ua_hint(ua)
        {
            self.learn(
                d.src,
                d.ts,
                Fact {
                    os: Some(os),
                    ..Fact::default()
                },
            );
        }
        StreamWant::Done
    }

    /// The OS hint of a raw User-Agent.
    fn ua_hint(&mut self, ua: Vec<u8>) -> Option<OsHint> {
        if let Some(h) = self.ua_hints.get(&*ua) {
            return h.clone();
        }
        let h = os_hint::from_user_agent(&escape(&ua));
        if self.ua_hints.len() >= UA_CACHE {
            self.ua_hints.clear();
        }
        self.ua_hints.insert(ua.into_boxed_slice(), h.clone());
        h
    }

    /// A frame from `addr` carried source MAC `mac` (call it for client
    /// frames: once per connection is enough).
    pub fn frame_mac(&mut self, ts: i64, mac: Mac, addr: IpAddr) {
        self.macs.observe(ts, mac, addr);
    }

    /// The name a mail client gave in EHLO/HELO (escaped already).
    pub fn ehlo(&mut self, ts: i64, addr: IpAddr, name: &str) {
        self.name(addr, ts, name, Source::Ehlo);
    }

    fn dhcp4(&mut self, d: &Datagram<'_>) -> bool {
        let Some(m) = dhcp::parse(d.payload) else {
            return false;
        };
        let mac = m.client_mac;
        let before = mac.and_then(|mac| self.dhcp.get(&mac).cloned());
        if m.from_client() {
            let mut claims = Claims {
                name: m.fqdn.as_ref().or(m.host_name.as_ref()).map(|n| escape(n)),
                os: m
                    .vendor_class
                    .as_ref()
                    .and_then(|v| os_hint::from_dhcp_vendor_class(&escape(v))),
                mac,
                assigned: before.as_ref().and_then(|c| c.assigned),
            };
            let giving_back = matches!(m.msg_type, Some(dhcp::msg::RELEASE | dhcp::msg::DECLINE));
            match m.address() {
                Some((a, dhcp::AddrRole::InUse)) => {
                    claims.assigned = Some(a.into());
                    self.claim(a.into(), d.ts, &claims)
                }
                // An INFORM's option 50 (RFC 2131 forbids it there) says
                // nothing of the address the client holds: as Zeek, no
                // holding is taken from it.
                Some((a, dhcp::AddrRole::Released | dhcp::AddrRole::Declined)) => {
                    self.hosts.end(a.into(), d.ts, mac);
                    claims.assigned = None;
                }
                // RFC 2131 wants the address in both; not every client
                // sends it: the one last assigned to this MAC is meant.
                None if giving_back => {
                    if let Some(a) = claims.assigned.take() {
                        self.hosts.end(a, d.ts, mac);
                    }
                }
                _ => {}
            }
            if giving_back {
                // Its names stay with the MAC for the next exchange.
                claims.name = claims.name.or(before.as_ref().and_then(|c| c.name.clone()));
                claims.os = claims.os.or(before.and_then(|c| c.os));
            }
            if let Some(mac) = mac {
                self.dhcp.insert(mac, claims);
            }
        } else if let Some((a, dhcp::AddrRole::Assigned)) = m.address() {
            let mut claims = before.unwrap_or_default();
            if let Some(n) = m.fqdn.as_ref().or(m.host_name.as_ref()) {
                claims.name = Some(escape(n));
            }
            claims.mac = mac;
            claims.assigned = Some(a.into());
            self.claim(a.into(), d.ts, &claims);
            if let Some(mac) = mac {
                self.dhcp.insert(mac, claims);
            }
        }
        true
    }

    fn claim(&mut self, addr: IpAddr, ts: i64, c: &Claims) {
        self.learn(
            addr,
            ts,
            Fact {
                name: c.name.as_deref().map(|n| (n, Source::Dhcp)),
                mac: c.mac.map(|m| (m, Source::Dhcp)),
                os: c.os.clone(),
            },
        );
    }

    fn dhcp6(&mut self, d: &Datagram<'_>) -> bool {
        let Some(m) = dhcpv6::parse(d.payload) else {
            return false;
        };
        let fact_of = |c: &Claims| {
            (
                c.name.clone(),
                c.mac.map(|m| (m, Source::Dhcpv6)),
                c.os.clone(),
            )
        };
        if m.msg_type == dhcpv6::msg::REPLY {
            let mut c = self.dhcp6.get(&m.duid).cloned().unwrap_or_default();
            if let Some(n) = &m.fqdn {
                c.name = Some(escape(n));
            }
            c.mac = c.mac.or(m.client_mac);
            let (name, mac, os) = fact_of(&c);
            for a in &m.addresses {
                self.learn(
                    IpAddr::V6(*a),
                    d.ts,
                    Fact {
                        name: name.as_deref().map(|n| (n, Source::Dhcpv6)),
                        mac,
                        os: os.clone(),
                    },
                );
            }
        } else if m.msg_type != dhcpv6::msg::ADVERTISE {
            let c = Claims {
                name: m.fqdn.as_ref().map(|n| escape(n)),
                os: m
                    .vendor_class
                    .as_ref()
                    .and_then(|v| os_hint::from_dhcp_vendor_class(&escape(v))),
                mac: m.client_mac,
                assigned: None,
            };
            if m.msg_type == dhcpv6::msg::RELEASE {
                for a in &m.addresses {
                    self.hosts.end(IpAddr::V6(*a), d.ts, c.mac);
                }
            }
            // The client's own (link-local) source address is its.
            let (name, mac, os) = fact_of(&c);
            self.learn(
                d.src,
                d.ts,
                Fact {
                    name: name.as_deref().map(|n| (n, Source::Dhcpv6)),
                    mac,
                    os,
                },
            );
            if !m.duid.is_empty() {
                self.dhcp6.insert(m.duid, c);
            }
        }
        true
    }

    /// Unicast DNS answer: PTR answers name the address they spell (the
    /// A/AAAA answers name servers: [`super::server_names`]).
    fn dns(&mut self, d: &Datagram<'_>, msg: &[u8]) -> bool {
        let Some(s) = dns::scan(msg) else {
            return is_query(msg);
        };
        if s.answers().any(|(t, _)| t == dns::rtype::PTR)
            && let Some(r) = dns::parse_response(msg)
        {
            for (addr, target) in &r.ptrs {
                let n = escape(target);
                self.name(*addr, d.ts, &n, Source::Ptr);
            }
        }
        true
    }

    /// mDNS or LLMNR answer: each A/AAAA record names its address (the
    /// responder's own, or one it speaks for); mDNS reverse PTRs too.
    fn multicast_dns(&mut self, d: &Datagram<'_>, source: Source) -> bool {
        let Some(r) = dns::parse_response(d.payload) else {
            return is_query(d.payload);
        };
        for rec in &r.addresses {
            if source == Source::Llmnr && !rec.answer {
                continue;
            }
            let n = escape(&rec.name);
            self.name(rec.addr, d.ts, &n, source);
        }
        if source == Source::Mdns {
            for (addr, target) in &r.ptrs {
                let n = escape(target);
                self.name(*addr, d.ts, &n, source);
            }
        }
        true
    }

    fn nbns(&mut self, d: &Datagram<'_>) -> bool {
        let Some(m) = nbns::parse(d.payload) else {
            // Queries and negative answers name nothing; they still decode.
            return d.payload.len() >= 12;
        };
        for n in m.names.iter().filter(|n| n.is_host_name()) {
            let name = escape(&n.name);
            let addr = match (m.kind, n.addr) {
                (nbns::Kind::NodeStatus, _) => d.src,
                (_, Some(a)) => IpAddr::V4(a),
                (_, None) => continue,
            };
            if m.kind == nbns::Kind::Release {
                continue;
            }
            let mac = if m.kind == nbns::Kind::NodeStatus {
                m.mac.map(|mac| (mac, Source::Nbns))
            } else {
                None
            };
            self.learn(
                addr,
                d.ts,
                Fact {
                    name: Some((&name, Source::Nbns)),
                    mac,
                    os: None,
                },
            );
        }
        true
    }

    fn kerberos(&mut self, d: &Datagram<'_>, msg: &[u8]) -> bool {
        let Some(k) = kerberos::parse(msg) else {
            // AP-REQ, KRB-PRIV… decode elsewhere; only say "undecoded" for
            // what claims to be a KDC message.
            return !matches!(msg.first(), Some(0x6a..=0x6d | 0x7e));
        };
        let Some(p) = &k.client else {
            return true;
        };
        if p.components.first().is_some_and(|c| c == "WELLKNOWN") {
            return true; // anonymous PKINIT names no one
        }
        let addr = if k.kind.from_client() { d.src } else { d.dst };
        let text = escape(p.text().as_bytes());
        let source = if p.machine().is_some() {
            Source::Kerberos
        } else {
            Source::KerberosUser
        };
        self.name(addr, d.ts, &text, source);
        true
    }

    /// Who `addr` was at `ts`: the `--hosts` entry first, else what the
    /// capture taught. The MAC comes from DHCP/DHCPv6/NetBIOS, else from
    /// the frames (routers excepted).
    pub fn client(&self, addr: IpAddr, ts: i64) -> ClientIdentity {
        let mut held = self.hosts.lookup(addr, ts);
        // Before its first fact, a tenancy stands for the address unless
        // the frames show one device there before it and another during
        // it: an address DHCP gives to a new device was another's before,
        // whose lease the capture may not show (its SYNs show its MAC).
        // Frames are compared with frames: a lease's MAC (a DUID's) may
        // not be the one the device's frames carry.
        if let Some(h) = &held
            && ts < h.first
            && self.macs.another_before(addr, h.first, ts)
        {
            held = None;
        }
        let known = self.known.get(&addr);
        let name = match (known, &held) {
            (Some(k), _) => Some((k.name.clone(), Source::Hosts)),
            (None, Some(h)) => h.name.map(|(n, s)| (n.to_string(), s)),
            (None, None) => None,
        };
        let mac = known
            .and_then(|k| k.mac)
            .or(held.as_ref().and_then(|h| h.mac))
            .or_else(|| self.macs.mac_for(addr, ts));
        ClientIdentity {
            name,
            mac,
            vendor: mac
                .map(|m| self.oui().vendor(&m).cell().to_string())
                .unwrap_or_default(),
            os_hint: held.and_then(|h| h.os).map(|o| o.os.to_string()),
        }
    }

    /// [`Identity::client`] as the clients CSV and the terminal report show
    /// it; `None` when nothing is known of the address.
    pub fn client_name(&self, addr: IpAddr, ts: i64) -> Option<crate::model::row::ClientName> {
        let c = self.client(addr, ts);
        let n = crate::model::row::ClientName {
            source: c.name.as_ref().map_or("", |(_, s)| s.as_str()),
            name: c.name.map(|(n, _)| n).unwrap_or_default(),
            mac: c
                .mac
                .map(|m| super::oui::format_mac(&m))
                .unwrap_or_default(),
            vendor: c.vendor,
            os_hint: c.os_hint.unwrap_or_default(),
        };
        (!n.is_empty()).then_some(n)
    }

    /// Whether any address has a name or a MAC (else no row can be
    /// named).
    pub fn names_anyone(&self) -> bool {
        !self.known.is_empty() || self.macs.names_any() || self.hosts.names_any()
    }

    /// What was learned, one row per address × name × source (and MAC);
    /// rows without a MAC get the frames' MAC when one is known.
    pub fn host_rows(&self) -> Vec<HostRow> {
        let mut rows = self.hosts.rows();
        for r in &mut rows {
            if r.mac.is_none() {
                r.mac = self.macs.mac_for(r.addr, r.first_seen);
            }
        }
        rows
    }

    /// The vendor of a MAC (empty when unknown).
    pub fn vendor(&self, mac: &Mac) -> &str {
        self.oui().vendor(mac).cell()
    }

    /// Counts for the summary.
    pub fn stats(&self) -> IdentityStats {
        IdentityStats {
            names: self.hosts.names_by_source(),
            undecoded: self.undecoded,
            table: self.hosts.stats(),
            macs_refused: self.macs.refused,
            routers: self.macs.routers(),
        }
    }
}

/// A well-formed DNS query (not an answer): decodes, names nothing.
fn is_query(msg: &[u8]) -> bool {
    msg.get(2).is_some_and(|f| f & 0x80 == 0)
}
