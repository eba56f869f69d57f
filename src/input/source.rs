//! What to read: the command line's paths expanded into [`Input`]s (pcap
//! and pcapng files, gzip files, standard input, named pipes, directories
//! of captures), and the errors opening or reading them.

#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

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
        "{0}: unsupported link type {1} ({2}); supported: Ethernet, Linux cooked v1/v2, raw IP, BSD null/loopback, 802.11, radiotap, PPI, NFLOG"
    )]
    LinkType(String, i32, String),
    /// A directory given on the command line holds no capture file.
    #[error("{0}: no pcap, pcapng or gzip capture files in this directory")]
    NoCaptures(String),
    /// The capture ends in the middle of a record.
    #[error("{0}: capture is truncated or corrupt after {1} packets ({2})")]
    Truncated(String, u64, String),
    /// Every packet was on an interface whose packets are skipped (its
    /// link type is not decoded, or its time resolution cannot be read):
    /// as a classic pcap of such a link type, nothing to analyse.
    #[error(
        "{0}: no packet on an interface tlsready reads ({1} packets skipped: see the warning above)"
    )]
    NothingDecoded(String, u64),
}

/// What goes wrong with an input, already formatted (naming it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An input could not be opened or read to its end.
    Error(String),
    /// Part of an input is skipped (an interface whose link type is not
    /// decoded), once per file and interface.
    Warning(String),
}

impl Problem {
    /// True for an error (the run's exit status says an input failed).
    pub fn is_error(&self) -> bool {
        matches!(self, Problem::Error(_))
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Error(m) => f.write_str(m),
            Problem::Warning(m) => write!(f, "warning: {m}"),
        }
    }
}

/// First bytes of the capture files a directory scan picks: classic pcap
/// (µs, ns, modified) in either byte order, pcapng.
const PCAP_MAGICS: [[u8; 4]; 7] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xcd, 0x34],
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
/// gives its capture files (recognised by magic number) in name order
/// (numbers by value: [`crate::text::natural_cmp`]; not its subdirectories), a
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
            files.sort_by(|a, b| {
                crate::text::natural_cmp(&a.to_string_lossy(), &b.to_string_lossy())
            });
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
