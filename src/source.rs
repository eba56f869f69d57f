//! Capture sources: pcap and pcapng files read through libpcap, gzip
//! files, standard input, and directories of captures.
//!
//! Gzip input and standard input reach libpcap through a pipe: a thread
//! decompresses (or copies) into the pipe, libpcap reads the other end.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, IntoRawFd};
use std::path::{Path, PathBuf};

use pcap::{Capture, Offline};

use crate::decode::LinkType;

/// One capture to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A pcap or pcapng file.
    File(PathBuf),
    /// A gzip-compressed pcap or pcapng file.
    Gzip(PathBuf),
    /// Standard input (`-`), plain or gzip.
    Stdin,
}

impl Input {
    /// The name used in messages.
    pub fn label(&self) -> String {
        match self {
            Input::File(p) | Input::Gzip(p) => p.display().to_string(),
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
    let mut m = [0u8; 4];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < 4 {
        let k = f.read(&mut m[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(m)
}

fn is_gzip(m: &[u8; 4]) -> bool {
    m[0] == 0x1f && m[1] == 0x8b
}

/// Expands the command-line paths: `-` is standard input, a directory
/// gives its capture files (recognised by magic number) in name order.
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
            for f in files {
                match magic(&f) {
                    Ok(m) if is_gzip(&m) => out.push(Input::Gzip(f)),
                    Ok(m) if PCAP_MAGICS.contains(&m) => out.push(Input::File(f)),
                    _ => {}
                }
            }
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

/// Copies `src` into a new pipe from a thread; returns the read end for libpcap.
fn pipe_from(mut src: Box<dyn Read + Send>) -> io::Result<std::io::PipeReader> {
    let (r, mut w) = std::io::pipe()?;
    std::thread::spawn(move || {
        // A read error (corrupt gzip) ends the stream early: libpcap then
        // reports the capture as truncated, which names the file.
        let _ = io::copy(&mut src, &mut w);
    });
    Ok(r)
}

/// An open capture and its link type.
pub struct Opened {
    /// The libpcap handle.
    pub cap: Capture<Offline>,
    /// Decoded link type.
    pub link: LinkType,
}

/// Opens one input through libpcap.
pub fn open(input: &Input) -> Result<Opened, SourceError> {
    let label = input.label();
    let cap = match input {
        Input::File(p) => {
            // Check readability first for a clearer message than libpcap's.
            File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            Capture::from_file(p)
                .map_err(|e| SourceError::NotCapture(label.clone(), e.to_string()))?
        }
        Input::Gzip(p) => {
            let f = File::open(p).map_err(|e| SourceError::Open(label.clone(), e))?;
            let r = pipe_from(Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::new(f),
            )))
            .map_err(|e| SourceError::Open(label.clone(), e))?;
            from_fd(r, &label)?
        }
        Input::Stdin => {
            let fd = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| SourceError::Open(label.clone(), e))?;
            let mut stdin = File::from(fd);
            let mut head = [0u8; 2];
            let n = stdin
                .read(&mut head)
                .map_err(|e| SourceError::Open(label.clone(), e))?;
            let chained = io::Cursor::new(head[..n].to_vec()).chain(stdin);
            let reader: Box<dyn Read + Send> = if n == 2 && head == [0x1f, 0x8b] {
                Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(
                    chained,
                )))
            } else {
                Box::new(chained)
            };
            let r = pipe_from(reader).map_err(|e| SourceError::Open(label.clone(), e))?;
            from_fd(r, &label)?
        }
    };
    let dlt = cap.get_datalink();
    let link = LinkType::from_dlt(dlt.0).ok_or_else(|| {
        let name = dlt.get_name().unwrap_or_else(|_| "unknown".into());
        SourceError::LinkType(label.clone(), dlt.0, name)
    })?;
    Ok(Opened { cap, link })
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
                let ts = p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec;
                f(ts, p.data, p.header.len);
                n += 1;
            }
            Err(pcap::Error::NoMorePackets) => return Ok(n),
            Err(e) => return Err(SourceError::Truncated(label.to_string(), n, e.to_string())),
        }
    }
}
