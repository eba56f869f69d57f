//! The one piece of FFI of chunked reading: a stdio stream made with
//! glibc's `fopencookie` yields a file's head (the pcap header, or the
//! pcapng blocks before the first packet) and then the file's bytes from a
//! chunk's first record on, and libpcap's `pcap_fopen_offline` reads it. As
//! the stream serves bytes it walks the records, filling the chunk's
//! [`Walk`].

use std::ffi::{c_char, c_int, c_void};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pcap::{Capture, Offline};

use super::layout::{Layout, Walk, read_full_at};

/// What the stdio stream reads: the layout's head, then the file from an
/// offset on, walking its records.
struct Cookie {
    file: File,
    layout: Arc<Layout>,
    head_pos: usize,
    /// File offset of the next byte served.
    pos: u64,
    /// File offset of the next record header.
    next: u64,
    /// The chunk's end.
    end: u64,
    /// The walk stopped (unreadable record).
    lost: bool,
    walk: Arc<Walk>,
}

impl Cookie {
    /// The records cannot be followed further: if the chunk's end was not
    /// reached, later chunks are void.
    fn lose(&mut self) {
        self.lost = true;
        let _ = self
            .walk
            .at_end
            .compare_exchange(0, 2, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Walks the records whose headers start in `b` (served from file
    /// offset `at`).
    fn walk(&mut self, b: &[u8], at: u64) {
        let need = self.layout.header_len();
        let mut tmp = [0u8; 16];
        while !self.lost && self.next < at + b.len() as u64 {
            let Some(i) = self.next.checked_sub(at) else {
                return self.lose();
            };
            let i = i as usize;
            let h = match b.get(i..i + need) {
                Some(h) => h,
                None => {
                    // The header continues in the next read: read it now.
                    let t = tmp.get_mut(..need).unwrap_or_default();
                    match read_full_at(&self.file, t, self.next) {
                        Ok(n) if n == need => &tmp[..need],
                        // A record header cut by the end of the file.
                        _ => return self.lose(),
                    }
                }
            };
            let Some(r) = self.layout.record(h) else {
                return self.lose();
            };
            if self.next < self.end {
                if r.packet {
                    self.walk.before_end.fetch_add(1, Ordering::AcqRel);
                }
                if r.interfaces {
                    self.walk.interfaces.store(true, Ordering::Release);
                }
            }
            self.next += r.len;
            if self.next >= self.end && self.walk.at_end.load(Ordering::Acquire) == 0 {
                let exact = if self.next == self.end { 1 } else { 2 };
                self.walk.at_end.store(exact, Ordering::Release);
            }
        }
    }
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
    if let Some(rest) = c.layout.head.get(c.head_pos..)
        && !rest.is_empty()
    {
        let n = rest.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        c.head_pos += n;
        return n as isize;
    }
    loop {
        match c.file.read_at(out, c.pos) {
            Ok(n) => {
                let at = c.pos;
                c.pos += n as u64;
                if n == 0 && c.walk.at_end.load(Ordering::Acquire) == 0 {
                    // The file ends before the chunk's end: nothing follows.
                    c.walk.at_end.store(1, Ordering::Release);
                }
                c.walk(out.get(..n).unwrap_or_default(), at);
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

/// Opens `path` for libpcap at record offset `start`, with the layout's
/// head read first; the [`Walk`] tells when the chunk ends at `end`.
pub fn open_chunk(
    path: &Path,
    layout: &Arc<Layout>,
    start: u64,
    end: u64,
) -> io::Result<(Capture<Offline>, Arc<Walk>)> {
    let file = File::open(path)?;
    let walk = Arc::new(Walk::default());
    let cookie = Box::into_raw(Box::new(Cookie {
        file,
        layout: Arc::clone(layout),
        head_pos: 0,
        pos: start,
        next: start,
        end,
        lost: false,
        walk: Arc::clone(&walk),
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
        Some(p) => Ok((Capture::from(p.cast()), walk)),
        None => {
            // SAFETY: libpcap did not take the stream; closing it frees the cookie.
            unsafe { libc::fclose(fp) };
            // SAFETY: libpcap wrote a NUL-terminated message into `err`.
            let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) };
            Err(io::Error::other(msg.to_string_lossy().into_owned()))
        }
    }
}
