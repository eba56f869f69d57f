//! One plain file of connection rows read by several threads at once, each
//! reading byte ranges of it itself (`pread`), so that no thread hands
//! blocks to the others and each range is read where it is parsed.
//!
//! A range's lines are those that start in it: a thread skips the end of
//! the line it starts in (the range before has it) and reads on past its
//! end to finish its last line. Each thread counts into a tally of its
//! own, added together at the end (the tally does not depend on row
//! order). Line numbers of malformed rows are made whole at the end from
//! the line ends counted in each range.
//!
//! A CSV file may have quoted cells over several lines, which a range
//! cannot tell from its own bytes: as soon as a quote is seen, the ranges
//! are given up (nothing counted) and the caller reads the file in blocks
//! cut in order instead.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::enrich::m365::Endpoints;
use crate::input::rows::{self, Format, ReadEnd, ReadStats};
use crate::output::summary::Summary;

/// Bytes read at a time past a range's end to finish its last line.
const STEP: usize = 64 << 10;

/// What one range gave (for line numbers).
struct RangeDone {
    /// Its index.
    index: u64,
    /// Line ends in the range's own bytes.
    line_ends: u64,
    /// Lines before its first line that end in the range (0 or 1).
    skipped: u64,
    /// Its first malformed row: line within the range (from 1), and why.
    first_bad: Option<(u64, String)>,
}

/// Reads `path` (of `format`, not compressed) on `threads` threads in
/// ranges of `block` bytes into `summary`. `None` when the file is not
/// read this way (too small, compressed, a CSV file with quotes): nothing
/// was counted then.
pub fn read_ranges(
    path: &Path,
    format: Format,
    endpoints: &Endpoints,
    threads: usize,
    block: usize,
    summary: &mut Summary,
) -> Option<ReadEnd> {
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let block = block.max(4096) as u64;
    if len < 2 * block {
        return None;
    }
    let mut head = vec![0u8; STEP];
    let n = read_full(&file, 0, &mut head).ok()?;
    head.truncate(n);
    if head.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let csv = format == Format::OwnCsv;
    // A CSV file's rows start after its header line.
    let (start, header) = if csv {
        let end = memchr::memchr(b'\n', &head)?;
        let h = rows::own::csv_header(head.get(..end)?).ok()?;
        ((end + 1) as u64, Some(h))
    } else {
        (0, None)
    };
    let lines_before = u64::from(csv);
    let ranges = (len - start).div_ceil(block);
    let next = AtomicU64::new(0);
    let quoted = AtomicBool::new(false);
    let scope = summary.scope();
    let failed: Mutex<Option<io::Error>> = Mutex::new(None);
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let (file, next, quoted, failed) = (&file, &next, &quoted, &failed);
                let header = header.as_ref();
                s.spawn(move || {
                    let mut part = Summary::new(scope);
                    let mut stats = ReadStats::default();
                    let mut done = Vec::new();
                    let mut buf = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= ranges || quoted.load(Ordering::Relaxed) {
                            break;
                        }
                        let from = start + k * block;
                        let to = (from + block).min(len);
                        let range = Range {
                            file,
                            from,
                            to,
                            len,
                            first: from == start,
                        };
                        let lines = match range.lines(&mut buf) {
                            Ok(l) => l,
                            Err(e) => {
                                if let Ok(mut f) = failed.lock() {
                                    f.get_or_insert(e);
                                }
                                // The ranges after it still count (as a
                                // read error ends an input: rows so far).
                                continue;
                            }
                        };
                        let (data, line_ends, skipped) = lines;
                        if csv && memchr::memchr(b'"', data).is_some() {
                            quoted.store(true, Ordering::Relaxed);
                            break;
                        }
                        let e = rows::read_block(format, data, 0, header, endpoints, &mut part);
                        stats.rows += e.stats.rows;
                        stats.passed_over += e.stats.passed_over;
                        stats.bad += e.stats.bad;
                        done.push(RangeDone {
                            index: k,
                            line_ends,
                            skipped,
                            first_bad: e.stats.first_bad,
                        });
                    }
                    (part, stats, done)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    if quoted.load(Ordering::Relaxed) {
        return None;
    }
    let mut end = ReadEnd::default();
    let mut done = Vec::new();
    for part in parts {
        match part {
            Ok((part, stats, d)) => {
                summary.merge(&part);
                end.stats.add(&stats);
                done.extend(d);
            }
            Err(_) => end.read_error = Some(io::Error::other("a reading thread failed")),
        }
    }
    // Line numbers: line ends before each range, in order.
    done.sort_by_key(|d| d.index);
    let mut before = lines_before;
    let mut first_bad: Option<(u64, String)> = None;
    for d in done {
        if let Some((line, why)) = d.first_bad {
            let line = before + d.skipped + line;
            if first_bad.as_ref().is_none_or(|(l, _)| line < *l) {
                first_bad = Some((line, why));
            }
        }
        before += d.line_ends;
    }
    end.stats.first_bad = first_bad;
    if let Ok(mut f) = failed.lock()
        && let Some(e) = f.take()
    {
        end.read_error = Some(e);
    }
    Some(end)
}

/// One range of the file: bytes `from..to` of `len`.
struct Range<'a> {
    file: &'a File,
    from: u64,
    to: u64,
    len: u64,
    /// The first range (its first line starts at `from`).
    first: bool,
}

impl Range<'_> {
    /// Reads the lines that start in the range into `buf`: those lines, the
    /// line ends in the range's own bytes, and the line ends between its
    /// start and its first line (0 or 1).
    fn lines<'b>(&self, buf: &'b mut Vec<u8>) -> io::Result<(&'b [u8], u64, u64)> {
        // One byte before the range: whether a line starts right at it.
        let at = if self.first { self.from } else { self.from - 1 };
        let want = (self.to - at) as usize;
        if buf.len() < want + STEP {
            buf.resize(want + STEP, 0);
        }
        let n = read_full(self.file, at, buf.get_mut(..want).unwrap_or_default())?;
        let mut filled = n;
        let own = buf
            .get((self.from - at) as usize..filled)
            .unwrap_or_default();
        let line_ends = memchr::memchr_iter(b'\n', own).count() as u64;
        let (begin, skipped) = if self.first {
            (0, 0)
        } else if buf.first() == Some(&b'\n') {
            (1, 0)
        } else {
            match memchr::memchr(b'\n', buf.get(..filled).unwrap_or_default()) {
                Some(i) => (i + 1, 1),
                // No line starts here.
                None => return Ok((&[], line_ends, 0)),
            }
        };
        if begin >= want {
            // The first line starts at the next range.
            return Ok((&[], line_ends, 0));
        }
        // The last line ends at the first line end at or after the
        // range's last byte; read on until it (or the file's end, or a
        // line longer than any row).
        let last = (self.to - 1 - at) as usize;
        let mut end = memchr::memchr(b'\n', buf.get(last.max(begin)..filled).unwrap_or_default())
            .map(|i| last.max(begin) + i + 1);
        while end.is_none()
            && at + (filled as u64) < self.len
            && filled.saturating_sub(last) <= rows::MAX_LINE
        {
            if buf.len() < filled + STEP {
                buf.resize(filled + STEP, 0);
            }
            let more = read_full(
                self.file,
                at + filled as u64,
                buf.get_mut(filled..filled + STEP).unwrap_or_default(),
            )?;
            if more == 0 {
                break;
            }
            end = memchr::memchr(b'\n', buf.get(filled..filled + more).unwrap_or_default())
                .map(|i| filled + i + 1);
            filled += more;
        }
        let end = end.unwrap_or(filled);
        Ok((buf.get(begin..end).unwrap_or_default(), line_ends, skipped))
    }
}

/// Reads at `offset` until `buf` is full or the file ends; the bytes read.
fn read_full(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(buf.get_mut(n..).unwrap_or_default(), offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
