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
//! `Service::Exchange`, without an endpoint set id and with `legacy = true`.
//!
//! # Keeping the data current
//!
//! * [`instance`]: the cloud instances and the web service's data versions;
//! * [`store`]: the per-user data directory, the stored updates and the
//!   installation's ClientRequestId;
//! * [`select`]: which data a run uses (an explicit file, the stored update,
//!   the built-in copy), its label, the age warning, and the re-reading of
//!   the stored data by a long capture;
//! * `proxy`: the proxy settings of the environment, as curl reads them, and
//!   `update`: `tlsready endpoints update` (version check, download,
//!   validation, atomic store); both with the default cargo feature `update`.

mod describe;
mod feed;
pub mod instance;
mod lookup;
mod names;
mod prefixes;
#[cfg(feature = "update")]
pub mod proxy;
pub mod select;
pub mod store;
#[cfg(feature = "update")]
pub mod update;

use std::net::IpAddr;

use ipnet::IpNet;

pub use feed::SHARED_INFRA_SET_IDS;
pub use lookup::Endpoints;

use crate::model::m365::Service;

/// Web-service version of the embedded Worldwide endpoint data.
pub const EMBEDDED_VERSION: &str = "2026073100";

/// The embedded endpoint data (Microsoft endpoints web-service format).
const EMBEDDED_JSON: &str = include_str!("../../../data/m365/endpoints-worldwide-merged.json");

/// Opt-in legacy endpoints that are not in the feed but are always recognised
/// (service Exchange, no endpoint set id, `legacy = true`).
pub const LEGACY_PATTERNS: &[&str] = &[
    "smtp-legacy.office365.com",
    "pop-legacy.office365.com",
    "imap-legacy.office365.com",
    "*-legacy.partner.outlook.cn",
];

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

/// The evidence about one connection's server.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// TLS SNI host name, if the client sent one.
    pub sni: Option<&'a str>,
    /// The name the client resolved for the server address (a DNS answer
    /// in the capture), for connections without SNI.
    pub dns_name: Option<&'a str>,
    /// Certificate names (CN and SANs) of the server certificate, in any order.
    pub cert_names: &'a [String],
    /// Host name from an SMTP greeting (220 banner / EHLO reply), if any.
    pub banner_host: Option<&'a str>,
    /// The server address.
    pub server_ip: IpAddr,
}

#[cfg(test)]
mod tests {
    use super::names::glob_match;
    use super::*;
    use crate::model::m365::{Classification, MatchKinds, Service};
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
            dns: true,
            cert: true,
            ip: true,
            banner: true,
        };
        assert_eq!(all.to_string(), "sni+dns+cert+banner+ip");
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
            dns_name: None,
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
            dns_name: None,
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
            dns_name: None,
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
            dns_name: None,
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
            dns_name: None,
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
            dns_name: None,
            cert_names: &[],
            banner_host: Some("x.mail.protection.outlook.com"),
            server_ip: ip("52.96.1.1"),
        });
        assert_eq!(c.matched.to_string(), "banner+ip");
        assert_eq!(c.endpoint_id, Some(10));
        // Legacy sni: no id, service Exchange, even on a Microsoft address.
        let c = e.classify(&Query {
            sni: Some("smtp-legacy.office365.com"),
            dns_name: None,
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
            dns_name: None,
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

    /// Certificate lists shared by connections are known again by their
    /// address; a list with the same first name and length but other names,
    /// or the same names in a list of their own, are classified by their
    /// names.
    #[test]
    fn shared_certificate_lists() {
        use std::sync::Arc;
        let e = emb();
        let q = |certs: &[String]| -> Classification {
            e.classify(&Query {
                sni: None,
                dns_name: None,
                cert_names: certs,
                banner_host: None,
                server_ip: NON_MS,
            })
        };
        let shared = |certs: &Arc<[String]>| -> Classification {
            let q = Query {
                sni: None,
                dns_name: None,
                cert_names: certs,
                banner_host: None,
                server_ip: NON_MS,
            };
            e.classify_shared(&q, certs)
        };
        let ms: Arc<[String]> = Arc::from(vec![
            "example.org".to_string(),
            "outlook.office365.com".to_string(),
        ]);
        let other: Arc<[String]> =
            Arc::from(vec!["example.org".to_string(), "example.net".to_string()]);
        let first = shared(&ms);
        assert!(first.m365 && first.matched.cert, "{first:?}");
        assert_eq!(first.service, Some(Service::Exchange));
        assert_eq!(shared(&ms), first);
        assert_eq!(shared(&other), Classification::default());
        // The same names at another address.
        let copy = |l: &Arc<[String]>| -> Vec<String> { l.iter().cloned().collect() };
        assert_eq!(q(&copy(&ms)), first);
        assert_eq!(q(&copy(&other)), Classification::default());
        assert_eq!(shared(&ms), first);
    }
}
