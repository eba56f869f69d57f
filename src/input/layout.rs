//! Splitting one capture file into chunks that threads read at once.
//!
//! Classic pcap files are a 24-byte header and records, each a 16-byte
//! header (time, captured length, wire length) and the frame. pcapng files
//! are blocks (type, total length, body, total length again); the section
//! header and interface descriptions come first, packets after them.
//! Neither carries a sync marker, so a chunk's first record is found by
//! resynchronising: the first offset at or after the planned cut from which
//! a chain of plausible records follows ([`Layout::find_record`]).
//!
//! Each chunk is read by the native reader ([`super::native`]),
//! which reads the file's head (the pcap header, or the pcapng blocks
//! before the first packet) and then jumps to the chunk's first record; it
//! reads the records that start before the chunk's end, and tells whether
//! a record starts exactly there (if not, the cut was wrong and the worker
//! reads the rest of the file itself, see [`crate::run::chunked`]). A pcapng
//! interface description or section header after the first packet also
//! makes the worker read on, as later chunks' heads would lack it.
//! Gzip files and streams are not split.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::frame::ts_us;
use super::native::{record_header_len, time_units};

/// Consecutive plausible records needed to trust a resynchronised offset.
const CHAIN: usize = 16;
/// Bytes searched after a planned split point for a record boundary.
const WINDOW: u64 = 4 << 20;
/// Bytes searched first (enough for 16 records of most captures; reading
/// all of `WINDOW` twice took about 3 ms of the run's start).
const SMALL_WINDOW: usize = 256 << 10;
/// Bytes read from a pcapng file's start to find its head.
const HEAD_MAX: u64 = 1 << 20;
/// Size of the first chunk relative to the others.
const FIRST_SHARE: f64 = 0.9;
/// Largest frame a classic pcap record may hold (libpcap's limit).
const MAX_FRAME: u32 = 262_144;
/// Largest pcapng block accepted in a resynchronised chain.
const MAX_BLOCK: u32 = 16 << 20;
/// pcapng block types.
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;

/// How a capture file's records are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Multi-byte fields are big-endian.
    big_endian: bool,
    /// Offset of the first record: after the pcap header, or the pcapng
    /// blocks before the first packet (the head every chunk's reader reads
    /// first).
    first: u64,
    /// The format's details.
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Classic pcap: timestamps' fraction in ns or µs, snapshot length.
    Classic { nanos: bool, snaplen: u32 },
    /// pcapng: interfaces described in the head, time units per second
    /// of the first.
    Pcapng { interfaces: u32, units: u64 },
}

fn u32_at(big_endian: bool, b: &[u8], at: usize) -> Option<u32> {
    let v: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    })
}

impl Layout {
    /// The layout of a file starting with `b` (its first bytes, up to
    /// `HEAD_MAX`); `None` for other formats (or a pcapng file whose
    /// head does not fit, or holds several sections).
    pub fn parse(b: &[u8]) -> Option<Layout> {
        let magic = b.get(..4)?;
        let classic = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Some((false, false)),
            [0xa1, 0xb2, 0xc3, 0xd4] => Some((true, false)),
            [0x4d, 0x3c, 0xb2, 0xa1] => Some((false, true)),
            [0xa1, 0xb2, 0x3c, 0x4d] => Some((true, true)),
            _ => None,
        };
        if let Some((big_endian, nanos)) = classic {
            // A variant with longer record headers is read in one piece.
            if record_header_len(b) != Some(16) {
                return None;
            }
            let head: [u8; 24] = b.get(..24)?.try_into().ok()?;
            let snaplen = u32_at(big_endian, &head, 16)?;
            return Some(Layout {
                big_endian,
                first: head.len() as u64,
                kind: Kind::Classic { nanos, snaplen },
            });
        }
        if magic != [0x0a, 0x0d, 0x0d, 0x0a] {
            return None;
        }
        let big_endian = match b.get(8..12)? {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => return None,
        };
        // The head: every block up to the first packet; one section only.
        let mut at = 0usize;
        let mut interfaces = 0u32;
        let mut units = 1_000_000;
        loop {
            let t = u32_at(big_endian, b, at)?;
            let len = u32_at(big_endian, b, at + 4)? as usize;
            if len < 12 || !len.is_multiple_of(4) || at + len > b.len() {
                return None;
            }
            match t {
                PB | SPB | EPB => break,
                SHB if at > 0 => return None,
                IDB => {
                    if interfaces == 0 {
                        units = tsresol(big_endian, b.get(at + 16..at + len - 4)?)
                            .and_then(time_units)
                            .unwrap_or(units);
                    }
                    interfaces += 1;
                }
                _ => {}
            }
            at += len;
        }
        Some(Layout {
            big_endian,
            first: at as u64,
            kind: Kind::Pcapng { interfaces, units },
        })
    }

    /// Offset of the file's first record (after the head).
    pub fn first_record(&self) -> u64 {
        self.first
    }

    /// The time of the record at `at` in `b`, in µs: a classic pcap
    /// record, or a pcapng enhanced packet block (in the first interface's
    /// time units).
    fn time_us(&self, b: &[u8], at: usize) -> Option<i64> {
        let u = |i: usize| u32_at(self.big_endian, b, at + i);
        match self.kind {
            Kind::Classic { nanos, .. } => {
                let (secs, frac) = (i64::from(u(0)?), i64::from(u(4)?));
                Some(ts_us(secs, if nanos { frac / 1000 } else { frac }))
            }
            Kind::Pcapng { units, .. } => {
                if u(0)? != EPB {
                    return None;
                }
                let t = (u64::from(u(12)?) << 32) | u64::from(u(16)?);
                let us = u128::from(t) * 1_000_000 / u128::from(units);
                i64::try_from(us).ok()
            }
        }
    }

    /// A plausible record at `at` in `b`: (its time, or 0, and length).
    fn plausible(&self, b: &[u8], at: usize) -> Option<(u64, u64)> {
        let u = |i: usize| u32_at(self.big_endian, b, at + i);
        match self.kind {
            Kind::Classic { nanos, snaplen } => {
                let (secs, frac, caplen, len) = (u(0)?, u(4)?, u(8)?, u(12)?);
                let frac_max = if nanos { 1_000_000_000 } else { 1_000_000 };
                let limit = snaplen.max(MAX_FRAME);
                // A frame of no bytes on the wire is not one: runs of zeros
                // (a zeroed file copied over SMB or NFS) chain as such.
                let ok =
                    frac < frac_max && caplen <= len && caplen <= limit && len <= limit && len > 0;
                ok.then_some((u64::from(secs), 16 + u64::from(caplen)))
            }
            Kind::Pcapng { interfaces, .. } => {
                let (t, len) = (u(0)?, u(4)?);
                let ok_len = (12..=MAX_BLOCK).contains(&len) && len.is_multiple_of(4);
                if !ok_len || u(len as usize - 4)? != len {
                    return None;
                }
                match t {
                    // Interface, time, captured and original lengths.
                    EPB => {
                        let (ifc, caplen) = (u(8)?, u(20)?);
                        let ok = ifc < interfaces && u64::from(caplen) + 32 <= u64::from(len);
                        let ts = (u64::from(u(12)?) << 32) | u64::from(u(16)?);
                        ok.then_some((ts, u64::from(len)))
                    }
                    PB | SPB | NRB | ISB => Some((0, u64::from(len))),
                    _ => None,
                }
            }
        }
    }

    /// Whether the record at `at` cannot be read whole from `b`: its header
    /// is cut, or (pcapng) the length it gives runs past `b`.
    fn cut_off(&self, b: &[u8], at: usize) -> bool {
        match self.kind {
            Kind::Classic { .. } => b.len().saturating_sub(at) < 16,
            Kind::Pcapng { .. } => match u32_at(self.big_endian, b, at + 4) {
                None => true,
                Some(len) => {
                    (12..=MAX_BLOCK).contains(&len)
                        && len.is_multiple_of(4)
                        && at + len as usize > b.len()
                }
            },
        }
    }

    /// Finds the first record boundary in `b` (bytes of the file from
    /// offset `base`; the file is `file_len` long): an offset from which
    /// `CHAIN` plausible records follow (classic pcap: each within an
    /// hour of the first), or plausible records up to exactly the end of
    /// the file.
    pub fn find_record(&self, b: &[u8], base: u64, file_len: u64) -> Option<u64> {
        self.search(b, base, file_len).0
    }

    /// [`Layout::find_record`], and whether some candidate before the
    /// answer was given up for want of bytes: its chain ran past `b`, or a
    /// record of it could not be read whole from `b` (more bytes could
    /// then give an earlier answer).
    fn search(&self, b: &[u8], base: u64, file_len: u64) -> (Option<u64>, bool) {
        let mut short = false;
        let end = base + b.len() as u64;
        // pcapng blocks are 32-bit aligned.
        let step = match self.kind {
            Kind::Classic { .. } => 1,
            Kind::Pcapng { .. } => 4,
        };
        let first = base.next_multiple_of(step as u64) - base;
        'start: for start in (first as usize..b.len()).step_by(step) {
            let mut at = start as u64;
            let mut first_secs = None;
            for _ in 0..CHAIN {
                if base + at == file_len {
                    break;
                }
                let Some((secs, rec_len)) =
                    usize::try_from(at).ok().and_then(|i| self.plausible(b, i))
                else {
                    short |= usize::try_from(at).map_or(true, |i| self.cut_off(b, i));
                    continue 'start;
                };
                if let Kind::Classic { .. } = self.kind {
                    let first = *first_secs.get_or_insert(secs);
                    if secs.abs_diff(first) > 3600 {
                        continue 'start;
                    }
                }
                at += rec_len;
                if base + at > file_len || base + at > end {
                    // Past the file, or past the bytes read: not enough evidence.
                    short |= base + at <= file_len;
                    continue 'start;
                }
            }
            return (Some(base + start as u64), short);
        }
        (None, short)
    }
}

/// The `if_tsresol` value among an interface description's options.
fn tsresol(big_endian: bool, mut opts: &[u8]) -> Option<u8> {
    while let Some(&[c0, c1, l0, l1]) = opts.get(..4) {
        let code = u16::from_le_bytes([c0, c1]);
        let len = u16::from_le_bytes([l0, l1]);
        let (code, len) = if big_endian {
            (code.swap_bytes(), len.swap_bytes())
        } else {
            (code, len)
        };
        if code == 0 {
            return None;
        }
        if code == 9 && len == 1 {
            return opts.get(4).copied();
        }
        opts = opts.get(4 + usize::from(len).next_multiple_of(4)..)?;
    }
    None
}

/// Plans up to `chunks` chunk start offsets for a pcap or pcapng file: the
/// first is always the first record; where no boundary is found after a
/// planned cut, the chunk before runs on. Every chunk but the last reads
/// on past its end for about `overrun_us` of capture time, so the last is
/// made longer by about the work that takes (estimated from the capture's
/// byte rate). `None` when the file is neither (or a pcapng file
/// whose head cannot be used).
pub fn plan(
    path: &Path,
    chunks: usize,
    overrun_us: i64,
) -> io::Result<Option<(Arc<Layout>, Vec<u64>)>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut buf = vec![0u8; WINDOW as usize];
    // The head: most fit in the first `SMALL_WINDOW` bytes.
    let mut n = read_full_at(&f, buf.get_mut(..SMALL_WINDOW).unwrap_or_default(), 0)?;
    let mut parsed = buf.get(..n).and_then(Layout::parse);
    if parsed.is_none() && n == SMALL_WINDOW {
        n = read_full_at(&f, buf.get_mut(..HEAD_MAX as usize).unwrap_or_default(), 0)?;
        parsed = buf.get(..n).and_then(Layout::parse);
    }
    let Some(layout) = parsed else {
        return Ok(None);
    };
    let first = layout.first_record();
    let mut starts = vec![first];
    if chunks < 2 {
        return Ok(Some((Arc::new(layout), starts)));
    }
    let body = len.saturating_sub(first);
    let overrun = overrun_bytes(&f, &layout, first, len, overrun_us, &mut buf)?
        .min(body / (2 * chunks as u64));
    // The first chunk is a little shorter still: its results are joined
    // first.
    let unit = (body - overrun) as f64 / (chunks as f64 - 1.0 + FIRST_SHARE);
    for i in 1..chunks as u64 {
        let at = first + (unit * (FIRST_SHARE + (i - 1) as f64)) as u64;
        if let Some(s) = find_at(&f, &layout, at, len, &mut buf)?
            .filter(|&s| s > starts.last().copied().unwrap_or(0) && s < len)
        {
            starts.push(s);
        }
    }
    Ok(Some((Arc::new(layout), starts)))
}

/// Bytes of the file captured in `us` of capture time, from the times of
/// the first record and of one in the middle (0 when unknown).
fn overrun_bytes(
    f: &File,
    layout: &Layout,
    first: u64,
    len: u64,
    us: i64,
    buf: &mut [u8],
) -> io::Result<u64> {
    // (A pcapng block's time ends at its 20th byte.)
    let mut head = [0u8; 24];
    if read_full_at(f, &mut head, first)? < head.len() {
        return Ok(0);
    }
    let Some(t0) = layout.time_us(&head, 0) else {
        return Ok(0);
    };
    let mid = first + (len - first) / 2;
    let Some(at) = find_at(f, layout, mid, len, buf)? else {
        return Ok(0);
    };
    let mut rec = [0u8; 24];
    if read_full_at(f, &mut rec, at)? < rec.len() {
        return Ok(0);
    }
    let Some(t1) = layout.time_us(&rec, 0) else {
        return Ok(0);
    };
    if t1 <= t0 || us <= 0 {
        return Ok(0);
    }
    let rate = (at - first) as f64 / (t1 - t0) as f64;
    // Frames read in the overrun are mostly only decoded, not analysed:
    // about half the work of a chunk's own.
    Ok((rate * us as f64 * 0.5) as u64)
}

/// The first record boundary at or after `at` ([`Layout::find_record`]
/// over `buf`'s length of the file): from the first `SMALL_WINDOW` bytes
/// when no candidate before the one found there was given up for want of
/// bytes (the answer is then the same), else from all of `buf`.
fn find_at(
    f: &File,
    layout: &Layout,
    at: u64,
    len: u64,
    buf: &mut [u8],
) -> io::Result<Option<u64>> {
    let small = buf.len().min(SMALL_WINDOW);
    let n = read_full_at(f, buf.get_mut(..small).unwrap_or_default(), at)?;
    let (found, short) = layout.search(buf.get(..n).unwrap_or_default(), at, len);
    if (found.is_some() && !short) || n < small {
        return Ok(found);
    }
    let n = read_full_at(f, buf, at)?;
    Ok(buf.get(..n).and_then(|b| layout.find_record(b, at, len)))
}

/// Reads `buf` from offset `at` of `f` (fewer bytes at the file's end).
fn read_full_at(mut f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    f.seek(SeekFrom::Start(at))?;
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match f.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[(u32, usize)]) -> Vec<u8> {
        let mut v = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        v.extend([0; 8]);
        v.extend(65535u32.to_le_bytes());
        v.extend(1u32.to_le_bytes());
        for &(secs, n) in records {
            v.extend(secs.to_le_bytes());
            v.extend(7u32.to_le_bytes());
            v.extend((n as u32).to_le_bytes());
            v.extend((n as u32 + 4).to_le_bytes());
            // Payload bytes that do not look like record headers.
            v.extend(std::iter::repeat_n(0xff, n));
        }
        v
    }

    fn block(t: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        let mut v = t.to_le_bytes().to_vec();
        v.extend(len.to_le_bytes());
        v.extend(body);
        v.resize(len as usize - 4, 0);
        v.extend(len.to_le_bytes());
        v
    }

    fn pcapng(packets: &[usize]) -> (Vec<u8>, Vec<u64>) {
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend([1, 0, 0, 0]);
        shb.extend(u64::MAX.to_le_bytes());
        let mut v = block(SHB, &shb);
        let mut idb = 1u16.to_le_bytes().to_vec();
        idb.extend([0, 0]);
        idb.extend(65535u32.to_le_bytes());
        v.extend(block(IDB, &idb));
        let mut starts = vec![];
        for (i, &n) in packets.iter().enumerate() {
            starts.push(v.len() as u64);
            let mut epb = 0u32.to_le_bytes().to_vec();
            epb.extend(0u32.to_le_bytes());
            epb.extend((1000 + i as u32).to_le_bytes());
            epb.extend((n as u32).to_le_bytes());
            epb.extend((n as u32).to_le_bytes());
            epb.extend(std::iter::repeat_n(0xee, n));
            v.extend(block(EPB, &epb));
        }
        (v, starts)
    }

    #[test]
    fn finds_the_next_record_after_any_offset() {
        let recs: Vec<(u32, usize)> = (0..64)
            .map(|i| (1000 + i, 40 + (i as usize * 7) % 90))
            .collect();
        let f = file(&recs);
        let l = Layout::parse(&f).unwrap();
        assert_eq!(l.first_record(), 24);
        let mut starts = vec![];
        let mut at = 24u64;
        for &(_, n) in &recs {
            starts.push(at);
            at += 16 + n as u64;
        }
        for probe in [24u64, 25, 100, 500, 1000, 2000] {
            let want = *starts.iter().find(|&&s| s >= probe).unwrap();
            let got = l.find_record(&f[probe as usize..], probe, f.len() as u64);
            assert_eq!(got, Some(want), "probe {probe}");
        }
        // Near the end a shorter chain that ends exactly at the file end counts.
        let last = *starts.last().unwrap();
        assert_eq!(
            l.find_record(&f[last as usize - 3..], last - 3, f.len() as u64),
            Some(last)
        );
    }

    /// Payloads of zeros (a zeroed file sent over SMB, NFS or iSCSI) are not
    /// taken for a chain of empty records.
    #[test]
    fn runs_of_zeros_are_not_records() {
        let mut f = file(&[]);
        let mut starts = vec![];
        for i in 0..40u32 {
            starts.push(f.len() as u64);
            f.extend((1000 + i).to_le_bytes());
            f.extend(7u32.to_le_bytes());
            f.extend(1200u32.to_le_bytes());
            f.extend(1200u32.to_le_bytes());
            f.extend(std::iter::repeat_n(0, 1200));
        }
        let l = Layout::parse(&f).unwrap();
        for probe in [starts[3] + 17, starts[10] + 600, starts[20] + 1000] {
            let want = *starts.iter().find(|&&s| s >= probe).unwrap();
            let got = l.find_record(&f[probe as usize..], probe, f.len() as u64);
            assert_eq!(got, Some(want), "probe {probe}");
        }
    }

    #[test]
    fn finds_the_next_pcapng_block_after_any_offset() {
        let sizes: Vec<usize> = (0..64).map(|i| 40 + (i * 13) % 90).collect();
        let (f, starts) = pcapng(&sizes);
        let l = Layout::parse(&f).unwrap();
        assert_eq!(l.first_record(), starts[0]);
        assert_eq!(
            l.kind,
            Kind::Pcapng {
                interfaces: 1,
                units: 1_000_000
            }
        );
        for probe in [starts[0], starts[0] + 1, 333, 1500, 4000] {
            let want = *starts.iter().find(|&&s| s >= probe).unwrap();
            let got = l.find_record(&f[probe as usize..], probe, f.len() as u64);
            assert_eq!(got, Some(want), "probe {probe}");
        }
    }

    #[test]
    fn pcapng_record_times_for_the_plan() {
        let (f, starts) = pcapng(&[40, 50, 60]);
        let l = Layout::parse(&f).unwrap();
        // The helper writes times 1000 + i in the default µs units.
        assert_eq!(l.time_us(&f, starts[2] as usize), Some(1002));
        // Nanoseconds (if_tsresol 9) in the first interface.
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend([1, 0, 0, 0]);
        shb.extend(u64::MAX.to_le_bytes());
        let mut v = block(SHB, &shb);
        let mut idb = 1u16.to_le_bytes().to_vec();
        idb.extend([0, 0]);
        idb.extend(65535u32.to_le_bytes());
        idb.extend([9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        v.extend(block(IDB, &idb));
        let at = v.len();
        let mut epb = 0u32.to_le_bytes().to_vec();
        let t = 5_000_123_456u64;
        epb.extend(((t >> 32) as u32).to_le_bytes());
        epb.extend((t as u32).to_le_bytes());
        epb.extend(4u32.to_le_bytes());
        epb.extend(4u32.to_le_bytes());
        epb.extend([1, 2, 3, 4]);
        v.extend(block(EPB, &epb));
        let l = Layout::parse(&v).unwrap();
        assert_eq!(l.time_us(&v, at), Some(5_000_123));
    }

    /// Records too big for 16 of them to fit in the first bytes read at a
    /// cut: the cut is still found, at a record.
    #[test]
    fn big_records_are_found_past_the_first_bytes_read() {
        let recs: Vec<(u32, usize)> = (0..64).map(|i| (1000 + i, 40_000)).collect();
        let f = file(&recs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pcap");
        std::fs::write(&path, &f).unwrap();
        let (layout, starts) = plan(&path, 2, 0).unwrap().unwrap();
        assert_eq!(starts.len(), 2, "{starts:?}");
        let l = Layout::parse(&f).unwrap();
        assert_eq!(starts[0], l.first_record());
        // Record starts: 24 + k * (16 + 40_000).
        assert_eq!((starts[1] - 24) % 40_016, 0, "{starts:?}");
        assert_eq!(
            layout.find_record(&f[starts[1] as usize - 5..], starts[1] - 5, f.len() as u64),
            Some(starts[1])
        );
    }

    /// A chain from the true record after a cut that the first bytes read
    /// hold only in part (a record header cut at their end), and 16
    /// record-like bytes inside a payload before that end: the cut is the
    /// true record, as a search of all of `WINDOW` finds.
    #[test]
    fn a_chain_cut_by_the_first_bytes_read_is_read_further() {
        let rec = |payload: &[u8]| {
            let mut v = Vec::new();
            for w in [
                1_700_000_000u32,
                0,
                payload.len() as u32,
                payload.len() as u32,
            ] {
                v.extend(w.to_le_bytes());
            }
            v.extend(payload);
            v
        };
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend([0; 8]);
        f.extend(262_144u32.to_le_bytes());
        f.extend(1u32.to_le_bytes());
        let x = 500_000usize;
        while f.len() + 1016 < x - 150_000 {
            f.extend(rec(&[0xff; 1000]));
        }
        // The record before the true one ends 100 bytes after the cut.
        let r0 = x + 100;
        f.extend(rec(&vec![0xff; r0 - f.len() - 16]));
        f.extend(rec(&[0xff; 150_000]));
        let r1 = f.len();
        let mut p1 = vec![0xff; 100_000];
        let fake: Vec<u8> = (0..16).flat_map(|_| rec(&[0xff; 10])).collect();
        let off = x + 200_000 - (r1 + 16);
        p1[off..off + fake.len()].copy_from_slice(&fake);
        f.extend(rec(&p1));
        // A record header across the end of the first bytes read.
        let r3 = x + SMALL_WINDOW - 8;
        f.extend(rec(&vec![0xff; r3 - f.len() - 16]));
        while f.len() < x + 1_500_000 {
            f.extend(rec(&[0xff; 100]));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.pcap");
        std::fs::write(&path, &f).unwrap();
        let l = Layout::parse(&f).unwrap();
        let len = f.len() as u64;
        assert_eq!(l.find_record(&f[x..], x as u64, len), Some(r0 as u64));
        let file = File::open(&path).unwrap();
        let mut buf = vec![0u8; WINDOW as usize];
        assert_eq!(
            find_at(&file, &l, x as u64, len, &mut buf).unwrap(),
            Some(r0 as u64)
        );
    }

    /// The overrun's share of the file is estimated for pcapng files too
    /// (a block's time ends at its 20th byte: a 16-byte read missed it).
    #[test]
    fn pcapng_overrun_is_estimated() {
        let (f, _) = pcapng(&[1000; 64]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.pcapng");
        std::fs::write(&path, &f).unwrap();
        let l = Layout::parse(&f).unwrap();
        let file = File::open(&path).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = overrun_bytes(&file, &l, l.first_record(), f.len() as u64, 10, &mut buf).unwrap();
        assert!(n > 0);
    }

    #[test]
    fn rejects_other_formats() {
        assert!(Layout::parse(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).is_none());
        assert!(Layout::parse(&[0xd4, 0xc3, 0xb2, 0xa1]).is_none());
        let mut f = file(&[]);
        f[0] = 0x34; // a1b2cd34: longer records
        f[1] = 0xcd;
        assert!(Layout::parse(&f).is_none());
        // pcapng with a second section before the first packet.
        let (mut f, _) = pcapng(&[]);
        let again = f.clone();
        f.extend(again);
        assert!(Layout::parse(&f).is_none());
    }
}
