//! Classic pcap: the file header and the records.

use super::{Format, Located, ReadError, Reader, Step, lp, word};
use crate::wire::decode::LinkType;

/// How libpcap reads the caplen and len fields of a classic record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Swap {
    No,
    /// Before version 2.3: always swapped.
    Yes,
    /// Version 2.3: swapped when caplen > len.
    Maybe,
}

pub(super) struct Classic {
    pub(super) big_endian: bool,
    pub(super) nanos: bool,
    /// Record header length: 16, 24 in the modified format; or that of a
    /// variant ([`Classic::detect_variant`]).
    pub(super) hdr: usize,
    pub(super) swap: Swap,
    pub(super) dlt: u32,
    pub(super) link: Option<LinkType>,
    /// Snapshot length as libpcap takes it.
    pub(super) snaplen: u32,
    /// Largest record libpcap accepts for this link type.
    pub(super) max_caplen: u32,
}

impl Classic {
    /// The file header `head` (24 bytes, fewer when cut short) whose
    /// magic, read little-endian, is `magic`.
    pub(super) fn of_header(head: &[u8], magic: u32) -> Result<Classic, ReadError> {
        let (big_endian, nanos, modified) = match magic {
            0xa1b2_c3d4 => (false, false, false),
            0xa1b2_3c4d => (false, true, false),
            0xa1b2_cd34 => (false, false, true),
            0xd4c3_b2a1 => (true, false, false),
            0x4d3c_b2a1 => (true, true, false),
            0x34cd_b2a1 => (true, false, true),
            _ => return Err(ReadError::NotCapture(lp("unknown file format".into()))),
        };
        if head.len() < 24 {
            return Err(ReadError::NotCapture(lp(format!(
                "truncated dump file; tried to read 24 file header bytes, only got {}",
                head.len() - 4
            ))));
        }
        // pcap-parser reads the header; the modified format in big-endian
        // order is read as the standard one, with the magic swapped.
        let mut h = [0u8; 24];
        h.copy_from_slice(head);
        if modified && big_endian {
            h[..4].copy_from_slice(&[0xa1, 0xb2, 0xc3, 0xd4]);
        }
        let (_, hdr) = pcap_parser::pcap::parse_pcap_header(&h)
            .map_err(|_| ReadError::NotCapture(lp("unknown file format".into())))?;
        let raw = hdr.network.0 as u32;
        let dlt = raw & 0xffff;
        // The upper bits (FCS length) do not change the link type.
        let max_caplen = max_snaplen(dlt);
        let snaplen = match hdr.snaplen {
            0 => max_caplen,
            s if s > max_caplen || s > i32::MAX as u32 => max_caplen,
            s => s,
        };
        let (major, minor) = (hdr.version_major, hdr.version_minor);
        let swap = if major < 2 || (major == 2 && minor < 3) {
            Swap::Yes
        } else if major == 2 && minor == 3 {
            Swap::Maybe
        } else {
            Swap::No
        };
        Ok(Classic {
            big_endian,
            nanos,
            hdr: if modified { 24 } else { 16 },
            swap,
            dlt,
            link: LinkType::from_dlt(dlt as i32),
            snaplen,
            max_caplen,
        })
    }

    /// The record header length the first records read well with, tried
    /// in Wireshark's order: with the standard magic 16 bytes, then the
    /// patched libpcaps of 1999 (RedHat 6.1: 24, Nokia IPSO: 20); with the
    /// modified magic 24 (Kuznetzov), then SuSE 6.3's 28. `recs` are the
    /// bytes after the file header that are at hand; none reading well
    /// leaves the first (whose error the reader then reports).
    pub(super) fn detect_variant(&mut self, recs: &[u8]) {
        // (Before detection, 24 means the modified magic.)
        let tries: &[usize] = if self.hdr == 24 {
            &[24, 28]
        } else {
            &[16, 24, 20]
        };
        if let Some(&h) = tries.iter().find(|&&h| self.reads_well(recs, h)) {
            self.hdr = h;
        }
    }

    /// Whether up to 8 records at the start of `recs` read well with
    /// `hdr`-byte headers: a sub-second field below its unit, a captured
    /// length within the largest libpcap accepts and at most the length on
    /// the wire (lengths as stored: files with swapped lengths predate the
    /// variants), each record followed by another header or by the end of
    /// the bytes at hand.
    fn reads_well(&self, recs: &[u8], hdr: usize) -> bool {
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = recs.get(at..at + 4)?.try_into().ok()?;
            Some(if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let unit = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        let mut at = 0usize;
        for _ in 0..8 {
            if at + hdr > recs.len() {
                break;
            }
            let (Some(frac), Some(caplen), Some(len)) = (word(at + 4), word(at + 8), word(at + 12))
            else {
                return false;
            };
            if frac >= unit || caplen > self.max_caplen || caplen > len {
                return false;
            }
            at += hdr + caplen as usize;
        }
        true
    }
}

/// The record header length of a classic pcap file whose first bytes
/// are `head` (the file header and what follows, as far as at hand), when
/// it is one (see [`Classic::detect_variant`]).
pub fn record_header_len(head: &[u8]) -> Option<usize> {
    let magic = u32::from_le_bytes(head.get(..4)?.try_into().ok()?);
    let mut c = Classic::of_header(head.get(..24)?, magic).ok()?;
    c.detect_variant(head.get(24..)?);
    Some(c.hdr)
}

impl Reader {
    /// The next record when it is a common one (16-byte header, lengths
    /// not swapped, link type decoded) and lies whole in the buffer;
    /// `None` leaves it to [`Reader::classic_record`].
    #[inline]
    pub(super) fn classic_fast(&mut self) -> Option<Located> {
        let Format::Classic(c) = &self.format else {
            return None;
        };
        if c.hdr != 16 || c.swap != Swap::No {
            return None;
        }
        let link = c.link?;
        let b = self.win.buffered_from(self.pos);
        let (h, rest) = b.split_first_chunk::<16>()?;
        let [w0, w1, w2, w3]: [[u8; 4]; 4] = header_words(h);
        let w = |v: [u8; 4]| {
            if c.big_endian {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            }
        };
        let (secs, frac, caplen, len) = (w(w0), w(w1), w(w2), w(w3));
        if caplen > c.max_caplen || rest.len() < caplen as usize {
            return None;
        }
        let frac = if c.nanos { frac / 1000 } else { frac };
        let at = self.pos + 16;
        self.pos = at + u64::from(caplen);
        self.packets += 1;
        Some(Located {
            at,
            len: caplen as usize,
            link,
            ts_us: i64::from(secs) * 1_000_000 + i64::from(frac),
            wire_len: len,
            iface: 0,
        })
    }

    #[inline]
    pub(super) fn classic_record(&mut self) -> Result<Step, ReadError> {
        let Format::Classic(c) = &self.format else {
            return Ok(Step::End);
        };
        let hdr = c.hdr;
        let pos = self.pos;
        let have = self.ensure(pos, hdr)?;
        if have < hdr {
            if have == 0 {
                return Ok(Step::End);
            }
            return Err(ReadError::Corrupt(lp(format!(
                "truncated dump file; tried to read {hdr} header bytes, only got {have}"
            ))));
        }
        let Format::Classic(c) = &self.format else {
            return Ok(Step::End);
        };
        let h = self.win.get(pos, 16);
        let f = |i: usize| word(h, i, c.big_endian);
        let (secs, frac, mut caplen, mut len) = (f(0), f(4), f(8), f(12));
        if c.swap == Swap::Yes || (c.swap == Swap::Maybe && caplen > len) {
            std::mem::swap(&mut caplen, &mut len);
        }
        if caplen > c.max_caplen {
            let msg = if caplen > c.snaplen {
                format!(
                    "invalid packet capture length {caplen}, bigger than snaplen of {}",
                    c.snaplen
                )
            } else {
                format!(
                    "invalid packet capture length {caplen}, bigger than maximum of {}",
                    c.max_caplen
                )
            };
            return Err(ReadError::Corrupt(lp(msg)));
        }
        let total = hdr + caplen as usize;
        let (link, nanos) = (c.link, c.nanos);
        let have = if have >= total {
            have
        } else {
            self.ensure(pos, total)?
        };
        if have < total {
            return Err(ReadError::Corrupt(lp(format!(
                "truncated dump file; tried to read {caplen} captured bytes, only got {}",
                have - hdr
            ))));
        }
        self.pos = pos + total as u64;
        self.packets += 1;
        let Some(link) = link else {
            return Ok(Step::Skipped);
        };
        let frac = if nanos { frac / 1000 } else { frac };
        let ts_us = i64::from(secs) * 1_000_000 + i64::from(frac);
        let (len_cap, wire_len) = (caplen, len);
        Ok(Step::Frame(Located {
            at: pos + hdr as u64,
            len: len_cap as usize,
            link,
            ts_us,
            wire_len,
            iface: 0,
        }))
    }
}

/// Largest frame libpcap accepts for a link type.
fn max_snaplen(dlt: u32) -> u32 {
    match dlt {
        // D-Bus, EBHSCR, USBPcap
        231 => 128 << 20,
        279 => 8 << 20,
        249 => 1 << 20,
        _ => 262_144,
    }
}

/// The four 32-bit words of a 16-byte record header.
#[inline]
fn header_words(h: &[u8; 16]) -> [[u8; 4]; 4] {
    let mut out = [[0u8; 4]; 4];
    for (o, c) in out.iter_mut().zip(h.chunks_exact(4)) {
        o.copy_from_slice(c);
    }
    out
}
