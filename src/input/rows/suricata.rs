//! Suricata `eve.json`: its `tls` events over TCP (other events passed
//! over).
//!
//! `tls.version` is the version the server chose (`UNDETERMINED` without a
//! ServerHello; with JA3 on, an event with a JA3 but no JA3S had no
//! ServerHello either, whatever its version says). What the client offered is not logged as such: it is
//! taken from the JA4 fingerprint when logged (`ja4: on`; its version is the
//! highest the client offered), else from the JA3 string when the hello
//! had no `supported_versions` extension (its first field is then the best
//! offered version); otherwise it stays unknown. The certificate's common
//! name comes from `tls.subject` (no alternative names: Suricata does not
//! log them).

use std::borrow::Cow;
use std::io::{self, BufRead};
use std::net::IpAddr;

use serde::Deserialize;

use super::fields::{common_name, escape, parse_rfc3339};
use super::{CertNames, Emit, Line, ReadStats, ja4_version, next_line, reset};
use crate::model::row::{ConnRecord, Status};

#[derive(Deserialize)]
struct Ja3<'a> {
    #[serde(borrow)]
    hash: Option<&'a str>,
    string: Option<String>,
}

#[derive(Deserialize)]
struct Tls<'a> {
    subject: Option<String>,
    sni: Option<String>,
    #[serde(borrow)]
    version: Option<&'a str>,
    #[serde(borrow)]
    ja3: Option<Ja3<'a>>,
    ja3s: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    ja4: Option<&'a str>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    timestamp: &'a str,
    src_ip: IpAddr,
    src_port: u16,
    dest_ip: IpAddr,
    dest_port: u16,
    #[serde(borrow)]
    proto: Option<&'a str>,
    #[serde(borrow)]
    tls: Tls<'a>,
}

/// Suricata's version spelling; `Ok(None)` for `UNDETERMINED`.
fn version(s: &str) -> Result<Option<u16>, String> {
    Ok(Some(match s {
        "UNDETERMINED" => return Ok(None),
        "SSLv2" => 0x0002,
        "SSLv3" => 0x0300,
        "TLSv1" => 0x0301,
        "TLS 1.1" => 0x0302,
        "TLS 1.2" => 0x0303,
        "TLS 1.3" => 0x0304,
        _ => {
            if let Some(d) = s.strip_prefix("TLS 1.3 draft-") {
                let (n, prefix) = match d.strip_suffix("-fb") {
                    Some(n) => (n, 0xfb00),
                    None => (d, 0x7f00),
                };
                match n.parse::<u8>() {
                    Ok(n) => prefix | u16::from(n),
                    // `draft-<16`: which draft is not said.
                    Err(_) => return Ok(None),
                }
            } else if let Some(hex) = s.strip_prefix("0x") {
                u16::from_str_radix(hex, 16).map_err(|_| format!("version {s:?}"))?
            } else {
                return Err(format!("unknown version {s:?}"));
            }
        }
    }))
}

/// The legacy version and whether `supported_versions` (43) was sent, from
/// a JA3 string (`771,ciphers,extensions,groups,formats`).
fn ja3_facts(s: &str) -> Option<(u16, bool)> {
    let mut parts = s.split(',');
    let legacy = parts.next()?.parse().ok()?;
    let _ciphers = parts.next()?;
    let exts = parts.next()?;
    Some((legacy, exts.split('-').any(|e| e == "43")))
}

fn build(e: &Event<'_>, rec: &mut ConnRecord, certs: &mut CertNames) -> Result<(), String> {
    reset(rec);
    rec.ts = parse_rfc3339(e.timestamp).ok_or_else(|| format!("timestamp {:?}", e.timestamp))?;
    rec.last_ts = rec.ts;
    rec.client_ip = e.src_ip;
    rec.client_port = e.src_port;
    rec.server_ip = e.dest_ip;
    rec.server_port = e.dest_port;
    let t = &e.tls;
    rec.negotiated_version = match t.version {
        Some(v) => version(v)?,
        None => None,
    };
    // With JA3 on, a ServerHello gives a JA3S: without one, the version is
    // that of another server record (an alert), not a negotiated one.
    if t.ja3.is_some() && t.ja3s.is_none() {
        rec.negotiated_version = None;
    }
    rec.status = if rec.negotiated_version.is_some() {
        Status::Established
    } else {
        Status::NoServerHello
    };
    if let Some(s) = &t.sni {
        rec.sni.push_str(&escape(s));
    }
    if let Some(j) = t.ja4 {
        rec.ja4.push_str(j);
    }
    if let Some(j) = &t.ja3 {
        if let Some(h) = j.hash {
            rec.ja3.push_str(h);
        }
        if let Some((legacy, sv)) = j.string.as_deref().and_then(ja3_facts) {
            rec.client_version = Some(legacy);
            if !sv {
                rec.client_max_version = Some(legacy);
            }
        }
    }
    if let Some(v) = ja4_version(&rec.ja4) {
        rec.client_max_version = Some(v);
    }
    rec.client_best_version = rec.client_max_version;
    let subject = t.subject.as_deref().map(escape);
    let cn = subject.as_deref().and_then(common_name);
    rec.cert_names = certs.get(cn.as_slice());
    Ok(())
}

/// Reads the `tls` events of an eve.json.
pub fn read_eve(r: &mut dyn BufRead, stats: &mut ReadStats, emit: &mut Emit<'_>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut rec = super::empty_record();
    let mut certs = CertNames::default();
    let mut line_no = 0u64;
    loop {
        match next_line(r, &mut buf)? {
            Line::End => return Ok(()),
            Line::TooLong => {
                line_no += 1;
                stats.bad_row(line_no, "line too long");
                continue;
            }
            Line::Line => line_no += 1,
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // Most events are not about TLS: look before parsing.
        if memchr::memmem::find(&buf, b"\"tls\"").is_none() {
            stats.passed_over += 1;
            continue;
        }
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(borrow)]
            event_type: Cow<'a, str>,
        }
        match serde_json::from_slice::<Kind<'_>>(&buf) {
            Ok(k) if k.event_type == "tls" => {}
            Ok(_) => {
                stats.passed_over += 1;
                continue;
            }
            Err(e) => {
                stats.bad_row(line_no, e);
                continue;
            }
        }
        let ev: Event<'_> = match serde_json::from_slice(&buf) {
            Ok(e) => e,
            Err(e) => {
                stats.bad_row(line_no, e);
                continue;
            }
        };
        if ev.proto.is_some_and(|p| !p.eq_ignore_ascii_case("tcp")) {
            stats.passed_over += 1;
            continue;
        }
        match build(&ev, &mut rec, &mut certs) {
            Ok(()) => {
                stats.rows += 1;
                emit(&mut rec)?;
            }
            Err(e) => stats.bad_row(line_no, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_events_over_tcp() {
        let text = r#"{"timestamp":"2026-11-28T10:56:36.824478+0000","event_type":"alert","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":443,"proto":"TCP","tls":{"sni":"a.example","version":"TLS 1.2"}}
{"timestamp": "2026-11-28T10:56:36.824478+0000", "event_type": "tls", "src_ip": "10.0.0.1", "src_port": 1, "dest_ip": "10.0.0.2", "dest_port": 443, "proto": "TCP", "tls": {"sni": "a.example", "version": "TLS 1.2", "subject": "C=US, CN=a.example"}}
{"timestamp":"2026-11-28T10:56:36Z","event_type":"flow","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":443,"proto":"TCP"}
{"timestamp":"2026-11-28T10:56:36Z","event_type":"tls","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":443,"proto":"UDP","tls":{}}
{"event_type":"tls","tls":{}}
"#;
        let mut out = Vec::new();
        let mut stats = ReadStats::default();
        let mut r = io::BufReader::new(text.as_bytes());
        read_eve(&mut r, &mut stats, &mut |r| {
            out.push(r.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(stats.passed_over, 3);
        assert_eq!(stats.bad, 1);
        assert_eq!(out[0].negotiated_version, Some(0x0303));
        assert_eq!(out[0].client_max_version, None);
        assert_eq!(&*out[0].cert_names, ["a.example"]);
    }

    #[test]
    fn versions_and_offers() {
        assert_eq!(version("TLSv1"), Ok(Some(0x0301)));
        assert_eq!(version("TLS 1.3 draft-23"), Ok(Some(0x7f17)));
        assert_eq!(version("TLS 1.3 draft-23-fb"), Ok(Some(0xfb17)));
        assert_eq!(version("TLS 1.3 draft-<16"), Ok(None));
        assert_eq!(version("UNDETERMINED"), Ok(None));
        assert!(version("nonsense").is_err());
        assert_eq!(
            ja3_facts("769,49162-49172,0-11-10-35-22-23,29-23,0-1-2"),
            Some((0x0301, false))
        );
        assert_eq!(ja3_facts("771,4865,0-43-51,29,0"), Some((0x0303, true)));
    }
}
