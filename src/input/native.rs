//! Capture files read natively: classic pcap and pcapng, over a
//! [`Window`] (a file or a stream read into a buffer), without libpcap.
//! This file: the reader, its format dispatch and what both formats share;
//! `native/classic.rs` and `native/pcapng.rs`: each format's records.
//!
//! * Classic pcap: both byte orders, micro- and nanosecond magic, the
//!   modified (Kuznetzov, `0xa1b2cd34`) format with its 24-byte record
//!   headers, the link-type field's upper bits (FCS length) masked off,
//!   and libpcap's handling of the caplen/len swap of versions before 2.4.
//! * pcapng: every section (each with its byte order), every interface with
//!   its own link type, `if_tsresol` (decimal and binary), `if_tsoffset`;
//!   Enhanced, Simple (stamped with the last time seen) and obsolete Packet
//!   Blocks; other blocks skipped. Blocks are parsed with `pcap-parser`.
//!
//! An FCS trailer (the FCS bits of the link-type field, `if_fcslen`,
//! `epb_flags`) is left in the frame, as libpcap and tshark hand it on:
//! the decoder takes lengths from the IP headers, so it never reaches TCP
//! (radiotap and PPI say so themselves).
//!
//! Frames of an interface whose link type is not decoded are skipped with
//! one warning per interface ([`Reader::take_warnings`]); the rest of the
//! file is read. Times are µs since the epoch, saturating. Messages keep
//! the wording libpcap used for the same faults, so that they read as
//! before.

use std::io;

use super::frame::Frame;
use super::window::Window;
use crate::wire::decode::LinkType;

mod classic;
mod pcapng;

use classic::Classic;
pub use classic::record_header_len;
use pcapng::{EPB, PB, Pcapng, SHB, SPB};
pub use pcapng::{MAX_BLOCK, time_units};

/// Why a capture could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a capture, or its header is cut short: nothing was read.
    #[error("{0}")]
    NotCapture(String),
    /// The records are cut short or corrupt at this point.
    #[error("{0}")]
    Corrupt(String),
    /// Reading the input failed.
    #[error("libpcap error: error reading dump file: {0}")]
    Io(io::Error),
    /// Decompressing the input failed.
    #[error("decompression failed: {0}")]
    Decompress(io::Error),
}

/// A message in libpcap's words.
fn lp(msg: String) -> String {
    format!("libpcap error: {msg}")
}

/// A pcap or pcapng capture read frame by frame.
pub struct Reader {
    win: Window,
    /// Offset of the next record.
    pos: u64,
    format: Format,
    /// Packet records read (frames skipped included).
    packets: u64,
    /// Of them: skipped, on interfaces whose link type is not decoded.
    skipped: u64,
    /// The input is decompressed (read errors are decompression errors).
    decompressing: bool,
    /// The blocks that describe the capture were read (see
    /// [`Reader::read_head`]).
    head_done: bool,
    /// A section header or interface description came after the head.
    redescribed: bool,
    warnings: Vec<String>,
    /// The frame last moved to.
    cur: Located,
}

enum Format {
    Classic(Classic),
    Pcapng(Pcapng),
}

/// Where a frame lies in the window, and its facts.
#[derive(Clone, Copy)]
struct Located {
    at: u64,
    len: usize,
    link: LinkType,
    ts_us: i64,
    wire_len: u32,
    iface: u32,
}

impl Reader {
    /// Opens a capture from the start of `win`: reads the file header
    /// (classic) or the first section header (pcapng).
    pub fn open(win: Window, decompressing: bool) -> Result<Reader, ReadError> {
        let mut r = Reader {
            win,
            pos: 0,
            format: Format::Pcapng(Pcapng {
                big_endian: false,
                section: 0,
                ifaces: Vec::new(),
                last_ts: 0,
            }),
            packets: 0,
            skipped: 0,
            decompressing,
            head_done: false,
            redescribed: false,
            warnings: Vec::new(),
            cur: Located {
                at: 0,
                len: 0,
                link: LinkType::Ethernet,
                ts_us: 0,
                wire_len: 0,
                iface: 0,
            },
        };
        let have = r.ensure(0, 24)?;
        let head = r.win.get(0, have.min(24));
        if have == 0 {
            // (An empty regular file is refused before it is opened.)
            return Err(ReadError::NotCapture("empty input".into()));
        }
        let Some(magic) = head.get(..4) else {
            return Err(ReadError::NotCapture(lp(format!(
                "truncated dump file; tried to read 4 file header bytes, only got {have}"
            ))));
        };
        let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
        if magic == SHB {
            r.section_header(0).map_err(|e| match e {
                ReadError::Corrupt(m) => ReadError::NotCapture(m),
                e => e,
            })?;
            return Ok(r);
        }
        let mut classic = Classic::of_header(head, magic)?;
        // The records already at hand (a file's first buffer; a stream's
        // first read, not waited for) tell a variant's header length.
        classic.detect_variant(r.win.buffered_from(24));
        r.format = Format::Classic(classic);
        r.pos = 24;
        r.head_done = true;
        Ok(r)
    }

    /// The link type of a classic pcap file, when it is not decoded (the
    /// whole file would be skipped).
    pub fn unsupported_classic_link(&self) -> Option<u32> {
        match &self.format {
            Format::Classic(c) if c.link.is_none() => Some(c.dlt),
            _ => None,
        }
    }

    /// True for pcapng.
    pub fn is_pcapng(&self) -> bool {
        matches!(self.format, Format::Pcapng(_))
    }

    /// Offset of the next record in the input.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// Packet records read so far (skipped frames included).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Packet records skipped so far: on interfaces whose link type is not
    /// decoded.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// A pcapng section header or interface description came after the
    /// capture's head (see [`Reader::read_head`]) or after the first
    /// packet.
    pub fn redescribed(&self) -> bool {
        self.redescribed
    }

    /// Warnings since the last call (interfaces whose frames are skipped),
    /// one line each, without the input's name.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The interface (index within its pcapng section) of the frame last
    /// returned; 0 in classic pcap.
    pub fn iface(&self) -> u32 {
        self.cur.iface
    }

    /// The first warning waiting, if any (see [`Reader::take_warnings`]).
    pub fn next_warning(&mut self) -> Option<String> {
        (!self.warnings.is_empty()).then(|| self.warnings.remove(0))
    }

    /// True when warnings are waiting.
    #[inline]
    pub fn has_warnings(&self) -> bool {
        !self.warnings.is_empty()
    }

    /// Reads the blocks before the first packet (pcapng section header,
    /// interface descriptions...); the next record is then a packet, or
    /// the end. Nothing to do for classic pcap.
    pub fn read_head(&mut self) -> Result<(), ReadError> {
        if let Format::Pcapng(_) = self.format {
            loop {
                let have = self.ensure(self.pos, 8)?;
                if have < 8 {
                    break;
                }
                let typ = self.u32_at(self.pos);
                if matches!(typ, EPB | SPB | PB) {
                    break;
                }
                // Not a packet: read (and skipped) by the record walk.
                if self.walk(self.pos + 1)?.is_some() {
                    break;
                }
            }
        }
        self.head_done = true;
        Ok(())
    }

    /// Moves on to the record at offset `at` (forward only), found by
    /// other means (a chunk's start): the head must have been read.
    pub fn jump(&mut self, at: u64) {
        if at > self.pos {
            self.pos = at;
        }
        self.head_done = true;
    }

    /// The next frame, or `None` at the end of the input.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        self.next_before(u64::MAX)
    }

    /// The next frame whose record starts before offset `end`, or `None`
    /// once the next record starts at or after it (or the input ends).
    #[inline]
    pub fn next_before(&mut self, end: u64) -> Result<Option<Frame<'_>>, ReadError> {
        Ok(self.advance(end)?.then(|| self.current()))
    }

    /// Moves to the next frame whose record starts before offset `end`
    /// ([`Reader::current`]); false once the next record starts at or
    /// after it (or the input ends).
    #[inline]
    pub fn advance(&mut self, end: u64) -> Result<bool, ReadError> {
        // The common case inline, a whole packet record in the buffer: its
        // place goes straight to `cur` (handed back through a `Result`, it
        // went through memory in pieces the processor could not forward
        // to the loads that followed).
        if let Some(l) = self.fast(end) {
            self.cur = l;
            return Ok(true);
        }
        self.advance_slow(end)
    }

    /// [`Reader::advance`] past the common case.
    #[inline(never)]
    fn advance_slow(&mut self, end: u64) -> Result<bool, ReadError> {
        match self.walk(end)? {
            Some(l) => {
                self.cur = l;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The frame [`Reader::advance`] moved to: a slice of the read buffer.
    #[inline]
    pub fn current(&self) -> Frame<'_> {
        let l = &self.cur;
        Frame {
            link: l.link,
            ts_us: l.ts_us,
            data: self.win.get(l.at, l.len),
            wire_len: l.wire_len,
        }
    }

    fn ensure(&mut self, at: u64, need: usize) -> Result<usize, ReadError> {
        self.win.ensure(at, need).map_err(|e| {
            if self.decompressing {
                ReadError::Decompress(e)
            } else {
                ReadError::Io(e)
            }
        })
    }

    fn big_endian(&self) -> bool {
        match &self.format {
            Format::Classic(c) => c.big_endian,
            Format::Pcapng(n) => n.big_endian,
        }
    }

    /// The u32 at `at` in the format's byte order (made available before).
    #[inline]
    fn u32_at(&self, at: u64) -> u32 {
        word(self.win.get(at, 4), 0, self.big_endian())
    }

    /// The common case: a whole packet record in the buffer, starting
    /// before `end`.
    #[inline(always)]
    fn fast(&mut self, end: u64) -> Option<Located> {
        if self.pos >= end {
            return None;
        }
        match self.format {
            Format::Classic(_) => self.classic_fast(),
            Format::Pcapng(_) => self.epb_fast(),
        }
    }

    /// Finds the next frame to hand on record by record (records not whole
    /// in the buffer, blocks that are not packets), until one is or the
    /// next record starts at `end` or later.
    fn walk(&mut self, end: u64) -> Result<Option<Located>, ReadError> {
        loop {
            if self.pos >= end {
                return Ok(None);
            }
            let step = match self.format {
                Format::Classic(_) => self.classic_record()?,
                Format::Pcapng(_) => self.pcapng_block()?,
            };
            match step {
                Step::Frame(l) => return Ok(Some(l)),
                Step::Skipped => {}
                Step::End => return Ok(None),
            }
        }
    }
}

/// The u32 at `i` in `b` (0 past its end).
#[inline]
fn word(b: &[u8], i: usize, big: bool) -> u32 {
    let v = b
        .get(i..i + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .unwrap_or_default();
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// What reading one record gave.
enum Step {
    Frame(Located),
    Skipped,
    End,
}

/// libpcap's name for a link type.
pub fn link_name(dlt: u32) -> String {
    i32::try_from(dlt)
        .ok()
        .and_then(|d| pcap::Linktype(d).get_name().ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests;
