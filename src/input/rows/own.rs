//! tlsready's own connection rows: the connections CSV (header row, columns
//! found by name) and the JSON lines. Every fact a capture gives is in
//! them; the Microsoft 365 columns are recomputed, not read.

use std::borrow::Cow;
use std::io::{self, BufRead};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;

use super::fields::{Memo, best_from_max, parse_bool, parse_ip, parse_version, unquote_cell};
use super::flatjson::{self, Val};
use super::{CertNames, Emit, ReadStats, each_line, protocol, raw_lines, reset, status};
use crate::model::row::ConnRecord;

/// One JSON line as tlsready writes it. Text borrowed when unescaped.
#[derive(Deserialize)]
struct JsonRow<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow, default)]
    last_ts: Cow<'a, str>,
    client_ip: IpAddr,
    #[serde(deserialize_with = "num")]
    client_port: u64,
    server_ip: IpAddr,
    #[serde(deserialize_with = "num")]
    server_port: u64,
    #[serde(borrow, default)]
    protocol: Cow<'a, str>,
    #[serde(borrow, default)]
    sni: Cow<'a, str>,
    #[serde(borrow, default)]
    dns_name: Cow<'a, str>,
    #[serde(borrow, default)]
    client_name: Cow<'a, str>,
    #[serde(borrow, default)]
    client_name_source: Cow<'a, str>,
    #[serde(borrow, default)]
    client_mac: Cow<'a, str>,
    #[serde(borrow, default)]
    client_max_version: Cow<'a, str>,
    #[serde(borrow, default)]
    negotiated_version: Cow<'a, str>,
    #[serde(borrow, default)]
    cipher: Cow<'a, str>,
    #[serde(borrow, default)]
    alpn: Cow<'a, str>,
    #[serde(borrow, default)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    client_helo: Cow<'a, str>,
    #[serde(borrow, default)]
    server_banner: Cow<'a, str>,
    #[serde(borrow, default)]
    ja4: Cow<'a, str>,
    #[serde(borrow, default)]
    ja3: Cow<'a, str>,
    #[serde(borrow, default)]
    client_version: Cow<'a, str>,
    /// Kept as written: parsed once per distinct list.
    #[serde(borrow, default)]
    cert_names: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow, default)]
    alert: Cow<'a, str>,
    #[serde(default, deserialize_with = "flag")]
    hello_retry: bool,
    #[serde(default, deserialize_with = "num")]
    packets: u64,
}

/// A row's fields, from the fast path ([`flatjson`]) or serde_json.
#[derive(Debug, PartialEq)]
struct Row<'a> {
    ts: Cow<'a, str>,
    last_ts: Cow<'a, str>,
    client_ip: IpAddr,
    client_port: u64,
    server_ip: IpAddr,
    server_port: u64,
    protocol: Cow<'a, str>,
    sni: Cow<'a, str>,
    dns_name: Cow<'a, str>,
    client_name: Cow<'a, str>,
    client_name_source: Cow<'a, str>,
    client_mac: Cow<'a, str>,
    client_max_version: Cow<'a, str>,
    negotiated_version: Cow<'a, str>,
    cipher: Cow<'a, str>,
    alpn: Cow<'a, str>,
    status: Cow<'a, str>,
    client_helo: Cow<'a, str>,
    server_banner: Cow<'a, str>,
    ja4: Cow<'a, str>,
    ja3: Cow<'a, str>,
    client_version: Cow<'a, str>,
    /// The JSON array as written.
    cert_names: Option<&'a str>,
    alert: Cow<'a, str>,
    hello_retry: bool,
    packets: u64,
}

impl<'a> From<JsonRow<'a>> for Row<'a> {
    fn from(j: JsonRow<'a>) -> Self {
        Row {
            ts: j.ts,
            last_ts: j.last_ts,
            client_ip: j.client_ip,
            client_port: j.client_port,
            server_ip: j.server_ip,
            server_port: j.server_port,
            protocol: j.protocol,
            sni: j.sni,
            dns_name: j.dns_name,
            client_name: j.client_name,
            client_name_source: j.client_name_source,
            client_mac: j.client_mac,
            client_max_version: j.client_max_version,
            negotiated_version: j.negotiated_version,
            cipher: j.cipher,
            alpn: j.alpn,
            status: j.status,
            client_helo: j.client_helo,
            server_banner: j.server_banner,
            ja4: j.ja4,
            ja3: j.ja3,
            client_version: j.client_version,
            cert_names: j.cert_names.map(serde_json::value::RawValue::get),
            alert: j.alert,
            hello_retry: j.hello_retry,
            packets: j.packets,
        }
    }
}

/// Keys of a row as the fast path knows them (0: any other key).
mod key {
    pub const OTHER: u8 = 0;
    pub const TS: u8 = 1;
    pub const CLIENT_IP: u8 = 2;
    pub const CLIENT_PORT: u8 = 3;
    pub const SERVER_IP: u8 = 4;
    pub const SERVER_PORT: u8 = 5;
    pub const PACKETS: u8 = 6;
    pub const HELLO_RETRY: u8 = 7;
    pub const CERT_NAMES: u8 = 8;
    pub const LAST_TS: u8 = 9;
    pub const PROTOCOL: u8 = 10;
    pub const SNI: u8 = 11;
    pub const CLIENT_MAX_VERSION: u8 = 12;
    pub const NEGOTIATED_VERSION: u8 = 13;
    pub const CIPHER: u8 = 14;
    pub const ALPN: u8 = 15;
    pub const STATUS: u8 = 16;
    pub const CLIENT_HELO: u8 = 17;
    pub const SERVER_BANNER: u8 = 18;
    pub const JA4: u8 = 19;
    pub const JA3: u8 = 20;
    pub const CLIENT_VERSION: u8 = 21;
    pub const ALERT: u8 = 22;
    pub const DNS_NAME: u8 = 23;
    pub const CLIENT_NAME: u8 = 24;
    pub const CLIENT_NAME_SOURCE: u8 = 25;
    pub const CLIENT_MAC: u8 = 26;

    /// The id of a key.
    pub fn id(k: &str) -> u8 {
        match k {
            "ts" => TS,
            "client_ip" => CLIENT_IP,
            "client_port" => CLIENT_PORT,
            "server_ip" => SERVER_IP,
            "server_port" => SERVER_PORT,
            "packets" => PACKETS,
            "hello_retry" => HELLO_RETRY,
            "cert_names" => CERT_NAMES,
            "last_ts" => LAST_TS,
            "protocol" => PROTOCOL,
            "sni" => SNI,
            "client_max_version" => CLIENT_MAX_VERSION,
            "negotiated_version" => NEGOTIATED_VERSION,
            "cipher" => CIPHER,
            "alpn" => ALPN,
            "status" => STATUS,
            "client_helo" => CLIENT_HELO,
            "server_banner" => SERVER_BANNER,
            "ja4" => JA4,
            "ja3" => JA3,
            "client_version" => CLIENT_VERSION,
            "alert" => ALERT,
            "dns_name" => DNS_NAME,
            "client_name" => CLIENT_NAME,
            "client_name_source" => CLIENT_NAME_SOURCE,
            "client_mac" => CLIENT_MAC,
            _ => OTHER,
        }
    }
}

/// What [`fast_fill`] leaves for the checks after the scan: the cells
/// read as text, the ports and the certificate names as written.
struct Scanned<'a> {
    ts: Cow<'a, str>,
    last_ts: Cow<'a, str>,
    protocol: Cow<'a, str>,
    client_max_version: Cow<'a, str>,
    negotiated_version: Cow<'a, str>,
    cipher: Cow<'a, str>,
    status: Cow<'a, str>,
    client_version: Cow<'a, str>,
    client_port: u64,
    server_port: u64,
    cert_names: Option<&'a str>,
}

/// Sets a text field of the row to `v`, in its own buffer (a key given
/// twice: the last one counts, as it did in a row of its own).
#[inline]
fn set(field: &mut String, v: &str) {
    field.clear();
    field.push_str(v);
}

/// Reads a flat object as tlsready writes it straight into `rec` (reset
/// first), without serde; `None` for anything unusual (serde_json then
/// reads the line, into a `rec` reset again). `order`: the keys of the row
/// before (see [`flatjson::KeyOrder`]).
fn fast_fill<'a>(
    text: &'a str,
    order: &mut flatjson::KeyOrder,
    rec: &mut ConnRecord,
) -> Option<Scanned<'a>> {
    let empty = || Cow::Borrowed("");
    let mut r = Scanned {
        ts: empty(),
        last_ts: empty(),
        protocol: empty(),
        client_max_version: empty(),
        negotiated_version: empty(),
        cipher: empty(),
        status: empty(),
        client_version: empty(),
        client_port: 0,
        server_port: 0,
        cert_names: None,
    };
    // ts, client_ip, client_port, server_ip, server_port seen.
    let mut required = 0u8;
    let mut dns_name: Option<Cow<'a, str>> = None;
    flatjson::scan_ordered(text, order, key::id, |id, val| {
        let number = |v: &Val<'_>| -> Option<u64> {
            match v {
                Val::Num(n) => n.parse().ok(),
                Val::Str(s) => s.parse().ok(),
                _ => None,
            }
        };
        let text = |v: Val<'a>| -> Option<Cow<'a, str>> {
            match v {
                Val::Str(s) => Some(s),
                _ => None,
            }
        };
        match id {
            key::OTHER => {}
            key::TS => {
                r.ts = text(val)?;
                required |= 1;
            }
            key::CLIENT_IP => {
                rec.client_ip = parse_ip(&text(val)?)?;
                required |= 2;
            }
            key::CLIENT_PORT => {
                r.client_port = number(&val)?;
                required |= 4;
            }
            key::SERVER_IP => {
                rec.server_ip = parse_ip(&text(val)?)?;
                required |= 8;
            }
            key::SERVER_PORT => {
                r.server_port = number(&val)?;
                required |= 16;
            }
            key::PACKETS => rec.packets = number(&val)?,
            key::HELLO_RETRY => {
                rec.hello_retry = match val {
                    Val::Bool(b) => b,
                    Val::Str(s) => parse_bool(&s)?,
                    _ => return None,
                }
            }
            key::CERT_NAMES => {
                r.cert_names = match val {
                    Val::Arr(a) => Some(a),
                    Val::Null => None,
                    _ => return None,
                }
            }
            key::LAST_TS => r.last_ts = text(val)?,
            key::PROTOCOL => r.protocol = text(val)?,
            key::SNI => set(&mut rec.sni, &text(val)?),
            key::CLIENT_MAX_VERSION => r.client_max_version = text(val)?,
            key::NEGOTIATED_VERSION => r.negotiated_version = text(val)?,
            key::CIPHER => r.cipher = text(val)?,
            key::ALPN => set(&mut rec.alpn, &text(val)?),
            key::STATUS => r.status = text(val)?,
            key::CLIENT_HELO => set(&mut rec.client_helo, &text(val)?),
            key::SERVER_BANNER => set(&mut rec.server_banner, &text(val)?),
            key::JA4 => set(&mut rec.ja4, &text(val)?),
            key::JA3 => set(&mut rec.ja3, &text(val)?),
            key::CLIENT_VERSION => r.client_version = text(val)?,
            key::ALERT => set(&mut rec.alert, &text(val)?),
            key::DNS_NAME => dns_name = Some(text(val)?),
            key::CLIENT_NAME => set(&mut rec.who.name, &text(val)?),
            key::CLIENT_NAME_SOURCE => set(&mut rec.who.source, &text(val)?),
            key::CLIENT_MAC => set(&mut rec.who.mac, &text(val)?),
            _ => {}
        }
        Some(())
    })?;
    if required != 31 {
        return None;
    }
    if let Some(d) = dns_name.filter(|d| !d.is_empty()) {
        rec.dns_name = Arc::from(&*d);
    }
    Some(r)
}

/// The row of a flat object as tlsready writes it, without serde (for
/// tests: [`fast_fill`] reads rows).
#[cfg(test)]
fn fast_row<'a>(text: &'a str, order: &mut flatjson::KeyOrder) -> Option<Row<'a>> {
    let mut rec = super::empty_record();
    let s = fast_fill(text, order, &mut rec)?;
    let own = |x: &str| Cow::Owned(x.to_string());
    Some(Row {
        ts: s.ts,
        last_ts: s.last_ts,
        client_ip: rec.client_ip,
        client_port: s.client_port,
        server_ip: rec.server_ip,
        server_port: s.server_port,
        protocol: s.protocol,
        sni: own(&rec.sni),
        dns_name: own(&rec.dns_name),
        client_name: own(&rec.who.name),
        client_name_source: own(&rec.who.source),
        client_mac: own(&rec.who.mac),
        client_max_version: s.client_max_version,
        negotiated_version: s.negotiated_version,
        cipher: s.cipher,
        alpn: own(&rec.alpn),
        status: s.status,
        client_helo: own(&rec.client_helo),
        server_banner: own(&rec.server_banner),
        ja4: own(&rec.ja4),
        ja3: own(&rec.ja3),
        client_version: s.client_version,
        cert_names: s.cert_names,
        alert: own(&rec.alert),
        hello_retry: rec.hello_retry,
        packets: rec.packets,
    })
}

/// A number, or a string holding one.
fn num<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number")
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u64, E> {
            s.parse().map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

/// `yes`/`no`, or a JSON boolean.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("yes or no")
        }
        fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<bool, E> {
            Ok(b)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<bool, E> {
            parse_bool(s).ok_or_else(|| E::custom("not yes/no"))
        }
    }
    d.deserialize_any(V)
}

/// The facts common to both forms, as text.
struct Cells<'a> {
    ts: &'a str,
    last_ts: &'a str,
    protocol: &'a str,
    client_max_version: &'a str,
    negotiated_version: &'a str,
    cipher: &'a str,
    status: &'a str,
    client_version: &'a str,
}

/// Fills the typed fields of `r` from text cells; `Err` names the bad one.
fn typed(r: &mut ConnRecord, c: &Cells<'_>, memo: &mut Memo) -> Result<(), String> {
    r.ts = memo
        .time(c.ts)
        .ok_or_else(|| format!("ts {:?} is not a time", c.ts))?;
    r.last_ts = if c.last_ts.is_empty() {
        r.ts
    } else {
        memo.time(c.last_ts)
            .ok_or_else(|| format!("last_ts {:?} is not a time", c.last_ts))?
    };
    r.protocol = if c.protocol.is_empty() {
        crate::model::row::Protocol::Tls
    } else {
        protocol(c.protocol).ok_or_else(|| format!("unknown protocol {:?}", c.protocol))?
    };
    let version = |name: &str, s: &str| -> Result<Option<u16>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            parse_version(s)
                .map(Some)
                .ok_or_else(|| format!("{name} {s:?} is not a version"))
        }
    };
    r.client_max_version = version("client_max_version", c.client_max_version)?;
    r.client_best_version = best_from_max(r.client_max_version);
    r.negotiated_version = version("negotiated_version", c.negotiated_version)?;
    r.client_version = version("client_version", c.client_version)?;
    r.cipher = if c.cipher.is_empty() {
        None
    } else {
        Some(
            memo.cipher(c.cipher)
                .ok_or_else(|| format!("unknown cipher {:?}", c.cipher))?,
        )
    };
    r.status = if c.status.is_empty() {
        if r.negotiated_version.is_some() {
            crate::model::row::Status::Established
        } else {
            crate::model::row::Status::NoServerHello
        }
    } else {
        status(c.status).ok_or_else(|| format!("unknown status {:?}", c.status))?
    };
    Ok(())
}

fn port(name: &str, n: u64) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("{name} {n} is not a port"))
}

/// The checks and typed fields after [`fast_fill`]: `Err` names what is
/// wrong, as [`fill_json`] does.
fn finish_json(
    rec: &mut ConnRecord,
    s: &Scanned<'_>,
    certs: &mut CertNames,
    memo: &mut Memo,
) -> Result<(), String> {
    let cells = Cells {
        ts: &s.ts,
        last_ts: &s.last_ts,
        protocol: &s.protocol,
        client_max_version: &s.client_max_version,
        negotiated_version: &s.negotiated_version,
        cipher: &s.cipher,
        status: &s.status,
        client_version: &s.client_version,
    };
    typed(rec, &cells, memo)?;
    rec.client_port = port("client_port", s.client_port)?;
    rec.server_port = port("server_port", s.server_port)?;
    rec.cert_names = json_cert_names(s.cert_names, certs)?;
    Ok(())
}

/// The certificate names of a JSON line (the array as written).
fn json_cert_names(raw: Option<&str>, certs: &mut CertNames) -> Result<Arc<[String]>, String> {
    match raw {
        None => Ok(certs.get::<&str>(&[])),
        Some(raw) => certs.by_text(raw, |t| {
            serde_json::from_str::<Vec<String>>(t).map_err(|e| format!("cert_names: {e}"))
        }),
    }
}

/// Fills `rec` (reset) from a row serde_json read; `Err` names what is
/// wrong.
fn fill_json(
    rec: &mut ConnRecord,
    row: Row<'_>,
    certs: &mut CertNames,
    memo: &mut Memo,
) -> Result<(), String> {
    let cells = Cells {
        ts: &row.ts,
        last_ts: &row.last_ts,
        protocol: &row.protocol,
        client_max_version: &row.client_max_version,
        negotiated_version: &row.negotiated_version,
        cipher: &row.cipher,
        status: &row.status,
        client_version: &row.client_version,
    };
    typed(rec, &cells, memo)?;
    let cp = port("client_port", row.client_port)?;
    let sp = port("server_port", row.server_port)?;
    rec.client_ip = row.client_ip;
    rec.client_port = cp;
    rec.server_ip = row.server_ip;
    rec.server_port = sp;
    rec.sni.push_str(&row.sni);
    if !row.dns_name.is_empty() {
        rec.dns_name = Arc::from(&*row.dns_name);
    }
    rec.who.name.push_str(&row.client_name);
    rec.who.source.push_str(&row.client_name_source);
    rec.who.mac.push_str(&row.client_mac);
    rec.alpn.push_str(&row.alpn);
    rec.client_helo.push_str(&row.client_helo);
    rec.server_banner.push_str(&row.server_banner);
    rec.ja4.push_str(&row.ja4);
    rec.ja3.push_str(&row.ja3);
    rec.alert.push_str(&row.alert);
    rec.cert_names = json_cert_names(row.cert_names, certs)?;
    rec.hello_retry = row.hello_retry;
    rec.packets = row.packets;
    Ok(())
}

/// Reads tlsready's JSON lines.
pub fn read_json(
    r: &mut dyn BufRead,
    stats: &mut ReadStats,
    emit: &mut Emit<'_>,
) -> io::Result<()> {
    let mut rec = super::empty_record();
    let mut certs = CertNames::take(true);
    let mut order = flatjson::KeyOrder::default();
    let mut memo = Memo::default();
    let res = each_line(r, stats, |buf, line_no, stats| {
        // One UTF-8 check for the line, not one per string.
        let Ok(text) = std::str::from_utf8(buf) else {
            stats.bad_row(line_no, "not UTF-8");
            return Ok(());
        };
        reset(&mut rec);
        let filled = match fast_fill(text, &mut order, &mut rec) {
            Some(s) => finish_json(&mut rec, &s, &mut certs, &mut memo),
            None => match serde_json::from_str::<JsonRow<'_>>(text) {
                Ok(row) => {
                    reset(&mut rec);
                    fill_json(&mut rec, Row::from(row), &mut certs, &mut memo)
                }
                Err(e) => Err(e.to_string()),
            },
        };
        if let Err(e) = filled {
            stats.bad_row(line_no, e);
            return Ok(());
        }
        stats.rows += 1;
        emit(&mut rec)?;
        Ok(())
    });
    certs.put_back(true);
    res
}

/// Column positions in a connections CSV.
struct Columns {
    ts: usize,
    client_ip: usize,
    client_port: usize,
    server_ip: usize,
    server_port: usize,
    opt: [Option<usize>; 19],
    hello_retry: Option<usize>,
    packets: Option<usize>,
}

/// Optional columns, in `Columns::opt` order.
const OPTIONAL: [&str; 19] = [
    "last_ts",
    "protocol",
    "sni",
    "client_max_version",
    "negotiated_version",
    "cipher",
    "alpn",
    "status",
    "client_helo",
    "server_banner",
    "ja4",
    "ja3",
    "client_version",
    "cert_names",
    "alert",
    "dns_name",
    "client_name",
    "client_name_source",
    "client_mac",
];

impl Columns {
    /// The columns named in `header` (found once per file).
    fn of(header: &csv::ByteRecord) -> io::Result<Columns> {
        let find = |name: &str| header.iter().position(|h| h == name.as_bytes());
        let need = |name: &str| {
            find(name)
                .ok_or_else(|| io::Error::other(format!("connections CSV without a {name} column")))
        };
        Ok(Columns {
            ts: need("ts")?,
            client_ip: need("client_ip")?,
            client_port: need("client_port")?,
            server_ip: need("server_ip")?,
            server_port: need("server_port")?,
            opt: OPTIONAL.map(find),
            hello_retry: find("hello_retry"),
            packets: find("packets"),
        })
    }
}

/// Reads tlsready's connections CSV (the spreadsheet quoting of text cells
/// undone).
pub fn read_csv(r: &mut dyn BufRead, stats: &mut ReadStats, emit: &mut Emit<'_>) -> io::Result<()> {
    let mut rows: Option<CsvRows> = None;
    raw_lines(r, stats, |line, too_long, line_no, stats| match &mut rows {
        Some(rows) => rows.line(line, too_long, line_no, stats, emit),
        None => {
            rows = Some(CsvRows::new(&csv_header(line)?)?);
            Ok(())
        }
    })?;
    match rows {
        Some(mut rows) => {
            let res = rows.finish(stats, emit);
            rows.certs.put_back(false);
            res
        }
        None => Err(io::Error::other("connections CSV without a header row")),
    }
}

/// Reads rows of a connections CSV without its header line (a block of
/// it), with the file's `header`.
pub fn read_csv_block(
    r: &mut dyn BufRead,
    header: &csv::ByteRecord,
    stats: &mut ReadStats,
    emit: &mut Emit<'_>,
) -> io::Result<()> {
    let mut rows = CsvRows::new(header)?;
    let res = raw_lines(r, stats, |line, too_long, line_no, stats| {
        rows.line(line, too_long, line_no, stats, emit)
    })
    .and_then(|()| rows.finish(stats, emit));
    rows.certs.put_back(false);
    res
}

/// The header of a connections CSV, from its first line.
pub fn csv_header(line: &[u8]) -> io::Result<csv::ByteRecord> {
    let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    let mut h = csv::ByteRecord::new();
    rd.read_byte_record(&mut h).map_err(io::Error::other)?;
    Ok(h)
}

/// Positions of the commas in `line`, eight bytes at a time, into `at`.
fn commas(line: &[u8], at: &mut Vec<usize>) {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMA: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    at.clear();
    let mut words = line.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let v = u64::from_le_bytes(word) ^ COMMA;
        // The high bit of each byte that is zero (a comma), exactly.
        let mut hits = !(((v & LO7) + LO7) | v | LO7);
        while hits != 0 {
            at.push(base + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (i, &c) in words.remainder().iter().enumerate() {
        if c == b',' {
            at.push(base + i);
        }
    }
}

/// Rows of a connections CSV, line by line. A line without quotes is cut
/// at its commas; a line with quotes is read by `csv_core` (with the lines
/// after it while a quoted cell is open: an odd number of quotes so far).
struct CsvRows {
    cols: Columns,
    /// A record whose quoted cell goes on over more lines, and its first line.
    pending: Vec<u8>,
    pending_line: u64,
    pending_too_long: bool,
    pending_odd: bool,
    /// Cell boundaries of the current record: (start, end) in its text.
    spans: Vec<(usize, usize)>,
    commas: Vec<usize>,
    out: Vec<u8>,
    ends: Vec<usize>,
    rec: ConnRecord,
    certs: CertNames,
    memo: Memo,
}

impl CsvRows {
    fn new(header: &csv::ByteRecord) -> io::Result<CsvRows> {
        Ok(CsvRows {
            cols: Columns::of(header)?,
            pending: Vec::new(),
            pending_line: 0,
            pending_too_long: false,
            pending_odd: false,
            spans: Vec::with_capacity(32),
            commas: Vec::with_capacity(32),
            out: vec![0; 4096],
            ends: vec![0; 64],
            rec: super::empty_record(),
            certs: CertNames::take(false),
            memo: Memo::default(),
        })
    }

    /// One line of the file (with its `\r`, without its `\n`).
    fn line(
        &mut self,
        line: &[u8],
        too_long: bool,
        line_no: u64,
        stats: &mut ReadStats,
        emit: &mut Emit<'_>,
    ) -> io::Result<()> {
        let quotes = memchr::memchr_iter(b'"', line).count();
        if !self.pending.is_empty() || self.pending_too_long {
            if too_long || self.pending.len() + line.len() + 1 > super::MAX_LINE {
                self.pending_too_long = true;
                self.pending.clear();
            } else {
                self.pending.push(b'\n');
                self.pending.extend_from_slice(line);
            }
            self.pending_odd ^= quotes % 2 == 1;
            if !self.pending_odd {
                return self.finish(stats, emit);
            }
            return Ok(());
        }
        if too_long {
            stats.bad_row(line_no, "line too long");
            return Ok(());
        }
        let body = line.strip_suffix(b"\r").unwrap_or(line);
        if quotes == 0 && memchr::memchr(b'\r', body).is_none() {
            if body.is_empty() {
                return Ok(());
            }
            let Ok(text) = std::str::from_utf8(body) else {
                stats.bad_row(line_no, "invalid UTF-8");
                return Ok(());
            };
            commas(body, &mut self.commas);
            self.spans.clear();
            let mut start = 0;
            for &c in &self.commas {
                self.spans.push((start, c));
                start = c + 1;
            }
            self.spans.push((start, body.len()));
            return self.row(text, line_no, stats, emit);
        }
        self.pending.extend_from_slice(line);
        self.pending_line = line_no;
        self.pending_odd = quotes % 2 == 1;
        if self.pending_odd {
            return Ok(());
        }
        self.finish(stats, emit)
    }

    /// Reads the pending record(s) with `csv_core`.
    fn finish(&mut self, stats: &mut ReadStats, emit: &mut Emit<'_>) -> io::Result<()> {
        let line_no = self.pending_line;
        if std::mem::take(&mut self.pending_too_long) {
            self.pending.clear();
            stats.bad_row(line_no, "line too long");
            return Ok(());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending);
        let mut core = csv_core::Reader::new();
        let mut input: &[u8] = &text;
        let (mut nout, mut nend) = (0, 0);
        loop {
            let (res, nin, o, e) = core.read_record(
                input,
                self.out.get_mut(nout..).unwrap_or_default(),
                self.ends.get_mut(nend..).unwrap_or_default(),
            );
            input = input.get(nin..).unwrap_or_default();
            nout += o;
            nend += e;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    self.out.resize(self.out.len() * 2, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.spans.clear();
                    let mut start = 0;
                    for &end in self.ends.get(..nend).unwrap_or_default() {
                        self.spans.push((start, end));
                        start = end;
                    }
                    let fields = std::mem::take(&mut self.out);
                    let res = match std::str::from_utf8(fields.get(..nout).unwrap_or_default()) {
                        Ok(t) => self.row(t, line_no, stats, emit),
                        Err(_) => {
                            stats.bad_row(line_no, "invalid UTF-8");
                            Ok(())
                        }
                    };
                    self.out = fields;
                    res?;
                    (nout, nend) = (0, 0);
                }
                csv_core::ReadRecordResult::End => break,
            }
        }
        self.pending = text;
        self.pending.clear();
        self.pending_odd = false;
        Ok(())
    }

    /// One record: `text` cut at `self.spans`.
    fn row(
        &mut self,
        text: &str,
        line: u64,
        stats: &mut ReadStats,
        emit: &mut Emit<'_>,
    ) -> io::Result<()> {
        let cols = &self.cols;
        let spans = &self.spans;
        let cell = |i: usize| {
            spans
                .get(i)
                .and_then(|&(a, b)| text.get(a..b))
                .unwrap_or("")
        };
        let opt = |k: usize| cols.opt.get(k).copied().flatten().map_or("", cell);
        let rec = &mut self.rec;
        reset(rec);
        let cells = Cells {
            ts: cell(cols.ts),
            last_ts: opt(0),
            protocol: opt(1),
            client_max_version: opt(3),
            negotiated_version: opt(4),
            cipher: opt(5),
            status: opt(7),
            client_version: opt(12),
        };
        let filled = typed(rec, &cells, &mut self.memo).and_then(|()| {
            let ip = |name: &str, i: usize| -> Result<IpAddr, String> {
                parse_ip(cell(i)).ok_or_else(|| format!("{name} {:?} is not an address", cell(i)))
            };
            let num = |name: &str, i: usize| -> Result<u16, String> {
                cell(i)
                    .parse()
                    .map_err(|_| format!("{name} {:?} is not a port", cell(i)))
            };
            Ok((
                ip("client_ip", cols.client_ip)?,
                num("client_port", cols.client_port)?,
                ip("server_ip", cols.server_ip)?,
                num("server_port", cols.server_port)?,
                cols.hello_retry
                    .map_or(Some(false), |i| parse_bool(cell(i)))
                    .ok_or("hello_retry is not yes/no")?,
                cols.packets.map_or(Ok(0), |i| {
                    cell(i).parse::<u64>().or_else(|_| {
                        if cell(i).is_empty() {
                            Ok(0)
                        } else {
                            Err("packets is not a number")
                        }
                    })
                })?,
            ))
        });
        let (cip, cp, sip, sp, hrr, pk) = match filled {
            Ok(v) => v,
            Err(e) => {
                stats.bad_row(line, e);
                return Ok(());
            }
        };
        rec.client_ip = cip;
        rec.client_port = cp;
        rec.server_ip = sip;
        rec.server_port = sp;
        rec.hello_retry = hrr;
        rec.packets = pk;
        rec.sni.push_str(unquote_cell(opt(2)));
        rec.alpn.push_str(unquote_cell(opt(6)));
        rec.client_helo.push_str(unquote_cell(opt(8)));
        rec.server_banner.push_str(unquote_cell(opt(9)));
        rec.ja4.push_str(opt(10));
        rec.ja3.push_str(opt(11));
        rec.alert.push_str(opt(14));
        if !opt(15).is_empty() {
            rec.dns_name = Arc::from(unquote_cell(opt(15)));
        }
        rec.who.name.push_str(unquote_cell(opt(16)));
        rec.who.source.push_str(opt(17));
        rec.who.mac.push_str(opt(18));
        let cn = opt(13);
        let certs = &mut self.certs;
        rec.cert_names = if cn.is_empty() {
            certs.get::<&str>(&[])
        } else {
            // Names are space-separated; the first carries the cell's quoting.
            let made = certs.by_text(cn, |t| {
                Ok(t.split(' ')
                    .enumerate()
                    .map(|(i, n)| if i == 0 { unquote_cell(n) } else { n }.to_string())
                    .collect())
            });
            made.unwrap_or_else(|_| certs.get::<&str>(&[]))
        };
        stats.rows += 1;
        emit(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, csv: bool) -> (Vec<ConnRecord>, ReadStats) {
        super::super::read_text(if csv { read_csv } else { read_json }, text)
    }

    #[test]
    fn fast_path_reads_as_serde_json() {
        for line in [
            r#"{"cert_names":["a.example","*.b.example"],"cipher":"TLS_AES_128_GCM_SHA256","client_ip":"2001:db8::1","client_max_version":"TLS1.3","client_port":36446,"hello_retry":"yes","ja4":"t13d","last_ts":"2026-11-28T10:56:59.473672Z","negotiated_version":"TLS1.3","packets":4,"protocol":"tls","server_ip":"52.96.30.1","server_port":443,"sni":"q\"\\x01\u00e9","status":"established","ts":"2026-11-28T10:56:59.472706Z"}"#,
            r#"{ "ts" : "2026-11-28T10:56:59Z" , "client_ip":"10.0.0.1","client_port":"5","server_ip":"10.0.0.2","server_port":443,"hello_retry":false,"cert_names":[],"extra":null}"#,
        ] {
            let fast = fast_row(line, &mut flatjson::KeyOrder::default()).expect("fast path");
            let slow = Row::from(serde_json::from_str::<JsonRow<'_>>(line).unwrap());
            assert_eq!(fast, slow, "{line}");
        }
        // Nested values are left to serde_json.
        assert!(fast_row(r#"{"ts":"x","client_ip":"10.0.0.1","client_port":1,"server_ip":"10.0.0.2","server_port":2,"x":{"y":1}}"#, &mut flatjson::KeyOrder::default()).is_none());
        // A required field missing: serde_json says which.
        assert!(
            fast_row(
                r#"{"ts":"x","client_ip":"10.0.0.1"}"#,
                &mut flatjson::KeyOrder::default()
            )
            .is_none()
        );
    }

    #[test]
    fn json_row() {
        let line = r#"{"cert_names":["outlook.office365.com","*.outlook.com"],"cipher":"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA","client_ip":"10.30.0.1","client_max_version":"TLS1.0","client_port":36446,"client_version":"TLS1.0","hello_retry":"no","ja3":"c6db","ja4":"t10d","last_ts":"2026-11-28T10:56:59.473672Z","m365":"yes","negotiated_version":"TLS1.0","packets":4,"protocol":"smtp-starttls","server_ip":"52.96.30.1","server_port":443,"sni":"=x\u0001","status":"established","ts":"2026-11-28T10:56:59.472706Z"}
not json
{"client_ip":"10.0.0.1","client_port":70000,"server_ip":"10.0.0.2","server_port":1,"ts":"2026-11-28T10:56:59Z"}
"#;
        let (rows, stats) = rows(line, false);
        assert_eq!(rows.len(), 1);
        assert_eq!(stats.bad, 2);
        assert_eq!(stats.first_bad.as_ref().map(|(l, _)| *l), Some(2));
        let r = &rows[0];
        assert_eq!(r.client_max_version, Some(0x0301));
        assert_eq!(r.client_best_version, Some(0x0301));
        assert_eq!(r.cipher, Some(0xc014));
        assert_eq!(r.protocol, crate::model::row::Protocol::SmtpStarttls);
        assert_eq!(r.sni, "=x\u{1}");
        assert_eq!(&*r.cert_names, ["outlook.office365.com", "*.outlook.com"]);
        assert_eq!(r.packets, 4);
        assert_eq!(r.last_ts - r.ts, 966);
    }

    #[test]
    fn csv_quoted_cells_read_as_the_csv_crate_reads_them() {
        // Quoted cells (a comma, a doubled quote, a line end inside), bare
        // CRs, blank lines and short rows: the cells are those the csv
        // crate gives, and malformed rows are counted at their first line.
        let text = "ts,client_ip,client_port,server_ip,server_port,sni,server_banner\r\n\
2026-11-28T10:56:59Z,10.0.0.1,5,10.0.0.2,443,\"a,b\",\"x\"\"y\"\r\n\
\r\n\
2026-11-28T10:56:59Z,10.0.0.1,5,10.0.0.2,443,c,\"220 one\r\ntwo\"\r\n\
2026-11-28T10:56:59Z,10.0.0.3,x,10.0.0.2,443\r\n\
2026-11-28T10:56:59Z,10.0.0.4,6,10.0.0.2,443\r\n\
2026-11-28T10:56:59Z,10.0.0.5,7,10.0.0.2,443,d\r2026-11-28T10:56:59Z,10.0.0.6,8,10.0.0.2,443,e\n\
2026-11-28T10:56:59Z,10.0.0.7,9,10.0.0.2,443,\"open";
        let (rows, stats) = rows(text, true);
        let mut want = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let good: Vec<csv::StringRecord> = want
            .records()
            .map(Result::unwrap)
            .filter(|r| r.get(2) != Some("x"))
            .collect();
        assert_eq!(rows.len(), good.len());
        for (r, w) in rows.iter().zip(&good) {
            assert_eq!(r.client_ip.to_string(), w[1]);
            assert_eq!(r.sni, w.get(5).unwrap_or(""));
            assert_eq!(r.server_banner, w.get(6).unwrap_or(""));
        }
        assert_eq!(rows[0].sni, "a,b");
        assert_eq!(rows[0].server_banner, "x\"y");
        assert_eq!(rows[1].server_banner, "220 one\r\ntwo");
        assert_eq!(rows.last().map(|r| r.sni.as_str()), Some("open"));
        assert_eq!(stats.bad, 1);
        assert_eq!(stats.first_bad.as_ref().map(|(l, _)| *l), Some(6));
    }

    #[test]
    fn csv_commas_found_eight_bytes_at_a_time() {
        let line = b",a,,bcdefghij,k,,,,,,,,lmnopq,";
        let mut at = Vec::new();
        commas(line, &mut at);
        let want: Vec<usize> = (0..line.len()).filter(|&i| line[i] == b',').collect();
        assert_eq!(at, want);
    }

    #[test]
    fn csv_row_unquotes_cells() {
        let text = "ts,client_ip,client_port,server_ip,server_port,sni,cert_names,status\r\n\
2026-11-28T10:56:59.472706Z,10.0.0.1,5,10.0.0.2,443,'=evil,'-a.example b.example,no_server_hello\r\n\
2026-11-28T10:56:59.472706Z,10.0.0.1,x,10.0.0.2,443,,,\r\n";
        let (rows, stats) = rows(text, true);
        assert_eq!(rows.len(), 1);
        assert_eq!(stats.bad, 1);
        assert_eq!(rows[0].sni, "=evil");
        assert_eq!(&*rows[0].cert_names, ["-a.example", "b.example"]);
        assert_eq!(rows[0].status, crate::model::row::Status::NoServerHello);
    }
}
