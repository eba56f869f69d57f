//! Capture sources: pcap and pcapng files read through libpcap, gzip
//! files, standard input, and directories of captures.
//!
//! Gzip input, standard input and named pipes or devices reach libpcap
//! through a pipe: a thread decompresses (or copies) into the pipe, libpcap
//! reads the other end.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, IntoRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pcap::{Capture, Offline};

use crate::decode::LinkType;
use crate::split::{self, Layout, Walk};

/// One capture to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A pcap or pcapng file.
    File(PathBuf),
    /// A gzip-compressed pcap or pcapng file.
    Gzip(PathBuf),
    /// Standard input (`-`), plain or gzip.
    Stdin,
    /// A named pipe or device (`<(zcat x.pcap.gz)`), plain or gzip: read
    /// once, like standard input, as its bytes cannot be read twice.
    Pipe(PathBuf),
}

impl Input {
    /// The name used in messages.
    pub fn label(&self) -> String {
        match self {
            Input::File(p) | Input::Gzip(p) | Input::Pipe(p) => p.display().to_string(),
            Input::Stdin => "<stdin>".into(),
        }
    }

    /// Size in bytes on disk, when known (for progress).
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            _ => None,
        }
    }
}

/// Errors opening or reading captures. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path could not be opened.
    #[error("{0}: {1}")]
    Open(String, io::Error),
    /// Not a pcap/pcapng capture.
    #[error("{0}: not a pcap or pcapng capture ({1})")]
    NotCapture(String, String),
    /// A link type we do not decode.
    #[error(
        "{0}: unsupported link type {1} ({2}); supported: Ethernet, Linux cooked v1/v2, raw IP, BSD null/loopback"
    )]
    LinkType(String, i32, String),
    /// A directory given on the command line holds no capture file.
    #[error("{0}: no pcap, pcapng or gzip capture files in this directory")]
    NoCaptures(String),
    /// The capture ends in the middle of a record.
    #[error("{0}: capture is truncated or corrupt after {1} packets ({2})")]
    Truncated(String, u64, String),
}

const PCAP_MAGICS: [[u8; 4]; 5] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x0a, 0x0d, 0x0d, 0x0a],
];

fn magic(path: &Path) -> io::Result<[u8; 4]> {
    let mut head = Vec::with_capacity(4);
    File::open(path)?.take(4).read_to_end(&mut head)?;
    let mut m = [0u8; 4];
    m.iter_mut().zip(head).for_each(|(m, b)| *m = b);
    Ok(m)
}

fn is_gzip(m: &[u8; 4]) -> bool {
    m[0] == 0x1f && m[1] == 0x8b
}

/// Expands the command-line paths: `-` is standard input, a directory
/// gives its capture files (recognised by magic number) in name order, a
/// named pipe or device is read as a stream (its magic is sniffed later,
/// from the bytes read once).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Input>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
            continue;
        }
        let meta =
            std::fs::metadata(p).map_err(|e| SourceError::Open(p.display().to_string(), e))?;
        if meta.is_dir() {
            let rd =
                std::fs::read_dir(p).map_err(|e| SourceError::Open(p.display().to_string(), e))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .collect();
            files.sort();
            let before = out.len();
            for f in files {
                match magic(&f) {
                    Ok(m) if is_gzip(&m) => out.push(Input::Gzip(f)),
                    Ok(m) if PCAP_MAGICS.contains(&m) => out.push(Input::File(f)),
                    _ => {}
                }
            }
            if out.len() == before {
                return Err(SourceError::NoCaptures(p.display().to_string()));
            }
        } else if !meta.is_file() {
            out.push(Input::Pipe(p.clone()));
        } else {
            let m = magic(p).map_err(|e| SourceError::Open(p.display().to_string(), e))?;
            out.push(if is_gzip(&m) {
                Input::Gzip(p.clone())
            } else {
                Input::File(p.clone())
            });
        }
    }
    Ok(out)
}

/// A read error of the thread feeding a pipe, kept for the message.
type FeedError = Arc<Mutex<Option<String>>>;

/// Copies `src` into a new pipe from a thread; returns the read end for
/// libpcap and where the thread leaves a read error.
fn pipe_from(mut src: Box<dyn Read + Send>) -> io::Result<(std::io::PipeReader, FeedError)> {
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

/// An open capture and its link type.
pub struct Opened {
    /// The libpcap handle.
    pub cap: Capture<Offline>,
    /// Decoded link type.
    pub link: LinkType,
    /// Decompression error of a gzip (or stdin) input, once it happened.
    feed_error: Option<FeedError>,
}

/// Opens one input through libpcap.
pub fn open(input: &Input) -> Result<Opened, SourceError> {
    let label = input.label();
    let mut feed_error = None;
    let cap = match input {
        Input::File(p) => {
            // Check readability first for a clearer message than libpcap's.
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            if f.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
                return Err(SourceError::NotCapture(label, "empty file".into()));
            }
            Capture::from_file(p)
                .map_err(|e| SourceError::NotCapture(label.clone(), e.to_string()))?
        }
        Input::Gzip(p) => {
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            let (r, err) = pipe_from(Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::new(f),
            )))
            .map_err(|e| SourceError::Open(label.clone(), e))?;
            feed_error = Some(err);
            from_fd(r, &label)?
        }
        Input::Stdin | Input::Pipe(_) => {
            let stream = match input {
                Input::Pipe(p) => File::open(p),
                _ => io::stdin().as_fd().try_clone_to_owned().map(File::from),
            }
            .map_err(|e| SourceError::Open(label.clone(), e))?;
            let (r, err) = stream_pipe(stream).map_err(|e| SourceError::Open(label.clone(), e))?;
            feed_error = Some(err);
            from_fd(r, &label)?
        }
    };
    let link = link_of(&cap, &label)?;
    Ok(Opened {
        cap,
        link,
        feed_error,
    })
}

fn link_of(cap: &Capture<Offline>, label: &str) -> Result<LinkType, SourceError> {
    let dlt = cap.get_datalink();
    LinkType::from_dlt(dlt.0).ok_or_else(|| {
        let name = dlt.get_name().unwrap_or_else(|_| "unknown".into());
        SourceError::LinkType(label.to_string(), dlt.0, name)
    })
}

/// Opens the chunk of a pcap or pcapng file of `layout` from the record at
/// offset `start` to `end` (see [`crate::split`]); the [`Walk`] tells when
/// the chunk's packets are read.
pub fn open_at(
    path: &Path,
    layout: &Arc<Layout>,
    start: u64,
    end: u64,
) -> Result<(Opened, Arc<Walk>), SourceError> {
    let label = path.display().to_string();
    let (cap, walk) = split::open_chunk(path, layout, start, end)
        .map_err(|e| SourceError::NotCapture(label.clone(), e.to_string()))?;
    let link = link_of(&cap, &label)?;
    let opened = Opened {
        cap,
        link,
        feed_error: None,
    };
    Ok((opened, walk))
}

/// A packet: time (µs since the epoch), frame bytes, length on the wire.
pub type Packet<'a> = (i64, &'a [u8], u32);

/// The next packet of an opened file, or `None` at the end.
pub fn next_packet(opened: &mut Opened) -> Result<Option<Packet<'_>>, pcap::Error> {
    match opened.cap.next_packet() {
        Ok(p) => Ok(Some((micros(p.header), p.data, p.header.len))),
        Err(pcap::Error::NoMorePackets) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A packet header's time in µs since the epoch, saturating: a pcapng
/// timestamp in seconds can exceed i64 µs.
fn micros(h: &pcap::PacketHeader) -> i64 {
    h.ts.tv_sec
        .saturating_mul(1_000_000)
        .saturating_add(h.ts.tv_usec)
}

/// Sniffs gzip from the first bytes of a stream read once (standard input,
/// a named pipe) and copies it, decompressed if need be, into a new pipe.
fn stream_pipe(mut stream: File) -> io::Result<(std::io::PipeReader, FeedError)> {
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

fn from_fd(r: std::io::PipeReader, label: &str) -> Result<Capture<Offline>, SourceError> {
    let fd = r.into_raw_fd();
    // SAFETY: `fd` is a freshly created pipe end we own and hand over;
    // libpcap fdopen()s it and closes it when the capture is dropped.
    unsafe { Capture::from_raw_fd(fd) }
        .map_err(|e| SourceError::NotCapture(label.to_string(), e.to_string()))
}

/// Reads every packet of an opened capture, calling `f(ts_us, data, wire_len)`.
/// Returns the packet count; a read error after some packets is `Truncated`
/// (the packets before it were already delivered).
pub fn read_all(
    opened: &mut Opened,
    label: &str,
    mut f: impl FnMut(i64, &[u8], u32),
) -> Result<u64, SourceError> {
    let mut n = 0u64;
    loop {
        match opened.cap.next_packet() {
            Ok(p) => {
                f(micros(p.header), p.data, p.header.len);
                n += 1;
            }
            Err(e) => {
                // A decompression error explains the end better than libpcap.
                let fed = opened
                    .feed_error
                    .as_ref()
                    .and_then(|f| f.lock().ok()?.take())
                    .map(|f| format!("decompression failed: {f}"));
                return match (e, fed) {
                    (_, Some(f)) => Err(SourceError::Truncated(label.to_string(), n, f)),
                    (pcap::Error::NoMorePackets, None) => Ok(n),
                    (e, None) => Err(SourceError::Truncated(label.to_string(), n, e.to_string())),
                };
            }
        }
    }
}
