//! The bytes of one input, a window at a time.
//!
//! A regular file is memory-mapped whole (on Unix, unless
//! `TLSREADY_MMAP=0`): frames are read in place, with no copy out of the
//! page cache, and the pages behind the reader are released every
//! [`RELEASE`] bytes ([`memmap2`]'s `MADV_DONTNEED`), so resident memory
//! stays a few MiB whatever the file's size. A stream (gzip, standard
//! input, a named pipe), or a file that cannot be mapped, is read with
//! `read` into a buffer small enough to stay in the processor's cache
//! ([`BUF`]); a record longer than the buffer grows it.
//!
//! A mapped file that another program truncates while it is read ends the
//! run with SIGBUS, as for any program that maps files (ripgrep, for one);
//! `TLSREADY_MMAP=0` reads with `read` instead.
//!
//! Readers ask for bytes by offset in the input ([`Window::ensure`], then
//! [`Window::get`]); offsets only move forward (a file seeks, a stream
//! skips bytes).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes of a buffer (grown for a longer record).
pub const BUF: usize = 256 << 10;

/// Bytes of a mapped file read past before its pages are released.
pub const RELEASE: u64 = 512 << 10;

/// Bytes of a mapped file prefetched ahead of the reader.
#[cfg(unix)]
const AHEAD: u64 = 4096;

/// The bytes of one input.
pub struct Window {
    inner: Inner,
}

enum Inner {
    Stream(StreamBuf),
    #[cfg(unix)]
    Mapped(Mapped),
}

/// A file mapped whole.
#[cfg(unix)]
struct Mapped {
    map: memmap2::Mmap,
    /// Offset below which the pages were released (a multiple of [`RELEASE`]).
    released: u64,
    /// Offset up to which the cache lines were prefetched.
    prefetched: u64,
    /// Offset up to which the pages were mapped in ahead of the reader.
    populated: u64,
}

/// Where a stream's bytes come from.
enum Source {
    /// A file read sequentially (seekable: a jump forward is a seek).
    File(File),
    /// Any other reader (decompressor, standard input, pipe).
    Reader(Box<dyn Read + Send>),
}

/// A stream read into a buffer.
struct StreamBuf {
    src: Source,
    buf: Vec<u8>,
    /// Input offset of `buf[0]`.
    base: u64,
    /// Bytes of `buf` filled.
    end: usize,
    eof: bool,
}

impl Window {
    /// A file from offset `at`: mapped when it is a regular file that can
    /// be, otherwise read into a buffer.
    pub fn read_file(file: File, at: u64) -> io::Result<Window> {
        #[cfg(unix)]
        if let Some(map) = super::mapped::map(&file) {
            return Ok(Window {
                inner: Inner::Mapped(Mapped {
                    map,
                    released: at - at % RELEASE,
                    prefetched: at,
                    populated: at - at % RELEASE,
                }),
            });
        }
        Window::buffered_file(file, at)
    }

    /// A file read into a buffer with `read`, from offset `at`.
    pub fn buffered_file(mut file: File, at: u64) -> io::Result<Window> {
        file.seek(SeekFrom::Start(at))?;
        Ok(Window::stream_from(Source::File(file), at))
    }

    /// A stream read once (bytes before the current offset are dropped).
    pub fn stream(reader: Box<dyn Read + Send>) -> Window {
        Window::stream_from(Source::Reader(reader), 0)
    }

    fn stream_from(src: Source, base: u64) -> Window {
        Window {
            inner: Inner::Stream(StreamBuf {
                src,
                buf: vec![0; BUF],
                base,
                end: 0,
                eof: false,
            }),
        }
    }

    /// Makes the bytes from input offset `at` available: returns how many
    /// are, at least `need` unless the input ends first.
    #[inline]
    pub fn ensure(&mut self, at: u64, need: usize) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Stream(s) => s.ensure(at, need),
            #[cfg(unix)]
            Inner::Mapped(m) => Ok(m.ensure(at)),
        }
    }

    /// The bytes before input offset `at` will not be asked for again: a
    /// mapped file releases its pages more than [`RELEASE`] bytes behind.
    #[inline]
    pub fn done_before(&mut self, at: u64) {
        #[cfg(unix)]
        if let Inner::Mapped(m) = &mut self.inner {
            if at + RELEASE > m.populated {
                m.populate(at);
            }
            m.prefetch(at);
            if at >= m.released + 2 * RELEASE {
                m.release(at);
            }
        }
        let _ = at;
    }

    /// `len` bytes from input offset `at`, made available by
    /// [`Window::ensure`] (empty if they were not).
    #[inline]
    pub fn get(&self, at: u64, len: usize) -> &[u8] {
        let (bytes, base) = self.bytes();
        at.checked_sub(base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| bytes.get(i..)?.get(..len))
            .unwrap_or_default()
    }

    /// The bytes buffered from input offset `at` on (empty when `at` is
    /// not in the buffer): what a reader can take without a read.
    #[inline]
    pub fn buffered_from(&self, at: u64) -> &[u8] {
        let (bytes, base) = self.bytes();
        at.checked_sub(base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| bytes.get(i..))
            .unwrap_or_default()
    }

    /// The bytes at hand and the input offset of the first.
    #[inline]
    fn bytes(&self) -> (&[u8], u64) {
        match &self.inner {
            Inner::Stream(s) => (s.buf.get(..s.end).unwrap_or_default(), s.base),
            #[cfg(unix)]
            Inner::Mapped(m) => (&m.map[..], 0),
        }
    }
}

#[cfg(unix)]
impl Mapped {
    /// The bytes from offset `at` to the end.
    #[inline]
    fn ensure(&self, at: u64) -> usize {
        (self.map.len() as u64).saturating_sub(at) as usize
    }

    /// Asks the processor for the cache lines up to [`AHEAD`] bytes past
    /// `at`, so that reading the next records does not wait on memory.
    #[inline]
    fn prefetch(&mut self, at: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let until = (at + AHEAD).min(self.map.len() as u64);
            let from = self.prefetched.max(at);
            let base = self.map.as_ptr();
            let mut p = from;
            while p < until {
                // SAFETY: `p` is within the mapping; a prefetch never faults.
                unsafe {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        base.add(p as usize).cast(),
                    )
                };
                p += 64;
            }
            self.prefetched = p.max(self.prefetched);
        }
        let _ = at;
    }

    /// Maps in the pages of the next [`RELEASE`] bytes in one call
    /// (`MADV_POPULATE_READ`, Linux) rather than a page fault at a time.
    #[cold]
    fn populate(&mut self, at: u64) {
        let len = self.map.len() as u64;
        let from = self.populated.max(at - at % RELEASE);
        let to = (from + 2 * RELEASE).min(len);
        #[cfg(target_os = "linux")]
        if to > from {
            let _ = self.map.advise_range(
                memmap2::Advice::PopulateRead,
                from as usize,
                (to - from) as usize,
            );
        }
        self.populated = to.max(from);
    }

    #[cold]
    fn release(&mut self, at: u64) {
        let upto = (at - at % RELEASE - RELEASE).min(self.map.len() as u64);
        if upto <= self.released {
            return;
        }
        // SAFETY: `ensure` takes `&mut self`, so no slice of the mapping
        // is borrowed; the pages of a shared file mapping read again after
        // `MADV_DONTNEED` are the file's bytes, as before.
        let _ = unsafe {
            self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                self.released as usize,
                (upto - self.released) as usize,
            )
        };
        self.released = upto;
    }
}

impl StreamBuf {
    #[inline]
    fn ensure(&mut self, at: u64, need: usize) -> io::Result<usize> {
        if let Some(i) = at.checked_sub(self.base)
            && i <= self.end as u64
        {
            let have = self.end - i as usize;
            if have >= need || self.eof {
                return Ok(have);
            }
        }
        self.refill(at, need)
    }

    #[cold]
    fn refill(&mut self, at: u64, need: usize) -> io::Result<usize> {
        let Some(i) = at.checked_sub(self.base) else {
            return Err(io::Error::other("stream read backwards"));
        };
        if i > self.end as u64 {
            // A jump forward: past the buffered bytes.
            let gap = i - self.end as u64;
            self.end = 0;
            self.base = at;
            match &mut self.src {
                Source::File(f) => {
                    f.seek(SeekFrom::Start(at))?;
                }
                Source::Reader(r) => {
                    let skipped = io::copy(&mut r.by_ref().take(gap), &mut io::sink())?;
                    if skipped < gap {
                        self.eof = true;
                        return Ok(0);
                    }
                }
            }
        } else {
            // Keep the bytes from `at` on, at the start of the buffer.
            let i = i as usize;
            self.buf.copy_within(i..self.end, 0);
            self.end -= i;
            self.base = at;
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end < need && !self.eof {
            let Some(free) = self.buf.get_mut(self.end..) else {
                break;
            };
            let n = match &mut self.src {
                Source::File(f) => f.read(free),
                Source::Reader(r) => r.read(free),
            };
            match n {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    /// Every way of reading gives the file's bytes at any offset, across
    /// window and buffer ends.
    #[test]
    fn windows_give_the_bytes_at_any_offset() {
        let bytes: Vec<u8> = (0..24 * BUF as u32 + 12345)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let f = file_of(&bytes);
        let windows = [
            Window::read_file(f.reopen().unwrap(), 0).unwrap(),
            Window::buffered_file(f.reopen().unwrap(), 0).unwrap(),
            Window::stream(Box::new(f.reopen().unwrap())),
        ];
        for mut w in windows {
            let mut at = 0u64;
            let mut step = 1usize;
            while at < bytes.len() as u64 {
                let need = step % 300_000;
                w.done_before(at);
                let have = w.ensure(at, need).unwrap();
                let rest = bytes.len() - at as usize;
                assert!(have >= need.min(rest), "at {at} need {need} have {have}");
                assert_eq!(
                    w.get(at, need.min(rest)),
                    &bytes[at as usize..][..need.min(rest)]
                );
                at += (step * 7919 % 500_000) as u64;
                step += 1;
            }
            assert_eq!(w.ensure(bytes.len() as u64, 16).unwrap(), 0);
        }
    }

    #[test]
    fn a_record_longer_than_the_window_is_whole() {
        let bytes = vec![7u8; 3 * BUF + 100];
        let f = file_of(&bytes);
        for mut w in [
            Window::read_file(f.reopen().unwrap(), 0).unwrap(),
            Window::buffered_file(f.reopen().unwrap(), 0).unwrap(),
            Window::stream(Box::new(f.reopen().unwrap())),
        ] {
            assert!(w.ensure(3, 10).unwrap() >= 10);
            let n = w.ensure(5, bytes.len() - 5).unwrap();
            assert_eq!(n, bytes.len() - 5);
            assert_eq!(w.get(5, n).len(), n);
        }
    }

    #[test]
    fn an_empty_file_has_no_bytes() {
        let f = file_of(b"");
        let mut w = Window::read_file(f.reopen().unwrap(), 0).unwrap();
        assert_eq!(w.ensure(0, 4).unwrap(), 0);
        assert!(w.get(0, 4).is_empty());
    }

    /// A regular file is mapped, and the pages far behind the reader are
    /// released as it moves on, so resident memory does not grow with the
    /// file.
    #[cfg(unix)]
    #[test]
    fn a_mapped_file_releases_what_was_read() {
        let bytes: Vec<u8> = (0..(12 * RELEASE) as u32)
            .map(|i| (i % 251) as u8)
            .collect();
        let f = file_of(&bytes);
        let mut w = Window::read_file(f.reopen().unwrap(), 0).unwrap();
        let Inner::Mapped(_) = &w.inner else {
            panic!("a regular file is mapped");
        };
        let mut at = 0u64;
        while at < bytes.len() as u64 {
            w.done_before(at);
            assert!(w.ensure(at, 100).unwrap() >= 100);
            assert_eq!(w.get(at, 100), &bytes[at as usize..][..100]);
            at += 100_000;
        }
        let Inner::Mapped(m) = &w.inner else {
            unreachable!()
        };
        assert!(m.released >= 9 * RELEASE, "released up to {}", m.released);
        assert!(m.released < at);
        // A released page reads as the file's bytes again.
        assert!(w.ensure(5, 10).unwrap() >= 10);
        assert_eq!(w.get(5, 10), &bytes[5..15]);
    }
}
