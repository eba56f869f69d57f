//! The connections CSV: one row per connection, RFC 4180, spreadsheet-safe
//! cells.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::spool::{Out, RowOutput, copy_big};
use crate::model::row::ConnRecord;
use crate::model::sink::Sink;
use crate::model::version::TlsVersion;
use crate::text::{push_num, push_safe, push_time};
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
    cell(buf, &mut |b| {
        let _ = write!(b, "{}", r.client_ip);
    });
    cell(buf, &mut |b| push_num(b, u64::from(r.client_port), 1));
    cell(buf, &mut |b| {
        let _ = write!(b, "{}", r.server_ip);
    });
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
    let who = r.client.as_deref();
    cell(buf, &mut |b| safe(b, who.map_or("", |c| &c.name)));
    cell(buf, &mut |b| b.push_str(who.map_or("", |c| c.source)));
    cell(buf, &mut |b| b.push_str(who.map_or("", |c| &c.mac)));
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

fn csv_err(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// Writes the connections CSV (RFC 4180, header row).
pub struct CsvSink {
    w: csv::Writer<Out>,
    flush_each: bool,
    /// Cell buffer, reused across rows.
    scratch: String,
}

impl CsvSink {
    /// A CSV writer on `out`; with `flush_each`, every row is flushed.
    pub fn new(out: Out, flush_each: bool) -> io::Result<Self> {
        let mut w = csv_writer(out);
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
    /// [`RowOutput::append`].
    pub fn headless(out: Out) -> Self {
        CsvSink {
            w: csv_writer(out),
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
