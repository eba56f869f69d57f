//! Splitting one classic pcap file into chunks that threads read at once.
//!
//! A classic pcap file is a 24-byte header and then records, each a 16-byte
//! header (time, captured length, wire length) and the frame. Records carry
//! no marker, so a chunk's first record is found by resynchronising: the
//! first offset at or after the planned split point from which a chain of
//! plausible record headers follows (see [`find_record`]). Chunk workers
//! then check the guess exactly: the worker of the chunk before walks the
//! records up to the split point and must land on it (see
//! [`crate::parallel`]); on a mismatch the run falls back to one reader.
//!
//! Each chunk is read through libpcap: a stdio stream made with glibc's
//! `fopencookie` yields the file's header and then the file's bytes from
//! the chunk's first record on, and `pcap_fopen_offline` reads it.
//! pcapng files, gzip files and streams are not split.

use std::ffi::{c_char, c_int, c_void};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr::NonNull;

use pcap::{Capture, Offline};

/// Length of the classic pcap file header.
pub const FILE_HEADER: u64 = 24;
/// Length of a classic pcap record header.
pub const RECORD_HEADER: u64 = 16;
/// Consecutive plausible records needed to trust a resynchronised offset.
const CHAIN: usize = 16;
/// Bytes searched after a planned split point for a record boundary.
const WINDOW: u64 = 4 << 20;
/// Size of the first chunk relative to the others.
const FIRST_SHARE: f64 = 0.9;
/// Largest frame a record may hold (libpcap's own limit for files).
const MAX_FRAME: u32 = 262_144;

/// The header of a classic pcap file, as needed to find its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapHeader {
    /// The 24 bytes, given to libpcap ahead of each chunk.
    pub bytes: [u8; 24],
    /// Multi-byte fields are big-endian.
    pub big_endian: bool,
    /// Timestamps' second field is in nanoseconds.
    pub nanos: bool,
    /// Snapshot length.
    pub snaplen: u32,
}

impl PcapHeader {
    /// Parses a classic pcap file header; `None` for anything else
    /// (pcapng, the modified formats with longer records, short input).
    pub fn parse(b: &[u8]) -> Option<PcapHeader> {
        let bytes: [u8; 24] = b.get(..24)?.try_into().ok()?;
        let (big_endian, nanos) = match bytes.get(..4)? {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let h = PcapHeader {
            bytes,
            big_endian,
            nanos,
            snaplen: 0,
        };
        Some(PcapHeader {
            snaplen: h.u32_at(&bytes, 16)?,
            ..h
        })
    }

    fn u32_at(&self, b: &[u8], at: usize) -> Option<u32> {
        let v: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        })
    }

    /// The record header at `at` in `b`, if it looks like one: (seconds,
    /// record length with its header).
    fn record_at(&self, b: &[u8], at: usize) -> Option<(u32, u64)> {
        let secs = self.u32_at(b, at)?;
        let frac = self.u32_at(b, at + 4)?;
        let caplen = self.u32_at(b, at + 8)?;
        let len = self.u32_at(b, at + 12)?;
        let frac_max = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let ok = frac < frac_max
            && caplen <= len
            && caplen <= self.snaplen.max(MAX_FRAME)
            && len <= MAX_FRAME.max(self.snaplen);
        ok.then_some((secs, RECORD_HEADER + u64::from(caplen)))
    }
}

/// Finds the first record boundary in `b` (bytes of the file from
/// offset `base`; the file is `file_len` long): an offset from which
/// [`CHAIN`] plausible records follow, each within an hour of the first,
/// or plausible records up to exactly the end of the file.
pub fn find_record(h: &PcapHeader, b: &[u8], base: u64, file_len: u64) -> Option<u64> {
    let end = base + b.len() as u64;
    'start: for start in 0..b.len() {
        let mut at = start as u64;
        let mut first_secs = None;
        for _ in 0..CHAIN {
            if base + at == file_len {
                break;
            }
            let Some((secs, rec_len)) = usize::try_from(at).ok().and_then(|i| h.record_at(b, i))
            else {
                continue 'start;
            };
            let first = *first_secs.get_or_insert(secs);
            if secs.abs_diff(first) > 3600 {
                continue 'start;
            }
            at += rec_len;
            if base + at > file_len {
                continue 'start;
            }
            if base + at > end {
                // The chain runs past the bytes read: not enough evidence.
                continue 'start;
            }
        }
        return Some(base + start as u64);
    }
    None
}

/// Plans up to `chunks` chunk start offsets for a classic pcap file: the
/// first is always the first record; where no boundary is found after a
/// planned cut, the chunk before runs on. `None` when the file is not
/// classic pcap.
pub fn plan(path: &Path, chunks: usize) -> io::Result<Option<(PcapHeader, Vec<u64>)>> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 24];
    if f.read_at(&mut head, 0)? < 24 {
        return Ok(None);
    }
    let Some(h) = PcapHeader::parse(&head) else {
        return Ok(None);
    };
    let mut starts = vec![FILE_HEADER];
    let mut buf = vec![0u8; WINDOW as usize];
    // The first chunk is a little shorter: its worker then goes on past
    // its end (the overrun) and its results are joined first.
    let unit = (len - FILE_HEADER) as f64 / (chunks as f64 - 1.0 + FIRST_SHARE);
    for i in 1..chunks as u64 {
        let at = FILE_HEADER + (unit * (FIRST_SHARE + (i - 1) as f64)) as u64;
        let n = read_full_at(&f, &mut buf, at)?;
        let Some(b) = buf.get(..n) else {
            return Ok(None);
        };
        if let Some(s) = find_record(&h, b, at, len)
            && s > starts.last().copied().unwrap_or(0)
            && s < len
        {
            starts.push(s);
        }
    }
    Ok(Some((h, starts)))
}

fn read_full_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match f.read_at(rest, at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What the stdio stream reads: the file header, then the file from an
/// offset on.
struct Cookie {
    file: File,
    header: [u8; 24],
    header_pos: usize,
    pos: u64,
}

#[repr(C)]
struct CookieIoFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

unsafe extern "C" {
    fn fopencookie(
        cookie: *mut c_void,
        mode: *const c_char,
        funcs: CookieIoFunctions,
    ) -> *mut libc::FILE;
    fn pcap_fopen_offline(fp: *mut libc::FILE, errbuf: *mut c_char) -> *mut c_void;
    fn __fsetlocking(fp: *mut libc::FILE, kind: c_int) -> c_int;
}

unsafe extern "C" fn cookie_read(cookie: *mut c_void, buf: *mut c_char, size: usize) -> isize {
    // SAFETY: `cookie` is the `Cookie` boxed in `open_chunk`, alive until
    // `cookie_close`; stdio hands a buffer of `size` writable bytes.
    let (c, out) = unsafe {
        (
            &mut *cookie.cast::<Cookie>(),
            std::slice::from_raw_parts_mut(buf.cast::<u8>(), size),
        )
    };
    if let Some(rest) = c.header.get(c.header_pos..)
        && !rest.is_empty()
    {
        let n = rest.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        c.header_pos += n;
        return n as isize;
    }
    loop {
        match c.file.read_at(out, c.pos) {
            Ok(n) => {
                c.pos += n as u64;
                return n as isize;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return -1,
        }
    }
}

unsafe extern "C" fn cookie_close(cookie: *mut c_void) -> c_int {
    // SAFETY: the box leaked in `open_chunk`, dropped once here.
    drop(unsafe { Box::from_raw(cookie.cast::<Cookie>()) });
    0
}

/// Opens `path` for libpcap at record offset `at`, with the file's header
/// `h` read first.
pub fn open_chunk(path: &Path, h: &PcapHeader, at: u64) -> io::Result<Capture<Offline>> {
    let file = File::open(path)?;
    let cookie = Box::into_raw(Box::new(Cookie {
        file,
        header: h.bytes,
        header_pos: 0,
        pos: at,
    }));
    let funcs = CookieIoFunctions {
        read: Some(cookie_read),
        write: None,
        seek: None,
        close: Some(cookie_close),
    };
    // SAFETY: a valid cookie and functions; on failure the cookie is ours
    // to free, on success the stream owns it (freed by `cookie_close`).
    let fp = unsafe { fopencookie(cookie.cast(), c"r".as_ptr(), funcs) };
    if fp.is_null() {
        // SAFETY: not taken by stdio.
        drop(unsafe { Box::from_raw(cookie) });
        return Err(io::Error::last_os_error());
    }
    // A larger stdio buffer: fewer calls into `cookie_read`. The stream is
    // used by one thread only: no locking on each of libpcap's two reads
    // per packet (FSETLOCKING_BYCALLER).
    // SAFETY: a fresh stream, before any I/O.
    unsafe {
        libc::setvbuf(fp, std::ptr::null_mut(), libc::_IOFBF, 1 << 18);
        __fsetlocking(fp, 2);
    }
    let mut err = [0 as c_char; 256];
    // SAFETY: `fp` is a valid stream; libpcap takes it over on success.
    let p = unsafe { pcap_fopen_offline(fp, err.as_mut_ptr()) };
    match NonNull::new(p) {
        // The pcap crate wraps a handle libpcap opened; it closes it (and
        // so the stream) when dropped.
        Some(p) => Ok(Capture::from(p.cast())),
        None => {
            // SAFETY: libpcap did not take the stream; closing it frees the cookie.
            unsafe { libc::fclose(fp) };
            // SAFETY: libpcap wrote a NUL-terminated message into `err`.
            let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
            Err(io::Error::other(msg.to_string_lossy().into_owned()))
        }
    }
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

    #[test]
    fn finds_the_next_record_after_any_offset() {
        let recs: Vec<(u32, usize)> = (0..64)
            .map(|i| (1000 + i, 40 + (i as usize * 7) % 90))
            .collect();
        let f = file(&recs);
        let h = PcapHeader::parse(&f).unwrap();
        let mut starts = vec![];
        let mut at = 24u64;
        for &(_, n) in &recs {
            starts.push(at);
            at += 16 + n as u64;
        }
        for probe in [24u64, 25, 100, 500, 1000, 2000] {
            let want = *starts.iter().find(|&&s| s >= probe).unwrap();
            let got = find_record(&h, &f[probe as usize..], probe, f.len() as u64);
            assert_eq!(got, Some(want), "probe {probe}");
        }
        // Near the end a shorter chain that ends exactly at the file end counts.
        let last = *starts.last().unwrap();
        assert_eq!(
            find_record(&h, &f[last as usize - 3..], last - 3, f.len() as u64),
            Some(last)
        );
    }

    #[test]
    fn rejects_other_formats() {
        assert!(PcapHeader::parse(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).is_none());
        assert!(PcapHeader::parse(&[0xd4, 0xc3, 0xb2, 0xa1]).is_none());
        let mut f = file(&[]);
        f[0] = 0x34; // a1b2cd34: longer records
        f[1] = 0xcd;
        assert!(PcapHeader::parse(&f).is_none());
    }
}
