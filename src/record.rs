//! The per-connection result row, built from a finished [`Connection`].

use std::net::IpAddr;

use crate::conn::{Connection, Opening};
use crate::fingerprint::{self, HelloView};
use crate::m365::{Classification, Endpoints, Query, Service};
use crate::starttls::StartTls;
use crate::tls::{self, ClientHello};

/// How a connection's handshake ended, as far as the capture shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// ServerHello seen, no plaintext alert.
    Established,
    /// ClientHello but no ServerHello, no alert (capture or server silent).
    NoServerHello,
    /// ServerHello seen, the ClientHello was not captured.
    NoClientHello,
    /// A plaintext alert ended or marred the handshake.
    Alert,
    /// A hello was cut short (snap length, capture end, lost data).
    Truncated,
    /// The mail server refused STARTTLS.
    StarttlsRefused,
    /// A mail session without any TLS.
    Plaintext,
    /// The client began with a ClientHello (implicit TLS) and the server
    /// answered in plaintext (a mail greeting, an HTTP error page...).
    PlaintextAnswer,
}

impl Status {
    /// The spelling used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Established => "established",
            Status::NoServerHello => "no_server_hello",
            Status::NoClientHello => "no_client_hello",
            Status::Alert => "alert",
            Status::Truncated => "truncated",
            Status::StarttlsRefused => "starttls_refused",
            Status::Plaintext => "plaintext",
            Status::PlaintextAnswer => "plaintext_answer",
        }
    }
}

/// One report row: a TCP connection that carried a hello, or a mail
/// session that stayed in plaintext.
#[derive(Debug, Clone)]
pub struct ConnRecord {
    /// First packet, microseconds since the Unix epoch.
    pub ts: i64,
    /// Last packet seen before the row was written.
    pub last_ts: i64,
    /// Client address (the ClientHello sender).
    pub client_ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// `tls`, `smtp-starttls`, `imap-starttls`, `pop3-starttls`, or for
    /// mail without TLS `smtp`, `imap`, `pop3`.
    pub protocol: &'static str,
    /// SNI host name (escaped), empty when absent.
    pub sni: String,
    /// Client's highest offered version (numerically, see
    /// [`ClientHello::max_version`]).
    pub client_max_version: Option<u16>,
    /// Client's best offered version by rank, for verdicts.
    pub client_best_version: Option<u16>,
    /// ClientHello legacy version.
    pub client_version: Option<u16>,
    /// Negotiated version.
    pub negotiated_version: Option<u16>,
    /// Negotiated cipher suite.
    pub cipher: Option<u32>,
    /// ALPN protocol the server chose (escaped).
    pub alpn: String,
    /// Outcome.
    pub status: Status,
    /// Microsoft 365 classification.
    pub m365: Classification,
    /// Name the client gave in EHLO/HELO.
    pub client_helo: String,
    /// Host name in the mail server's greeting.
    pub server_banner: String,
    /// Server certificate names (TLS <= 1.2).
    pub cert_names: std::sync::Arc<[String]>,
    /// JA4 client fingerprint.
    pub ja4: String,
    /// JA3 client fingerprint (MD5).
    pub ja3: String,
    /// First plaintext alert, as "level:description".
    pub alert: String,
    /// A HelloRetryRequest preceded the ServerHello.
    pub hello_retry: bool,
    /// Segments of the connection seen before the row was written: those
    /// with payload, SYN, FIN or RST (bare ACKs are not analysed).
    pub packets: u64,
}

/// Borrowed JA4/JA3 input from a ClientHello.
fn hello_view<'a>(ch: &'a ClientHello, ciphers: &'a [u16]) -> HelloView<'a> {
    HelloView {
        legacy_version: ch.legacy_version,
        ciphers,
        extensions: &ch.extensions,
        has_sni: ch.extensions.contains(&0),
        alpn_first: ch.alpn.first().map(Vec::as_slice),
        supported_versions: &ch.supported_versions,
        signature_algorithms: &ch.signature_algorithms,
        supported_groups: &ch.supported_groups,
        ec_point_formats: &ch.ec_point_formats,
    }
}

/// Fingerprints computed lately, by a hash of the hello fields they use:
/// one application sends the same hello on every connection.
const FP_CACHE_MAX: usize = 4096;

thread_local! {
    static FP_CACHE: std::cell::RefCell<rustc_hash::FxHashMap<u64, (String, String)>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// JA4 and JA3 of a ClientHello, through the per-thread cache.
fn fingerprints(h: &ClientHello) -> (String, String) {
    use std::hash::{Hash, Hasher};
    let ciphers: Vec<u16> = h
        .ciphers
        .iter()
        .filter_map(|c| u16::try_from(*c).ok())
        .collect();
    let v = hello_view(h, &ciphers);
    let mut hasher = rustc_hash::FxHasher::default();
    (
        v.legacy_version,
        v.ciphers,
        v.extensions,
        v.has_sni,
        v.alpn_first,
        v.supported_versions,
        v.signature_algorithms,
        v.supported_groups,
        v.ec_point_formats,
    )
        .hash(&mut hasher);
    let key = hasher.finish();
    FP_CACHE.with(|c| {
        if let Some(fp) = c.borrow().get(&key) {
            return fp.clone();
        }
        let fp = (fingerprint::ja4(&v), fingerprint::ja3(&v));
        let mut m = c.borrow_mut();
        if m.len() >= FP_CACHE_MAX {
            m.clear();
        }
        m.insert(key, fp.clone());
        fp
    })
}

impl ConnRecord {
    /// Builds the row for a connection, or `None` when it has nothing to
    /// report (no hello and no mail dialogue worth reporting).
    pub fn from_connection(c: &Connection, endpoints: &Endpoints) -> Option<ConnRecord> {
        let f = &c.facts;
        let mail = f.mail.as_deref().filter(|m| m.protocol.is_some());
        let has_hello = f.client_hello.is_some() || f.server_hello.is_some();
        let mail_only_status = match mail {
            Some(m) if !has_hello => match m.starttls {
                StartTls::Refused => Some(Status::StarttlsRefused),
                StartTls::NotRequested if m.commands > 0 || m.transaction => {
                    Some(Status::Plaintext)
                }
                // STARTTLS asked for (and perhaps granted), no TLS captured.
                StartTls::Requested | StartTls::Accepted => Some(Status::NoClientHello),
                StartTls::NotRequested => None,
            },
            _ => None,
        };
        if !has_hello && mail_only_status.is_none() {
            return None;
        }
        let cs = c.client_side();
        let (client_ip, client_port) = c.endpoints[cs];
        let (server_ip, server_port) = c.endpoints[1 - cs];
        let ch = f.client_hello.as_deref();
        let sh = f.server_hello.as_deref();
        let truncated = f.gap_in_handshake && !f.complete()
            || ch.is_some_and(|h| h.truncated)
            || sh.is_some_and(|h| h.truncated);
        // The client's stream began with TLS: no STARTTLS was asked for.
        let implicit_tls = c.opening(cs) == Some(Opening::Tls);
        let plaintext_answer = implicit_tls
            && ch.is_some()
            && sh.is_none()
            && c.opening(1 - cs) == Some(Opening::Text);
        let status = if let Some(s) = mail_only_status {
            s
        } else if truncated {
            Status::Truncated
        } else if plaintext_answer {
            Status::PlaintextAnswer
        } else if f.alert.is_some_and(|a| a.level == 2 || sh.is_none()) {
            Status::Alert
        } else if sh.is_some() && ch.is_none() {
            Status::NoClientHello
        } else if sh.is_some() {
            Status::Established
        } else {
            Status::NoServerHello
        };
        let protocol = match mail {
            Some(_) if has_hello && implicit_tls => "tls",
            Some(m)
                if has_hello
                    || m.starttls != StartTls::NotRequested && m.starttls != StartTls::Refused =>
            {
                m.starttls_label().unwrap_or("tls")
            }
            Some(m) => m.protocol.map_or("", |p| p.name()),
            None => "tls",
        };
        let sni = ch.and_then(|h| h.sni.clone()).unwrap_or_default();
        let banner = mail.and_then(|m| m.banner_host.clone()).unwrap_or_default();
        let mut m365 = endpoints.classify(&Query {
            sni: (!sni.is_empty()).then_some(sni.as_str()),
            cert_names: &f.cert_names,
            banner_host: (!banner.is_empty()).then_some(banner.as_str()),
            server_ip,
        });
        // A Microsoft 365 mail server is Exchange Online, even when the name
        // that matched is a shared one such as `*.office365.com` (Common).
        if mail.is_some() && m365.m365 && m365.service == Some(Service::Common) {
            m365.service = Some(Service::Exchange);
        }
        let (ja4, ja3) = match ch {
            Some(h) if !h.sslv2_format => fingerprints(h),
            _ => (String::new(), String::new()),
        };
        Some(ConnRecord {
            ts: c.first_ts,
            last_ts: c.last_ts,
            client_ip,
            client_port,
            server_ip,
            server_port,
            protocol,
            sni,
            client_max_version: ch.map(ClientHello::max_version),
            client_best_version: ch.map(ClientHello::best_version),
            client_version: ch.map(|h| h.legacy_version),
            negotiated_version: sh.map(|h| h.version()),
            cipher: sh.map(|h| h.cipher),
            alpn: sh
                .and_then(|h| h.alpn.as_deref())
                .map(tls::escape_name)
                .unwrap_or_default(),
            status,
            m365,
            client_helo: mail.and_then(|m| m.client_helo.clone()).unwrap_or_default(),
            server_banner: banner,
            cert_names: std::sync::Arc::clone(&f.cert_names),
            ja4,
            ja3,
            alert: f
                .alert
                .map(|a| format!("{}:{}", a.level, a.description))
                .unwrap_or_default(),
            hello_retry: f.hello_retry,
            packets: c.packets,
        })
    }

    /// Negotiated version below TLS 1.2 (SSL 2/3, TLS 1.0/1.1)?
    pub fn negotiated_legacy(&self) -> bool {
        self.negotiated_version.is_some_and(|v| !at_least_tls12(v))
    }

    /// The handshake ended below TLS 1.2, or the client offered nothing higher.
    pub fn below_tls12(&self) -> bool {
        self.negotiated_legacy() || self.client_best_version.is_some_and(|v| !at_least_tls12(v))
    }
}

/// TLS 1.2, a TLS 1.3 draft, or TLS 1.3.
pub fn at_least_tls12(v: u16) -> bool {
    tls::version_rank(v) >= tls::version_rank(0x0303)
}
