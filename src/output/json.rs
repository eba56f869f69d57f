//! JSON lines: one object per connection, made by serde from a view of the
//! row. Keys are the CSV columns in alphabetical order, without the
//! spreadsheet quoting; empty values are left out; ports, packets and the
//! endpoint set id are numbers; `cert_names` is an array. One key more than
//! the CSV: `m365_data`, the endpoint data that classified the row.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use super::csv::yes_no;
use super::spool::{Out, RowOutput, copy_big};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::version::TlsVersion;
use crate::text::rfc3339;
use crate::wire::tls::cipher_name;

/// The JSON object of a row; fields in key order.
#[derive(Debug, Serialize)]
pub struct JsonRow<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    alert: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    alpn: &'a str,
    #[serde(skip_serializing_if = "no_names")]
    cert_names: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_helo: &'a str,
    client_ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_max_version: Option<Cow<'static, str>>,
    client_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_version: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "str::is_empty")]
    dns_name: &'a str,
    hello_retry: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ja3: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    ja4: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_ts: String,
    legacy_endpoint: &'static str,
    m365: &'static str,
    /// The endpoint data that classified the row.
    #[serde(skip_serializing_if = "str::is_empty")]
    m365_data: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    m365_endpoint_id: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    m365_match: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    m365_service: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    negotiated_version: Option<Cow<'static, str>>,
    /// Left out when not counted (rows read from Zeek or Suricata logs).
    #[serde(skip_serializing_if = "is_zero")]
    packets: u64,
    protocol: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    server_banner: &'a str,
    server_ip: IpAddr,
    server_port: u16,
    #[serde(skip_serializing_if = "str::is_empty")]
    sni: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    ts: String,
    // The client's name keys come last (added at the end of the line once
    // the input is read, see `super::named`).
    #[serde(skip_serializing_if = "str::is_empty")]
    client_mac: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_name_source: &'a str,
}

/// No packets counted (rows read from other sensors' logs).
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// No certificate names worth a key: none, or one empty name (the CSV
/// cell is then empty too).
fn no_names(names: &&[String]) -> bool {
    match names {
        [] => true,
        [one] => one.is_empty(),
        _ => false,
    }
}

fn version(v: Option<u16>) -> Option<Cow<'static, str>> {
    v.map(|v| TlsVersion(v).name())
}

impl<'a> JsonRow<'a> {
    /// The view of `r`.
    pub fn of(r: &'a ConnRecord) -> Self {
        let m = &r.m365;
        JsonRow {
            alert: &r.alert,
            alpn: &r.alpn,
            cert_names: &r.cert_names,
            cipher: r.cipher.map(cipher_name),
            client_helo: &r.client_helo,
            client_ip: r.client_ip,
            client_max_version: version(r.client_max_version),
            client_port: r.client_port,
            client_version: version(r.client_version),
            dns_name: &r.dns_name,
            hello_retry: yes_no(r.hello_retry),
            ja3: &r.ja3,
            ja4: &r.ja4,
            last_ts: rfc3339(r.last_ts),
            legacy_endpoint: yes_no(m.legacy),
            m365: yes_no(m.m365),
            m365_data: &r.m365_data,
            m365_endpoint_id: m.endpoint_id,
            m365_match: m.matched.to_string(),
            m365_service: m.service.map(|s| s.as_str()),
            negotiated_version: version(r.negotiated_version),
            packets: r.packets,
            protocol: r.protocol.as_str(),
            server_banner: &r.server_banner,
            server_ip: r.server_ip,
            server_port: r.server_port,
            sni: &r.sni,
            status: r.status.as_str(),
            ts: rfc3339(r.ts),
            client_mac: &r.who.mac,
            client_name: &r.who.name,
            client_name_source: &r.who.source,
        }
    }
}

/// The JSON line of a row (without its newline).
pub fn json_line(r: &ConnRecord) -> serde_json::Result<String> {
    serde_json::to_string(&JsonRow::of(r))
}

/// Writes one JSON object per connection (JSON lines).
pub struct JsonSink {
    w: Out,
    flush_each: bool,
    /// The row being written (written whole, see [`super::spool::PartWriter`]).
    line: Vec<u8>,
}

impl JsonSink {
    /// A JSON-lines writer on `out`.
    pub fn new(out: Out, flush_each: bool) -> Self {
        JsonSink {
            w: out,
            flush_each,
            line: Vec::with_capacity(1024),
        }
    }
}

impl RowOutput for JsonSink {
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    fn append(&mut self, rows: &mut dyn io::Read) -> io::Result<()> {
        copy_big(rows, &mut self.w)
    }
}

impl Sink for JsonSink {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &JsonRow::of(rec)).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.w.write_all(&self.line)?;
        if self.flush_each {
            self.w.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::m365::{Classification, MatchKinds, Service};
    use crate::model::row::Protocol;

    /// A row with cells a CSV or spreadsheet must take care with.
    pub(crate) fn row() -> ConnRecord {
        ConnRecord {
            ts: 1_741_075_200_000_000,
            last_ts: 1_741_075_200_123_456,
            client_ip: "10.0.0.1".parse().unwrap(),
            client_port: 50000,
            server_ip: "2603:1026::1".parse().unwrap(),
            server_port: 587,
            protocol: Protocol::SmtpStarttls,
            sni: String::new(),
            client_max_version: Some(0x0303),
            client_best_version: Some(0x0303),
            client_version: Some(0x0303),
            negotiated_version: Some(0x0301),
            cipher: Some(0xc014),
            m365: Classification {
                m365: true,
                service: Some(Service::Exchange),
                matched: MatchKinds {
                    banner: true,
                    ip: true,
                    ..MatchKinds::default()
                },
                endpoint_id: Some(10),
                legacy: false,
            },
            m365_data: Arc::from("built-in:2026073100"),
            client_helo: "=host\"1".into(),
            server_banner: "mail.example".into(),
            cert_names: Arc::from(["-a".to_string(), "b".to_string()]),
            packets: 9,
            ..ConnRecord::default()
        }
    }

    #[test]
    fn keys_in_order_empties_left_out_numbers_and_raw_text() {
        let line = json_line(&row()).unwrap();
        assert_eq!(
            line,
            r#"{"cert_names":["-a","b"],"cipher":"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA","client_helo":"=host\"1","client_ip":"10.0.0.1","client_max_version":"TLS1.2","client_port":50000,"client_version":"TLS1.2","hello_retry":"no","last_ts":"2025-03-04T08:00:00.123456Z","legacy_endpoint":"no","m365":"yes","m365_data":"built-in:2026073100","m365_endpoint_id":10,"m365_match":"banner+ip","m365_service":"Exchange","negotiated_version":"TLS1.0","packets":9,"protocol":"smtp-starttls","server_banner":"mail.example","server_ip":"2603:1026::1","server_port":587,"status":"established","ts":"2025-03-04T08:00:00.000000Z"}"#
        );
    }

    #[test]
    fn one_empty_certificate_name_is_an_empty_cell() {
        let mut r = row();
        r.cert_names = Arc::from([String::new()]);
        assert!(!json_line(&r).unwrap().contains("cert_names"));
        r.cert_names = Arc::from([]);
        assert!(!json_line(&r).unwrap().contains("cert_names"));
    }
}
