//! The connections CSV: one row per connection, RFC 4180, spreadsheet-safe
//! cells.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::spool::{Out, RowOutput, copy_big};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::version::TlsVersion;
use crate::text::{push_ip_bytes, push_time_bytes};
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
    let (mut line, mut spans) = (Vec::new(), Vec::new());
    write_row(
        r,
        &mut Cells {
            line: &mut line,
            spans: Some(&mut spans),
            start: 0,
        },
        &mut Ciphers::default(),
    );
    spans
        .iter()
        .map(|&(a, b)| String::from_utf8_lossy(line.get(a..b).unwrap_or_default()).into_owned())
        .collect()
}

/// A row being written: cells appended to `line`, separated by commas,
/// none quoted.
struct Cells<'a> {
    line: &'a mut Vec<u8>,
    /// Where each cell starts and ends, when wanted.
    spans: Option<&'a mut Vec<(usize, usize)>>,
    start: usize,
}

impl Cells<'_> {
    /// Starts the first cell; its bytes go to the returned buffer.
    #[inline(always)]
    fn first(&mut self) -> &mut Vec<u8> {
        self.start = self.line.len();
        self.line
    }

    /// Starts a cell after the first; its bytes go to the returned buffer.
    #[inline(always)]
    fn open(&mut self) -> &mut Vec<u8> {
        self.line.push(b',');
        self.first()
    }

    /// Ends a cell.
    #[inline(always)]
    fn close(&mut self) {
        if let Some(s) = self.spans.as_mut() {
            s.push((self.start, self.line.len()));
        }
    }

    /// A cell of text as it is.
    #[inline(always)]
    fn text(&mut self, s: &str) {
        self.open().extend_from_slice(s.as_bytes());
        self.close();
    }

    /// A text cell made safe for spreadsheets ([`crate::text::push_safe`]).
    #[inline(always)]
    fn safe(&mut self, s: &str) {
        push_safe_bytes(self.open(), s);
        self.close();
    }

    /// A number.
    #[inline(always)]
    fn num(&mut self, n: u64) {
        self.open()
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.close();
    }

    /// A version's name, empty when absent.
    #[inline(always)]
    fn version(&mut self, v: Option<u16>) {
        let line = self.open();
        if let Some(v) = v {
            line.extend_from_slice(TlsVersion(v).name().as_bytes());
        }
        self.close();
    }
}

/// [`crate::text::push_safe`] to bytes.
#[inline(always)]
fn push_safe_bytes(out: &mut Vec<u8>, s: &str) {
    if matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        out.push(b'\'');
    }
    out.extend_from_slice(s.as_bytes());
}

/// Cipher suite names met lately (a capture uses a handful).
#[derive(Default)]
struct Ciphers(Vec<(u32, Cow<'static, str>)>);

impl Ciphers {
    fn name(&mut self, id: u32) -> &str {
        let i = match self.0.iter().position(|(c, _)| *c == id) {
            Some(i) => i,
            None => {
                if self.0.len() >= 32 {
                    self.0.clear();
                }
                self.0.push((id, cipher_name(id)));
                self.0.len() - 1
            }
        };
        self.0.get(i).map_or("", |(_, n)| n)
    }
}

/// Writes the cells of a connection row, in [`CONNECTION_COLUMNS`] order.
fn write_row(r: &ConnRecord, c: &mut Cells<'_>, ciphers: &mut Ciphers) {
    let m = &r.m365;
    push_time_bytes(c.first(), r.ts);
    c.close();
    push_ip_bytes(c.open(), r.client_ip);
    c.close();
    c.num(u64::from(r.client_port));
    push_ip_bytes(c.open(), r.server_ip);
    c.close();
    c.num(u64::from(r.server_port));
    c.text(r.protocol.as_str());
    c.safe(&r.sni);
    c.version(r.client_max_version);
    c.version(r.negotiated_version);
    c.text(r.cipher.map_or("", |id| ciphers.name(id)));
    c.safe(&r.alpn);
    c.text(r.status.as_str());
    c.text(yes_no(m.m365));
    c.text(m.service.map_or("", |s| s.as_str()));
    let line = c.open();
    for (i, kind) in m.matched.names().enumerate() {
        if i > 0 {
            line.push(b'+');
        }
        line.extend_from_slice(kind.as_bytes());
    }
    c.close();
    match m.endpoint_id {
        Some(i) => c.num(u64::from(i)),
        None => c.text(""),
    }
    c.text(yes_no(m.legacy));
    c.safe(&r.client_helo);
    c.safe(&r.server_banner);
    c.text(&r.ja4);
    c.text(&r.ja3);
    c.version(r.client_version);
    let line = c.open();
    for (i, n) in r.cert_names.iter().enumerate() {
        if i == 0 {
            push_safe_bytes(line, n);
        } else {
            line.push(b' ');
            line.extend_from_slice(n.as_bytes());
        }
    }
    c.close();
    c.text(&r.alert);
    c.text(yes_no(r.hello_retry));
    push_time_bytes(c.open(), r.last_ts);
    c.close();
    // Zero: not counted (rows read from Zeek or Suricata logs).
    if r.packets == 0 {
        c.text("");
    } else {
        c.num(r.packets);
    }
    c.safe(&r.dns_name);
    // The client's name, source and MAC (empty until `super::named` fills
    // them, unless read back from rows).
    c.safe(&r.who.name);
    c.safe(&r.who.source);
    c.text(&r.who.mac);
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
        Ok(Box::new(BufWriter::new(super::stdio::stdout())))
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
    /// The row as written, and for rows with cells to quote, the cells
    /// and where each ends; reused across rows.
    line: Vec<u8>,
    cells: Vec<u8>,
    spans: Vec<(usize, usize)>,
    ciphers: Ciphers,
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
            line: Vec::with_capacity(1024),
            cells: Vec::new(),
            spans: Vec::new(),
            ciphers: Ciphers::default(),
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
        let line = &mut self.line;
        line.clear();
        let mut cells = Cells {
            line,
            spans: None,
            start: 0,
        };
        write_row(rec, &mut cells, &mut self.ciphers);
        // One scan of the whole row: most rows need no quotes at all.
        if !plain(line, CONNECTION_COLUMNS.len() - 1) {
            let (cells, spans) = (&mut self.cells, &mut self.spans);
            cells.clear();
            spans.clear();
            let mut c = Cells {
                line: cells,
                spans: Some(spans),
                start: 0,
            };
            write_row(rec, &mut c, &mut self.ciphers);
            line.clear();
            for (i, &(a, b)) in spans.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                let cell = cells.get(a..b).unwrap_or_default();
                // Cells are whole `str`s, so each span is valid UTF-8.
                push_field(line, std::str::from_utf8(cell).unwrap_or_default());
            }
        }
        line.extend_from_slice(b"\r\n");
        self.out.write_all(line)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }
}

/// Whether a row of cells joined by `commas` commas has no cell that needs
/// quotes: no quote, CR or LF, and no comma of its own.
fn plain(row: &[u8], commas: usize) -> bool {
    memchr::memchr3(b'"', b'\r', b'\n', row).is_none()
        && memchr::memchr_iter(b',', row).count() == commas
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
            let (out, back, _) = crate::output::spool::temp_part().expect("temp file");
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

    /// Every column has its cell, empty ones included (no cipher, no
    /// names, no packets counted): 31 cells, 30 commas. A time beyond the
    /// year 9999 is that year's end.
    #[test]
    fn empty_cells_keep_their_columns() {
        let mut rec = ConnRecord {
            ts: i64::MAX,
            ..ConnRecord::default()
        };
        rec.cert_names = vec!["a,b".to_string(), "c".to_string()].into();
        let cells = connection_cells(&rec);
        assert_eq!(cells.len(), CONNECTION_COLUMNS.len());
        assert_eq!(cells[0], "9999-12-31T23:59:59.999999Z");
        assert_eq!(cells[1], "0.0.0.0");
        assert_eq!(
            cells[CONNECTION_COLUMNS
                .iter()
                .position(|c| *c == "packets")
                .unwrap()],
            ""
        );
        assert_eq!(cells[22], "a,b c");
        let (out, mut back, _) = crate::output::spool::temp_part().expect("temp file");
        let mut sink = CsvSink::headless(out);
        sink.record(&rec).expect("row");
        sink.flush().expect("flush");
        drop(sink);
        std::io::Seek::rewind(&mut back).expect("rewind");
        let mut line = String::new();
        std::io::Read::read_to_string(&mut back, &mut line).expect("read back");
        assert!(
            line.starts_with("9999-12-31T23:59:59.999999Z,0.0.0.0,0,0.0.0.0,0,tls,"),
            "{line}"
        );
        assert!(line.contains(",\"a,b c\","), "{line}");
        assert!(
            line.ends_with(",no,1970-01-01T00:00:00.000000Z,,,,,\r\n"),
            "{line}"
        );
    }
}
