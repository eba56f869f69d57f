//! Gzip files, standard input and named pipes reach libpcap through a
//! pipe: a thread decompresses (or copies) into the pipe, libpcap reads
//! the other end. A read error of that thread (corrupt gzip) is kept for
//! the message.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::sync::{Arc, Mutex};

use pcap::{Capture, Offline};

use super::source::SourceError;

/// A read error of the thread feeding a pipe, kept for the message.
pub type FeedError = Arc<Mutex<Option<String>>>;

/// Copies `src` into a new pipe from a thread; returns the read end for
/// libpcap and where the thread leaves a read error.
pub fn pipe_from(mut src: Box<dyn Read + Send>) -> io::Result<(std::io::PipeReader, FeedError)> {
    let (r, mut w) = std::io::pipe()?;
    let error = FeedError::default();
    let slot = Arc::clone(&error);
    std::thread::spawn(move || {
        // A read error (corrupt gzip) ends the stream early; it is kept
        // before the pipe closes, so `read_all` sees it at the end of data.
        if let Err(e) = io::copy(&mut src, &mut w)
            && e.kind() != io::ErrorKind::BrokenPipe
            && let Ok(mut slot) = slot.lock()
        {
            *slot = Some(e.to_string());
        }
        drop(w);
    });
    Ok((r, error))
}

/// Sniffs gzip from the first bytes of a stream read once (standard input,
/// a named pipe) and copies it, decompressed if need be, into a new pipe.
pub fn stream_pipe(mut stream: File) -> io::Result<(std::io::PipeReader, FeedError)> {
    let mut head = Vec::with_capacity(2);
    (&mut stream).take(2).read_to_end(&mut head)?;
    let gzip = head == [0x1f, 0x8b];
    let chained = io::Cursor::new(head).chain(stream);
    let reader: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(
            chained,
        )))
    } else {
        Box::new(chained)
    };
    pipe_from(reader)
}

/// A libpcap capture reading the pipe end `r` (libpcap owns it from here).
pub fn from_fd(r: std::io::PipeReader, label: &str) -> Result<Capture<Offline>, SourceError> {
    let fd = r.into_raw_fd();
    // SAFETY: `fd` is a freshly created pipe end we own and hand over;
    // libpcap fdopen()s it and closes it when the capture is dropped.
    unsafe { Capture::from_raw_fd(fd) }
        .map_err(|e| SourceError::NotCapture(label.to_string(), e.to_string()))
}
