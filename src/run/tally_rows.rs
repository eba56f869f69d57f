//! `tlsready tally`: connection rows from files into the outputs (the
//! per-client tally, and the rows again, re-classified).
//!
//! Inputs are read one after another, each streamed: memory is that of the
//! tally (distinct clients, services and server names), not of the rows.
//! When only the tally is wanted (no rows written back), an input in a
//! line format is cut into blocks of whole lines that several threads read
//! at once, each into a tally of its own, added together at the end of the
//! input (the tally does not depend on the order rows come in).

use std::io::{self, BufRead};
use std::sync::{Mutex, mpsc};

use crate::enrich::m365::Endpoints;
use crate::input::rows::{self, Format, Opened, ReadEnd, ReadStats, RowError, RowInput};
use crate::output::Outputs;
use crate::output::summary::Summary;

/// Bytes of input in a block read by one thread (default).
pub const BLOCK: usize = 4 << 20;

/// What a run read.
#[derive(Debug, Default)]
pub struct RowRun {
    /// Inputs read as connection rows.
    pub files: u64,
    /// Files found in directories that are not connection rows (skipped).
    pub not_rows: u64,
    /// Rows, lines passed over, malformed rows.
    pub stats: ReadStats,
    /// Some input was missing, unreadable, not rows, cut short, or had
    /// malformed rows (each reported).
    pub input_problem: bool,
}

/// Reads every input into `outputs` on up to `threads` threads. Each input
/// problem is reported to `report` as one line naming the file; a write
/// error stops the run and is returned.
pub fn tally_rows(
    inputs: &[RowInput],
    endpoints: &Endpoints,
    outputs: &mut Outputs,
    threads: usize,
    block: usize,
    report: &mut dyn FnMut(String),
) -> (RowRun, Option<io::Error>) {
    let mut run = RowRun::default();
    for input in inputs {
        let label = input.label();
        let opened = match rows::open(input) {
            Ok(Some(o)) => o,
            Ok(None) => {
                if matches!(
                    input,
                    RowInput::File {
                        explicit: false,
                        ..
                    }
                ) {
                    run.not_rows += 1;
                } else {
                    report(RowError::Unrecognised(label).to_string());
                    run.input_problem = true;
                }
                continue;
            }
            Err(e) => {
                report(e.to_string());
                run.input_problem = true;
                continue;
            }
        };
        run.files += 1;
        let parallel = threads >= 2 && !outputs.writes_rows() && rows::splittable(opened.format);
        let end = if parallel && opened.whole.is_some() {
            read_mapped(
                opened,
                endpoints,
                threads,
                block.max(1),
                &mut outputs.summary,
            )
        } else if parallel {
            read_parallel(
                opened,
                endpoints,
                threads,
                block.max(1),
                &mut outputs.summary,
            )
        } else {
            rows::read(opened, endpoints, outputs)
        };
        run.stats.add(&end.stats);
        if end.stats.bad > 0 {
            run.input_problem = true;
            let first = end
                .stats
                .first_bad
                .as_ref()
                .map_or_else(|| "?".to_string(), |(l, w)| format!("line {l}: {w}"));
            report(format!(
                "{label}: {} skipped (first at {first})",
                crate::output::summary::count(end.stats.bad, "malformed row")
            ));
        }
        if let Some(e) = end.read_error {
            run.input_problem = true;
            report(format!(
                "{label}: cannot read further after {} rows: {e}",
                end.stats.rows
            ));
        }
        if let Some(e) = end.write_error {
            return (run, Some(e));
        }
    }
    (run, None)
}

/// A block of whole lines (`data[..len]`) and the number of lines before it.
struct Block {
    data: Vec<u8>,
    len: usize,
    first_line: u64,
}

/// Reads one input on `threads` threads: this one cuts it into blocks,
/// the others read them into summaries added to `summary` at the end.
fn read_parallel(
    opened: Opened,
    endpoints: &Endpoints,
    threads: usize,
    block: usize,
    summary: &mut Summary,
) -> ReadEnd {
    let Opened {
        mut reader, format, ..
    } = opened;
    let csv = format == Format::OwnCsv;
    let mut end = ReadEnd::default();
    let mut lines = 0u64;
    let header = if csv {
        let mut line = Vec::new();
        let h = rows::next_line(&mut reader, &mut line).and_then(|_| {
            lines = 1;
            crate::input::rows::own::csv_header(&line)
        });
        match h {
            Ok(h) => Some(h),
            Err(e) => {
                end.read_error = Some(e);
                return end;
            }
        }
    } else {
        None
    };
    let workers = threads.max(1);
    let scope = summary.scope();
    let (tx, rx) = mpsc::sync_channel::<Block>(workers * 2);
    let rx = Mutex::new(rx);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
    let done = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = &rx;
                let header = header.as_ref();
                let recycle = recycle_tx.clone();
                s.spawn(move || {
                    let mut part = Summary::new(scope);
                    let mut stats = ReadStats::default();
                    let mut read_error = None;
                    loop {
                        let block = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(block) = block else { break };
                        let e = rows::read_block(
                            format,
                            block.data.get(..block.len).unwrap_or_default(),
                            block.first_line,
                            header,
                            endpoints,
                            &mut part,
                        );
                        stats.add(&e.stats);
                        read_error = read_error.or(e.read_error);
                        let _ = recycle.send(block.data);
                    }
                    (part, stats, read_error)
                })
            })
            .collect();
        drop(recycle_tx);
        let read = cut_blocks(&mut reader, csv, block, &mut lines, &tx, &recycle_rx);
        drop(tx);
        let parts: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (read, parts)
    });
    let (read, parts) = done;
    end.read_error = read.err();
    for part in parts {
        match part {
            Ok((part, stats, read_error)) => {
                summary.merge(&part);
                end.stats.add(&stats);
                end.read_error = end.read_error.take().or(read_error);
            }
            Err(_) => {
                end.read_error = Some(io::Error::other("a reading thread failed"));
            }
        }
    }
    end
}

/// The parts of a mapped input not yet taken by a thread.
struct Rest {
    /// Where the next block starts.
    at: usize,
    /// Blocks taken so far.
    taken: usize,
}

/// What one thread read of a mapped input: its tally, counts, and per
/// block it read (by index) its lines and its first malformed row, and
/// the first block it could not read at all (by index) with the error.
type Part = (
    Summary,
    ReadStats,
    Vec<(usize, u64, Option<(u64, String)>)>,
    Option<(usize, io::Error)>,
);

/// Reads a mapped input on `threads` threads, each taking the next block
/// of whole lines in turn and reading it in place into a summary of its
/// own; the summaries are added to `summary` at the end. Line numbers of
/// malformed rows are put right at the end, from the lines of each block.
fn read_mapped(
    opened: Opened,
    endpoints: &Endpoints,
    threads: usize,
    block: usize,
    summary: &mut Summary,
) -> ReadEnd {
    let Opened { format, whole, .. } = opened;
    let mut end = ReadEnd::default();
    let Some(map) = whole else {
        return end;
    };
    let data = map.bytes();
    let csv = format == Format::OwnCsv;
    // A byte-order mark (PowerShell, Excel) is not part of the first row.
    let bom = rows::bom_len(data);
    let mut start = bom;
    let header = if csv {
        let first = memchr::memchr(b'\n', data.get(bom..).unwrap_or_default())
            .map_or(data.len(), |i| bom + i + 1);
        let line = data.get(bom..first).unwrap_or_default();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match crate::input::rows::own::csv_header(line) {
            Ok(h) => {
                start = first;
                Some(h)
            }
            Err(e) => {
                end.read_error = Some(e);
                return end;
            }
        }
    } else {
        None
    };
    let rest = Mutex::new(Rest {
        at: start,
        taken: 0,
    });
    let scope = summary.scope();
    let parts: Vec<std::thread::Result<Part>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let rest = &rest;
                let header = header.as_ref();
                let map = &*map;
                s.spawn(move || {
                    let mut part = Summary::new(scope);
                    let mut stats = ReadStats::default();
                    let mut blocks = Vec::new();
                    let mut failed = None;
                    while let Some((index, range)) = take(rest, data, csv, block) {
                        let bytes = data.get(range.clone()).unwrap_or_default();
                        let e = rows::read_block(format, bytes, 0, header, endpoints, &mut part);
                        // (A CSV header without a needed column fails every block.)
                        if let Some(err) = e.read_error {
                            failed.get_or_insert((index, err));
                        }
                        // Line ends in the block (a block cut inside a line
                        // too long ends in part of one).
                        let tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
                        let lines = e.stats.lines.saturating_sub(u64::from(tail));
                        blocks.push((index, lines, e.stats.first_bad.clone()));
                        // Memory stays that of the blocks being read.
                        map.release(range.start, range.end);
                        stats.add(&ReadStats {
                            first_bad: None,
                            ..e.stats
                        });
                    }
                    (part, stats, blocks, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    // Lines before each block, then the first malformed row by its line.
    let mut all_blocks = Vec::new();
    let mut first_failed: Option<(usize, io::Error)> = None;
    for part in parts {
        match part {
            Ok((part, stats, blocks, failed)) => {
                summary.merge(&part);
                end.stats.add(&stats);
                all_blocks.extend(blocks);
                if let Some((i, err)) = failed
                    && first_failed.as_ref().is_none_or(|(j, _)| i < *j)
                {
                    first_failed = Some((i, err));
                }
            }
            Err(_) => {
                end.read_error = Some(io::Error::other("a reading thread failed"));
            }
        }
    }
    if let Some((_, err)) = first_failed {
        end.read_error.get_or_insert(err);
    }
    all_blocks.sort_unstable_by_key(|b| b.0);
    let mut before = u64::from(csv);
    for (_, lines, first_bad) in all_blocks {
        if let Some((line, why)) = first_bad {
            end.stats.add(&ReadStats {
                first_bad: Some((line + before, why)),
                ..ReadStats::default()
            });
        }
        before += lines;
    }
    end
}

/// The next block of whole lines of `data` (about `block` bytes) and its
/// index, or `None` at the end; cut as [`cut_blocks`] cuts a stream.
fn take(
    rest: &Mutex<Rest>,
    data: &[u8],
    csv: bool,
    block: usize,
) -> Option<(usize, std::ops::Range<usize>)> {
    let mut rest = rest.lock().ok()?;
    let from = rest.at;
    if from >= data.len() {
        return None;
    }
    let left = data.get(from..).unwrap_or_default();
    let mut want = block;
    let len = loop {
        if want >= left.len() {
            break left.len();
        }
        let part = left.get(..want).unwrap_or_default();
        if let Some(at) = rows::cut(part, csv) {
            break at;
        }
        if want >= block + rows::MAX_LINE {
            break want;
        }
        want = (want + rows::MAX_LINE / 4).min(block + rows::MAX_LINE);
    };
    rest.at = from + len;
    rest.taken += 1;
    Some((rest.taken - 1, from..from + len))
}

/// Cuts the input into blocks of whole lines (about `block` bytes) and
/// sends them; buffers come back through `recycle`.
///
/// The input is read straight into the blocks (a read as large as the
/// reader's buffer passes it by), not copied out of the reader's buffer.
fn cut_blocks(
    reader: &mut dyn BufRead,
    csv: bool,
    block: usize,
    lines: &mut u64,
    tx: &mpsc::SyncSender<Block>,
    recycle: &mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut data = recycle.try_recv().unwrap_or_default();
        // Buffers keep their length (their bytes are written over), so
        // that they are not zeroed again for every block.
        if data.len() < block + rows::MAX_LINE {
            data.resize(block + rows::MAX_LINE, 0);
        }
        let mut len = carry.len();
        if let Some(dst) = data.get_mut(..len) {
            dst.copy_from_slice(&carry);
        }
        carry.clear();
        let mut eof = false;
        // Fill to BLOCK; a block without a place to cut grows (by up to
        // one longest line) before it is sent whole.
        let mut want = block;
        loop {
            while len < want {
                let dst = data.get_mut(len..want).unwrap_or_default();
                match reader.read(dst) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Send what was read, then report.
                        send(tx, data, len, lines)?;
                        return Err(e);
                    }
                }
            }
            let filled = data.get(..len).unwrap_or_default();
            if eof || rows::cut(filled, csv).is_some() || want >= block + rows::MAX_LINE {
                break;
            }
            want += rows::MAX_LINE / 4;
        }
        if !eof && let Some(at) = rows::cut(data.get(..len).unwrap_or_default(), csv) {
            carry.extend_from_slice(data.get(at..len).unwrap_or_default());
            len = at;
        }
        if len > 0 {
            send(tx, data, len, lines)?;
        }
        if eof {
            return Ok(());
        }
    }
}

fn send(
    tx: &mpsc::SyncSender<Block>,
    data: Vec<u8>,
    len: usize,
    lines: &mut u64,
) -> io::Result<()> {
    let first_line = *lines;
    let filled = data.get(..len).unwrap_or_default();
    *lines += memchr::memchr_iter(b'\n', filled).count() as u64;
    tx.send(Block {
        data,
        len,
        first_line,
    })
    .map_err(|_| io::Error::other("the reading threads stopped"))
}
