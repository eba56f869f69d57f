//! pcapng: sections, interfaces and packet blocks.

use pcap_parser::pcapng::{
    Block, EnhancedPacketBlock, InterfaceDescriptionBlock, OptionCode, SimplePacketBlock,
};
use pcap_parser::traits::PcapNGPacketBlock;

use super::{Format, Located, ReadError, Reader, Step, link_name, lp, word};
use crate::wire::decode::LinkType;

/// Largest pcapng block read (a longer one is corrupt).
pub const MAX_BLOCK: u32 = 64 << 20;
/// pcapng block types.
pub(super) const SHB: u32 = 0x0A0D_0D0A;
pub(super) const IDB: u32 = 1;
pub(super) const PB: u32 = 2;
pub(super) const SPB: u32 = 3;
pub(super) const EPB: u32 = 6;
/// Byte-order magic of a pcapng section.
pub(super) const BOM: u32 = 0x1A2B_3C4D;

pub(super) struct Pcapng {
    pub(super) big_endian: bool,
    /// Sections before this one.
    pub(super) section: u32,
    pub(super) ifaces: Vec<Iface>,
    /// Time of the latest packet (for Simple Packet Blocks).
    pub(super) last_ts: i64,
}

/// One pcapng interface.
pub(super) struct Iface {
    pub(super) link: Option<LinkType>,
    pub(super) name: Option<String>,
    pub(super) snaplen: u32,
    /// Time units per second.
    pub(super) units: u64,
    /// Seconds added to every time.
    pub(super) offset_s: i64,
    /// Why its frames are skipped (`None`: they are read).
    pub(super) skip: Option<String>,
    pub(super) warned: bool,
}

impl Reader {
    /// Reads the section header block at `pos` (its byte order decides
    /// how its length reads).
    pub(super) fn section_header(&mut self, pos: u64) -> Result<(), ReadError> {
        let have = self.ensure(pos, 12)?;
        if have < 12 {
            return Err(ReadError::Corrupt(lp(format!(
                "truncated pcapng dump file; tried to read 12 bytes, only got {have}"
            ))));
        }
        let b = self.win.get(pos, 12);
        let bom = b.get(8..12).and_then(|s| <[u8; 4]>::try_from(s).ok());
        let big_endian = match bom.map(u32::from_le_bytes) {
            Some(BOM) => false,
            Some(v) if v == BOM.swap_bytes() => true,
            _ => return Err(ReadError::Corrupt(lp("unknown file format".into()))),
        };
        let section = match &self.format {
            Format::Pcapng(n) if self.pos > 0 => n.section + 1,
            _ => 0,
        };
        self.format = Format::Pcapng(Pcapng {
            big_endian,
            section,
            ifaces: Vec::new(),
            last_ts: match &self.format {
                Format::Pcapng(n) => n.last_ts,
                Format::Classic(_) => 0,
            },
        });
        let (_, len) = self.block_len(pos)?;
        let block = self.win.get(pos, len);
        match pcap_parser::pcapng::parse_sectionheaderblock(block) {
            Ok(_) => {}
            Err(_) => {
                return Err(ReadError::Corrupt(lp(
                    "pcapng section header block is malformed".into(),
                )));
            }
        }
        if self.head_done {
            self.redescribed = true;
        }
        self.pos = pos + len as u64;
        Ok(())
    }

    /// Checks the length of the block at `pos` and makes it available:
    /// returns its type and length.
    #[inline]
    fn block_len(&mut self, pos: u64) -> Result<(u32, usize), ReadError> {
        let have = self.ensure(pos, 12)?;
        let big = self.big_endian();
        let head = self.win.get(pos, have.min(8));
        if head.len() < 8 {
            return Err(ReadError::Corrupt(lp(format!(
                "truncated pcapng dump file; tried to read 8 bytes, only got {have}"
            ))));
        }
        let (typ, len) = (word(head, 0, big), word(head, 4, big));
        if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(ReadError::Corrupt(lp(bad_length(len))));
        }
        let len = len as usize;
        let have = if have >= len {
            have
        } else {
            self.ensure(pos, len)?
        };
        if have < len {
            return Err(ReadError::Corrupt(lp(format!(
                "truncated pcapng dump file; tried to read {} bytes, only got {}",
                len - 8,
                have - 8
            ))));
        }
        if word(self.win.get(pos, len), len - 4, big) != len as u32 {
            return Err(ReadError::Corrupt(lp(
                "block total length in header and trailer don't match".into(),
            )));
        }
        Ok((typ, len))
    }

    /// The next block when it is an enhanced packet block without options,
    /// of an interface whose frames are read, lying whole in the buffer;
    /// `None` leaves it to [`Reader::pcapng_block`].
    #[inline]
    pub(super) fn epb_fast(&mut self) -> Option<Located> {
        let Format::Pcapng(n) = &self.format else {
            return None;
        };
        // One copy of the code per byte order: each word read is then a
        // plain load.
        if n.big_endian {
            self.epb_fast_in::<true>()
        } else {
            self.epb_fast_in::<false>()
        }
    }

    #[inline(always)]
    fn epb_fast_in<const BIG: bool>(&mut self) -> Option<Located> {
        let Format::Pcapng(n) = &mut self.format else {
            return None;
        };
        let b = self.win.buffered_from(self.pos);
        let (h, _) = b.split_first_chunk::<28>()?;
        let w = |i: usize| word(h, i, BIG);
        let (typ, len, caplen) = (w(0), w(4) as usize, w(20));
        if typ != EPB
            || len > MAX_BLOCK as usize
            || (caplen as usize).next_multiple_of(4) + 32 != len
        {
            return None;
        }
        let trailer = b.get(len - 4..len)?.first_chunk::<4>()?;
        let trailer = if BIG {
            u32::from_be_bytes(*trailer)
        } else {
            u32::from_le_bytes(*trailer)
        };
        if trailer as usize != len {
            return None;
        }
        let if_id = w(8);
        let iface = n.ifaces.get(if_id as usize)?;
        if iface.skip.is_some() {
            return None;
        }
        let link = iface.link?;
        let t = (u64::from(w(12)) << 32) | u64::from(w(16));
        let ts_us = if iface.units == 1_000_000 && iface.offset_s == 0 {
            // The common case: µs already.
            i64::try_from(t).unwrap_or(i64::MAX)
        } else {
            iface.micros(t)
        };
        n.last_ts = ts_us;
        let at = self.pos + 28;
        self.pos += len as u64;
        self.packets += 1;
        self.head_done = true;
        Some(Located {
            at,
            len: caplen as usize,
            link,
            ts_us,
            wire_len: w(24),
            iface: if_id,
        })
    }

    #[inline]
    pub(super) fn pcapng_block(&mut self) -> Result<Step, ReadError> {
        let pos = self.pos;
        let have = self.ensure(pos, 12)?;
        if have == 0 {
            return Ok(Step::End);
        }
        if self.win.get(pos, 4) == SHB.to_le_bytes() {
            self.section_header(pos)?;
            return Ok(Step::Skipped);
        }
        let (typ, len) = self.block_len(pos)?;
        self.pos = pos + len as u64;
        match typ {
            EPB | SPB | PB => {
                self.packets += 1;
                self.head_done = true;
                self.packet_block(typ, pos, len)
            }
            IDB => {
                self.interface(pos, len)?;
                Ok(Step::Skipped)
            }
            _ => Ok(Step::Skipped),
        }
    }

    fn interface(&mut self, pos: u64, len: usize) -> Result<(), ReadError> {
        let Format::Pcapng(n) = &mut self.format else {
            return Ok(());
        };
        let block = self.win.get(pos, len);
        let parsed = if n.big_endian {
            pcap_parser::pcapng::parse_interfacedescriptionblock_be(block)
        } else {
            pcap_parser::pcapng::parse_interfacedescriptionblock_le(block)
        };
        let (_, idb) = parsed.map_err(|_| {
            ReadError::Corrupt(lp("pcapng interface description block is malformed".into()))
        })?;
        n.ifaces.push(Iface::of(&idb, n.big_endian));
        if self.head_done {
            self.redescribed = true;
        }
        Ok(())
    }

    fn packet_block(&mut self, typ: u32, pos: u64, len: usize) -> Result<Step, ReadError> {
        let Format::Pcapng(n) = &mut self.format else {
            return Ok(Step::End);
        };
        let block = self.win.get(pos, len);
        let big = n.big_endian;
        let malformed = |what: &str| ReadError::Corrupt(lp(format!("{what} is malformed")));
        // (interface, time units, captured data offset and length, wire length)
        let (if_id, ts, data_off, caplen, wire) = match typ {
            EPB if {
                // Most blocks have no options: their fields are read here
                // directly, the others by pcap-parser.
                let caplen = word(block, 20, big);
                u64::from(caplen).next_multiple_of(4) + 32 == len as u64
            } =>
            {
                let ts = (u64::from(word(block, 12, big)) << 32) | u64::from(word(block, 16, big));
                (
                    word(block, 8, big),
                    Some(ts),
                    28,
                    word(block, 20, big),
                    word(block, 24, big),
                )
            }
            EPB => {
                let parsed = if big {
                    pcap_parser::pcapng::parse_enhancedpacketblock_be(block)
                } else {
                    pcap_parser::pcapng::parse_enhancedpacketblock_le(block)
                };
                let epb: EnhancedPacketBlock<'_> =
                    parsed.map_err(|_| malformed("enhanced packet block"))?.1;
                let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let caplen = epb.packet_data().len() as u32;
                (epb.if_id, Some(ts), 28, caplen, epb.orig_len())
            }
            SPB => {
                let parsed = if big {
                    pcap_parser::pcapng::parse_simplepacketblock_be(block)
                } else {
                    pcap_parser::pcapng::parse_simplepacketblock_le(block)
                };
                let spb: SimplePacketBlock<'_> =
                    parsed.map_err(|_| malformed("simple packet block"))?.1;
                let mut caplen = spb.packet_data().len() as u32;
                if let Some(i) = n.ifaces.first()
                    && i.snaplen > 0
                {
                    caplen = caplen.min(i.snaplen);
                }
                (0, None, 12, caplen, spb.orig_len())
            }
            _ => {
                // The obsolete Packet Block: interface (16 bits), drops
                // (16 bits), time (2 × 32), captured and wire lengths, data.
                let parsed = if big {
                    pcap_parser::pcapng::parse_block_be(block)
                } else {
                    pcap_parser::pcapng::parse_block_le(block)
                };
                let Ok((_, Block::Unknown(pb))) = parsed else {
                    return Err(malformed("packet block"));
                };
                let u = |i: usize| {
                    let v = pb
                        .data
                        .get(i..i + 4)
                        .and_then(|s| <[u8; 4]>::try_from(s).ok())
                        .ok_or_else(|| malformed("packet block"))?;
                    Ok::<u32, ReadError>(if big {
                        u32::from_be_bytes(v)
                    } else {
                        u32::from_le_bytes(v)
                    })
                };
                let first = u(0)?;
                let if_id = if big { first >> 16 } else { first & 0xffff };
                let ts = (u64::from(u(4)?) << 32) | u64::from(u(8)?);
                let (caplen, wire) = (u(12)?, u(16)?);
                if u64::from(caplen) + 32 > len as u64 {
                    return Err(malformed("packet block"));
                }
                (if_id, Some(ts), 28, caplen, wire)
            }
        };
        let Some(iface) = n.ifaces.get_mut(if_id as usize) else {
            return Err(ReadError::Corrupt(lp(format!(
                "a packet arrived on interface {if_id}, but there's no Interface \
                 Description Block for that interface"
            ))));
        };
        let ts_us = match ts {
            Some(t) => {
                let us = iface.micros(t);
                n.last_ts = us;
                us
            }
            None => n.last_ts,
        };
        let Some(link) = iface.link.filter(|_| iface.skip.is_none()) else {
            if !iface.warned {
                iface.warned = true;
                let name = iface
                    .name
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                let section = if n.section > 0 {
                    format!("section {}, ", n.section + 1)
                } else {
                    String::new()
                };
                let why = iface.skip.clone().unwrap_or_default();
                self.warnings.push(format!(
                    "{section}interface {if_id}{name}: {why}; its packets are skipped"
                ));
            }
            self.skipped += 1;
            return Ok(Step::Skipped);
        };
        let wire_len = wire;
        Ok(Step::Frame(Located {
            at: pos + data_off,
            len: caplen as usize,
            link,
            ts_us,
            wire_len,
            iface: if_id,
        }))
    }
}

/// libpcap's message for a block length it refuses.
fn bad_length(len: u32) -> String {
    if len < 12 {
        format!("block in pcapng dump file has a length of {len} < 12")
    } else if !len.is_multiple_of(4) {
        format!("block in pcapng dump file has a length of {len} that is not a multiple of 4")
    } else {
        format!("pcapng block size {len} > maximum {MAX_BLOCK}")
    }
}

impl Iface {
    fn of(idb: &InterfaceDescriptionBlock<'_>, big: bool) -> Iface {
        let dlt = idb.linktype.0 as u16;
        let link = LinkType::from_dlt(i32::from(dlt));
        let opt = |code: u16| idb.options.iter().find(|o| o.code == OptionCode(code));
        let name = opt(2)
            .and_then(|o| o.as_str().ok())
            .map(|s| s.trim_end_matches('\0').to_string())
            .filter(|s| !s.is_empty());
        // if_tsoffset in the section's byte order (pcap-parser reads it
        // little-endian).
        let offset_s = opt(14)
            .and_then(|o| <[u8; 8]>::try_from(o.value().get(..8)?).ok())
            .map_or(0, |v| {
                if big {
                    i64::from_be_bytes(v)
                } else {
                    i64::from_le_bytes(v)
                }
            });
        let units = time_units(idb.if_tsresol);
        let skip = if link.is_none() {
            Some(format!(
                "link type {dlt} ({}) is not supported",
                link_name(u32::from(dlt))
            ))
        } else if units.is_none() {
            Some(format!(
                "time resolution if_tsresol {} is out of range",
                idb.if_tsresol
            ))
        } else {
            None
        };
        Iface {
            link,
            name,
            snaplen: idb.snaplen,
            units: units.unwrap_or(1_000_000),
            offset_s,
            skip,
            warned: false,
        }
    }

    /// A time in the interface's units as µs since the epoch, saturating.
    #[inline]
    fn micros(&self, t: u64) -> i64 {
        if self.units == 1_000_000 && self.offset_s == 0 {
            // The common case: µs already.
            return i64::try_from(t).unwrap_or(i64::MAX);
        }
        let us = if self.units == 1_000_000 {
            i128::from(t)
        } else {
            let (s, f) = (t / self.units, t % self.units);
            i128::from(s) * 1_000_000 + i128::from(f) * 1_000_000 / i128::from(self.units)
        };
        let us = us + i128::from(self.offset_s) * 1_000_000;
        us.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// Time units per second of an `if_tsresol` value: a power of 10, or of
/// 2 when the high bit is set (pcap-parser's own check refuses the binary
/// ones).
pub fn time_units(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 != 0 {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    } else {
        10u64.checked_pow(u32::from(tsresol))
    }
}
