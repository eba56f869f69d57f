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

/// RFC 3339 UTC time of a µs timestamp, e.g. `2025-03-04T08:00:00.123456Z`
/// (always six fractional digits).
pub fn rfc3339(ts_us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_time(&mut s, ts_us);
    s
}

/// Version spelling, empty when absent.
pub fn version_cell(v: Option<u16>) -> String {
    v.map(|v| tls::version_name(v).into_owned())
        .unwrap_or_default()
}

/// Makes a text cell safe for spreadsheets: a value a spreadsheet would run
/// as a formula (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`.
pub fn safe_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    push_safe(&mut out, s);
    out
}

/// Appends `s` as [`safe_cell`] would make it.
fn push_safe(out: &mut String, s: &str) {
    if matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        out.push('\'');
    }
    out.push_str(s);
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The cells of one connection row, in [`CONNECTION_COLUMNS`] order.
pub fn connection_cells(r: &ConnRecord) -> Vec<String> {
    let mut v = Vec::with_capacity(CONNECTION_COLUMNS.len());
    write_cells(r, &mut String::new(), &mut |c| v.push(c.to_string()));
    v
}

/// Appends `n` in decimal, zero-padded to `width` digits.
pub fn push_num(out: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut x = n;
    loop {
        k -= 1;
        digits[k] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for _ in (digits.len() - k)..width {
        out.push('0');
    }
    for d in &digits[k..] {
        out.push(char::from(*d));
    }
}

/// Appends the RFC 3339 UTC time of a µs timestamp (as [`rfc3339`]).
fn push_time(out: &mut String, ts_us: i64) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_us) * 1000) else {
        return;
    };
    let (y, mo, d) = t.to_calendar_date();
    push_num(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_num(out, u64::from(u8::from(mo)), 2);
    out.push('-');
    push_num(out, u64::from(d), 2);
    out.push('T');
    push_num(out, u64::from(t.hour()), 2);
    out.push(':');
    push_num(out, u64::from(t.minute()), 2);
    out.push(':');
    push_num(out, u64::from(t.second()), 2);
    // Always six digits: the cells then sort as text in time order.
    out.push('.');
    push_num(out, u64::from(t.microsecond()), 6);
    out.push('Z');
}

/// Calls `emit` with each cell of a connection row, in
/// [`CONNECTION_COLUMNS`] order, formatting into `buf` (reused: a row's
/// certificate names alone can take a kilobyte).
pub fn write_cells(r: &ConnRecord, buf: &mut String, emit: &mut dyn FnMut(&str)) {
    use std::fmt::Write as _;
    let m = &r.m365;
    let mut cell = |buf: &mut String, f: &mut dyn FnMut(&mut String)| {
        buf.clear();
        f(buf);
        emit(buf);
    };
    let safe = push_safe;
    let version = |buf: &mut String, v: Option<u16>| {
        if let Some(v) = v {
            buf.push_str(&tls::version_name(v));
        }
    };
    cell(buf, &mut |b| push_time(b, r.ts));
    cell(buf, &mut |b| {
        let _ = write!(b, "{}", r.client_ip);
    });
    cell(buf, &mut |b| push_num(b, u64::from(r.client_port), 1));
    cell(buf, &mut |b| {
        let _ = write!(b, "{}", r.server_ip);
    });
    cell(buf, &mut |b| push_num(b, u64::from(r.server_port), 1));
    cell(buf, &mut |b| b.push_str(r.protocol));
    cell(buf, &mut |b| safe(b, &r.sni));
    cell(buf, &mut |b| version(b, r.client_max_version));
    cell(buf, &mut |b| version(b, r.negotiated_version));
    cell(buf, &mut |b| {
        if let Some(c) = r.cipher {
            b.push_str(&tls::cipher_name(c));
        }
    });
    cell(buf, &mut |b| safe(b, &r.alpn));
    cell(buf, &mut |b| b.push_str(r.status.as_str()));
    cell(buf, &mut |b| b.push_str(yes_no(m.m365)));
    cell(buf, &mut |b| {
        if let Some(s) = m.service {
            b.push_str(s.as_str());
        }
    });
    cell(buf, &mut |b| {
        let _ = write!(b, "{}", m.matched);
    });
    cell(buf, &mut |b| {
        if let Some(i) = m.endpoint_id {
            push_num(b, u64::from(i), 1);
        }
    });
    cell(buf, &mut |b| b.push_str(yes_no(m.legacy)));
    cell(buf, &mut |b| safe(b, &r.client_helo));
    cell(buf, &mut |b| safe(b, &r.server_banner));
    cell(buf, &mut |b| b.push_str(&r.ja4));
    cell(buf, &mut |b| b.push_str(&r.ja3));
    cell(buf, &mut |b| version(b, r.client_version));
    cell(buf, &mut |b| {
        for (i, n) in r.cert_names.iter().enumerate() {
            if i == 0 {
                safe(b, n);
            } else {
                b.push(' ');
                b.push_str(n);
            }
        }
    });
    cell(buf, &mut |b| b.push_str(&r.alert));
    cell(buf, &mut |b| b.push_str(yes_no(r.hello_retry)));
    cell(buf, &mut |b| push_time(b, r.last_ts));
    cell(buf, &mut |b| push_num(b, r.packets, 1));
}

/// A CSV writer as RFC 4180 has it: CRLF line ends, quotes where needed.
pub fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// A row output (connections CSV, JSON lines).
pub trait RowOutput {
    /// Flushes buffered rows.
    fn flush(&mut self) -> io::Result<()>;

    /// Appends rows already written elsewhere (a part without header).
    fn append(&mut self, rows: &mut dyn io::Read) -> io::Result<()>;
}

/// Copies in 1 MiB blocks (a part of an output can be tens of megabytes).
fn copy_big(from: &mut dyn io::Read, to: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(buf.get(..n).unwrap_or_default())?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes the connections CSV (RFC 4180, header row).
pub struct CsvSink {
    w: csv::Writer<Out>,
    flush_each: bool,
    /// Cell buffer, reused across rows.
    scratch: String,
}

/// An output stream (file or standard output).
pub type Out = Box<dyn Write + Send>;

fn csv_err(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// Opens an output file, `-` meaning standard output.
pub fn open_output(path: &Path) -> io::Result<Out> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::new(io::stdout())))
    } else {
        Ok(Box::new(BufWriter::new(File::create(path)?)))
    }
}

impl CsvSink {
    /// A CSV writer on `out`; with `flush_each`, every row is flushed.
    pub fn new(out: Out, flush_each: bool) -> io::Result<Self> {
        let mut w = crate::report::csv_writer(out);
        w.write_record(CONNECTION_COLUMNS).map_err(csv_err)?;
        if flush_each {
            w.flush()?;
        }
        Ok(CsvSink {
            w,
            flush_each,
            scratch: String::new(),
        })
    }

    /// Rows only, no header: a part of a file, appended later with
    /// [`CsvSink::append`].
    pub fn headless(out: Out) -> Self {
        CsvSink {
            w: crate::report::csv_writer(out),
            flush_each: false,
            scratch: String::new(),
        }
    }
}

impl RowOutput for CsvSink {
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    fn append(&mut self, rows: &mut dyn io::Read) -> io::Result<()> {
        let w = std::mem::replace(&mut self.w, csv_writer(Box::new(io::sink())));
        let mut out = w
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        copy_big(rows, &mut out)?;
        self.w = csv_writer(out);
        Ok(())
    }
}

impl Sink for CsvSink {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        let mut err = None;
        write_cells(rec, &mut self.scratch, &mut |c| {
            if err.is_none() {
                err = self.w.write_field(c).err();
            }
        });
        if let Some(e) = err {
            return Err(csv_err(e));
        }
        self.w.write_record(None::<&[u8]>).map_err(csv_err)?;
        if self.flush_each {
            self.w.flush()?;
        }
        Ok(())
    }
}

/// Writes one JSON object per connection (JSON lines).
pub struct JsonSink {
    w: Out,
    flush_each: bool,
}

impl JsonSink {
    /// A JSON-lines writer on `out`.
    pub fn new(out: Out, flush_each: bool) -> Self {
        JsonSink { w: out, flush_each }
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
            "cert_names" => serde_json::Value::from(r.cert_names.to_vec()),
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
        assert_eq!(
            rfc3339(1_741_075_200_000_000),
            "2025-03-04T08:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(1_741_075_200_000_200),
            "2025-03-04T08:00:00.000200Z"
        );
        assert_eq!(
            rfc3339(1_741_075_200_123_456),
            "2025-03-04T08:00:00.123456Z"
        );
    }
}
