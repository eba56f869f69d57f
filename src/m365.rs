//! Microsoft 365 endpoint recognition.
//!
//! This module decides whether the server of a TLS connection is a Microsoft 365
//! endpoint, using the data published by Microsoft's endpoints web service
//! (`https://endpoints.office.com/endpoints/<instance>`). A copy of the Worldwide
//! instance (web-service version [`EMBEDDED_VERSION`]) is embedded in the binary, so
//! the tool works offline; a file in the same format (for any instance: Worldwide,
//! USGovDoD, USGovGCCHigh, China) can replace it via [`Endpoints::from_json`] or
//! [`Endpoints::from_path`].
//!
//! # Name matching
//!
//! Server names (SNI, certificate CN/SANs, SMTP greeting host) are matched against
//! the URL patterns exactly as Microsoft writes them. Matching is ASCII
//! case-insensitive and one trailing dot of the name is ignored. Names with empty
//! labels (`a..b`, `.a`), whitespace or more than 253 characters never match.
//!
//! Patterns are globs in which `*` stands for **any string, possibly empty, dots
//! included**; every other character is literal. Consequences:
//!
//! * `outlook.office365.com` matches only itself.
//! * `*.outlook.com` matches `a.outlook.com` and `a.b.outlook.com`, not `outlook.com`
//!   (the literal `.` before `outlook.com` must be present, and a name with an empty
//!   first label is rejected beforehand).
//! * `*cdn.onenote.net` matches `cdn.onenote.net`, `xyzcdn.onenote.net` and
//!   `a.bcdn.onenote.net`, not `cdn.onenote.net.evil.example`.
//! * `autodiscover.*.onmicrosoft.com` matches `autodiscover.contoso.onmicrosoft.com`
//!   and also `autodiscover.a.b.onmicrosoft.com`.
//!
//! Patterns are precompiled: names without `*` go into a hash map; `*.suffix`
//! patterns (no further `*`) into a suffix table that is probed once per label of
//! the name; all other globs are indexed by the last two (or, failing that, last one)
//! complete labels of their literal tail, so a lookup only tests the globs sharing
//! the name's last labels. A lookup therefore costs O(number of labels) hash probes.
//!
//! When several patterns (or sets) match, the most specific wins: an exact name beats
//! any wildcard; among wildcards the longest literal tail (text after the last `*`)
//! wins, then the most literal characters overall (so
//! `autodiscover.*.onmicrosoft.com` beats `*.onmicrosoft.com`), then the lowest
//! endpoint set id (built-in legacy names, which have no id, come last).
//!
//! ## Wildcard certificate names
//!
//! A name may itself contain `*` (certificate SANs such as `*.outlook.com`). The `*`
//! in the name is compared as an ordinary character, which a pattern `*` can absorb
//! but a literal pattern character cannot. A match is therefore only found when
//! every name the wildcard covers would match: `*.outlook.com` matches the pattern
//! `*.outlook.com`, `*.protection.outlook.com` matches `*.protection.outlook.com`
//! (and `*.outlook.com`), but `*.onenote.net` does not match `*cdn.onenote.net`.
//! In addition, a name `*.X` matches whatever `X` itself matches (a certificate for
//! `*.teams.microsoft.com` counts as `teams.microsoft.com`). Deliberately *not* done:
//! `*.X` does not match because some single exact name `label.X` is listed, since
//! shared wildcard certificates such as `*.azureedge.net` would otherwise make every
//! Azure CDN site a Microsoft 365 endpoint (`mlccdnprod.azureedge.net` is listed).
//!
//! # Address matching
//!
//! Addresses are matched against the published IPv4/IPv6 prefixes with longest prefix
//! wins, then the lowest endpoint set id. Prefixes are kept in one hash map per prefix
//! length (keyed by the masked address), probed from the longest length down.
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are matched as IPv4.
//!
//! # Legacy endpoints
//!
//! The opt-in legacy endpoints [`LEGACY_PATTERNS`] are not in the feed; they are
//! always recognised (also with a user-supplied file), as service
//! [`Service::Exchange`], without an endpoint set id and with `legacy = true`.

use std::cmp::Reverse;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};

/// Web-service version of the embedded Worldwide endpoint data.
pub const EMBEDDED_VERSION: &str = "2026073100";

/// The embedded endpoint data (Microsoft endpoints web-service format).
const EMBEDDED_JSON: &str = include_str!("../data/m365/endpoints-worldwide-merged.json");

/// Opt-in legacy endpoints that are not in the feed but are always recognised
/// (service Exchange, no endpoint set id, `legacy = true`).
pub const LEGACY_PATTERNS: &[&str] = &[
    "smtp-legacy.office365.com",
    "pop-legacy.office365.com",
    "imap-legacy.office365.com",
    "*-legacy.partner.outlook.cn",
];

/// Longest accepted server name (DNS limit, without the trailing dot).
const MAX_NAME_LEN: usize = 253;

/// A Microsoft 365 service area, as named in tlsready's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Service {
    /// Exchange Online (serviceArea `Exchange`).
    Exchange,
    /// SharePoint Online and OneDrive for Business (serviceArea `SharePoint`).
    SharePoint,
    /// Microsoft Teams (serviceArea `Skype`).
    Teams,
    /// Microsoft 365 Common and Office (serviceArea `Common`).
    Common,
}

impl Service {
    /// All services, in output order.
    pub const ALL: [Service; 4] = [
        Service::Exchange,
        Service::SharePoint,
        Service::Teams,
        Service::Common,
    ];

    /// The output name: `Exchange`, `SharePoint`, `Teams` or `Common`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Exchange => "Exchange",
            Service::SharePoint => "SharePoint",
            Service::Teams => "Teams",
            Service::Common => "Common",
        }
    }

    /// Maps a web-service `serviceArea` value (`Exchange`, `SharePoint`, `Skype`,
    /// `Common`; `Teams` is accepted too) to a service, ignoring ASCII case.
    pub fn from_service_area(area: &str) -> Option<Service> {
        let area = area.trim();
        [
            ("exchange", Service::Exchange),
            ("sharepoint", Service::SharePoint),
            ("skype", Service::Teams),
            ("teams", Service::Teams),
            ("common", Service::Common),
        ]
        .into_iter()
        .find(|(name, _)| area.eq_ignore_ascii_case(name))
        .map(|(_, service)| service)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server name matched one URL pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    /// Endpoint set id; `None` for the built-in legacy endpoints.
    pub endpoint_id: Option<u32>,
    /// Service area of the endpoint set.
    pub service: Service,
    /// The matching pattern as published (lower-cased), e.g. `*.outlook.com`.
    pub pattern: String,
    /// True for the opt-in legacy endpoints of [`LEGACY_PATTERNS`].
    pub legacy: bool,
}

/// An address matched one published prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpMatch {
    /// Endpoint set id.
    pub endpoint_id: u32,
    /// Service area of the endpoint set.
    pub service: Service,
    /// The matching prefix (host bits cleared).
    pub prefix: IpNet,
}

/// Counts describing the loaded endpoint data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Number of endpoint sets.
    pub sets: usize,
    /// Sets left out: optional Common sets and shared infrastructure.
    pub shared_sets: usize,
    /// URL patterns as listed in the matched sets (a pattern listed by two sets counts twice;
    /// built-in legacy patterns are not counted).
    pub url_patterns: usize,
    /// IPv4 prefixes as listed in the sets (repeats across sets count).
    pub ipv4_prefixes: usize,
    /// IPv6 prefixes as listed in the sets (repeats across sets count).
    pub ipv6_prefixes: usize,
    /// Number of endpoint sets per service, for every service in [`Service::ALL`]
    /// order (zero counts included).
    pub sets_per_service: Vec<(Service, usize)>,
}

/// Error loading endpoint data.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// The endpoint file could not be read.
    #[error("cannot read Microsoft 365 endpoint file {path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The data is not valid JSON or not valid endpoint data.
    #[error(
        "{label}: invalid Microsoft 365 endpoint data at line {line}, column {column}: {message}"
    )]
    Parse {
        /// The source label given to [`Endpoints::from_json`].
        label: String,
        /// 1-based line of the error (as reported by serde_json).
        line: usize,
        /// 1-based column of the error (as reported by serde_json).
        column: usize,
        /// What is wrong, naming the endpoint set and field where known.
        message: String,
    },
}

/// Which kinds of evidence matched a Microsoft 365 endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MatchKinds {
    /// The TLS SNI host name matched a URL pattern.
    pub sni: bool,
    /// A certificate name (CN or SAN) matched a URL pattern.
    pub cert: bool,
    /// The server address matched a published prefix.
    pub ip: bool,
    /// The SMTP greeting host name matched a URL pattern.
    pub banner: bool,
}

impl MatchKinds {
    /// True if any kind matched.
    pub fn any(&self) -> bool {
        self.sni || self.cert || self.ip || self.banner
    }
}

impl fmt::Display for MatchKinds {
    /// Joins the matched kinds with `+` in the order `sni+cert+banner+ip`; empty when
    /// nothing matched.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (on, name) in [
            (self.sni, "sni"),
            (self.cert, "cert"),
            (self.banner, "banner"),
            (self.ip, "ip"),
        ] {
            if on {
                if !first {
                    f.write_str("+")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The evidence about one connection's server.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// TLS SNI host name, if the client sent one.
    pub sni: Option<&'a str>,
    /// Certificate names (CN and SANs) of the server certificate, in any order.
    pub cert_names: &'a [String],
    /// Host name from an SMTP greeting (220 banner / EHLO reply), if any.
    pub banner_host: Option<&'a str>,
    /// The server address.
    pub server_ip: IpAddr,
}

/// The verdict for one connection's server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    /// True if any evidence matched.
    pub m365: bool,
    /// Service of the strongest matching evidence (sni, then cert, then banner, then ip).
    pub service: Option<Service>,
    /// Which kinds of evidence matched.
    pub matched: MatchKinds,
    /// Endpoint set id of the strongest matching evidence (same evidence as
    /// `service`); `None` when nothing matched or that evidence is a legacy name.
    pub endpoint_id: Option<u32>,
    /// True if any matched name is a legacy endpoint.
    pub legacy: bool,
}

/// Precompiled Microsoft 365 endpoint matchers.
#[derive(Debug, Clone)]
pub struct Endpoints {
    version: String,
    stats: Stats,
    names: NameTable,
    /// Patterns of the sets left out (optional Common, shared
    /// infrastructure), only to explain a lookup.
    left_out: NameTable,
    ipv4: PrefixTable,
    ipv6: PrefixTable,
    /// Distinguishes instances in the per-thread name cache.
    cache_id: u64,
}

/// Names looked up lately, per thread and per [`Endpoints`] instance: the
/// same server names come back on connection after connection.
const NAME_CACHE_MAX: usize = 4096;

/// Instance counter for `cache_id`.
static NEXT_CACHE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Per-thread cache: the owning instance's `cache_id`, and name -> best entry.
type NameCache = (u64, FxHashMap<Box<str>, Option<usize>>);

thread_local! {
    static NAME_CACHE: std::cell::RefCell<NameCache> = std::cell::RefCell::new((0, FxHashMap::default()));
}

impl Endpoints {
    /// Parses the embedded Worldwide data (version [`EMBEDDED_VERSION`]).
    ///
    /// The embedded data is checked by a unit test; should it ever fail to parse,
    /// the result only recognises the built-in legacy names.
    pub fn embedded() -> Endpoints {
        match Self::from_json(EMBEDDED_JSON, EMBEDDED_VERSION) {
            Ok(endpoints) => endpoints,
            Err(_) => Self::build(EMBEDDED_VERSION, Vec::new()),
        }
    }

    /// Parses endpoint data in the web-service format (a JSON array of endpoint sets).
    ///
    /// `source_label` names the data in error messages and becomes
    /// [`Endpoints::version`] (e.g. `file:/path/to/usgovdod.json`). Unknown fields are
    /// ignored; `id` and `serviceArea` are required; `urls` and `ips` are optional.
    /// An `ips` entry may be a prefix (`40.92.0.0/15`) or a bare address.
    pub fn from_json(text: &str, source_label: &str) -> Result<Endpoints, EndpointsError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = SetsSeed
            .deserialize(&mut de)
            .and_then(|sets| de.end().map(|()| sets));
        match parsed {
            Ok(sets) => Ok(Self::build(source_label, sets)),
            Err(err) => Err(parse_error(source_label, &err)),
        }
    }

    /// Reads and parses an endpoint file; its label is `file:<path>`.
    pub fn from_path(path: &Path) -> Result<Endpoints, EndpointsError> {
        let text = std::fs::read_to_string(path).map_err(|source| EndpointsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text, &format!("file:{}", path.display()))
    }

    /// [`EMBEDDED_VERSION`] for the embedded data, otherwise the label given to
    /// [`Endpoints::from_json`].
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Counts of sets, patterns and prefixes.
    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Matches a server name (see the module docs for the pattern semantics); returns
    /// the most specific match.
    pub fn match_name(&self, name: &str) -> Option<NameMatch> {
        self.names
            .candidates(name)
            .first()
            .and_then(|&idx| self.names.to_match(idx))
    }

    /// Matches an address against the published prefixes (longest prefix wins, then
    /// the lowest endpoint set id).
    pub fn match_ip(&self, ip: IpAddr) -> Option<IpMatch> {
        let (prefix, sets) = self.ip_hit(ip)?;
        let first = sets.first()?;
        Some(IpMatch {
            endpoint_id: first.id,
            service: first.service,
            prefix,
        })
    }

    /// Classifies one connection's server from all available evidence.
    ///
    /// Among several certificate names the most specific match counts (ties: the
    /// earlier name). The service and endpoint id come from the strongest matching
    /// evidence: sni, then cert, then banner, then ip.
    pub fn classify(&self, q: &Query<'_>) -> Classification {
        let sni = q.sni.and_then(|name| self.best_name(name));
        let mut cert: Option<usize> = None;
        for name in q.cert_names {
            if let Some(idx) = self.best_name(name) {
                let better = cert.is_none_or(|cur| self.names.rank(idx) < self.names.rank(cur));
                if better {
                    cert = Some(idx);
                }
            }
        }
        let banner = q.banner_host.and_then(|name| self.best_name(name));
        let ip = self.match_ip(q.server_ip);

        let matched = MatchKinds {
            sni: sni.is_some(),
            cert: cert.is_some(),
            ip: ip.is_some(),
            banner: banner.is_some(),
        };
        let legacy = [sni, cert, banner]
            .into_iter()
            .flatten()
            .any(|idx| self.names.entry(idx).is_some_and(|e| e.legacy));
        let strongest_name = sni
            .or(cert)
            .or(banner)
            .and_then(|idx| self.names.entry(idx));
        let (service, endpoint_id) = match (strongest_name, &ip) {
            (Some(entry), _) => (Some(entry.service), entry.endpoint_id),
            (None, Some(hit)) => (Some(hit.service), Some(hit.endpoint_id)),
            (None, None) => (None, None),
        };
        Classification {
            m365: matched.any(),
            service,
            matched,
            endpoint_id,
            legacy,
        }
    }

    /// Human-readable answer for `tlsready endpoints lookup <name|address>`.
    ///
    /// An IP address (optionally in brackets) is matched against the prefixes,
    /// anything else as a server name. The best match comes first, followed by any
    /// other matching sets.
    pub fn describe_lookup(&self, query: &str) -> String {
        let query = query.trim();
        let unbracketed = query
            .strip_prefix('[')
            .and_then(|q| q.strip_suffix(']'))
            .unwrap_or(query);
        let mut out = String::new();
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            match self.ip_hit(ip) {
                Some((prefix, sets)) => {
                    out.push_str(&format!(
                        "{ip}: Microsoft 365 address (data {})\n",
                        self.version
                    ));
                    for (n, set) in sets.iter().enumerate() {
                        let lead = if n == 0 { "match" } else { "also" };
                        out.push_str(&format!(
                            "  {lead}: prefix {prefix}, endpoint set {}, service {}\n",
                            set.id, set.service
                        ));
                    }
                }
                None => out.push_str(&format!(
                    "{ip}: not in any Microsoft 365 prefix (data {})\n",
                    self.version
                )),
            }
            return out;
        }
        let Some(normal) = normalize_name(query) else {
            out.push_str(&format!(
                "{query:?}: neither an IP address nor a valid host name\n"
            ));
            return out;
        };
        let candidates = self.names.candidates(query);
        if candidates.is_empty() {
            out.push_str(&format!(
                "{normal}: matches no Microsoft 365 URL pattern (data {})\n",
                self.version
            ));
            if let Some(m) = self
                .left_out
                .best(query)
                .and_then(|i| self.left_out.to_match(i))
            {
                out.push_str(&format!(
                    "  listed as {} in endpoint set {}, which is not counted: an optional \
                     Common set or shared web infrastructure (see the README)\n",
                    m.pattern,
                    m.endpoint_id.map_or_else(String::new, |i| i.to_string())
                ));
            }
            return out;
        }
        out.push_str(&format!(
            "{normal}: Microsoft 365 name (data {})\n",
            self.version
        ));
        for (n, m) in candidates
            .iter()
            .filter_map(|&idx| self.names.to_match(idx))
            .enumerate()
        {
            let lead = if n == 0 { "match" } else { "also" };
            let set = match m.endpoint_id {
                Some(id) => format!("endpoint set {id}"),
                None => "no endpoint set (built-in)".to_string(),
            };
            let legacy = if m.legacy { ", legacy endpoint" } else { "" };
            out.push_str(&format!(
                "  {lead}: pattern {}, {set}, service {}{legacy}\n",
                m.pattern, m.service
            ));
        }
        out
    }

    /// The longest matching prefix and its sets (sorted by id).
    fn ip_hit(&self, ip: IpAddr) -> Option<(IpNet, &[SetRef])> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.ipv4.lookup(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => self.ipv6.lookup(u128::from(v6)),
        }
    }

    /// Precompiles parsed sets plus the built-in legacy names.
    fn build(label: &str, sets: Vec<RawSet>) -> Endpoints {
        let mut names = NameTable::default();
        let mut left_out = NameTable::default();
        let mut ipv4 = PrefixTable::new(32);
        let mut ipv6 = PrefixTable::new(128);
        let mut url_patterns = 0;
        let mut ipv4_prefixes = 0;
        let mut ipv6_prefixes = 0;
        let mut per_service: FxHashMap<Service, usize> = FxHashMap::default();
        let mut shared_sets = 0;
        for set in &sets {
            if set.shared_infrastructure() {
                shared_sets += 1;
                for url in &set.urls {
                    left_out.add(url, Some(set.id), set.service, false);
                }
                continue;
            }
            *per_service.entry(set.service).or_default() += 1;
            url_patterns += set.urls.len();
            for url in &set.urls {
                names.add(url, Some(set.id), set.service, false);
            }
            let target = SetRef {
                id: set.id,
                service: set.service,
            };
            for net in &set.ips {
                match net {
                    IpNet::V4(n) => {
                        ipv4_prefixes += 1;
                        ipv4.add(
                            u128::from(u32::from(n.network())),
                            n.prefix_len(),
                            IpNet::V4(n.trunc()),
                            target,
                        );
                    }
                    IpNet::V6(n) => {
                        ipv6_prefixes += 1;
                        ipv6.add(
                            u128::from(n.network()),
                            n.prefix_len(),
                            IpNet::V6(n.trunc()),
                            target,
                        );
                    }
                }
            }
        }
        for legacy in LEGACY_PATTERNS {
            names.add(legacy, None, Service::Exchange, true);
        }
        names.finish();
        left_out.finish();
        ipv4.finish();
        ipv6.finish();
        let stats = Stats {
            sets: sets.len(),
            shared_sets,
            url_patterns,
            ipv4_prefixes,
            ipv6_prefixes,
            sets_per_service: Service::ALL
                .iter()
                .map(|s| (*s, per_service.get(s).copied().unwrap_or(0)))
                .collect(),
        };
        Endpoints {
            version: label.to_string(),
            stats,
            names,
            left_out,
            ipv4,
            ipv6,
            cache_id: NEXT_CACHE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// [`NameTable::best`] through the per-thread cache.
    fn best_name(&self, name: &str) -> Option<usize> {
        NAME_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != self.cache_id {
                *c = (self.cache_id, FxHashMap::default());
            }
            if let Some(&hit) = c.1.get(name) {
                return hit;
            }
            let hit = self.names.best(name);
            if name.len() > 253 {
                return hit; // not a DNS name: not worth a cache entry
            }
            if c.1.len() >= NAME_CACHE_MAX {
                c.1.clear();
            }
            c.1.insert(name.into(), hit);
            hit
        })
    }
}

// ---------------------------------------------------------------------------
// Name matching
// ---------------------------------------------------------------------------

/// Specificity order of a pattern entry; smaller is better.
/// (exact? 0 : 1, longest literal tail, most literal characters, id; no id last).
type Rank = (u8, Reverse<usize>, Reverse<usize>, u64);

#[derive(Debug, Clone)]
struct PatternEntry {
    pattern: String,
    endpoint_id: Option<u32>,
    service: Service,
    legacy: bool,
    rank: Rank,
}

#[derive(Debug, Clone, Default)]
struct NameTable {
    entries: Vec<PatternEntry>,
    /// Patterns without `*`, by name.
    exact: FxHashMap<String, Vec<usize>>,
    /// `*.suffix` patterns (no other `*`), by `suffix`.
    suffix: FxHashMap<String, Vec<usize>>,
    /// Other globs whose literal tail ends in two complete labels, by those labels.
    glob_by_two: FxHashMap<String, Vec<usize>>,
    /// Other globs whose literal tail ends in exactly one complete label, by it.
    glob_by_one: FxHashMap<String, Vec<usize>>,
    /// Globs whose literal tail holds no complete label (e.g. `foo.*`); always tested.
    glob_rest: Vec<usize>,
    /// (pattern, id) pairs already added, to skip repeats within a set.
    seen: FxHashSet<(String, Option<u32>)>,
}

impl NameTable {
    /// Adds a pattern (already validated, lower-case, no trailing dot).
    fn add(&mut self, pattern: &str, endpoint_id: Option<u32>, service: Service, legacy: bool) {
        if !self.seen.insert((pattern.to_string(), endpoint_id)) {
            return;
        }
        let idx = self.entries.len();
        let tail = pattern.rsplit('*').next().unwrap_or(pattern);
        let has_star = pattern.contains('*');
        let rank = (
            u8::from(has_star),
            Reverse(tail.len()),
            Reverse(pattern.bytes().filter(|&b| b != b'*').count()),
            endpoint_id.map_or(u64::MAX, u64::from),
        );
        self.entries.push(PatternEntry {
            pattern: pattern.to_string(),
            endpoint_id,
            service,
            legacy,
            rank,
        });
        if !has_star {
            self.exact.entry(pattern.to_string()).or_default().push(idx);
            return;
        }
        if let Some(rest) = pattern.strip_prefix("*.")
            && !rest.contains('*')
        {
            self.suffix.entry(rest.to_string()).or_default().push(idx);
            return;
        }
        // Complete labels of the literal tail: every label except the first, which
        // is glued to the `*` (an empty first label means the tail starts with `.`).
        let complete: Vec<&str> = tail.split('.').skip(1).collect();
        match complete.as_slice() {
            [.., a, b] => self
                .glob_by_two
                .entry(format!("{a}.{b}"))
                .or_default()
                .push(idx),
            [b] => self
                .glob_by_one
                .entry((*b).to_string())
                .or_default()
                .push(idx),
            [] => self.glob_rest.push(idx),
        }
    }

    /// Sorts every bucket by rank so the first hit of a bucket is its best.
    fn finish(&mut self) {
        let entries = &self.entries;
        let key = |idx: &usize| entries.get(*idx).map(|e| e.rank);
        for bucket in self
            .exact
            .values_mut()
            .chain(self.suffix.values_mut())
            .chain(self.glob_by_two.values_mut())
            .chain(self.glob_by_one.values_mut())
        {
            bucket.sort_by_key(key);
        }
        self.glob_rest.sort_by_key(key);
        self.seen = FxHashSet::default();
    }

    fn entry(&self, idx: usize) -> Option<&PatternEntry> {
        self.entries.get(idx)
    }

    fn rank(&self, idx: usize) -> Option<Rank> {
        self.entries.get(idx).map(|e| e.rank)
    }

    fn to_match(&self, idx: usize) -> Option<NameMatch> {
        self.entry(idx).map(|e| NameMatch {
            endpoint_id: e.endpoint_id,
            service: e.service,
            pattern: e.pattern.clone(),
            legacy: e.legacy,
        })
    }

    /// The best matching entry for a name.
    fn best(&self, name: &str) -> Option<usize> {
        self.candidates(name).first().copied()
    }

    /// All matching entries for a name, best first.
    fn candidates(&self, name: &str) -> Vec<usize> {
        let Some(name) = normalize_name(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.collect(&name, &mut out);
        // A wildcard name `*.X` also counts as `X` (see module docs).
        if let Some(rest) = name.strip_prefix("*.") {
            self.collect(rest, &mut out);
        }
        out.sort_by_key(|&idx| self.rank(idx));
        out.dedup();
        out
    }

    /// Appends the entries matching a normalised name.
    fn collect(&self, name: &str, out: &mut Vec<usize>) {
        if let Some(hits) = self.exact.get(name) {
            out.extend_from_slice(hits);
        }
        // `*.suffix`: probe every proper label suffix of the name.
        let mut rest = name;
        while let Some((_, tail)) = rest.split_once('.') {
            rest = tail;
            if let Some(hits) = self.suffix.get(rest) {
                out.extend_from_slice(hits);
            }
        }
        // Other globs: only those sharing the name's last one or two labels.
        let last_one = name.rsplit('.').next().unwrap_or(name);
        let last_two = match name.rmatch_indices('.').nth(1) {
            Some((pos, _)) => name.get(pos + 1..),
            None => name.contains('.').then_some(name),
        };
        let buckets = [
            last_two.and_then(|k| self.glob_by_two.get(k)),
            self.glob_by_one.get(last_one),
            Some(&self.glob_rest),
        ];
        for &idx in buckets.into_iter().flatten().flatten() {
            if self
                .entries
                .get(idx)
                .is_some_and(|e| glob_match(e.pattern.as_bytes(), name.as_bytes()))
            {
                out.push(idx);
            }
        }
    }
}

/// Lower-cases a name, drops one trailing dot and surrounding whitespace; `None` if
/// the result is empty, too long, has an empty label or contains whitespace/control
/// characters.
fn normalize_name(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.split('.').any(str::is_empty)
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// Glob match where `*` in the pattern matches any byte string (possibly empty) and
/// every other pattern byte matches itself.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the text position it absorbed to.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&pc) if pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

// ---------------------------------------------------------------------------
// Address matching
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SetRef {
    id: u32,
    service: Service,
}

/// Prefixes of one address family: per prefix length, the masked network address
/// (as `u128`) mapped to the prefix and its endpoint sets (sorted by id).
/// Masked network address to the prefix and its endpoint sets.
type PrefixMap = FxHashMap<u128, (IpNet, Vec<SetRef>)>;

#[derive(Debug, Clone)]
struct PrefixTable {
    bits: u8,
    /// Sorted by prefix length, longest first.
    by_len: Vec<(u8, PrefixMap)>,
}

impl PrefixTable {
    fn new(bits: u8) -> PrefixTable {
        PrefixTable {
            bits,
            by_len: Vec::new(),
        }
    }

    fn mask(&self, addr: u128, len: u8) -> u128 {
        let shift = u32::from(self.bits.saturating_sub(len));
        addr.checked_shr(shift)
            .and_then(|v| v.checked_shl(shift))
            .unwrap_or(0)
    }

    fn add(&mut self, addr: u128, len: u8, net: IpNet, set: SetRef) {
        let key = self.mask(addr, len);
        let map = match self.by_len.iter().position(|(l, _)| *l == len) {
            Some(pos) => self.by_len.get_mut(pos).map(|(_, m)| m),
            None => {
                self.by_len.push((len, FxHashMap::default()));
                self.by_len.last_mut().map(|(_, m)| m)
            }
        };
        if let Some(map) = map {
            let slot = map.entry(key).or_insert_with(|| (net, Vec::new()));
            if !slot.1.contains(&set) {
                slot.1.push(set);
            }
        }
    }

    fn finish(&mut self) {
        self.by_len.sort_by_key(|(len, _)| Reverse(*len));
        for (_, map) in &mut self.by_len {
            for (_, sets) in map.values_mut() {
                sets.sort_by_key(|s| s.id);
            }
        }
    }

    fn lookup(&self, addr: u128) -> Option<(IpNet, &[SetRef])> {
        self.by_len.iter().find_map(|(len, map)| {
            map.get(&self.mask(addr, *len))
                .map(|(net, sets)| (*net, sets.as_slice()))
        })
    }
}

// ---------------------------------------------------------------------------
// Parsing (custom visitors so that errors carry set id, field and position)
// ---------------------------------------------------------------------------

/// One endpoint set as far as matching needs it.
#[derive(Debug)]
struct RawSet {
    id: u32,
    service: Service,
    urls: Vec<String>,
    ips: Vec<IpNet>,
    /// `required` flag of the set (absent counts as required).
    required: bool,
}

/// Required sets that list shared web infrastructure rather than Microsoft
/// 365 service endpoints: certificate revocation (84: crl.microsoft.com;
/// 125: public CAs and www.microsoft.com) and the go.microsoft.com
/// redirector (89).
pub const SHARED_INFRA_SET_IDS: [u32; 3] = [84, 89, 125];

impl RawSet {
    /// Sets not matched: optional Common ones (`required: false`: auxiliary
    /// CDNs, `*.microsoft.com`, Bing, consumer services) and
    /// [`SHARED_INFRA_SET_IDS`]. Optional sets of a service (such as set 2,
    /// POP3/IMAP4/SMTP client traffic) are matched.
    fn shared_infrastructure(&self) -> bool {
        (self.service == Service::Common && !self.required)
            || SHARED_INFRA_SET_IDS.contains(&self.id)
    }
}

/// Converts a serde_json error into [`EndpointsError::Parse`], without repeating the
/// position in the message.
fn parse_error(label: &str, err: &serde_json::Error) -> EndpointsError {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    EndpointsError::Parse {
        label: label.to_string(),
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// Describes where in the data an error is: array index and set id (if read yet).
#[derive(Debug, Clone, Copy)]
struct SetCtx {
    index: usize,
    id: Option<u32>,
}

impl fmt::Display for SetCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "endpoint set id {id} (array index {})", self.index),
            None => write!(
                f,
                "endpoint set at array index {} (id not read yet)",
                self.index
            ),
        }
    }
}

struct SetsSeed;

impl<'de> DeserializeSeed<'de> for SetsSeed {
    type Value = Vec<RawSet>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(SetsSeed)
    }
}

impl<'de> Visitor<'de> for SetsSeed {
    type Value = Vec<RawSet>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of endpoint sets (Microsoft endpoints web-service format)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut sets: Vec<RawSet> = Vec::new();
        let mut ids: FxHashMap<u32, usize> = FxHashMap::default();
        while let Some(set) = seq.next_element_seed(SetSeed { index: sets.len() })? {
            if let Some(first) = ids.insert(set.id, sets.len()) {
                return Err(de::Error::custom(format!(
                    "endpoint set id {} (array index {}): duplicate id, already used at array index {first}",
                    set.id,
                    sets.len()
                )));
            }
            sets.push(set);
        }
        if sets.is_empty() {
            return Err(de::Error::custom("the array holds no endpoint sets"));
        }
        Ok(sets)
    }
}

struct SetSeed {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for SetSeed {
    type Value = RawSet;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SetSeed {
    type Value = RawSet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an endpoint set object at array index {}", self.index)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ctx = SetCtx {
            index: self.index,
            id: None,
        };
        let mut service: Option<Service> = None;
        let mut urls: Option<Vec<String>> = None;
        let mut ips: Option<Vec<IpNet>> = None;
        let mut required = true;
        while let Some(key) = map.next_key::<String>()? {
            let field = match key.as_str() {
                "id" if ctx.id.is_none() => Field::Id,
                "serviceArea" if service.is_none() => Field::ServiceArea,
                "urls" if urls.is_none() => Field::Urls,
                "ips" if ips.is_none() => Field::Ips,
                "id" | "serviceArea" | "urls" | "ips" => {
                    return Err(de::Error::custom(format!("{ctx}: duplicate field `{key}`")));
                }
                "required" => {
                    required = map.next_value::<Option<bool>>()?.unwrap_or(true);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match field {
                Field::Id | Field::ServiceArea => {
                    let place = Place {
                        ctx,
                        field,
                        item: None,
                    };
                    match map.next_value_seed(ScalarSeed { place })? {
                        Parsed::Id(id) => ctx.id = Some(id),
                        Parsed::Service(s) => service = Some(s),
                        Parsed::Url(_) | Parsed::Ip(_) => {}
                    }
                }
                Field::Urls | Field::Ips => {
                    let mut url_items = Vec::new();
                    let mut ip_items = Vec::new();
                    for item in map.next_value_seed(ListSeed { ctx, field })? {
                        match item {
                            Parsed::Url(u) => url_items.push(u),
                            Parsed::Ip(net) => ip_items.push(net),
                            Parsed::Id(_) | Parsed::Service(_) => {}
                        }
                    }
                    if field == Field::Urls {
                        urls = Some(url_items);
                    } else {
                        ips = Some(ip_items);
                    }
                }
            }
        }
        let Some(id) = ctx.id else {
            return Err(de::Error::custom(format!("{ctx}: missing field `id`")));
        };
        let Some(service) = service else {
            return Err(de::Error::custom(format!(
                "{ctx}: missing field `serviceArea`"
            )));
        };
        Ok(RawSet {
            id,
            service,
            urls: urls.unwrap_or_default(),
            ips: ips.unwrap_or_default(),
            required,
        })
    }
}

/// The fields of an endpoint set that matching uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    ServiceArea,
    Urls,
    Ips,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::ServiceArea => "serviceArea",
            Field::Urls => "urls",
            Field::Ips => "ips",
        }
    }
}

/// One validated scalar: a set id, a service area, a URL pattern or an IP prefix.
#[derive(Debug)]
enum Parsed {
    Id(u32),
    Service(Service),
    /// A normalised URL pattern.
    Url(String),
    Ip(IpNet),
}

/// Where a value is, e.g. "endpoint set id 9 (array index 3), field `ips`, item 1".
#[derive(Debug, Clone, Copy)]
struct Place {
    ctx: SetCtx,
    field: Field,
    item: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, field `{}`", self.ctx, self.field.name())?;
        if let Some(n) = self.item {
            write!(f, ", item {n}")?;
        }
        Ok(())
    }
}

/// A scalar visitor for one [`Field`]; `item` is set for list elements.
struct ScalarVisitor {
    place: Place,
}

impl ScalarVisitor {
    fn wanted(&self) -> &'static str {
        match self.place.field {
            Field::Id => "an unsigned 32-bit integer",
            Field::ServiceArea => "\"Exchange\", \"SharePoint\", \"Skype\" or \"Common\"",
            Field::Urls => "a URL pattern string",
            Field::Ips => "an IP prefix string",
        }
    }

    fn wrong<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::custom(format!(
            "{}: expected {}, found {found}",
            self.place,
            self.wanted()
        ))
    }
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.wanted(), self.place)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Parsed, E> {
        match (self.place.field, u32::try_from(v)) {
            (Field::Id, Ok(id)) => Ok(Parsed::Id(id)),
            _ => Err(self.wrong(Unexpected::Unsigned(v))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Float(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Other("null")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Parsed, A::Error> {
        Err(self.wrong(Unexpected::Seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Parsed, A::Error> {
        Err(self.wrong(Unexpected::Map))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed, E> {
        let place = self.place;
        match place.field {
            Field::Id => Err(self.wrong(Unexpected::Str(v))),
            Field::ServiceArea => Service::from_service_area(v)
                .map(Parsed::Service)
                .ok_or_else(|| self.wrong(Unexpected::Str(v))),
            Field::Urls => validate_pattern(v)
                .map(Parsed::Url)
                .map_err(|why| E::custom(format!("{place}: invalid URL pattern {v:?}: {why}"))),
            Field::Ips => parse_prefix(v)
                .map(Parsed::Ip)
                .map_err(|why| E::custom(format!("{place}: invalid IP prefix {v:?}: {why}"))),
        }
    }
}

/// Deserializes and validates one scalar (`id`, `serviceArea`, or one item of
/// `urls`/`ips`) inside its own deserializer call, so that serde_json reports the
/// position right after the offending value.
struct ScalarSeed {
    place: Place,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parsed, D::Error> {
        deserializer.deserialize_any(ScalarVisitor { place: self.place })
    }
}

/// Deserializes `urls` or `ips`: an array of strings, or null (= empty).
struct ListSeed {
    ctx: SetCtx,
    field: Field,
}

impl ListSeed {
    fn wrong<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::custom(format!(
            "{}, field `{}`: expected an array of strings, found {found}",
            self.ctx,
            self.field.name()
        ))
    }
}

impl<'de> DeserializeSeed<'de> for ListSeed {
    type Value = Vec<Parsed>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed {
    type Value = Vec<Parsed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an array of strings ({}, field `{}`)",
            self.ctx,
            self.field.name()
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Str(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong(Unexpected::Map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let place = Place {
                ctx: self.ctx,
                field: self.field,
                item: Some(out.len()),
            };
            match seq.next_element_seed(ScalarSeed { place })? {
                Some(item) => out.push(item),
                None => return Ok(out),
            }
        }
    }
}

/// Parses `a.b.c.d/len`, `v6/len`, or a bare address (as a host prefix).
fn parse_prefix(text: &str) -> Result<IpNet, ipnet::AddrParseError> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) => Ok(net),
        Err(err) => match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Ok(IpNet::V4(Ipv4Net::from(a))),
            Ok(IpAddr::V6(a)) => Ok(IpNet::V6(Ipv6Net::from(a))),
            Err(_) => Err(err),
        },
    }
}

/// Validates and normalises one URL pattern: lower case, one trailing dot dropped,
/// non-empty labels, characters `a-z 0-9 - _ . *` only.
fn validate_pattern(text: &str) -> Result<String, &'static str> {
    let p = text.trim();
    let p = p.strip_suffix('.').unwrap_or(p).to_ascii_lowercase();
    if p.is_empty() {
        return Err("empty pattern");
    }
    if p.len() > MAX_NAME_LEN {
        return Err("longer than 253 characters");
    }
    if p.split('.').any(str::is_empty) {
        return Err("empty label");
    }
    if !p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
    {
        return Err("only letters, digits, '-', '_', '.' and '*' are allowed");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn emb() -> Endpoints {
        Endpoints::embedded()
    }

    fn name(e: &Endpoints, n: &str) -> Option<(Option<u32>, Service, String, bool)> {
        e.match_name(n)
            .map(|m| (m.endpoint_id, m.service, m.pattern, m.legacy))
    }

    fn pat(e: &Endpoints, n: &str) -> Option<String> {
        e.match_name(n).map(|m| m.pattern)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A small custom file exercising every pattern form.
    const SMALL: &str = r#"[
  {"id": 1, "serviceArea": "Exchange", "serviceAreaDisplayName": "Exchange Online",
   "urls": ["outlook.office365.com", "Mixed.Case.Example."],
   "ips": ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "2001:db8:1::/48"],
   "tcpPorts": "443", "expressRoute": true, "category": "Optimize", "required": true},
  {"id": 2, "serviceArea": "Skype", "serviceAreaDisplayName": "Microsoft Teams",
   "urls": ["*.outlook.com", "*cdn.onenote.net", "autodiscover.*.onmicrosoft.com", "a*b.*.example.org", "x.*"],
   "ips": ["10.1.2.0/24", "192.0.2.7"],
   "expressRoute": false, "category": "Default", "required": false, "notes": "n"},
  {"id": 3, "serviceArea": "SharePoint", "serviceAreaDisplayName": "SharePoint Online",
   "urls": ["*.onmicrosoft.com", "*.outlook.com", "*.protection.outlook.com"],
   "ips": ["10.1.0.0/16"], "expressRoute": false, "category": "Default", "required": true},
  {"id": 4, "serviceArea": "Common", "serviceAreaDisplayName": "M365 Common",
   "urls": null, "expressRoute": false, "category": "Default", "required": true}
]"#;

    fn small() -> Endpoints {
        Endpoints::from_json(SMALL, "test:small").unwrap()
    }

    #[test]
    fn lookup_explains_left_out_sets() {
        let e = emb();
        let text = e.describe_lookup("www.microsoft.com");
        assert!(
            text.contains("matches no Microsoft 365 URL pattern"),
            "{text}"
        );
        assert!(
            text.contains("endpoint set 125, which is not counted"),
            "{text}"
        );
        assert!(!e.describe_lookup("example.org").contains("not counted"));
    }

    #[test]
    fn embedded_parses_with_expected_counts() {
        let e = Endpoints::from_json(EMBEDDED_JSON, EMBEDDED_VERSION).unwrap();
        assert_eq!(e.version(), EMBEDDED_VERSION);
        let s = e.stats();
        assert_eq!(s.sets, 63);
        assert_eq!(s.ipv4_prefixes, 51);
        assert_eq!(s.ipv6_prefixes, 78);
        // 199 patterns listed; those of the 18 optional Common sets and the
        // shared-infrastructure sets 84, 89, 125 are not matched.
        assert_eq!(s.url_patterns, 133);
        assert_eq!(s.shared_sets, 19);
        assert_eq!(s.sets_per_service.len(), 4);
        assert_eq!(
            s.sets_per_service.iter().map(|(_, n)| n).sum::<usize>(),
            63 - 19
        );
        assert_eq!(emb().stats(), s);
    }

    #[test]
    fn service_names() {
        assert_eq!(Service::Teams.to_string(), "Teams");
        assert_eq!(Service::from_service_area("Skype"), Some(Service::Teams));
        assert_eq!(
            Service::from_service_area("SharePoint"),
            Some(Service::SharePoint)
        );
        assert_eq!(Service::from_service_area("Other"), None);
        let names: Vec<String> = Service::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["Exchange", "SharePoint", "Teams", "Common"]);
    }

    #[test]
    fn exact_names() {
        let e = emb();
        assert_eq!(
            name(&e, "outlook.office365.com"),
            Some((
                Some(1),
                Service::Exchange,
                "outlook.office365.com".into(),
                false
            ))
        );
        assert_eq!(name(&e, "smtp.office365.com").map(|m| m.0), Some(Some(2)));
        assert_eq!(
            name(&e, "teams.microsoft.com"),
            Some((
                Some(12),
                Service::Teams,
                "teams.microsoft.com".into(),
                false
            ))
        );
        // Exact beats the `*.microsoft.com` wildcard of sets 50/78.
        assert_eq!(name(&e, "graph.microsoft.com").map(|m| m.0), Some(Some(56)));
    }

    #[test]
    fn case_and_trailing_dot() {
        let e = emb();
        assert_eq!(
            pat(&e, "OUTLOOK.Office365.COM."),
            Some("outlook.office365.com".into())
        );
        assert_eq!(pat(&e, "A.Outlook.Com"), Some("*.outlook.com".into()));
        assert_eq!(
            pat(&e, "  outlook.office365.com  "),
            Some("outlook.office365.com".into())
        );
        assert_eq!(pat(&e, "outlook.office365.com.."), None);
        assert_eq!(pat(&e, ""), None);
        assert_eq!(pat(&e, "."), None);
        // Patterns from a file are normalised too.
        assert_eq!(
            pat(&small(), "mixed.case.example"),
            Some("mixed.case.example".into())
        );
    }

    #[test]
    fn leading_label_wildcard() {
        let e = emb();
        assert_eq!(pat(&e, "a.outlook.com"), Some("*.outlook.com".into()));
        assert_eq!(pat(&e, "a.b.outlook.com"), Some("*.outlook.com".into()));
        assert_eq!(pat(&e, "outlook.com"), None);
        assert_eq!(pat(&e, ".outlook.com"), None);
        assert_eq!(pat(&e, "outlook.com.evil.example"), None);
        assert_eq!(pat(&e, "evil-outlook.com"), None);
        assert_eq!(pat(&e, "evil.com"), None);
        assert_eq!(pat(&e, "com"), None);
        // Longest literal suffix wins.
        assert_eq!(
            name(&e, "x.protection.outlook.com"),
            Some((
                Some(9),
                Service::Exchange,
                "*.protection.outlook.com".into(),
                false
            ))
        );
        assert_eq!(
            name(&e, "contoso-com.mail.protection.outlook.com").map(|m| (m.0, m.2)),
            Some((Some(10), "*.mail.protection.outlook.com".into()))
        );
        // `*.microsoft.com` (optional Common sets 50, 78) is not matched, nor
        // www.microsoft.com (set 125, certificate authorities).
        assert_eq!(name(&e, "x.microsoft.com"), None);
        assert_eq!(name(&e, "www.microsoft.com"), None);
        assert_eq!(name(&e, "go.microsoft.com"), None);
        // `*.flow.microsoft.com` (required set 153) still is.
        assert_eq!(
            name(&e, "eu.flow.microsoft.com").map(|m| m.0),
            Some(Some(153))
        );
        // `www.outlook.com` (optional Common set 121) falls to `*.outlook.com` (set 8).
        assert_eq!(name(&e, "www.outlook.com").map(|m| m.0), Some(Some(8)));
    }

    #[test]
    fn wildcard_without_dot() {
        let e = emb();
        for n in [
            "xyzcdn.onenote.net",
            "cdn.onenote.net",
            "a.bcdn.onenote.net",
        ] {
            assert_eq!(
                name(&e, n),
                Some((Some(51), Service::Common, "*cdn.onenote.net".into(), false)),
                "{n}"
            );
        }
        assert_eq!(pat(&e, "cdx.onenote.net"), None);
        assert_eq!(pat(&e, "onenote.net"), None);
        assert_eq!(pat(&e, "cdn.onenote.net.evil.example"), None);
    }

    #[test]
    fn middle_wildcard() {
        let e = emb();
        // Both `autodiscover.*.onmicrosoft.com` (set 8) and `*.onmicrosoft.com`
        // (set 78) match; same literal tail, more literal characters wins.
        assert_eq!(
            name(&e, "autodiscover.contoso.onmicrosoft.com"),
            Some((
                Some(8),
                Service::Exchange,
                "autodiscover.*.onmicrosoft.com".into(),
                false
            ))
        );
        assert_eq!(
            pat(&e, "autodiscover.a.b.onmicrosoft.com"),
            Some("autodiscover.*.onmicrosoft.com".into())
        );
        // `*.onmicrosoft.com` is in optional Common set 78 only.
        assert_eq!(pat(&e, "contoso.onmicrosoft.com"), None);
        let s = small();
        // In the small file only the middle wildcard and `*.onmicrosoft.com` exist;
        // specificity beats the lower id of... set 2 vs set 3: set 2 wins either way.
        assert_eq!(
            name(&s, "autodiscover.x.onmicrosoft.com").map(|m| m.0),
            Some(Some(2))
        );
        assert_eq!(name(&s, "x.onmicrosoft.com").map(|m| m.0), Some(Some(3)));
        assert_eq!(
            pat(&s, "autodiscover.onmicrosoft.com"),
            Some("*.onmicrosoft.com".into())
        );
        // Multiple stars and a tail without complete labels.
        assert_eq!(
            pat(&s, "ab.c.example.org"),
            Some("a*b.*.example.org".into())
        );
        assert_eq!(
            pat(&s, "axxb.c.d.example.org"),
            Some("a*b.*.example.org".into())
        );
        assert_eq!(pat(&s, "ac.c.example.org"), None);
        assert_eq!(pat(&s, "x.anything.at.all"), Some("x.*".into()));
        assert_eq!(pat(&s, "y.anything"), None);
    }

    #[test]
    fn glob_semantics() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"abc"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(glob_match(b"a*c", b"ac"));
        assert!(!glob_match(b"a*c", b"acb"));
        assert!(glob_match(b"*.x.com", b"a.b.x.com"));
        assert!(!glob_match(b"*.x.com", b"x.com"));
        assert!(glob_match(b"a**b", b"ab"));
        assert!(!glob_match(b"abc", b"ab"));
    }

    #[test]
    fn wildcard_certificate_names() {
        let e = emb();
        assert_eq!(pat(&e, "*.outlook.com"), Some("*.outlook.com".into()));
        assert_eq!(
            pat(&e, "*.protection.outlook.com"),
            Some("*.protection.outlook.com".into())
        );
        assert_eq!(pat(&e, "*.sharepoint.com"), Some("*.sharepoint.com".into()));
        // `*.X` also counts as `X`.
        assert_eq!(
            pat(&e, "*.teams.microsoft.com"),
            Some("teams.microsoft.com".into())
        );
        assert_eq!(
            pat(&e, "*.storage.live.com"),
            Some("storage.live.com".into())
        );
        // Not covered: only `*cdn.onenote.net` / one exact child exists.
        assert_eq!(pat(&e, "*.onenote.net"), None);
        assert_eq!(pat(&e, "*.azureedge.net"), None);
        assert_eq!(pat(&e, "*.com"), None);
        assert_eq!(pat(&e, "*"), None);
    }

    #[test]
    fn legacy_names() {
        for e in [emb(), small()] {
            for n in [
                "smtp-legacy.office365.com",
                "POP-legacy.office365.com.",
                "imap-legacy.office365.com",
            ] {
                let m = e.match_name(n).unwrap();
                assert_eq!(m.endpoint_id, None, "{n}");
                assert_eq!(m.service, Service::Exchange);
                assert!(m.legacy);
            }
            let m = e.match_name("smtp-legacy.partner.outlook.cn").unwrap();
            assert_eq!(m.pattern, "*-legacy.partner.outlook.cn");
            assert_eq!((m.endpoint_id, m.legacy), (None, true));
            assert!(e.match_name("pop-legacy.partner.outlook.cn").is_some());
            assert!(e.match_name("smtp.partner.outlook.cn").is_none());
            assert!(e.match_name("legacy.partner.outlook.cn").is_none());
        }
        // Non-legacy names are not flagged.
        assert!(!emb().match_name("smtp.office365.com").unwrap().legacy);
    }

    #[test]
    fn ipv4_prefixes() {
        let e = emb();
        let m = e.match_ip(ip("40.107.3.4")).unwrap();
        assert_eq!(m.endpoint_id, 9);
        assert_eq!(m.service, Service::Exchange);
        assert_eq!(m.prefix.to_string(), "40.107.0.0/16");
        // Prefix listed by sets 1 and 2: lowest id.
        let m = e.match_ip(ip("13.107.6.153")).unwrap();
        assert_eq!(
            (m.endpoint_id, m.prefix.to_string()),
            (1, "13.107.6.152/31".into())
        );
        assert!(e.match_ip(ip("13.107.6.154")).is_none());
        assert!(e.match_ip(ip("192.0.2.1")).is_none());
        assert!(e.match_ip(ip("8.8.8.8")).is_none());
        // IPv4-mapped IPv6 is matched as IPv4.
        assert_eq!(
            e.match_ip(ip("::ffff:40.107.3.4")).map(|m| m.endpoint_id),
            Some(9)
        );
    }

    #[test]
    fn ipv6_prefixes() {
        let e = emb();
        let m = e.match_ip(ip("2a01:111:f400::1")).unwrap();
        assert_eq!(m.endpoint_id, 9);
        assert_eq!(m.prefix.to_string(), "2a01:111:f400::/48");
        let m = e.match_ip(ip("2620:1ec:4::152")).unwrap();
        assert_eq!((m.endpoint_id, m.prefix.prefix_len()), (1, 128));
        assert!(e.match_ip(ip("2620:1ec:4::154")).is_none());
        assert!(e.match_ip(ip("2001:db8::1")).is_none());
        assert!(e.match_ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).is_none());
    }

    #[test]
    fn longest_prefix_wins() {
        let s = small();
        let id = |a: &str| {
            s.match_ip(ip(a))
                .map(|m| (m.endpoint_id, m.prefix.to_string()))
        };
        assert_eq!(id("10.9.9.9"), Some((1, "10.0.0.0/8".into())));
        // /16 in sets 1 and 3: lowest id.
        assert_eq!(id("10.1.9.9"), Some((1, "10.1.0.0/16".into())));
        assert_eq!(id("10.1.2.3"), Some((2, "10.1.2.0/24".into())));
        assert_eq!(id("192.0.2.7"), Some((2, "192.0.2.7/32".into())));
        assert_eq!(id("192.0.2.8"), None);
        assert_eq!(id("11.0.0.1"), None);
        assert_eq!(id("2001:db8::5"), Some((1, "2001:db8::/32".into())));
        assert_eq!(id("2001:db8:1::5"), Some((1, "2001:db8:1::/48".into())));
        assert_eq!(id("2001:db9::5"), None);
        let st = s.stats();
        assert_eq!(
            (st.sets, st.url_patterns, st.ipv4_prefixes, st.ipv6_prefixes),
            (4, 10, 5, 2)
        );
        assert_eq!(
            st.sets_per_service,
            vec![
                (Service::Exchange, 1),
                (Service::SharePoint, 1),
                (Service::Teams, 1),
                (Service::Common, 1)
            ]
        );
        assert_eq!(s.version(), "test:small");
    }

    #[test]
    fn zero_length_prefix() {
        let e = Endpoints::from_json(
            r#"[{"id":7,"serviceArea":"Common","ips":["0.0.0.0/0","::/0"]}]"#,
            "t",
        )
        .unwrap();
        assert_eq!(e.match_ip(ip("1.2.3.4")).map(|m| m.endpoint_id), Some(7));
        assert_eq!(e.match_ip(ip("::1")).map(|m| m.endpoint_id), Some(7));
    }

    fn err_text(json: &str) -> String {
        match Endpoints::from_json(json, "file:/tmp/x.json") {
            Ok(_) => panic!("expected an error for {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn malformed_prefix_error_names_position_set_and_field() {
        let json = "[\n  {\"id\": 9, \"serviceArea\": \"Exchange\",\n   \"ips\": [\"40.92.0.0/15\", \"40.92.0.0/33\"]}\n]";
        let err = Endpoints::from_json(json, "file:/tmp/x.json").unwrap_err();
        let EndpointsError::Parse { line, column, .. } = &err else {
            panic!("wrong variant {err:?}");
        };
        assert_eq!(*line, 3);
        assert!(*column > 20, "column {column}");
        let text = err.to_string();
        assert!(text.starts_with("file:/tmp/x.json: "), "{text}");
        assert!(text.contains("line 3, column"), "{text}");
        assert!(text.contains("endpoint set id 9"), "{text}");
        assert!(text.contains("`ips`, item 1"), "{text}");
        assert!(text.contains("\"40.92.0.0/33\""), "{text}");
        assert!(!text.contains(" column 41 "), "position repeated: {text}");
        assert_eq!(*column, 41, "points at the closing quote of the bad item");
    }

    #[test]
    fn malformed_files_other_errors() {
        let t = err_text("[\n{\"id\": 1, \"serviceArea\": \"Exchange\",,}\n]");
        assert!(t.contains("line 2, column"), "{t}");
        let t = err_text("{\"id\": 1}");
        assert!(t.contains("array of endpoint sets"), "{t}");
        let t = err_text("[]");
        assert!(t.contains("no endpoint sets"), "{t}");
        let t = err_text("[{\"id\": \"one\", \"serviceArea\": \"Exchange\"}]");
        assert!(t.contains("field `id`") && t.contains("\"one\""), "{t}");
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Azure\"}]");
        assert!(
            t.contains("endpoint set id 5") && t.contains("`serviceArea`"),
            "{t}"
        );
        let t = err_text("[{\"serviceArea\": \"Exchange\"}]");
        assert!(t.contains("missing field `id`"), "{t}");
        let t = err_text("[{\"id\": 5}]");
        assert!(t.contains("missing field `serviceArea`"), "{t}");
        let t = err_text(
            "[{\"id\": 5, \"serviceArea\": \"Common\", \"urls\": [\"ok.example\", \"bad..example\"]}]",
        );
        assert!(
            t.contains("`urls`, item 1") && t.contains("empty label"),
            "{t}"
        );
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Common\", \"urls\": [\"a b.example\"]}]");
        assert!(t.contains("invalid URL pattern"), "{t}");
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Common\", \"ips\": [42]}]");
        assert!(
            t.contains("`ips`, item 0: expected an IP prefix string, found integer `42`"),
            "{t}"
        );
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Common\", \"ips\": \"1.2.3.0/24\"}]");
        assert!(
            t.contains("endpoint set id 5") && t.contains("`ips`"),
            "{t}"
        );
        let t = err_text(
            "[{\"id\": 5, \"serviceArea\": \"Common\"}, {\"id\": 5, \"serviceArea\": \"Common\"}]",
        );
        assert!(t.contains("duplicate id"), "{t}");
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Common\"}] trailing");
        assert!(t.contains("line 1, column"), "{t}");
        let t = err_text("[{\"id\": 5, \"serviceArea\": \"Common\", \"ips\": [\"1.2.3.4/24\"]");
        assert!(t.contains("EOF"), "{t}");
    }

    #[test]
    fn from_path_reads_and_labels() {
        let dir = std::env::temp_dir().join(format!("m365-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("usgovdod.json");
        std::fs::write(&path, SMALL).unwrap();
        let e = Endpoints::from_path(&path).unwrap();
        assert_eq!(e.version(), format!("file:{}", path.display()));
        let missing = Endpoints::from_path(&dir.join("missing.json")).unwrap_err();
        assert!(matches!(missing, EndpointsError::Io { .. }));
        assert!(missing.to_string().contains("missing.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn match_kinds_display() {
        let all = MatchKinds {
            sni: true,
            cert: true,
            ip: true,
            banner: true,
        };
        assert_eq!(all.to_string(), "sni+cert+banner+ip");
        assert_eq!(MatchKinds::default().to_string(), "");
        let some = MatchKinds {
            cert: true,
            ip: true,
            ..MatchKinds::default()
        };
        assert_eq!(some.to_string(), "cert+ip");
        assert!(some.any());
        assert!(!MatchKinds::default().any());
    }

    const NON_MS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn classify_sni_only_on_non_microsoft_address() {
        let e = emb();
        let c = e.classify(&Query {
            sni: Some("outlook.office365.com"),
            cert_names: &[],
            banner_host: None,
            server_ip: NON_MS,
        });
        assert!(c.m365);
        assert_eq!(c.matched.to_string(), "sni");
        assert_eq!(c.service, Some(Service::Exchange));
        assert_eq!(c.endpoint_id, Some(1));
        assert!(!c.legacy);
    }

    #[test]
    fn classify_cert_only() {
        let e = emb();
        let certs = vec!["example.org".to_string(), "*.sharepoint.com".to_string()];
        let c = e.classify(&Query {
            sni: Some("intranet.example.org"),
            cert_names: &certs,
            banner_host: None,
            server_ip: NON_MS,
        });
        assert!(c.m365);
        assert_eq!(c.matched.to_string(), "cert");
        assert_eq!(
            (c.service, c.endpoint_id),
            (Some(Service::SharePoint), Some(31))
        );
        // Most specific certificate name wins.
        let certs = vec![
            "*.outlook.com".to_string(),
            "outlook.office365.com".to_string(),
        ];
        let c = e.classify(&Query {
            sni: None,
            cert_names: &certs,
            banner_host: None,
            server_ip: NON_MS,
        });
        assert_eq!(c.endpoint_id, Some(1));
    }

    #[test]
    fn classify_ip_only() {
        let e = emb();
        let c = e.classify(&Query {
            sni: None,
            cert_names: &[],
            banner_host: None,
            server_ip: ip("52.96.1.1"),
        });
        assert!(c.m365);
        assert_eq!(c.matched.to_string(), "ip");
        assert_eq!(
            (c.service, c.endpoint_id),
            (Some(Service::Exchange), Some(1))
        );
    }

    #[test]
    fn classify_all_evidence_strongest_first() {
        let e = emb();
        let certs = vec!["*.protection.outlook.com".to_string()];
        let c = e.classify(&Query {
            sni: Some("teams.microsoft.com"),
            cert_names: &certs,
            banner_host: Some("smtp-legacy.office365.com"),
            server_ip: ip("40.107.3.4"),
        });
        assert_eq!(c.matched.to_string(), "sni+cert+banner+ip");
        assert_eq!((c.service, c.endpoint_id), (Some(Service::Teams), Some(12)));
        assert!(c.legacy);
        // Banner before ip.
        let c = e.classify(&Query {
            sni: None,
            cert_names: &[],
            banner_host: Some("x.mail.protection.outlook.com"),
            server_ip: ip("52.96.1.1"),
        });
        assert_eq!(c.matched.to_string(), "banner+ip");
        assert_eq!(c.endpoint_id, Some(10));
        // Legacy sni: no id, service Exchange, even on a Microsoft address.
        let c = e.classify(&Query {
            sni: Some("smtp-legacy.office365.com"),
            cert_names: &[],
            banner_host: None,
            server_ip: ip("52.96.1.1"),
        });
        assert_eq!(c.matched.to_string(), "sni+ip");
        assert_eq!(
            (c.service, c.endpoint_id, c.legacy),
            (Some(Service::Exchange), None, true)
        );
    }

    #[test]
    fn classify_nothing() {
        let e = emb();
        let certs = vec!["www.example.com".to_string(), "*.azureedge.net".to_string()];
        let c = e.classify(&Query {
            sni: Some("outlook.com.evil.example"),
            cert_names: &certs,
            banner_host: Some("mail.example.com"),
            server_ip: NON_MS,
        });
        assert_eq!(c, Classification::default());
        assert!(!c.m365);
        assert_eq!(c.matched.to_string(), "");
    }

    #[test]
    fn describe_lookup_texts() {
        let e = emb();
        let t = e.describe_lookup("40.107.3.4");
        assert!(
            t.contains("40.107.0.0/16") && t.contains("endpoint set 9"),
            "{t}"
        );
        assert!(
            t.contains("Exchange") && t.contains(EMBEDDED_VERSION),
            "{t}"
        );
        let t = e.describe_lookup("13.107.6.152");
        assert!(
            t.contains("endpoint set 1") && t.contains("also") && t.contains("endpoint set 2"),
            "{t}"
        );
        let t = e.describe_lookup("[2a01:111:f400::1]");
        assert!(t.contains("2a01:111:f400::/48"), "{t}");
        let t = e.describe_lookup("192.0.2.1");
        assert!(t.contains("not in any"), "{t}");
        let t = e.describe_lookup("Outlook.Office365.com.");
        assert!(
            t.contains("outlook.office365.com: Microsoft 365 name"),
            "{t}"
        );
        assert!(
            t.contains("endpoint set 1") && t.contains("endpoint set 2"),
            "{t}"
        );
        let t = e.describe_lookup("a.mail.protection.outlook.com");
        assert!(
            t.contains("*.mail.protection.outlook.com, endpoint set 10"),
            "{t}"
        );
        assert!(
            t.contains("also: pattern *.outlook.com, endpoint set 8"),
            "{t}"
        );
        let t = e.describe_lookup("smtp-legacy.office365.com");
        assert!(
            t.contains("legacy endpoint") && t.contains("built-in"),
            "{t}"
        );
        let t = e.describe_lookup("example.org");
        assert!(t.contains("matches no"), "{t}");
        let t = e.describe_lookup("a..b");
        assert!(t.contains("neither"), "{t}");
    }
}
