//! Facts to row: the per-connection row built from a finished
//! [`Connection`], with its Microsoft 365 classification and fingerprints.

use std::sync::Arc;

use super::fingerprint;
use super::identity::server_names::{Resolved, ServerNames};
use super::m365::{Endpoints, Query};
use crate::flow::conn::{Connection, Opening};
use crate::model::m365::{Classification, Service};
use crate::model::row::{ConnRecord, Protocol, Status, no_name};
use crate::text::escape_name;
use crate::wire::mail::{MailProtocol, StartTls};
use crate::wire::tls::ClientHello;

/// A mail session upgraded to TLS.
fn upgraded(p: MailProtocol) -> Protocol {
    match p {
        MailProtocol::Smtp => Protocol::SmtpStarttls,
        MailProtocol::Imap => Protocol::ImapStarttls,
        MailProtocol::Pop3 => Protocol::Pop3Starttls,
    }
}

/// A mail session in plaintext.
fn plain(p: MailProtocol) -> Protocol {
    match p {
        MailProtocol::Smtp => Protocol::Smtp,
        MailProtocol::Imap => Protocol::Imap,
        MailProtocol::Pop3 => Protocol::Pop3,
    }
}

/// Builds the row for a connection, or `None` when it has nothing to
/// report (no hello and no mail dialogue worth reporting).
pub fn build(c: &Connection, endpoints: &Endpoints) -> Option<ConnRecord> {
    let f = &c.facts;
    let mail = f.mail.as_deref().filter(|m| m.protocol.is_some());
    let has_hello = f.client_hello.is_some() || f.server_hello.is_some();
    let mail_only_status = match mail {
        Some(m) if !has_hello => match m.starttls {
            StartTls::Refused => Some(Status::StarttlsRefused),
            StartTls::NotRequested if m.commands > 0 || m.transaction => Some(Status::Plaintext),
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
    let plaintext_answer =
        implicit_tls && ch.is_some() && sh.is_none() && c.opening(1 - cs) == Some(Opening::Text);
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
        Some(_) if has_hello && implicit_tls => Protocol::Tls,
        Some(m)
            if has_hello
                || m.starttls != StartTls::NotRequested && m.starttls != StartTls::Refused =>
        {
            m.protocol.map_or(Protocol::Tls, upgraded)
        }
        Some(m) => m.protocol.map_or(Protocol::Tls, plain),
        None => Protocol::Tls,
    };
    let sni = ch.and_then(|h| h.sni.clone()).unwrap_or_default();
    let banner = mail.and_then(|m| m.banner_host.clone()).unwrap_or_default();
    let m365 = classify_server(
        endpoints,
        &sni,
        "",
        &f.cert_names,
        &banner,
        server_ip,
        mail.is_some(),
    );
    // Fingerprints of a whole ClientHello only: a cut one would give
    // those of another hello.
    let (ja4, ja3) = match ch {
        Some(h) if !h.sslv2_format && !h.truncated => fingerprint::of_hello(h),
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
        dns_name: no_name(),
        client_max_version: ch.map(ClientHello::max_version),
        client_best_version: ch.map(ClientHello::best_version),
        client_version: ch.map(|h| h.legacy_version),
        negotiated_version: sh.and_then(|h| h.known_version()),
        cipher: sh.and_then(|h| h.cipher),
        alpn: sh
            .and_then(|h| h.alpn.as_deref())
            .map(escape_name)
            .unwrap_or_default(),
        status,
        m365,
        m365_data: Arc::clone(endpoints.data_label()),
        client_helo: mail.and_then(|m| m.client_helo.clone()).unwrap_or_default(),
        server_banner: banner,
        cert_names: Arc::clone(&f.cert_names),
        ja4,
        ja3,
        alert: f
            .alert
            .map(|a| alert_cell(a.level, a.description))
            .unwrap_or_default(),
        hello_retry: f.hello_retry,
        packets: c.packets,
        who: Default::default(),
    })
}

/// Microsoft 365 recognition of a connection's server from its SNI,
/// certificate names, mail greeting host and address (empty names absent):
/// the one rule for rows built from packets and rows read back from files.
/// `mail`: the connection is a mail session (protocol other than `tls`).
pub fn classify_server(
    endpoints: &Endpoints,
    sni: &str,
    dns_name: &str,
    cert_names: &Arc<[String]>,
    banner: &str,
    server_ip: std::net::IpAddr,
    mail: bool,
) -> Classification {
    let q = Query {
        sni: (!sni.is_empty()).then_some(sni),
        dns_name: (!dns_name.is_empty()).then_some(dns_name),
        cert_names,
        banner_host: (!banner.is_empty()).then_some(banner),
        server_ip,
    };
    let mut m365 = endpoints.classify_shared(&q, cert_names);
    // A Microsoft 365 mail server is Exchange Online, even when the name
    // that matched is a shared one such as `*.office365.com` (Common).
    if mail && m365.m365 && m365.service == Some(Service::Common) {
        m365.service = Some(Service::Exchange);
    }
    m365
}

/// Whether a row is of a mail session: a mail protocol, or implicit TLS
/// answered with a mail greeting (`plaintext_answer`, whose row keeps the
/// banner), or a client that greeted.
pub fn mail_session(r: &ConnRecord) -> bool {
    r.protocol != Protocol::Tls || !r.server_banner.is_empty() || !r.client_helo.is_empty()
}

/// Microsoft 365 recognition of a row's server with `endpoints` (the rules
/// of [`classify_server`]), `mail` its [`mail_session`].
pub fn classification(r: &ConnRecord, mail: bool, endpoints: &Endpoints) -> Classification {
    classify_server(
        endpoints,
        &r.sni,
        &r.dns_name,
        &r.cert_names,
        &r.server_banner,
        r.server_ip,
        mail,
    )
}

/// [`classification`] as the row's own, with the data that made it; for
/// rows read back from files, and rows whose evidence changed.
pub fn classify(r: &mut ConnRecord, endpoints: &Endpoints) {
    let m = classification(r, mail_session(r), endpoints);
    set_classification(r, m, endpoints);
}

/// Gives a row its Microsoft 365 classification, made with `endpoints`.
pub fn set_classification(r: &mut ConnRecord, m: Classification, endpoints: &Endpoints) {
    r.m365 = m;
    if !Arc::ptr_eq(&r.m365_data, endpoints.data_label()) {
        r.m365_data = Arc::clone(endpoints.data_label());
    }
}

/// Whether [`resolve`] looks the row's server up in the DNS answers (its
/// tables must then be settled, see [`ServerNames::settle`]): no SNI.
pub fn looks_up_dns(r: &ConnRecord) -> bool {
    r.sni.is_empty()
}

/// A row without SNI: the name its client resolved for the server (see
/// [`ServerNames`]) becomes its `dns_name`, and the row is classified
/// again when that name is new. Says how the name was found (`None`: the
/// row has SNI, or no answer names its server).
pub fn resolve(
    r: &mut ConnRecord,
    servers: &[&ServerNames],
    endpoints: &Endpoints,
) -> Option<Resolved> {
    if !looks_up_dns(r) {
        return None;
    }
    let (name, how) = ServerNames::lookup_in(servers, r.client_ip, r.server_ip, r.ts, r.last_ts)?;
    if **name != *r.dns_name {
        r.dns_name = Arc::clone(name);
        classify(r, endpoints);
    }
    Some(how)
}

/// An alert as the `alert` cell spells it, with the names of the TLS
/// registry as tshark shows them: `fatal: protocol_version`,
/// `warning: close_notify`; numbers where the value has no name
/// (`fatal: 250`, `3: handshake_failure`).
pub fn alert_cell(level: u8, description: u8) -> String {
    let level = match level {
        1 => "warning".to_string(),
        2 => "fatal".to_string(),
        n => n.to_string(),
    };
    let name = tls_parser::TlsAlertDescription(description).to_string();
    let desc = if name.starts_with("TlsAlertDescription") || name.is_empty() {
        description.to_string()
    } else if name == "CertUnobtainable" {
        "certificate_unobtainable".to_string()
    } else {
        // CamelCase -> the registry's snake_case.
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    };
    format!("{level}: {desc}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn alerts_are_named_as_tshark_names_them() {
        use super::alert_cell;
        assert_eq!(alert_cell(2, 70), "fatal: protocol_version");
        assert_eq!(alert_cell(1, 0), "warning: close_notify");
        assert_eq!(alert_cell(2, 40), "fatal: handshake_failure");
        assert_eq!(alert_cell(2, 20), "fatal: bad_record_mac");
        assert_eq!(alert_cell(2, 250), "fatal: 250");
        assert_eq!(alert_cell(3, 112), "3: unrecognized_name");
    }

    use super::*;
    use crate::flow::key::FlowKey;
    use crate::flow::table::{Finished, FlowTable, Limits};
    use crate::model::version::TlsVersion;
    use crate::testing::frames;

    struct Built<'e>(&'e Endpoints, Vec<ConnRecord>);

    impl Finished for Built<'_> {
        fn finished(&mut self, _key: &FlowKey, c: &Connection) -> bool {
            match build(c, self.0) {
                Some(r) => {
                    self.1.push(r);
                    true
                }
                None => false,
            }
        }
    }

    /// The rows of a sample, built as `analyze` builds them.
    fn rows(sample: &str) -> Vec<ConnRecord> {
        let ep = Endpoints::embedded();
        let mut b = Built(&ep, Vec::new());
        let mut t = FlowTable::new(Limits::default(), &mut b);
        for f in frames(sample) {
            t.frame(f.link, f.ts_us, &f.data, f.wire_len);
        }
        t.finish();
        drop(t);
        b.1
    }

    fn one(sample: &str) -> ConnRecord {
        let mut r = rows(sample);
        assert_eq!(r.len(), 1, "{sample}");
        r.remove(0)
    }

    #[test]
    fn established_tls12() {
        let r = one("openssl-tls12.pcap");
        assert_eq!(r.protocol, Protocol::Tls);
        assert_eq!(r.status, Status::Established);
        assert_eq!(r.client_port, 52968);
        assert_eq!(r.server_port, 443);
        assert_eq!(r.sni, "tls12.example.test");
        assert_eq!(r.negotiated_version, Some(0x0303));
        assert_eq!(r.cipher, Some(0xc030));
        assert!(
            r.ja4.starts_with("t12d") || r.ja4.starts_with("t13d"),
            "{}",
            r.ja4
        );
        assert_eq!(r.ja3.len(), 32);
        assert!(!r.m365.m365);
        assert!(!r.below_tls12());
        assert_eq!(r.packets, 4);
    }

    #[test]
    fn mail_statuses_and_protocols() {
        let r = one("smtp-plaintext-25.pcap");
        assert_eq!((r.protocol, r.status), (Protocol::Smtp, Status::Plaintext));
        assert!(r.ja4.is_empty());
        let r = one("smtp-starttls-refused-25.pcap");
        assert_eq!(
            (r.protocol, r.status),
            (Protocol::Smtp, Status::StarttlsRefused)
        );
        let r = one("smtp-starttls-tls12-2525.pcap");
        assert_eq!(
            (r.protocol, r.status),
            (Protocol::SmtpStarttls, Status::Established)
        );
        assert!(!r.client_helo.is_empty());
        let r = one("pop3-starttls-tls10-110.pcap");
        assert_eq!(r.protocol, Protocol::Pop3Starttls);
        assert!(r.below_tls12());
    }

    #[test]
    fn hello_retry_and_missing_client_hello() {
        let r = one("openssl-tls13-hrr.pcap");
        assert!(r.hello_retry);
        assert_eq!(r.negotiated_version, Some(0x0304));
        let r = one("midstream-no-clienthello.pcap");
        assert_eq!(r.status, Status::NoClientHello);
        assert_eq!(r.client_max_version, None);
        // The ServerHello's receiver is the client.
        assert_eq!(r.client_port, 52968);
    }

    #[test]
    fn microsoft_365_by_address_only() {
        let r = one("m365-ip-only-tls11.pcap");
        assert!(r.sni.is_empty());
        assert!(r.m365.m365);
        assert!(r.m365.matched.ip && !r.m365.matched.sni);
        assert!(r.m365.endpoint_id.is_some());
        assert_eq!(
            r.negotiated_version
                .map(|v| TlsVersion(v).name().into_owned()),
            Some("TLS1.1".to_string())
        );
        assert!(r.negotiated_legacy());
    }
}
