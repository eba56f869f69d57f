//! The connections CSV: one row per connection, RFC 4180, spreadsheet-safe
//! cells.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::spool::{Out, RowOutput, copy_big};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::version::TlsVersion;
use crate::text::{push_ip, push_num, push_safe, push_time};
use crate::wire::tls::cipher_name;

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
    "dns_name",
    // Filled once the input is read (see `super::named`).
    "client_name",
    "client_name_source",
    "client_mac",
];

/// `yes` or `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The cells of one connection row, in [`CONNECTION_COLUMNS`] order.
pub fn connection_cells(r: &ConnRecord) -> Vec<String> {
    let mut v = Vec::with_capacity(CONNECTION_COLUMNS.len());
    write_cells(r, &mut String::new(), &mut |c| v.push(c.to_string()));
    v
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
            buf.push_str(&TlsVersion(v).name());
        }
    };
    cell(buf, &mut |b| push_time(b, r.ts));
    cell(buf, &mut |b| push_ip(b, r.client_ip));
    cell(buf, &mut |b| push_num(b, u64::from(r.client_port), 1));
    cell(buf, &mut |b| push_ip(b, r.server_ip));
    cell(buf, &mut |b| push_num(b, u64::from(r.server_port), 1));
    cell(buf, &mut |b| b.push_str(r.protocol.as_str()));
    cell(buf, &mut |b| safe(b, &r.sni));
    cell(buf, &mut |b| version(b, r.client_max_version));
    cell(buf, &mut |b| version(b, r.negotiated_version));
    cell(buf, &mut |b| {
        if let Some(c) = r.cipher {
            b.push_str(&cipher_name(c));
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
    cell(buf, &mut |b| safe(b, &r.dns_name));
    // The client's name, source and MAC (empty until `super::named` fills
    // them, unless read back from rows).
    cell(buf, &mut |b| safe(b, &r.who.name));
    cell(buf, &mut |b| safe(b, &r.who.source));
    cell(buf, &mut |b| b.push_str(&r.who.mac));
}

/// A CSV writer as RFC 4180 has it: CRLF line ends, quotes where needed.
pub fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// Opens an output file, `-` meaning standard output.
pub fn open_output(path: &Path) -> io::Result<Out> {
    if path.as_os_str() == "-" {
        Ok(Box::new(BufWriter::new(io::stdout())))
    } else {
        Ok(Box::new(BufWriter::new(File::create(path)?)))
    }
}

/// Appends `cell` to a CSV line as the `csv` crate's writer writes a field
/// (RFC 4180, quoted only when it holds a quote, comma, CR or LF; inner
/// quotes doubled). Rows are made here rather than by `csv::Writer`, whose
/// byte-at-a-time state machine was a sixth of the analysis on large
/// captures; the clients CSV still uses the crate, and a unit test holds the
/// two to the same bytes.
pub fn push_field(line: &mut Vec<u8>, cell: &str) {
    let b = cell.as_bytes();
    if !needs_quotes(b) {
        line.extend_from_slice(b);
        return;
    }
    line.push(b'"');
    for &c in b {
        if c == b'"' {
            line.push(b'"');
        }
        line.push(c);
    }
    line.push(b'"');
}

/// Does text hold a byte that makes a CSV field need quotes?
fn needs_quotes(b: &[u8]) -> bool {
    // No early exit, so the compiler can test many bytes at once.
    b.iter().fold(0u8, |any, &c| {
        any | u8::from(c == b'"')
            | u8::from(c == b',')
            | u8::from(c == b'\r')
            | u8::from(c == b'\n')
    }) != 0
}

/// Appends a whole CSV record (cells, commas, CRLF) to `line`.
pub fn push_record<'a>(line: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a str>) {
    for (i, c) in cells.into_iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        push_field(line, c);
    }
    line.extend_from_slice(b"\r\n");
}

/// Writes the connections CSV (RFC 4180, header row).
pub struct CsvSink {
    out: Out,
    flush_each: bool,
    /// The row's cells back to back, where each ends, the row as written,
    /// and a cell buffer; all reused across rows.
    cells: Vec<u8>,
    ends: Vec<usize>,
    line: Vec<u8>,
    scratch: String,
}

impl CsvSink {
    /// A CSV writer on `out`; with `flush_each`, every row is flushed.
    pub fn new(out: Out, flush_each: bool) -> io::Result<Self> {
        let mut sink = CsvSink::headless(out);
        sink.flush_each = flush_each;
        push_record(&mut sink.line, CONNECTION_COLUMNS.iter().copied());
        sink.out.write_all(&sink.line)?;
        sink.line.clear();
        if flush_each {
            sink.out.flush()?;
        }
        Ok(sink)
    }

    /// Rows only, no header: a part of a file, appended later with
    /// [`RowOutput::append`].
    pub fn headless(out: Out) -> Self {
        CsvSink {
            out,
            flush_each: false,
            cells: Vec::with_capacity(1024),
            ends: Vec::with_capacity(CONNECTION_COLUMNS.len()),
            line: Vec::with_capacity(1024),
            scratch: String::new(),
        }
    }
}

impl RowOutput for CsvSink {
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn append(&mut self, rows: &mut dyn io::Read) -> io::Result<()> {
        copy_big(rows, &mut self.out)
    }
}

impl Sink for CsvSink {
    fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
        let (cells, ends) = (&mut self.cells, &mut self.ends);
        cells.clear();
        ends.clear();
        write_cells(rec, &mut self.scratch, &mut |c| {
            cells.extend_from_slice(c.as_bytes());
            ends.push(cells.len());
        });
        // One scan of the whole row: most rows need no quotes at all.
        let quotes = needs_quotes(cells);
        let line = &mut self.line;
        line.clear();
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            let cell = cells.get(start..end).unwrap_or_default();
            if quotes {
                // Cells are whole `str`s, so each slice is valid UTF-8.
                push_field(line, std::str::from_utf8(cell).unwrap_or_default());
            } else {
                line.extend_from_slice(cell);
            }
            start = end;
        }
        line.extend_from_slice(b"\r\n");
        self.out.write_all(line)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile cells come out as the `csv` crate writes them.
    #[test]
    fn fields_as_the_csv_crate_writes_them() {
        let rows: &[&[&str]] = &[
            &[
                "plain",
                "",
                "a,b",
                "say \"hi\"",
                "line\nbreak",
                "cr\rx",
                "\"",
                ",",
                "é,ü",
            ],
            &["", ""],
            &["x", "trailing\r\n", "'=SUM(A1)", " spaced "],
        ];
        for row in rows {
            let mut ours = Vec::new();
            push_record(&mut ours, row.iter().copied());
            let mut w = csv_writer(Vec::new());
            w.write_record(*row).expect("in memory");
            let theirs = w.into_inner().expect("in memory");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        }
    }

    /// Whole rows, with and without cells that need quotes, as the `csv`
    /// crate writes the same cells.
    #[test]
    fn rows_as_the_csv_crate_writes_them() {
        let mut hostile = crate::output::json::tests::row();
        hostile.sni = "a,b.example".into();
        hostile.server_banner = "mail\r\nx \"quoted\"".into();
        let mut plain = crate::output::json::tests::row();
        plain.client_helo = "host1".into();
        for rec in [hostile, plain] {
            let (out, back) = crate::output::spool::temp_part().expect("temp file");
            let mut sink = CsvSink::new(out, true).expect("header");
            sink.record(&rec).expect("row");
            drop(sink);
            let mut back = back;
            std::io::Seek::rewind(&mut back).expect("rewind");
            let mut ours = String::new();
            std::io::Read::read_to_string(&mut back, &mut ours).expect("read back");
            let mut w = csv_writer(Vec::new());
            w.write_record(CONNECTION_COLUMNS).expect("in memory");
            w.write_record(connection_cells(&rec)).expect("in memory");
            let theirs = String::from_utf8(w.into_inner().expect("in memory")).expect("utf-8");
            assert_eq!(ours, theirs);
        }
    }
}
