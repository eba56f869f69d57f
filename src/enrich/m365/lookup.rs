//! [`Endpoints`]: the endpoint data precompiled for matching, and the
//! classification of a connection's server from all its evidence.

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::de::DeserializeSeed;

use super::feed::{RawSet, SetsSeed, parse_error};
use super::names::NameTable;
use super::prefixes::{PrefixTable, SetRef};
use super::{
    EMBEDDED_JSON, EMBEDDED_VERSION, EndpointsError, IpMatch, LEGACY_PATTERNS, NameMatch, Query,
    Stats,
};
use crate::cache::Memo;
use crate::model::m365::{Classification, MatchKinds, Service};

/// Precompiled Microsoft 365 endpoint matchers.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub(super) version: String,
    stats: Stats,
    pub(super) names: NameTable,
    /// Patterns of the sets left out (optional Common, shared
    /// infrastructure), only to explain a lookup.
    pub(super) left_out: NameTable,
    ipv4: PrefixTable,
    ipv6: PrefixTable,
    /// Distinguishes instances in the per-thread name cache.
    cache_id: u64,
    /// Which data this is, as the rows name it (see [`Endpoints::data_label`]).
    pub(super) data: Arc<str>,
}

/// Names looked up lately, per thread and per [`Endpoints`] instance: the
/// same server names come back on connection after connection.
const NAME_CACHE_MAX: usize = 4096;

/// Instance counter for `cache_id`.
static NEXT_CACHE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Per-thread cache: the owning instance's `cache_id`, and name -> best entry.
type NameCache = (u64, Memo<Box<str>, Option<usize>>);

/// The names of a query matched lately, kept whole: a hit is checked
/// against them, never trusted to the hash alone.
#[derive(Debug)]
struct NamesSeen {
    sni: Option<Box<str>>,
    /// The query's own list when it came shared ([`Endpoints::classify_shared`]):
    /// the next query with that list is known by its address.
    cert_names: Arc<[String]>,
    banner_host: Option<Box<str>>,
    /// Best entries for the SNI, the certificate and the banner.
    best: NameHits,
}

/// Best name entries for the SNI, the certificate names, the banner host.
type NameHits = (Option<usize>, Option<usize>, Option<usize>);

impl NamesSeen {
    fn answers(&self, q: &Query<'_>) -> bool {
        // The same memory (held alive here) holds the same names.
        let same_list = std::ptr::eq(self.cert_names.as_ptr(), q.cert_names.as_ptr())
            && self.cert_names.len() == q.cert_names.len();
        self.sni.as_deref() == q.sni
            && self.banner_host.as_deref() == q.banner_host
            && (same_list || *self.cert_names == *q.cert_names)
    }
}

/// Name evidence matched lately, per thread and instance: connections to
/// one service repeat the same name and certificate.
type NamesCache = (u64, Memo<u64, std::rc::Rc<NamesSeen>>);

const NAMES_CACHE_MAX: usize = 4096;

/// Server addresses remembered per thread, with their prefix match.
const IP_CACHE_MAX: usize = 4096;

thread_local! {
    static IP_CACHE: RefCell<(u64, Memo<IpAddr, Option<IpMatch>>)> =
        RefCell::new((0, Memo::new(IP_CACHE_MAX)));
    static NAME_CACHE: RefCell<NameCache> = RefCell::new((0, Memo::new(NAME_CACHE_MAX)));
    static NAMES_CACHE: RefCell<NamesCache> = RefCell::new((0, Memo::new(NAMES_CACHE_MAX)));
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

    /// Which data this is, as the JSON rows name it (`m365_data`): the label
    /// given to [`Endpoints::from_json`] unless replaced with
    /// [`Endpoints::with_data_label`] (e.g. `built-in:2026073100`).
    pub fn data_label(&self) -> &std::sync::Arc<str> {
        &self.data
    }

    /// Tells this instance's data apart from any other instance's (made
    /// from other data), for caches of its answers.
    pub fn cache_id(&self) -> u64 {
        self.cache_id
    }

    /// The same data under another [`Endpoints::data_label`].
    pub fn with_data_label(mut self, label: &str) -> Endpoints {
        self.data = std::sync::Arc::from(label);
        self
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
        // Through the per-thread cache: a server address comes back on
        // connection after connection, and a miss probes every prefix
        // length.
        IP_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != self.cache_id {
                c.0 = self.cache_id;
                c.1.clear();
            }
            c.1.get_or_make(ip, || self.match_ip_uncached(ip))
        })
    }

    fn match_ip_uncached(&self, ip: IpAddr) -> Option<IpMatch> {
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
    /// evidence: sni, then dns, then cert, then banner, then ip.
    pub fn classify(&self, q: &Query<'_>) -> Classification {
        self.classify_in(q, None)
    }

    /// [`Endpoints::classify`] of a query whose certificate names are
    /// `certs` (shared by the connections to one server): the per-thread
    /// cache keeps the list itself and knows it again by its address.
    pub fn classify_shared(&self, q: &Query<'_>, certs: &Arc<[String]>) -> Classification {
        let same = std::ptr::eq(certs.as_ptr(), q.cert_names.as_ptr())
            && certs.len() == q.cert_names.len();
        self.classify_in(q, same.then_some(certs))
    }

    fn classify_in(&self, q: &Query<'_>, certs: Option<&Arc<[String]>>) -> Classification {
        let (sni, cert, banner) = self.name_hits(q, certs);
        // Only connections without SNI carry a DNS name: rare, not cached
        // with the other names.
        let dns = q.dns_name.and_then(|name| self.best_name(name));
        let ip = self.match_ip(q.server_ip);

        let matched = MatchKinds {
            sni: sni.is_some(),
            dns: dns.is_some(),
            cert: cert.is_some(),
            ip: ip.is_some(),
            banner: banner.is_some(),
        };
        let legacy = [sni, dns, cert, banner]
            .into_iter()
            .flatten()
            .any(|idx| self.names.entry(idx).is_some_and(|e| e.legacy));
        let strongest_name = sni
            .or(dns)
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

    /// The best entries for a query's SNI, certificate names (the most
    /// specific; ties: the earlier name) and banner host, through the
    /// per-thread cache. `certs`: the query's names, shared.
    fn name_hits(&self, q: &Query<'_>, certs: Option<&Arc<[String]>>) -> NameHits {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        // Of the certificate names, the number and the first only: a hit
        // is checked against all of them.
        (
            q.sni,
            q.cert_names.len(),
            q.cert_names.first(),
            q.banner_host,
        )
            .hash(&mut h);
        let key = h.finish();
        let cached = NAMES_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != self.cache_id {
                c.0 = self.cache_id;
                c.1.clear();
            }
            c.1.get(&key).filter(|seen| seen.answers(q))
        });
        if let Some(seen) = cached {
            return seen.best;
        }
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
        let best = (sni, cert, banner);
        let big = q.cert_names.len() > 64 || q.sni.is_some_and(|s| s.len() > 253);
        if !big {
            let seen = NamesSeen {
                sni: q.sni.map(Box::from),
                cert_names: certs.map_or_else(|| q.cert_names.into(), Arc::clone),
                banner_host: q.banner_host.map(Box::from),
                best,
            };
            NAMES_CACHE.with(|c| c.borrow_mut().1.put(key, std::rc::Rc::new(seen)));
        }
        best
    }

    /// The prefixes that share an address with `net` (see
    /// [`PrefixTable::overlapping`]); an IPv4-mapped IPv6 block
    /// (`::ffff:52.96.0.0/104`) as its IPv4 block, as addresses are.
    pub(super) fn net_hits(&self, net: IpNet) -> Vec<(IpNet, &[SetRef])> {
        match net {
            IpNet::V4(n) => self
                .ipv4
                .overlapping(u128::from(u32::from(n.network())), n.prefix_len()),
            IpNet::V6(n) => match n.network().to_ipv4_mapped() {
                Some(v4) if n.prefix_len() >= 96 => self
                    .ipv4
                    .overlapping(u128::from(u32::from(v4)), n.prefix_len() - 96),
                _ => self
                    .ipv6
                    .overlapping(u128::from(n.network()), n.prefix_len()),
            },
        }
    }

    /// The longest matching prefix and its sets (sorted by id).
    pub(super) fn ip_hit(&self, ip: IpAddr) -> Option<(IpNet, &[SetRef])> {
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
            data: std::sync::Arc::from(label),
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
                c.0 = self.cache_id;
                c.1.clear();
            }
            if let Some(hit) = c.1.get(name) {
                return hit;
            }
            let hit = self.names.best(name);
            if name.len() > 253 {
                return hit; // not a DNS name: not worth a cache entry
            }
            c.1.put(name.into(), hit);
            hit
        })
    }
}
