//! Connection rows from files instead of packets: tlsready's own connections
//! CSV and JSON lines, Zeek `ssl.log` (TSV or JSON) and Suricata `eve.json`
//! `tls` events, each turned into a [`ConnRecord`] for the tally.
//!
//! Files or directories (walked recursively, in name order, hidden files
//! skipped), plain or gzip (recognised by content), the format recognised
//! by content. A regular file is mapped into memory and read in place (a
//! file cut shorter by another program meanwhile ends the run with SIGBUS;
//! `TLSREADY_MMAP=0` reads it instead). Rows are streamed: memory does not grow with the number of
//! rows. Microsoft 365 recognition is applied again with the endpoint data
//! of this run, so rows written with older data benefit from a refresh.
//!
//! What a source cannot tell is left unknown in the row (never guessed):
//! the tally's rule for missing facts then applies (see [`crate::enrich::tally`]).

pub mod fields;
pub mod flatjson;
pub mod own;
pub mod suricata;
pub mod zeek;

use std::io::{self, BufRead, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::enrich::m365::Endpoints;
use crate::enrich::row;
use crate::model::m365::Classification;
use crate::model::row::{ConnRecord, Protocol, Status};
use crate::model::sink::Sink;

/// Longest line read (a row); longer lines are malformed rows.
pub const MAX_LINE: usize = 1 << 20;

/// The formats recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// tlsready's connections CSV (header row).
    OwnCsv,
    /// tlsready's JSON lines.
    OwnJson,
    /// Zeek `ssl.log`, tab-separated with its `#fields` header.
    ZeekTsv,
    /// Zeek `ssl.log` as JSON lines.
    ZeekJson,
    /// Suricata `eve.json` (its `tls` events).
    SuricataEve,
}

impl Format {
    /// Name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::OwnCsv => "tlsready connections CSV",
            Format::OwnJson => "tlsready JSON lines",
            Format::ZeekTsv => "Zeek ssl.log",
            Format::ZeekJson => "Zeek ssl.log (JSON)",
            Format::SuricataEve => "Suricata eve.json",
        }
    }
}

/// One input: a file, or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowInput {
    /// A file named on the command line (`explicit`) or found in a directory.
    File {
        /// Its path.
        path: PathBuf,
        /// Named on the command line: a file that is not rows is an error.
        explicit: bool,
    },
    /// Standard input (`-`).
    Stdin,
}

impl RowInput {
    /// The name used in messages.
    pub fn label(&self) -> String {
        match self {
            RowInput::File { path, .. } => path.display().to_string(),
            RowInput::Stdin => "<stdin>".into(),
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<RowInput>, errors: &mut dyn FnMut(String)) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return errors(format!("{}: {e}", dir.display())),
    };
    let mut entries: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            // Hidden files, and files still being written by a rotating
            // capture (temporary names start with a dot).
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort_by(|a, b| crate::text::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for p in entries {
        if p.is_dir() {
            walk(&p, out, errors);
        } else if p.is_file() {
            out.push(RowInput::File {
                path: p,
                explicit: false,
            });
        }
    }
}

/// The inputs named by `paths`: files, `-`, directories (recursively, in
/// name order). Each path that cannot be read is reported to `errors`.
pub fn expand(paths: &[PathBuf], errors: &mut dyn FnMut(String)) -> Vec<RowInput> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(RowInput::Stdin);
            continue;
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let before = out.len();
                walk(p, &mut out, errors);
                if out.len() == before {
                    errors(format!("{}: no files in directory", p.display()));
                }
            }
            Ok(_) => out.push(RowInput::File {
                path: p.clone(),
                explicit: true,
            }),
            Err(e) => errors(format!("{}: {e}", p.display())),
        }
    }
    out
}

/// What reading one input gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Rows passed on.
    pub rows: u64,
    /// Lines or events that are not TLS connections over TCP (other eve
    /// events, DTLS, other Zeek logs): passed over by design.
    pub passed_over: u64,
    /// Malformed rows skipped.
    pub bad: u64,
    /// The first malformed row: its line and what is wrong.
    pub first_bad: Option<(u64, String)>,
    /// Lines before the part of the input being read (a block of it read by
    /// another thread): added to the line numbers given to [`Self::bad_row`].
    pub line_offset: u64,
    /// Lines read (a line not ended by a line end counted too).
    pub lines: u64,
}

/// A JSON parser's message about one line of rows, without its own line
/// number (always 1: the parser sees one line): `... at line 1 column 38`
/// becomes `... (column 38)`.
fn within_line(why: String) -> String {
    if let Some((msg, at)) = why.rsplit_once(" at line ")
        && let Some((_, col)) = at.split_once(" column ")
        && col.bytes().all(|b| b.is_ascii_digit())
    {
        return format!("{msg} (column {col})");
    }
    why
}

impl ReadStats {
    /// Counts a malformed row at `line` (of the part being read).
    pub fn bad_row(&mut self, line: u64, why: impl std::fmt::Display) {
        self.bad += 1;
        let line = line + self.line_offset;
        if self.first_bad.as_ref().is_none_or(|(l, _)| line < *l) {
            self.first_bad = Some((line, within_line(why.to_string())));
        }
    }

    /// Adds another part's counts (the earliest malformed row kept).
    pub fn add(&mut self, o: &ReadStats) {
        self.rows += o.rows;
        self.passed_over += o.passed_over;
        self.bad += o.bad;
        if let Some((l, why)) = &o.first_bad
            && self.first_bad.as_ref().is_none_or(|(mine, _)| l < mine)
        {
            self.first_bad = Some((*l, why.clone()));
        }
    }
}

/// Why an input gave no rows at all.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// Cannot open or read it.
    #[error("{0}: {1}")]
    Io(String, io::Error),
    /// Not a format tlsready reads.
    #[error(
        "{0}: not connection rows (tlsready CSV or JSON lines, Zeek ssl.log, Suricata eve.json)"
    )]
    Unrecognised(String),
}

/// An open input, gzip decoded, with its format.
pub struct Opened {
    /// The stream, positioned at its start.
    pub reader: Box<dyn BufRead + Send>,
    /// Its format.
    pub format: Format,
    /// The whole input in memory, when it is a plain file mapped (see
    /// [`open`]): blocks of it are read in place.
    pub whole: Option<Arc<Mapped>>,
}

/// A regular file mapped into memory, read in place (no copy).
pub struct Mapped {
    #[cfg(unix)]
    map: memmap2::Mmap,
}

impl Mapped {
    /// `file` mapped whole, when it is a non-empty regular file, mapping
    /// is not turned off (`TLSREADY_MMAP=0`) and the system maps it.
    #[cfg(unix)]
    fn of(file: &std::fs::File) -> Option<Mapped> {
        crate::input::mapped::map(file).map(|map| Mapped { map })
    }

    #[cfg(not(unix))]
    fn of(_: &std::fs::File) -> Option<Mapped> {
        None
    }

    /// Lets the pages of `from..to` go from this process (they stay in the
    /// system's file cache, and are mapped again if read again), so that
    /// the memory of a run does not grow with the input read.
    pub fn release(&self, from: usize, to: usize) {
        #[cfg(unix)]
        if to > from && to <= self.map.len() {
            // SAFETY: the mapping is a read-only map of a file: pages let go
            // are read again from the file when touched, with the same
            // bytes (the file changing under the map is as for any read).
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
            };
        }
        #[cfg(not(unix))]
        let _ = (from, to);
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        #[cfg(unix)]
        {
            &self.map
        }
        #[cfg(not(unix))]
        {
            &[]
        }
    }
}

/// A mapped file as a stream, read in windows of [`WINDOW`] bytes; the
/// pages read are let go ([`Mapped::release`]) as it goes on.
struct MappedReader {
    map: Arc<Mapped>,
    at: usize,
    /// Bytes before this are let go.
    released: usize,
}

/// Bytes of a mapped file given at once by [`MappedReader`].
const WINDOW: usize = 4 << 20;

impl Read for MappedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = self.fill_buf()?;
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for MappedReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let bytes = self.map.bytes();
        let end = bytes.len().min(self.at.saturating_add(WINDOW));
        Ok(bytes.get(self.at..end).unwrap_or_default())
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.map.bytes().len());
        if self.at - self.released >= WINDOW {
            self.map.release(self.released, self.at);
            self.released = self.at;
        }
    }
}

/// Opens an input, decodes gzip, and recognises the format; `Ok(None)` for
/// an input that is not connection rows. A regular file is mapped into
/// memory when it can be (read in place), else read.
pub fn open(input: &RowInput) -> Result<Option<Opened>, RowError> {
    let label = input.label();
    let io_err = |e| RowError::Io(label.clone(), e);
    let raw: Box<dyn Read + Send> = match input {
        RowInput::File { path, .. } => {
            let file = std::fs::File::open(path).map_err(io_err)?;
            if let Some(map) = Mapped::of(&file) {
                return open_mapped(Arc::new(map)).map_err(io_err);
            }
            Box::new(file)
        }
        RowInput::Stdin => Box::new(io::stdin()),
    };
    open_reader(raw).map_err(io_err)
}

/// Bytes of a UTF-8 byte-order mark at the start of `b` (3 or 0).
pub fn bom_len(b: &[u8]) -> usize {
    if b.starts_with(b"\xef\xbb\xbf") { 3 } else { 0 }
}

/// [`open`] on a mapped file.
fn open_mapped(map: Arc<Mapped>) -> io::Result<Option<Opened>> {
    let bytes = map.bytes();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let reader = MappedReader {
            map,
            at: 0,
            released: 0,
        };
        return open_reader(Box::new(reader));
    }
    let head = bytes.get(..bytes.len().min(1 << 20)).unwrap_or_default();
    let format = sniff_head(head);
    Ok(format.map(|format| Opened {
        reader: Box::new(MappedReader {
            at: bom_len(map.bytes()),
            map: Arc::clone(&map),
            released: 0,
        }),
        format,
        whole: Some(map),
    }))
}

/// Bytes of a stream read to recognise its format at most (the first
/// lines that are not blank, Zeek's header lines).
const HEAD_MAX: usize = 1 << 20;

/// [`open`] on a byte stream. Its start is read whole, however the reads
/// come (a pipe may give a few bytes at a time): the two bytes of gzip's
/// magic, then the first line that is not blank (and Zeek's header lines
/// after a `#` one). An empty input is rows of none (an hour with no
/// connection). A byte-order mark is dropped.
pub fn open_reader(mut raw: Box<dyn Read + Send>) -> io::Result<Option<Opened>> {
    let mut magic = Vec::with_capacity(2);
    (&mut raw).take(2).read_to_end(&mut magic)?;
    let gz = magic.starts_with(&[0x1f, 0x8b]);
    let stream = io::BufReader::with_capacity(1 << 20, io::Cursor::new(magic).chain(raw));
    let mut decoded: Box<dyn BufRead + Send> = if gz {
        Box::new(io::BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(stream),
        ))
    } else {
        Box::new(stream)
    };
    let mut head = Vec::new();
    let mut lines = 0;
    while head.len() < HEAD_MAX && lines < 16 {
        let at = head.len();
        if decoded.read_until(b'\n', &mut head)? == 0 {
            break;
        }
        let line = head.get(at..).unwrap_or_default();
        let line = line.get(bom_len(line)..).unwrap_or_default();
        if line.trim_ascii().is_empty() {
            continue;
        }
        lines += 1;
        if !line.starts_with(b"#") {
            break;
        }
    }
    let format = if head.trim_ascii().is_empty() {
        // Nothing but blank lines: no rows (read as JSON lines).
        Some(Format::OwnJson)
    } else {
        sniff_head(&head)
    };
    head.drain(..bom_len(&head));
    let reader: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(
        1 << 20,
        io::Cursor::new(head).chain(decoded),
    ));
    Ok(format.map(|format| Opened {
        reader,
        format,
        whole: None,
    }))
}

/// Recognises the format from the first line of `head` (the start of the
/// input).
fn sniff_head(head: &[u8]) -> Option<Format> {
    let head = head.get(bom_len(head)..).unwrap_or_default();
    // Blank lines before the first are passed over, as the readers do.
    let blank = head
        .split_inclusive(|&b| b == b'\n')
        .take_while(|l| l.trim_ascii().is_empty())
        .map(<[u8]>::len)
        .sum::<usize>();
    let head = head.get(blank..).unwrap_or_default();
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = head.get(..line_end).unwrap_or_default();
    let first = std::str::from_utf8(first).unwrap_or_default().trim();
    if first.starts_with('#') {
        // Zeek's header (a comment line may come first, as in Zeek's own
        // test baselines). A log without ssl.log's `established` field
        // (conn, dhcp, dns...) is not connection rows: named, an input
        // error; in a directory of Zeek logs, passed over unread. (By its
        // fields, not its `#path`: an SSL log may be written under another
        // path.)
        let header = head
            .split(|&b| b == b'\n')
            .take(16)
            .take_while(|l| l.starts_with(b"#"));
        let zeek = header
            .clone()
            .any(|l| l.starts_with(b"#separator") || l.starts_with(b"#fields"));
        let other_log = header.clone().any(|l| l.starts_with(b"#fields"))
            && !header.clone().any(|l| {
                l.strip_prefix(b"#fields").is_some_and(|f| {
                    f.split(|&b| b == b'\t')
                        .any(|c| c.trim_ascii() == b"established")
                })
            });
        return (zeek && !other_log).then_some(Format::ZeekTsv);
    }
    if first.starts_with('{') {
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(first)
        else {
            return None;
        };
        return if obj.contains_key("event_type") {
            Some(Format::SuricataEve)
        } else if obj.contains_key("id.orig_h") || obj.contains_key("uid") {
            Some(Format::ZeekJson)
        } else if obj.contains_key("client_ip") && obj.contains_key("server_ip") {
            Some(Format::OwnJson)
        } else {
            None
        };
    }
    let header: Vec<&str> = first.split(',').map(str::trim).collect();
    if ["ts", "client_ip", "server_ip"]
        .iter()
        .all(|c| header.contains(c))
    {
        return Some(Format::OwnCsv);
    }
    None
}

/// Result of [`next_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// End of input.
    End,
    /// A line (without its line end) is in the buffer.
    Line,
    /// A line longer than [`MAX_LINE`]: skipped, the buffer holds its start.
    TooLong,
}

/// Calls `each` with every line of `r` that is not blank (without its line
/// end), its number, and the statistics; a line longer than [`MAX_LINE`]
/// counts as a bad row and is passed over.
pub fn each_line(
    r: &mut dyn BufRead,
    stats: &mut ReadStats,
    mut each: impl FnMut(&[u8], u64, &mut ReadStats) -> io::Result<()>,
) -> io::Result<()> {
    raw_lines(r, stats, |line, too_long, line_no, stats| {
        if too_long {
            stats.bad_row(line_no, "line too long");
            return Ok(());
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        each(line, line_no, stats)
    })
}

/// Calls `each` with every line of `r` as it is (without its `\n`, with a
/// `\r` before it), whether it is longer than [`MAX_LINE`] (then only its
/// start, or nothing, is given), and its number.
///
/// Lines are given in place, out of the reader's buffer (no copy); only a
/// line that straddles the end of the buffer is put together in a buffer
/// of its own.
pub fn raw_lines(
    r: &mut dyn BufRead,
    stats: &mut ReadStats,
    mut each: impl FnMut(&[u8], bool, u64, &mut ReadStats) -> io::Result<()>,
) -> io::Result<()> {
    // The start of a line that the buffer ended in, and whether it is
    // already too long.
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_too_long = false;
    let mut line_no = 0u64;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if !carry.is_empty() || carry_too_long {
                line_no += 1;
                each(&carry, carry_too_long, line_no, stats)?;
            }
            stats.lines += line_no;
            return Ok(());
        }
        let len = chunk.len();
        let mut start = 0;
        if !carry.is_empty() || carry_too_long {
            // Finish the carried line first.
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    let piece = chunk.get(..i).unwrap_or_default();
                    append_capped(&mut carry, &mut carry_too_long, piece);
                    line_no += 1;
                    each(&carry, carry_too_long, line_no, stats)?;
                    carry.clear();
                    carry_too_long = false;
                    start = i + 1;
                }
                None => {
                    append_capped(&mut carry, &mut carry_too_long, chunk);
                    r.consume(len);
                    continue;
                }
            }
        }
        let rest = chunk.get(start..).unwrap_or_default();
        let mut at = 0;
        for i in memchr::memchr_iter(b'\n', rest) {
            line_no += 1;
            let line = rest.get(at..i).unwrap_or_default();
            if line.len() > MAX_LINE {
                each(&[], true, line_no, stats)?;
            } else {
                each(line, false, line_no, stats)?;
            }
            at = i + 1;
        }
        append_capped(
            &mut carry,
            &mut carry_too_long,
            rest.get(at..).unwrap_or_default(),
        );
        r.consume(len);
    }
}

/// Appends `piece` to a carried line, at most [`MAX_LINE`] bytes in all.
fn append_capped(carry: &mut Vec<u8>, too_long: &mut bool, piece: &[u8]) {
    if *too_long {
        return;
    }
    if carry.len() + piece.len() > MAX_LINE {
        *too_long = true;
        carry.clear();
    } else {
        carry.extend_from_slice(piece);
    }
}

/// Reads the next line into `buf` (cleared first), at most [`MAX_LINE`]
/// bytes of it; the rest of a longer line is skipped.
pub fn next_line(r: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            let room = MAX_LINE.saturating_sub(buf.len());
            if take > room {
                too_long = true;
            } else {
                buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
            }
        }
        r.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    if !any {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(if too_long { Line::TooLong } else { Line::Line })
}

/// A row with nothing known: what every reader starts from.
pub fn empty_record() -> ConnRecord {
    ConnRecord::default()
}

/// Clears a row for reuse, keeping its string buffers.
pub fn reset(r: &mut ConnRecord) {
    r.ts = 0;
    r.last_ts = 0;
    r.client_port = 0;
    r.server_port = 0;
    r.protocol = Protocol::Tls;
    r.sni.clear();
    r.who.name.clear();
    r.who.source.clear();
    r.who.mac.clear();
    if !r.dns_name.is_empty() {
        r.dns_name = Arc::from("");
    }
    r.client_max_version = None;
    r.client_best_version = None;
    r.client_version = None;
    r.negotiated_version = None;
    r.cipher = None;
    r.alpn.clear();
    r.status = Status::Established;
    r.m365 = Classification::default();
    r.client_helo.clear();
    r.server_banner.clear();
    r.ja4.clear();
    r.ja3.clear();
    r.alert.clear();
    r.hello_retry = false;
    r.packets = 0;
}

/// Certificate name lists repeat from row to row (a server's certificate,
/// many connections): each list is made once and shared.
#[derive(Default)]
pub struct CertNames {
    last: Option<Arc<[String]>>,
    /// By the text they were read from (a JSON array, a CSV cell).
    by_text: rustc_hash::FxHashMap<Box<str>, Arc<[String]>>,
}

thread_local! {
    /// The certificate name lists of JSON lines and of CSV rows read by
    /// this thread, kept from one block of an input to the next.
    static CERTS: std::cell::RefCell<[CertNames; 2]> = std::cell::RefCell::default();
}

impl CertNames {
    /// This thread's lists for JSON lines (`json`) or CSV cells, taken
    /// until [`CertNames::put_back`].
    pub fn take(json: bool) -> CertNames {
        CERTS.with(|c| {
            c.try_borrow_mut()
                .ok()
                .and_then(|mut c| c.get_mut(usize::from(json)).map(std::mem::take))
                .unwrap_or_default()
        })
    }

    /// Gives the lists taken by [`CertNames::take`] back.
    pub fn put_back(self, json: bool) {
        CERTS.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut()
                && let Some(slot) = c.get_mut(usize::from(json))
            {
                *slot = self;
            }
        });
    }
}

/// Most lists kept by [`CertNames`] before it starts again.
const CERT_CACHE_MAX: usize = 4096;

impl CertNames {
    /// The shared list equal to `names`.
    pub fn get<S: AsRef<str>>(&mut self, names: &[S]) -> Arc<[String]> {
        if let Some(l) = &self.last
            && l.len() == names.len()
            && l.iter().zip(names).all(|(a, b)| a == b.as_ref())
        {
            return Arc::clone(l);
        }
        let list: Arc<[String]> = names.iter().map(|n| n.as_ref().to_string()).collect();
        self.last = Some(Arc::clone(&list));
        list
    }

    /// The list written as `text`, made by `make` the first time.
    pub fn by_text(
        &mut self,
        text: &str,
        make: impl FnOnce(&str) -> Result<Vec<String>, String>,
    ) -> Result<Arc<[String]>, String> {
        if let Some(l) = self.by_text.get(text) {
            return Ok(Arc::clone(l));
        }
        let list: Arc<[String]> = make(text)?.into();
        if self.by_text.len() >= CERT_CACHE_MAX {
            self.by_text.clear();
        }
        self.by_text.insert(text.into(), Arc::clone(&list));
        Ok(list)
    }
}

/// Microsoft 365 recognition of the row's server with `endpoints` (the
/// rules of a capture: [`classify_server`]), through [`Recognised`].
pub fn classify(r: &mut ConnRecord, endpoints: &Endpoints) {
    // A mail session: a mail protocol, or implicit TLS answered with a
    // mail greeting (`plaintext_answer`, whose row keeps the banner).
    let mail = row::mail_session(r);
    let m = RECOGNISED.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.classify(r, mail, endpoints),
        Err(_) => row::classification(r, mail, endpoints),
    });
    row::set_classification(r, m, endpoints);
}

/// Longest SNI whose recognition [`Recognised`] keeps (longer ones are
/// recognised every time).
const SNI_KEPT: usize = 64;

/// Slots of [`Recognised`] (a power of two).
const RECOGNISED_SLOTS: usize = 8192;

/// The recognition of a server lately seen in rows.
#[derive(Debug)]
struct Seen {
    hash: u64,
    server_ip: IpAddr,
    mail: bool,
    /// Kept in the slot itself: compared on every hit, without reading
    /// memory elsewhere.
    sni: arrayvec::ArrayString<SNI_KEPT>,
    dns_name: Arc<str>,
    banner: String,
    cert_names: Arc<[String]>,
    class: Classification,
}

/// Recognitions of servers lately seen in rows, per thread and
/// [`Endpoints`] instance: rows repeat the same servers (address, name,
/// certificate) over and over, and recognising one takes several times
/// longer than comparing it. One slot per hash of what decides it; a hit is
/// checked against the facts kept, never trusted to the hash alone.
#[derive(Debug, Default)]
struct Recognised {
    endpoints: u64,
    slots: Vec<Option<Seen>>,
}

thread_local! {
    static RECOGNISED: std::cell::RefCell<Recognised> = std::cell::RefCell::default();
}

impl Recognised {
    fn classify(&mut self, r: &ConnRecord, mail: bool, endpoints: &Endpoints) -> Classification {
        use std::hash::{Hash, Hasher};
        let Ok(sni) = arrayvec::ArrayString::<SNI_KEPT>::from(&r.sni) else {
            return row::classification(r, mail, endpoints);
        };
        if self.endpoints != endpoints.cache_id() || self.slots.is_empty() {
            self.endpoints = endpoints.cache_id();
            self.slots.clear();
            self.slots.resize_with(RECOGNISED_SLOTS, || None);
        }
        let mut h = rustc_hash::FxHasher::default();
        // The certificate's names by their first and their number (a hit
        // compares them all).
        (
            r.server_ip,
            mail,
            &r.sni,
            &*r.dns_name,
            &r.server_banner,
            r.cert_names.first(),
            r.cert_names.len(),
        )
            .hash(&mut h);
        let hash = h.finish();
        let slot = self.slots.get_mut(hash as usize & (RECOGNISED_SLOTS - 1));
        if let Some(Some(seen)) = &slot
            && seen.hash == hash
            && seen.server_ip == r.server_ip
            && seen.mail == mail
            && seen.sni == sni
            && seen.dns_name == r.dns_name
            && seen.banner.len() == r.server_banner.len()
            && (r.server_banner.is_empty() || seen.banner == r.server_banner)
            && (Arc::ptr_eq(&seen.cert_names, &r.cert_names) || *seen.cert_names == *r.cert_names)
        {
            return seen.class.clone();
        }
        let class = row::classification(r, mail, endpoints);
        if let Some(slot) = slot {
            match slot {
                Some(seen) => {
                    seen.hash = hash;
                    seen.server_ip = r.server_ip;
                    seen.mail = mail;
                    seen.sni = sni;
                    seen.dns_name = Arc::clone(&r.dns_name);
                    seen.banner.clear();
                    seen.banner.push_str(&r.server_banner);
                    seen.cert_names = Arc::clone(&r.cert_names);
                    seen.class = class.clone();
                }
                None => {
                    *slot = Some(Seen {
                        hash,
                        server_ip: r.server_ip,
                        mail,
                        sni,
                        dns_name: Arc::clone(&r.dns_name),
                        banner: r.server_banner.clone(),
                        cert_names: Arc::clone(&r.cert_names),
                        class: class.clone(),
                    });
                }
            }
        }
        class
    }
}

/// How reading one input ended.
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// Counts.
    pub stats: ReadStats,
    /// A read error (corrupt gzip, I/O) ended the input early.
    pub read_error: Option<io::Error>,
    /// Writing a row failed (the outputs): the run should stop.
    pub write_error: Option<io::Error>,
}

/// Reads every row of an opened input into `sink`, classified with
/// `endpoints`. Malformed rows are counted and skipped.
pub fn read(opened: Opened, endpoints: &Endpoints, sink: &mut dyn Sink) -> ReadEnd {
    let mut stats = ReadStats::default();
    let mut write_error = None;
    let Opened {
        mut reader, format, ..
    } = opened;
    let mut emit = |r: &mut ConnRecord| -> io::Result<()> {
        fields::make_safe(r);
        classify(r, endpoints);
        sink.record(r).map_err(|e| {
            let stop = io::Error::other("output failed");
            write_error = Some(e);
            stop
        })
    };
    let res = match format {
        Format::OwnCsv => own::read_csv(&mut reader, &mut stats, &mut emit),
        Format::OwnJson => own::read_json(&mut reader, &mut stats, &mut emit),
        Format::ZeekTsv => zeek::read_tsv(&mut reader, &mut stats, &mut emit),
        Format::ZeekJson => zeek::read_json(&mut reader, &mut stats, &mut emit),
        Format::SuricataEve => suricata::read_eve(&mut reader, &mut stats, &mut emit),
    };
    ReadEnd {
        stats,
        read_error: res.err().filter(|_| write_error.is_none()),
        write_error,
    }
}

/// Whether blocks of whole lines of this format can be read apart, on
/// several threads (a Zeek TSV file can change its header midway).
pub fn splittable(format: Format) -> bool {
    format != Format::ZeekTsv
}

/// Where a block of an input may be cut: just after its last line end
/// (for CSV, the last one outside a quoted cell, counting quotes from the
/// block's start, itself a row start). `None` when there is none.
pub fn cut(data: &[u8], csv: bool) -> Option<usize> {
    if !csv || memchr::memchr(b'"', data).is_none() {
        return memchr::memrchr(b'\n', data).map(|i| i + 1);
    }
    let mut quoted = false;
    let mut last = None;
    for i in memchr::memchr2_iter(b'"', b'\n', data) {
        match data.get(i) {
            Some(b'"') => quoted = !quoted,
            _ if !quoted => last = Some(i + 1),
            _ => {}
        }
    }
    last
}

/// Reads a block of whole lines of an input of a [`splittable`] format into
/// `sink`; `first_line`: lines of the input before the block; `csv_header`:
/// the header of a CSV input.
pub fn read_block(
    format: Format,
    block: &[u8],
    first_line: u64,
    csv_header: Option<&csv::ByteRecord>,
    endpoints: &Endpoints,
    sink: &mut dyn Sink,
) -> ReadEnd {
    let mut stats = ReadStats {
        line_offset: first_line,
        ..ReadStats::default()
    };
    let mut write_error = None;
    let mut emit = |r: &mut ConnRecord| -> io::Result<()> {
        fields::make_safe(r);
        classify(r, endpoints);
        sink.record(r).map_err(|e| {
            let stop = io::Error::other("output failed");
            write_error = Some(e);
            stop
        })
    };
    let mut r: &[u8] = block;
    let res = match (format, csv_header) {
        (Format::OwnCsv, Some(h)) => own::read_csv_block(&mut r, h, &mut stats, &mut emit),
        (Format::OwnCsv, None) => own::read_csv(&mut r, &mut stats, &mut emit),
        (Format::OwnJson, _) => own::read_json(&mut r, &mut stats, &mut emit),
        (Format::ZeekTsv, _) => zeek::read_tsv(&mut r, &mut stats, &mut emit),
        (Format::ZeekJson, _) => zeek::read_json(&mut r, &mut stats, &mut emit),
        (Format::SuricataEve, _) => suricata::read_eve(&mut r, &mut stats, &mut emit),
    };
    stats.line_offset = 0;
    ReadEnd {
        stats,
        read_error: res.err().filter(|_| write_error.is_none()),
        write_error,
    }
}

/// A row ready to go on, classified: the callback every reader calls.
pub type Emit<'a> = dyn FnMut(&mut ConnRecord) -> io::Result<()> + 'a;

/// Protocol from its spelling ([`Protocol::as_str`]).
pub fn protocol(s: &str) -> Option<Protocol> {
    Protocol::parse(s)
}

/// Status from its spelling ([`Status::as_str`]).
pub fn status(s: &str) -> Option<Status> {
    Status::parse(s)
}

/// The version JA4 reports (its characters 2 and 3), the client's highest
/// offered version: `None` for `00` (unknown or a TLS 1.3 draft).
pub fn ja4_version(ja4: &str) -> Option<u16> {
    Some(match ja4.get(1..3)? {
        "13" => 0x0304,
        "12" => 0x0303,
        "11" => 0x0302,
        "10" => 0x0301,
        "s3" => 0x0300,
        "s2" => 0x0002,
        _ => return None,
    })
}

/// A reader of one format of rows.
#[cfg(test)]
pub(crate) type ReadFn = fn(&mut dyn BufRead, &mut ReadStats, &mut Emit<'_>) -> io::Result<()>;

/// Every row `read` gives from `text`, and its statistics (for tests).
#[cfg(test)]
pub(crate) fn read_text(read: ReadFn, text: &str) -> (Vec<ConnRecord>, ReadStats) {
    let mut out = Vec::new();
    let mut stats = ReadStats::default();
    let mut r = io::BufReader::new(text.as_bytes());
    let mut emit = |r: &mut ConnRecord| {
        out.push(r.clone());
        Ok(())
    };
    read(&mut r, &mut stats, &mut emit).expect("reading from memory");
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        let long = vec![b'x'; MAX_LINE + 10];
        let mut text = b"a\r\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\nb");
        let mut r = io::BufReader::with_capacity(4096, &text[..]);
        let mut buf = Vec::new();
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Line::Line);
        assert_eq!(buf, b"a");
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Line::TooLong);
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Line::Line);
        assert_eq!(buf, b"b");
        assert_eq!(next_line(&mut r, &mut buf).unwrap(), Line::End);
    }

    #[test]
    fn zeek_logs_other_than_ssl_are_not_rows() {
        let head = |path: &str, fields: &str| {
            format!("#separator \\x09\n{path}#fields\tts\tuid\t{fields}\n1.0\tC1\tx\n")
        };
        let ssl = "version\tcipher\testablished";
        let tsv = Some(Format::ZeekTsv);
        assert_eq!(sniff_head(head("#path\tssl\n", ssl).as_bytes()), tsv);
        assert_eq!(sniff_head(head("", ssl).as_bytes()), tsv);
        // An SSL log written under another path is still one.
        assert_eq!(
            sniff_head(head("#path\tssl_external\n", ssl).as_bytes()),
            tsv
        );
        assert_eq!(
            sniff_head(head("#path\tdhcp\n", "mac\thost_name").as_bytes()),
            None
        );
        assert_eq!(
            sniff_head(head("#path\tconn\n", "proto\tservice").as_bytes()),
            None
        );
    }

    #[test]
    fn cuts_keep_quoted_line_ends() {
        assert_eq!(cut(b"a\nb\nc", false), Some(4));
        assert_eq!(cut(b"abc", false), None);
        assert_eq!(cut(b"a,\"x\ny\"\nb,\"p\nq", true), Some(8));
        assert_eq!(cut(b"a,\"x\"\"\ny\n", true), None);
        assert_eq!(cut(b"a,\"x\"\"\"\ny\n", true), Some(10));
    }

    #[test]
    fn ja4_versions() {
        assert_eq!(
            ja4_version("t13d1516h2_8daaf6152771_02713d6af862"),
            Some(0x0304)
        );
        assert_eq!(
            ja4_version("t10d090600_c491f621fb4c_242d16716555"),
            Some(0x0301)
        );
        assert_eq!(ja4_version("t00d090600_c491f621fb4c_242d16716555"), None);
    }
}
