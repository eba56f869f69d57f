//! The bytes of one input, a window at a time.
//!
//! A capture file or a stream (gzip, standard input, a named pipe) is read
//! with `read` into a buffer small enough to stay in the processor's cache
//! ([`BUF`]) while its frames are analysed; a record longer than the
//! buffer grows it. Resident memory is the buffer, whatever the input's
//! size. (Mapping the file was measured no faster: a window at a time,
//! mapping and unmapping cost more than the copy `read` makes; mapped
//! whole, the processor waits on the bytes the copy used to fetch. See
//! `bench/HISTORY.md`.)
//!
//! Readers ask for bytes by offset in the input ([`Window::ensure`], then
//! [`Window::get`]); offsets only move forward (a file seeks, a stream
//! skips bytes).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes of a buffer (grown for a longer record).
pub const BUF: usize = 256 << 10;

/// The bytes of one input.
pub struct Window {
    inner: StreamBuf,
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
    /// A file read into a buffer, from offset `at`.
    pub fn read_file(mut file: File, at: u64) -> io::Result<Window> {
        file.seek(SeekFrom::Start(at))?;
        Ok(Window::stream_from(Source::File(file), at))
    }

    /// A stream read once (bytes before the current offset are dropped).
    pub fn stream(reader: Box<dyn Read + Send>) -> Window {
        Window::stream_from(Source::Reader(reader), 0)
    }

    fn stream_from(src: Source, base: u64) -> Window {
        Window {
            inner: StreamBuf {
                src,
                buf: vec![0; BUF],
                base,
                end: 0,
                eof: false,
            },
        }
    }

    /// Makes the bytes from input offset `at` available: returns how many
    /// are, at least `need` unless the input ends first.
    #[inline]
    pub fn ensure(&mut self, at: u64, need: usize) -> io::Result<usize> {
        self.inner.ensure(at, need)
    }

    /// `len` bytes from input offset `at`, made available by
    /// [`Window::ensure`] (empty if they were not).
    #[inline]
    pub fn get(&self, at: u64, len: usize) -> &[u8] {
        let s = &self.inner;
        let (bytes, base) = (s.buf.get(..s.end).unwrap_or_default(), s.base);
        at.checked_sub(base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| bytes.get(i..)?.get(..len))
            .unwrap_or_default()
    }

    /// The bytes buffered from input offset `at` on (empty when `at` is
    /// not in the buffer): what a reader can take without a read.
    #[inline]
    pub fn buffered_from(&self, at: u64) -> &[u8] {
        let s = &self.inner;
        match at.checked_sub(s.base) {
            Some(i) if i <= s.end as u64 => s.buf.get(i as usize..s.end).unwrap_or_default(),
            _ => &[],
        }
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
            Window::stream(Box::new(f.reopen().unwrap())),
        ];
        for mut w in windows {
            let mut at = 0u64;
            let mut step = 1usize;
            while at < bytes.len() as u64 {
                let need = step % 300_000;
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
}
