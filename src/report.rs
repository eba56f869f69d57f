//! Outputs: the connections CSV, JSON lines, and value formatting shared by
//! every report (timestamps, versions, spreadsheet-safe cells).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::analyzer::Sink;
use crate::record::ConnRecord;
use crate::tls;

/// Columns of the connections CSV, in order.
pub const CONNECTION_COLUMNS: &[&str] = &[
    "ts",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "protocol",
    "sni",
    "client_max_version",
    "negotiated_version",
    "cipher",
    "alpn",
    "status",
    "m365",
    "m365_service",
    "m365_match",
    "m365_endpoint_id",
    "legacy_endpoint",
    "client_helo",
    "server_banner",
    "ja4",
    "ja3",
    "client_version",
    "cert_names",
    "alert",
    "hello_retry",
    "last_ts",
    "packets",
];

/// RFC 3339 UTC time of a µs timestamp, e.g. `2025-03-04T08:00:00.123456Z`.
pub fn rfc3339(ts_us: i64) -> String {
    let nanos = i128::from(ts_us) * 1000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Version spelling, empty when absent.
pub fn version_cell(v: Option<u16>) -> String {
    v.map(tls::version_name).unwrap_or_default()
}

/// Makes a text cell safe for spreadsheets: a value a spreadsheet would run
/// as a formula (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`.
pub fn safe_cell(s: &str) -> String {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The cells of one connection row, in [`CONNECTION_COLUMNS`] order.
pub fn connection_cells(r: &ConnRecord) -> Vec<String> {
    let m = &r.m365;
    vec![
        rfc3339(r.ts),
        r.client_ip.to_string(),
        r.client_port.to_string(),
        r.server_ip.to_string(),
        r.server_port.to_string(),
        r.protocol.clone(),
        safe_cell(&r.sni),
        version_cell(r.client_max_version),
        version_cell(r.negotiated_version),
        r.cipher.map(tls::cipher_name).unwrap_or_default(),
        safe_cell(&r.alpn),
        r.status.as_str().to_string(),
        yes_no(m.m365).to_string(),
        m.service.map(|s| s.to_string()).unwrap_or_default(),
        m.matched.to_string(),
        m.endpoint_id.map(|i| i.to_string()).unwrap_or_default(),
        yes_no(m.legacy).to_string(),
        safe_cell(&r.client_helo),
        safe_cell(&r.server_banner),
        r.ja4.clone(),
        r.ja3.clone(),
        version_cell(r.client_version),
        safe_cell(&r.cert_names.join(" ")),
        r.alert.clone(),
        yes_no(r.hello_retry).to_string(),
        rfc3339(r.last_ts),
        r.packets.to_string(),
    ]
}

/// Writes the connections CSV (RFC 4180, header row).
pub struct CsvSink {
    w: csv::Writer<Box<dyn Write>>,
    flush_each: bool,
}

fn csv_err(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// Opens an output file, `-` meaning standard output.
pub fn open_output(path: &Path) -> io::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::new(io::stdout())))
    } else {
        Ok(Box::new(BufWriter::new(File::create(path)?)))
    }
}

impl CsvSink {
    /// A CSV writer on `out`; with `flush_each`, every row is flushed.
    pub fn new(out: Box<dyn Write>, flush_each: bool) -> io::Result<Self> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(CONNECTION_COLUMNS).map_err(csv_err)?;
        if flush_each {
            w.flush()?;
        }
        Ok(CsvSink { w, flush_each })
    }

    /// Flushes buffered rows.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Sink for CsvSink {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        self.w
            .write_record(connection_cells(rec))
            .map_err(csv_err)?;
        if self.flush_each {
            self.w.flush()?;
        }
        Ok(())
    }
}

/// Writes one JSON object per connection (JSON lines).
pub struct JsonSink {
    w: Box<dyn Write>,
    flush_each: bool,
}

impl JsonSink {
    /// A JSON-lines writer on `out`.
    pub fn new(out: Box<dyn Write>, flush_each: bool) -> Self {
        JsonSink { w: out, flush_each }
    }

    /// Flushes buffered rows.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// The JSON object of a row: the CSV columns as keys, without the
/// spreadsheet quoting, numbers as numbers, empty cells omitted.
pub fn connection_json(r: &ConnRecord) -> serde_json::Value {
    let mut obj = serde_json::Map::new();
    for (k, v) in CONNECTION_COLUMNS.iter().zip(connection_cells(r)) {
        if v.is_empty() {
            continue;
        }
        let v = match *k {
            "sni" => r.sni.clone(),
            "alpn" => r.alpn.clone(),
            "client_helo" => r.client_helo.clone(),
            "server_banner" => r.server_banner.clone(),
            _ => v,
        };
        let val = match *k {
            "client_port" | "server_port" | "packets" | "m365_endpoint_id" => v
                .parse::<u64>()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::String(v)),
            "cert_names" => serde_json::Value::from(r.cert_names.clone()),
            _ => serde_json::Value::String(v),
        };
        obj.insert((*k).to_string(), val);
    }
    serde_json::Value::Object(obj)
}

impl Sink for JsonSink {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, &connection_json(rec)).map_err(io::Error::other)?;
        self.w.write_all(b"\n")?;
        if self.flush_each {
            self.w.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_neutralised() {
        assert_eq!(safe_cell("=cmd|'/c calc'!A1"), "'=cmd|'/c calc'!A1");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("-x"), "'-x");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("\tx"), "'\tx");
        assert_eq!(safe_cell("outlook.office365.com"), "outlook.office365.com");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(1_741_075_200_000_000), "2025-03-04T08:00:00Z");
        assert_eq!(
            rfc3339(1_741_075_200_123_456),
            "2025-03-04T08:00:00.123456Z"
        );
    }
}
