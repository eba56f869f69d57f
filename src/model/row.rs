//! The per-connection row: plain data, built from a connection's facts by
//! `crate::enrich::row` (or, later, read back from CSV or JSON lines).

use std::net::IpAddr;
use std::sync::Arc;

use super::m365::Classification;
use super::version::TlsVersion;

/// What a connection carried, as the `protocol` column spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TLS from the first byte.
    Tls,
    /// SMTP upgraded with STARTTLS.
    SmtpStarttls,
    /// IMAP upgraded with STARTTLS.
    ImapStarttls,
    /// POP3 upgraded with STLS.
    Pop3Starttls,
    /// SMTP without TLS.
    Smtp,
    /// IMAP without TLS.
    Imap,
    /// POP3 without TLS.
    Pop3,
}

impl Protocol {
    /// Every protocol, in column-spelling order.
    pub const ALL: [Protocol; 7] = [
        Protocol::Tls,
        Protocol::SmtpStarttls,
        Protocol::ImapStarttls,
        Protocol::Pop3Starttls,
        Protocol::Smtp,
        Protocol::Imap,
        Protocol::Pop3,
    ];

    /// `tls`, `smtp-starttls`, `imap-starttls`, `pop3-starttls`, `smtp`,
    /// `imap` or `pop3`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::SmtpStarttls => "smtp-starttls",
            Protocol::ImapStarttls => "imap-starttls",
            Protocol::Pop3Starttls => "pop3-starttls",
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
        }
    }

    /// The protocol a column spells, if any.
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

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

    /// The status a column spells, if any.
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Established,
            Status::NoServerHello,
            Status::NoClientHello,
            Status::Alert,
            Status::Truncated,
            Status::StarttlsRefused,
            Status::Plaintext,
            Status::PlaintextAnswer,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Who a client was at the time of a connection (see
/// `crate::enrich::identity`): every cell already escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientName {
    /// Its name, empty when none was learned.
    pub name: String,
    /// Where the name came from (`dhcp`, `nbns`, `hosts`...), empty without one.
    pub source: &'static str,
    /// Its MAC, `aa:bb:cc:dd:ee:ff`, empty when unknown.
    pub mac: String,
    /// The MAC's vendor.
    pub vendor: String,
    /// What operating system it probably runs.
    pub os_hint: String,
}

impl ClientName {
    /// Nothing known.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.mac.is_empty() && self.os_hint.is_empty()
    }
}

/// Who a row's client was, as the row says (see `output::named`): empty
/// until the input is read in `analyze`; read back from rows by `tally`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowName {
    /// `client_name`.
    pub name: String,
    /// `client_name_source`.
    pub source: String,
    /// `client_mac`.
    pub mac: String,
}

impl RowName {
    /// Nothing said.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.mac.is_empty()
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
    /// What the connection carried.
    pub protocol: Protocol,
    /// SNI host name (escaped), empty when absent.
    pub sni: String,
    /// Without SNI: the name the client resolved for the server address
    /// (a DNS answer in the capture), else empty.
    pub dns_name: Arc<str>,
    /// Client's highest offered version (numerically, see
    /// `ClientHello::max_version`).
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
    /// Which endpoint data classified it (`Endpoints::data_label`, e.g.
    /// `built-in:2026073100`; JSON rows only).
    pub m365_data: Arc<str>,
    /// Name the client gave in EHLO/HELO.
    pub client_helo: String,
    /// Host name in the mail server's greeting.
    pub server_banner: String,
    /// Server certificate names (TLS <= 1.2).
    pub cert_names: Arc<[String]>,
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
    /// The client's name columns, when the row carries them.
    pub who: RowName,
}

/// An empty name, shared per thread (rows are made by the thousand, most
/// without a DNS name).
pub fn no_name() -> Arc<str> {
    thread_local! {
        static EMPTY: Arc<str> = Arc::from("");
    }
    EMPTY.with(Arc::clone)
}

/// An empty row: unspecified addresses, port 0, protocol `tls`, status
/// `established`, no facts (filled in by the readers of rows, and by tests).
impl Default for ConnRecord {
    fn default() -> Self {
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        ConnRecord {
            ts: 0,
            last_ts: 0,
            client_ip: any,
            client_port: 0,
            server_ip: any,
            server_port: 0,
            protocol: Protocol::Tls,
            sni: String::new(),
            dns_name: no_name(),
            client_max_version: None,
            client_best_version: None,
            client_version: None,
            negotiated_version: None,
            cipher: None,
            alpn: String::new(),
            status: Status::Established,
            m365: Classification::default(),
            m365_data: Arc::from(""),
            client_helo: String::new(),
            server_banner: String::new(),
            cert_names: Arc::from([]),
            ja4: String::new(),
            ja3: String::new(),
            alert: String::new(),
            hello_retry: false,
            packets: 0,
            who: RowName::default(),
        }
    }
}

impl ConnRecord {
    /// Negotiated version below TLS 1.2 (SSL 2/3, TLS 1.0/1.1)?
    pub fn negotiated_legacy(&self) -> bool {
        self.negotiated_version
            .is_some_and(|v| !TlsVersion(v).at_least_tls12())
    }

    /// The handshake ended below TLS 1.2, or the client offered nothing higher.
    pub fn below_tls12(&self) -> bool {
        self.negotiated_legacy()
            || self
                .client_best_version
                .is_some_and(|v| !TlsVersion(v).at_least_tls12())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_read_back() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
        assert_eq!(
            Status::parse("no_client_hello"),
            Some(Status::NoClientHello)
        );
        assert_eq!(
            Status::parse("starttls_refused"),
            Some(Status::StarttlsRefused)
        );
        assert_eq!(
            Status::parse("plaintext_answer"),
            Some(Status::PlaintextAnswer)
        );
        assert_eq!(Status::parse("nope"), None);
        assert_eq!(Protocol::parse("smtps"), None);
    }
}
