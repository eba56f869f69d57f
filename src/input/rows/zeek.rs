//! Zeek `ssl.log`, as tab-separated text with its `#fields` header or as
//! JSON lines.
//!
//! Zeek's default log has the negotiated version (`version`), the SNI
//! (`server_name`), the cipher, the chosen ALPN (`next_protocol`), the last
//! plaintext alert and the handshake history, but not what the client
//! offered: without the `ssl-log-ext` policy the client's versions stay
//! unknown, and the tally's rule for missing facts applies. With it,
//! `client_version` and `client_supported_versions` give the offered
//! versions, and the hello's ciphers, extensions, groups, point formats,
//! signature algorithms and ALPN give JA3 and JA4 as tlsready computes them.
//! `ja3` and `ja4` fields added by the JA3 and JA4 Zeek packages are read
//! as they are. An older Zeek's `subject` gives the certificate's common
//! name. DTLS rows (a `DTLSv1x` version) are passed over: tlsready reads
//! TLS over TCP. So is a row without a version whose history shows DTLS: a
//! HelloVerifyRequest (`v`, DTLS only) or a ClientHello sent again with no
//! server message between (`CC`: a retransmission over UDP; over TCP a
//! second ClientHello follows a HelloRetryRequest, `CjC`).

use std::borrow::Cow;
use std::io::{self, BufRead};
use std::net::IpAddr;

use serde::Deserialize;

use super::fields::{
    common_name, epoch_from_f64, escape, parse_cipher, parse_epoch, parse_rfc3339,
};
use super::{CertNames, Emit, ReadStats, each_line, ja4_version, reset};
use crate::enrich::fingerprint::{self, HelloView};
use crate::model::row::{ConnRecord, Status};
use crate::wire::tls::is_grease;

/// One ssl.log row's facts, from either form.
#[derive(Debug, Default)]
struct Facts<'a> {
    ts: Option<i64>,
    orig_h: Option<IpAddr>,
    orig_p: Option<u16>,
    resp_h: Option<IpAddr>,
    resp_p: Option<u16>,
    version: Option<Cow<'a, str>>,
    cipher: Option<Cow<'a, str>>,
    server_name: Option<Cow<'a, str>>,
    last_alert: Option<Cow<'a, str>>,
    next_protocol: Option<Cow<'a, str>>,
    history: Option<Cow<'a, str>>,
    subject: Option<Cow<'a, str>>,
    client_version: Option<u16>,
    client_supported_versions: Option<Vec<u16>>,
    client_ciphers: Option<Vec<u16>>,
    client_exts: Option<Vec<u16>>,
    client_curves: Option<Vec<u16>>,
    point_formats: Option<Vec<u16>>,
    sigalgs: Option<Vec<u16>>,
    hashalgs: Option<Vec<u16>>,
    orig_alpn: Option<Cow<'a, str>>,
    ja3: Option<Cow<'a, str>>,
    ja4: Option<Cow<'a, str>>,
}

/// A Zeek version string: `Ok(None)` for DTLS (passed over).
fn version(s: &str) -> Result<Option<u16>, String> {
    Ok(Some(match s {
        "SSLv2" => 0x0002,
        "SSLv3" => 0x0300,
        "TLSv10" => 0x0301,
        "TLSv11" => 0x0302,
        "TLSv12" => 0x0303,
        "TLSv13" => 0x0304,
        _ if s.starts_with("DTLS") => return Ok(None),
        _ => {
            if let Some(n) = s.strip_prefix("TLSv13-draft") {
                0x7f00 | u16::from(n.parse::<u8>().map_err(|_| format!("version {s:?}"))?)
            } else if let Some(n) = s.strip_prefix("unknown-") {
                n.parse().map_err(|_| format!("version {s:?}"))?
            } else {
                return Err(format!("unknown version {s:?}"));
            }
        }
    }))
}

/// A handshake history only DTLS makes (see the module's text).
fn dtls_history(h: &str) -> bool {
    h.contains('v') || h.contains("CC")
}

/// Fills `rec` from a row's facts; `Ok(false)` for a row passed over (DTLS).
/// Counts what [`build`] made of a line: a row (handed on), a line passed
/// over, or a bad row.
fn counted(
    built: Result<bool, String>,
    rec: &mut ConnRecord,
    line_no: u64,
    stats: &mut ReadStats,
    emit: &mut Emit<'_>,
) -> io::Result<()> {
    match built {
        Ok(true) => {
            stats.rows += 1;
            emit(rec)
        }
        Ok(false) => {
            stats.passed_over += 1;
            Ok(())
        }
        Err(e) => {
            stats.bad_row(line_no, e);
            Ok(())
        }
    }
}

fn build(f: &Facts<'_>, rec: &mut ConnRecord, certs: &mut CertNames) -> Result<bool, String> {
    reset(rec);
    rec.ts = f.ts.ok_or("no ts")?;
    rec.last_ts = rec.ts;
    rec.client_ip = f.orig_h.ok_or("no id.orig_h")?;
    rec.client_port = f.orig_p.ok_or("no id.orig_p")?;
    rec.server_ip = f.resp_h.ok_or("no id.resp_h")?;
    rec.server_port = f.resp_p.ok_or("no id.resp_p")?;
    if let Some(v) = &f.version {
        match version(v)? {
            Some(v) => rec.negotiated_version = Some(v),
            None => return Ok(false),
        }
    }
    rec.cipher = f.cipher.as_deref().and_then(parse_cipher);
    if let Some(s) = &f.server_name {
        rec.sni.push_str(s);
    }
    if let Some(s) = &f.next_protocol {
        rec.alpn.push_str(s);
    }
    // Zeek names the alert's description only.
    if let Some(a) = &f.last_alert {
        rec.alert.push_str(a);
    }
    let history = f.history.as_deref();
    if rec.negotiated_version.is_none() && history.is_some_and(dtls_history) {
        return Ok(false);
    }
    // Client letters are capitals: C is the ClientHello, j a
    // HelloRetryRequest from the server.
    let client_hello_seen = history.is_none_or(|h| h.contains('C')) || f.server_name.is_some();
    rec.hello_retry = history.is_some_and(|h| h.contains('j'));
    rec.status = if !rec.alert.is_empty() {
        Status::Alert
    } else if rec.negotiated_version.is_none() {
        Status::NoServerHello
    } else if !client_hello_seen {
        Status::NoClientHello
    } else {
        Status::Established
    };
    // What the client offered: only with ssl-log-ext (or a JA4 field).
    rec.client_version = f.client_version;
    let offered: Vec<u16> = f
        .client_supported_versions
        .iter()
        .flatten()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    rec.client_max_version = offered.iter().copied().max().or(f.client_version);
    rec.client_best_version = offered
        .iter()
        .copied()
        .max_by_key(|v| (crate::model::version::TlsVersion(*v).rank(), *v))
        .or(f.client_version);
    if let Some(j) = &f.ja4 {
        rec.ja4.push_str(j);
    }
    if let Some(j) = &f.ja3 {
        rec.ja3.push_str(j);
    }
    if let (Some(legacy), Some(ciphers)) = (f.client_version, &f.client_ciphers)
        && legacy != 0x0002
    {
        let exts = f.client_exts.as_deref().unwrap_or_default();
        let sigalgs: Vec<u16> = match (&f.sigalgs, &f.hashalgs) {
            (Some(s), Some(h)) => h
                .iter()
                .zip(s)
                .map(|(h, s)| (h << 8) | (s & 0xff))
                .collect(),
            _ => Vec::new(),
        };
        let formats: Vec<u8> = f
            .point_formats
            .iter()
            .flatten()
            .filter_map(|&p| u8::try_from(p).ok())
            .collect();
        let view = HelloView {
            legacy_version: legacy,
            ciphers,
            extensions: exts,
            has_sni: exts.contains(&0),
            alpn_first: f.orig_alpn.as_deref().map(str::as_bytes),
            supported_versions: f.client_supported_versions.as_deref().unwrap_or_default(),
            signature_algorithms: &sigalgs,
            supported_groups: f.client_curves.as_deref().unwrap_or_default(),
            ec_point_formats: &formats,
        };
        if rec.ja4.is_empty() {
            rec.ja4 = fingerprint::ja4(&view);
        }
        if rec.ja3.is_empty() {
            rec.ja3 = fingerprint::ja3(&view);
        }
    }
    if rec.client_max_version.is_none()
        && let Some(v) = ja4_version(&rec.ja4)
    {
        rec.client_max_version = Some(v);
        rec.client_best_version = Some(v);
    }
    let cn = f.subject.as_deref().and_then(common_name);
    rec.cert_names = certs.get(cn.as_slice());
    Ok(true)
}

/// Header state of a TSV log (a file may hold several logs one after
/// another, each with its header).
struct Header {
    separator: u8,
    set_separator: u8,
    empty: String,
    unset: String,
    /// `#path` is `ssl` (or absent).
    ssl: bool,
    cols: Vec<Col>,
}

#[derive(Debug, Clone, Copy)]
enum Col {
    Ts,
    OrigH,
    OrigP,
    RespH,
    RespP,
    Version,
    Cipher,
    ServerName,
    LastAlert,
    NextProtocol,
    History,
    Subject,
    ClientVersion,
    ClientSupportedVersions,
    ClientCiphers,
    ClientExts,
    ClientCurves,
    PointFormats,
    Sigalgs,
    Hashalgs,
    OrigAlpn,
    Ja3,
    Ja4,
    Other,
}

fn col(name: &str) -> Col {
    match name {
        "ts" => Col::Ts,
        "id.orig_h" => Col::OrigH,
        "id.orig_p" => Col::OrigP,
        "id.resp_h" => Col::RespH,
        "id.resp_p" => Col::RespP,
        "version" => Col::Version,
        "cipher" => Col::Cipher,
        "server_name" => Col::ServerName,
        "last_alert" => Col::LastAlert,
        "next_protocol" => Col::NextProtocol,
        "ssl_history" => Col::History,
        "subject" => Col::Subject,
        "client_version" => Col::ClientVersion,
        "client_supported_versions" => Col::ClientSupportedVersions,
        "client_ciphers" => Col::ClientCiphers,
        "ssl_client_exts" => Col::ClientExts,
        "client_curves" => Col::ClientCurves,
        "point_formats" => Col::PointFormats,
        "sigalgs" => Col::Sigalgs,
        "hashalgs" => Col::Hashalgs,
        "orig_alpn" => Col::OrigAlpn,
        "ja3" => Col::Ja3,
        "ja4" => Col::Ja4,
        _ => Col::Other,
    }
}

/// A header value: `\x09` escapes decoded, a single byte expected.
fn header_byte(v: &str) -> Option<u8> {
    match v.strip_prefix("\\x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => v.bytes().next(),
    }
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: b'\t',
            set_separator: b',',
            empty: "(empty)".into(),
            unset: "-".into(),
            ssl: true,
            cols: Vec::new(),
        }
    }
}

impl Header {
    /// Takes a `#` line; false when it is not a header line.
    fn line(&mut self, line: &str) -> bool {
        let Some(rest) = line.strip_prefix('#') else {
            return false;
        };
        // `#separator \x09` uses a space; the others the separator.
        if let Some(v) = rest.strip_prefix("separator ") {
            if let Some(b) = header_byte(v.trim()) {
                self.separator = b;
            }
            return true;
        }
        let sep = char::from(self.separator);
        let mut parts = rest.split(sep);
        let key = parts.next().unwrap_or_default();
        let mut value = || parts.next().unwrap_or_default().to_string();
        match key {
            "set_separator" => {
                if let Some(b) = header_byte(&value()) {
                    self.set_separator = b;
                }
            }
            "empty_field" => self.empty = value(),
            "unset_field" => self.unset = value(),
            "path" => self.ssl = value() == "ssl",
            "fields" => self.cols = parts.map(col).collect(),
            _ => {}
        }
        true
    }

    fn value<'a>(&self, v: &'a str) -> Option<&'a str> {
        (v != self.unset).then_some(v)
    }

    fn list(&self, v: &str) -> Result<Option<Vec<u16>>, String> {
        if v == self.unset {
            return Ok(None);
        }
        if v == self.empty || v.is_empty() {
            return Ok(Some(Vec::new()));
        }
        v.split(char::from(self.set_separator))
            .map(|n| {
                n.parse::<u16>()
                    .map_err(|_| format!("{n:?} is not a number"))
            })
            .collect::<Result<Vec<u16>, String>>()
            .map(Some)
    }

    /// The facts of one data line.
    fn facts<'a>(&self, line: &'a str) -> Result<Facts<'a>, String> {
        let mut f = Facts::default();
        let mut n = 0;
        for (c, v) in self.cols.iter().zip(line.split(char::from(self.separator))) {
            n += 1;
            let Some(v) = self.value(v) else { continue };
            let addr = |v: &str| {
                v.parse::<IpAddr>()
                    .map_err(|_| format!("{v:?} is not an address"))
            };
            let port = |v: &str| v.parse::<u16>().map_err(|_| format!("{v:?} is not a port"));
            let text = |v: &'a str| (v != self.empty).then_some(Cow::Borrowed(v));
            match c {
                Col::Ts => {
                    f.ts = Some(parse_epoch(v).ok_or_else(|| format!("ts {v:?} is not a time"))?)
                }
                Col::OrigH => f.orig_h = Some(addr(v)?),
                Col::OrigP => f.orig_p = Some(port(v)?),
                Col::RespH => f.resp_h = Some(addr(v)?),
                Col::RespP => f.resp_p = Some(port(v)?),
                Col::Version => f.version = text(v),
                Col::Cipher => f.cipher = text(v),
                Col::ServerName => f.server_name = text(v),
                Col::LastAlert => f.last_alert = text(v),
                Col::NextProtocol => f.next_protocol = text(v),
                Col::History => f.history = Some(Cow::Borrowed(v)),
                Col::Subject => f.subject = text(v),
                Col::ClientVersion => f.client_version = Some(port(v)?),
                Col::ClientSupportedVersions => f.client_supported_versions = self.list(v)?,
                Col::ClientCiphers => f.client_ciphers = self.list(v)?,
                Col::ClientExts => f.client_exts = self.list(v)?,
                Col::ClientCurves => f.client_curves = self.list(v)?,
                Col::PointFormats => f.point_formats = self.list(v)?,
                Col::Sigalgs => f.sigalgs = self.list(v)?,
                Col::Hashalgs => f.hashalgs = self.list(v)?,
                Col::OrigAlpn => {
                    let sep = char::from(self.set_separator);
                    f.orig_alpn =
                        (v != self.empty).then(|| Cow::Borrowed(v.split(sep).next().unwrap_or(v)))
                }
                Col::Ja3 => f.ja3 = text(v),
                Col::Ja4 => f.ja4 = text(v),
                Col::Other => {}
            }
        }
        if n != self.cols.len() {
            return Err(format!("{n} fields, the header has {}", self.cols.len()));
        }
        Ok(f)
    }
}

/// Reads a tab-separated ssl.log (several logs one after another too).
pub fn read_tsv(r: &mut dyn BufRead, stats: &mut ReadStats, emit: &mut Emit<'_>) -> io::Result<()> {
    let mut h = Header::default();
    let mut rec = super::empty_record();
    let mut certs = CertNames::default();
    each_line(r, stats, |buf, line_no, stats| {
        let Ok(line) = std::str::from_utf8(buf) else {
            stats.bad_row(line_no, "not UTF-8");
            return Ok(());
        };
        if line.is_empty() || h.line(line) {
            return Ok(());
        }
        if !h.ssl {
            stats.passed_over += 1;
            return Ok(());
        }
        if h.cols.is_empty() {
            stats.bad_row(line_no, "row before the #fields header");
            return Ok(());
        }
        let built = h.facts(line).and_then(|f| build(&f, &mut rec, &mut certs));
        counted(built, &mut rec, line_no, stats, emit)
    })
}

/// A time as Zeek writes it in JSON: seconds (a number) or ISO 8601.
#[derive(Deserialize)]
#[serde(untagged)]
enum Time<'a> {
    Secs(f64),
    Text(&'a str),
}

/// The `id` record when a pipeline nests it.
#[derive(Deserialize)]
struct Id {
    orig_h: Option<IpAddr>,
    orig_p: Option<u16>,
    resp_h: Option<IpAddr>,
    resp_p: Option<u16>,
}

/// One JSON ssl.log row (unknown fields ignored).
#[derive(Deserialize)]
struct JsonRow<'a> {
    #[serde(rename = "_path", default)]
    path: Option<String>,
    #[serde(borrow)]
    ts: Option<Time<'a>>,
    #[serde(rename = "id.orig_h")]
    orig_h: Option<IpAddr>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u16>,
    #[serde(rename = "id.resp_h")]
    resp_h: Option<IpAddr>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u16>,
    id: Option<Id>,
    version: Option<String>,
    cipher: Option<String>,
    server_name: Option<String>,
    last_alert: Option<String>,
    next_protocol: Option<String>,
    established: Option<bool>,
    ssl_history: Option<String>,
    subject: Option<String>,
    client_version: Option<u16>,
    client_supported_versions: Option<Vec<u16>>,
    client_ciphers: Option<Vec<u16>>,
    ssl_client_exts: Option<Vec<u16>>,
    client_curves: Option<Vec<u16>>,
    point_formats: Option<Vec<u16>>,
    sigalgs: Option<Vec<u16>>,
    hashalgs: Option<Vec<u16>>,
    orig_alpn: Option<Vec<String>>,
    ja3: Option<String>,
    ja4: Option<String>,
}

/// Reads ssl.log as JSON lines. Lines of other logs (a `_path` other than
/// `ssl`, or without ssl.log's `established` field) are passed over.
pub fn read_json(
    r: &mut dyn BufRead,
    stats: &mut ReadStats,
    emit: &mut Emit<'_>,
) -> io::Result<()> {
    let mut rec = super::empty_record();
    let mut certs = CertNames::default();
    each_line(r, stats, |buf, line_no, stats| {
        let row: JsonRow<'_> = match serde_json::from_slice(buf) {
            Ok(r) => r,
            Err(e) => {
                stats.bad_row(line_no, e);
                return Ok(());
            }
        };
        if row.path.as_deref().is_some_and(|p| p != "ssl") || row.established.is_none() {
            stats.passed_over += 1;
            return Ok(());
        }
        let ts = match &row.ts {
            // Whole milliseconds (Zeek's `JSON::TS_MILLIS`): no time in
            // seconds is that large before the year 5138.
            Some(Time::Secs(s)) if s.fract() == 0.0 && s.abs() >= 1e11 => epoch_from_f64(s / 1e3),
            Some(Time::Secs(s)) => epoch_from_f64(*s),
            Some(Time::Text(t)) => parse_rfc3339(t).or_else(|| parse_epoch(t)),
            None => None,
        };
        fn esc(s: &Option<String>) -> Option<Cow<'_, str>> {
            s.as_deref().map(escape)
        }
        let id = row.id.as_ref();
        let f = Facts {
            ts,
            orig_h: row.orig_h.or(id.and_then(|i| i.orig_h)),
            orig_p: row.orig_p.or(id.and_then(|i| i.orig_p)),
            resp_h: row.resp_h.or(id.and_then(|i| i.resp_h)),
            resp_p: row.resp_p.or(id.and_then(|i| i.resp_p)),
            version: row.version.as_deref().map(Cow::Borrowed),
            cipher: row.cipher.as_deref().map(Cow::Borrowed),
            server_name: esc(&row.server_name),
            last_alert: esc(&row.last_alert),
            next_protocol: esc(&row.next_protocol),
            history: row.ssl_history.as_deref().map(Cow::Borrowed),
            subject: esc(&row.subject),
            client_version: row.client_version,
            client_supported_versions: row.client_supported_versions.clone(),
            client_ciphers: row.client_ciphers.clone(),
            client_exts: row.ssl_client_exts.clone(),
            client_curves: row.client_curves.clone(),
            point_formats: row.point_formats.clone(),
            sigalgs: row.sigalgs.clone(),
            hashalgs: row.hashalgs.clone(),
            orig_alpn: row
                .orig_alpn
                .as_ref()
                .and_then(|a| a.first())
                .map(|a| Cow::Borrowed(a.as_str())),
            ja3: row.ja3.as_deref().map(Cow::Borrowed),
            ja4: row.ja4.as_deref().map(Cow::Borrowed),
        };
        if f.ts.is_none() {
            stats.bad_row(line_no, "ts is not a time");
            return Ok(());
        }
        let built = build(&f, &mut rec, &mut certs);
        counted(built, &mut rec, line_no, stats, emit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, json: bool) -> (Vec<ConnRecord>, ReadStats) {
        super::super::read_text(if json { read_json } else { read_tsv }, text)
    }

    const HEAD: &str =
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tssl\n";

    #[test]
    fn default_log_leaves_the_offer_unknown() {
        let text = format!(
            "{HEAD}#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tserver_name\tlast_alert\tnext_protocol\testablished\tssl_history\n\
1741075200.000001\tC1\t10.0.0.1\t5000\t52.96.0.1\t443\tTLSv10\tTLS_RSA_WITH_RC4_128_MD5\touter.example\t-\t-\tT\tCsxnGIi\n\
1741075200.5\tC2\t10.0.0.1\t5001\t52.96.0.1\t443\t-\t-\t-\thandshake_failure\t-\tF\tCl\n\
1741075200.5\tC3\t10.0.0.1\t5002\t52.96.0.1\t443\tDTLSv12\t-\t-\t-\t-\tT\tCs\n\
1741075200.5\tC4\t10.0.0.1\n"
        );
        let (rows, stats) = read(&text, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(stats.passed_over, 1);
        assert_eq!(stats.bad, 1);
        assert_eq!(rows[0].ts, 1_741_075_200_000_001);
        assert_eq!(rows[0].negotiated_version, Some(0x0301));
        assert_eq!(rows[0].client_max_version, None);
        assert_eq!(rows[0].cipher, Some(0x0004));
        assert_eq!(rows[0].status, Status::Established);
        assert_eq!(rows[0].sni, "outer.example");
        assert_eq!(rows[1].status, Status::Alert);
        assert_eq!(rows[1].negotiated_version, None);
    }

    #[test]
    fn other_logs_are_passed_over() {
        let text = "#separator \\x09\n#path\tconn\n#fields\tts\tuid\n1.0\tC1\n";
        let (rows, stats) = read(text, false);
        assert!(rows.is_empty());
        assert_eq!(stats.passed_over, 1);
        let json = r#"{"_path":"conn","ts":1.0,"uid":"C1","id.orig_h":"10.0.0.1"}
{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":443}
"#;
        let (rows, stats) = read(json, true);
        assert!(rows.is_empty());
        assert_eq!(stats.passed_over, 2);
    }

    #[test]
    fn json_with_ssl_log_ext() {
        let json = r#"{"ts":"2025-03-04T08:00:00.123456Z","uid":"C1","id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":443},"version":"TLSv12","established":true,"ssl_history":"CsxknGIti","server_name":"a\tb","client_version":771,"client_supported_versions":[2570,772,771]}"#;
        let (rows, _) = read(json, true);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.ts, 1_741_075_200_123_456);
        assert_eq!(r.sni, "a\\x09b");
        assert_eq!(r.client_version, Some(0x0303));
        assert_eq!(r.client_max_version, Some(0x0304));
        assert_eq!(r.negotiated_version, Some(0x0303));
    }
}
