//! The native reader against libpcap, frame for frame, on the real sample
//! and corpus captures; and the formats libpcap reads differently or not
//! at all (several link types, sections of both byte orders, time
//! resolutions and offsets, FCS), written here around the samples' real
//! frames.

use std::path::{Path, PathBuf};

use super::pcapng::{BOM, IDB};
use super::*;
use crate::input::window::Window;

/// A frame with owned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    link: LinkType,
    ts_us: i64,
    data: Vec<u8>,
    wire_len: u32,
    iface: u32,
}

fn own(f: &Frame<'_>) -> Owned {
    Owned {
        link: f.link,
        ts_us: f.ts_us,
        data: f.data.to_vec(),
        wire_len: f.wire_len,
        iface: 0,
    }
}

/// The next frame whose record starts before `end`, owned, with its
/// interface.
fn next_owned(r: &mut Reader, end: u64) -> Option<Owned> {
    let o = own(&r.next_before(end).unwrap()?);
    Some(Owned {
        iface: r.iface(),
        ..o
    })
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real captures: samples, and the shared corpus when present.
fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = Vec::new();
    for dir in [
        root().join("samples"),
        root().join("../shared/corpus/pcaps"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            eprintln!("skipping {}: not found", dir.display());
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".pcap")
                || name.ends_with(".pcapng")
                || name.ends_with(".cap")
                || name.ends_with(".gz")
            {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn gunzip(p: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The frames libpcap reads from `bytes` (written to a temporary file).
fn libpcap_frames(bytes: &[u8]) -> Option<Vec<Owned>> {
    let f = temp_with(bytes);
    let mut cap = pcap::Capture::from_file(f.path()).ok()?;
    let link = LinkType::from_dlt(cap.get_datalink().0)?;
    let mut out = Vec::new();
    loop {
        match cap.next_packet() {
            Ok(p) => out.push(Owned {
                link,
                ts_us: p.header.ts.tv_sec * 1_000_000 + p.header.ts.tv_usec,
                data: p.data.to_vec(),
                wire_len: p.header.len,
                iface: 0,
            }),
            Err(pcap::Error::NoMorePackets) => break,
            // Several link types in one file, sections of another byte
            // order: libpcap stops there.
            Err(_) => return None,
        }
    }
    Some(out)
}

fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

/// Every frame the native reader gives from `win`, and its warnings.
fn native(win: Window) -> (Vec<Owned>, Vec<String>) {
    let mut r = Reader::open(win, false).unwrap();
    let mut out = Vec::new();
    while let Some(f) = next_owned(&mut r, u64::MAX) {
        out.push(f);
    }
    (out, r.take_warnings())
}

/// Both ways of reading bytes (a file, a stream read once) give the same
/// frames.
fn native_all_ways(bytes: &[u8]) -> (Vec<Owned>, Vec<String>) {
    let f = temp_with(bytes);
    let read = native(Window::read_file(f.reopen().unwrap(), 0).unwrap());
    let stream = native(Window::stream(Box::new(std::io::Cursor::new(
        bytes.to_vec(),
    ))));
    assert_eq!(read, stream);
    read
}

#[test]
fn same_frames_as_libpcap_on_every_real_capture() {
    let files = captures();
    assert!(files.len() >= 40, "samples missing: {files:?}");
    let mut compared = 0;
    for p in files {
        let bytes = if p.extension().is_some_and(|e| e == "gz") {
            gunzip(&p)
        } else {
            std::fs::read(&p).unwrap()
        };
        let Some(want) = libpcap_frames(&bytes) else {
            eprintln!("{}: libpcap does not read it; skipped", p.display());
            continue;
        };
        let (got, warnings) = native_all_ways(&bytes);
        assert!(warnings.is_empty(), "{}: {warnings:?}", p.display());
        assert_eq!(got.len(), want.len(), "{}", p.display());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let g = Owned {
                iface: 0,
                ..g.clone()
            };
            assert_eq!(&g, w, "{} frame {i}", p.display());
        }
        compared += 1;
    }
    assert!(compared >= 40, "only {compared} captures compared");
}

/// The capture formats libpcap does not read, or reads otherwise, as tools
/// wrote them (samples/README.md): the same frames as tshark lists
/// (interface, time truncated to µs, wire and captured lengths).
#[test]
fn same_frames_as_tshark_on_the_format_samples() {
    let files = [
        "rawip.pcap",
        "dumpcap-two-interfaces.pcapng",
        "mergecap-link-types.pcapng",
        "editcap-pcapng.pcapng",
        "editcap-nsec.pcap",
        "editcap-modified.pcap",
        "sections-both-byte-orders.pcapng",
        "openssl-tls13.pcapng",
    ];
    for name in files {
        let path = root().join("samples").join(name);
        let out = match std::process::Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args([
                "-T",
                "fields",
                "-e",
                "frame.interface_id",
                "-e",
                "frame.time_epoch",
            ])
            .args(["-e", "frame.len", "-e", "frame.cap_len"])
            .stderr(std::process::Stdio::null())
            .output()
        {
            Ok(o) if o.status.success() => o,
            _ => {
                eprintln!("skipping the tshark comparison: tshark is not available");
                return;
            }
        };
        let want: Vec<(u32, i64, u32, usize)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let (s, frac) = f[1].split_once('.').unwrap();
                let us = s.parse::<i64>().unwrap() * 1_000_000 + frac[..6].parse::<i64>().unwrap();
                let iface = f[0].parse().unwrap_or(0); // empty in classic pcap
                (iface, us, f[2].parse().unwrap(), f[3].parse().unwrap())
            })
            .collect();
        let (got, warnings) = native_all_ways(&std::fs::read(&path).unwrap());
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        let got: Vec<(u32, i64, u32, usize)> = got
            .iter()
            .map(|f| (f.iface, f.ts_us, f.wire_len, f.data.len()))
            .collect();
        assert!(!want.is_empty(), "{name}");
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn the_format_samples_carry_their_link_types() {
    let links = |name: &str| {
        let bytes = std::fs::read(root().join("samples").join(name)).unwrap();
        let mut l: Vec<(u32, LinkType)> = native_all_ways(&bytes)
            .0
            .iter()
            .map(|f| (f.iface, f.link))
            .collect();
        l.sort_by_key(|x| x.0);
        l.dedup();
        l
    };
    assert_eq!(links("rawip.pcap"), [(0, LinkType::Raw)]);
    assert_eq!(
        links("dumpcap-two-interfaces.pcapng"),
        [(0, LinkType::Ethernet), (1, LinkType::Raw)]
    );
    assert_eq!(
        links("mergecap-link-types.pcapng"),
        [
            (0, LinkType::Ethernet),
            (1, LinkType::LinuxSll),
            (2, LinkType::Raw)
        ]
    );
}

// ---- classic pcap variants -------------------------------------------------------------

/// A classic pcap file of `frames` (ts µs, data, wire length).
#[derive(Clone, Copy)]
struct ClassicFmt {
    big: bool,
    nanos: bool,
    modified: bool,
    /// Link-type field as written (FCS bits included).
    network: u32,
}

fn write_classic(fmt: ClassicFmt, frames: &[Owned]) -> Vec<u8> {
    let u32b = |v: u32| {
        if fmt.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if fmt.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = match (fmt.nanos, fmt.modified) {
        (true, _) => 0xa1b2_3c4d,
        (false, true) => 0xa1b2_cd34,
        _ => 0xa1b2_c3d4,
    };
    let mut v = u32b(magic).to_vec();
    v.extend(u16b(2));
    v.extend(u16b(4));
    v.extend(u32b(0));
    v.extend(u32b(0));
    v.extend(u32b(65535));
    v.extend(u32b(fmt.network));
    for f in frames {
        let secs = f.ts_us.div_euclid(1_000_000) as u32;
        let us = f.ts_us.rem_euclid(1_000_000) as u32;
        v.extend(u32b(secs));
        v.extend(u32b(if fmt.nanos { us * 1000 + 999 } else { us }));
        v.extend(u32b(f.data.len() as u32));
        v.extend(u32b(f.wire_len));
        if fmt.modified {
            // ifindex, protocol, pkt_type, pad
            v.extend(u32b(3));
            v.extend(u16b(0x0800));
            v.extend([0, 0]);
        }
        v.extend(&f.data);
    }
    v
}

fn sample_frames(name: &str) -> Vec<Owned> {
    let bytes = std::fs::read(root().join("samples").join(name)).unwrap();
    libpcap_frames(&bytes).unwrap()
}

#[test]
fn classic_byte_orders_nanoseconds_and_modified_format() {
    let frames = sample_frames("openssl-tls12.pcap");
    assert!(frames.len() > 5);
    for big in [false, true] {
        for (nanos, modified) in [(false, false), (true, false), (false, true)] {
            let fmt = ClassicFmt {
                big,
                nanos,
                modified,
                network: 1,
            };
            let bytes = write_classic(fmt, &frames);
            let (got, w) = native_all_ways(&bytes);
            assert!(w.is_empty());
            assert_eq!(got, frames, "big {big} nanos {nanos} modified {modified}");
            if !modified {
                // libpcap agrees on the standard variants.
                assert_eq!(libpcap_frames(&bytes).unwrap(), frames);
            }
        }
    }
}

#[test]
fn classic_fcs_bits_leave_the_trailer_as_libpcap_does() {
    let frames = sample_frames("openssl-tls12.pcap");
    let with_fcs: Vec<Owned> = frames
        .iter()
        .map(|f| {
            let mut g = f.clone();
            g.data.extend([0xde, 0xad, 0xbe, 0xef]);
            g.wire_len += 4;
            g
        })
        .collect();
    // FCS present, 2 × 16-bit words.
    let network = 1 | 0x0400_0000 | (2 << 28);
    let fmt = ClassicFmt {
        big: false,
        nanos: false,
        modified: false,
        network,
    };
    let bytes = write_classic(fmt, &with_fcs);
    let (got, _) = native_all_ways(&bytes);
    assert_eq!(got, with_fcs);
    assert_eq!(libpcap_frames(&bytes).unwrap(), with_fcs);
}

#[test]
fn classic_unsupported_link_type_is_told() {
    let frames = sample_frames("openssl-tls12.pcap");
    let fmt = ClassicFmt {
        big: false,
        nanos: false,
        modified: false,
        network: 147,
    };
    let f = temp_with(&write_classic(fmt, &frames));
    let mut r = Reader::open(Window::read_file(f.reopen().unwrap(), 0).unwrap(), false).unwrap();
    assert_eq!(r.unsupported_classic_link(), Some(147));
    assert!(r.next_frame().unwrap().is_none());
    assert_eq!(r.packets(), frames.len() as u64);
}

// ---- pcapng ----------------------------------------------------------------------------

/// A small pcapng writer, in either byte order.
struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn new(big: bool) -> Ng {
        let mut n = Ng {
            big,
            out: Vec::new(),
        };
        let mut body = n.u32(BOM).to_vec();
        body.extend(n.u16(1));
        body.extend(n.u16(0));
        body.extend(n.u64(u64::MAX));
        n.block(SHB, &body);
        n
    }
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u64(&self, v: u64) -> [u8; 8] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, t: u32, body: &[u8]) {
        let len = 12 + body.len().next_multiple_of(4);
        self.out.extend(self.u32(t));
        self.out.extend(self.u32(len as u32));
        self.out.extend(body);
        self.out.resize(
            self.out.len() + body.len().next_multiple_of(4) - body.len(),
            0,
        );
        self.out.extend(self.u32(len as u32));
    }
    fn opt(&self, code: u16, val: &[u8]) -> Vec<u8> {
        let mut v = self.u16(code).to_vec();
        v.extend(self.u16(val.len() as u16));
        v.extend(val);
        v.resize(4 + val.len().next_multiple_of(4), 0);
        v
    }
    /// An interface: link type, name, options (code, value).
    fn idb(&mut self, link: u16, name: &str, opts: &[(u16, Vec<u8>)]) {
        let mut body = self.u16(link).to_vec();
        body.extend(self.u16(0));
        body.extend(self.u32(0));
        body.extend(self.opt(2, name.as_bytes()));
        for (c, v) in opts {
            body.extend(self.opt(*c, v));
        }
        body.extend(self.opt(0, &[]));
        self.block(IDB, &body);
    }
    fn epb(&mut self, iface: u32, t: u64, data: &[u8], wire: u32, opts: &[(u16, Vec<u8>)]) {
        let mut body = self.u32(iface).to_vec();
        body.extend(self.u32((t >> 32) as u32));
        body.extend(self.u32(t as u32));
        body.extend(self.u32(data.len() as u32));
        body.extend(self.u32(wire));
        body.extend(data);
        body.resize(body.len().next_multiple_of(4), 0);
        if !opts.is_empty() {
            for (c, v) in opts {
                body.extend(self.opt(*c, v));
            }
            body.extend(self.opt(0, &[]));
        }
        self.block(EPB, &body);
    }
    fn spb(&mut self, data: &[u8], wire: u32) {
        let mut body = self.u32(wire).to_vec();
        body.extend(data);
        self.block(SPB, &body);
    }
    fn pb(&mut self, iface: u16, t: u64, data: &[u8], wire: u32) {
        let mut body = self.u16(iface).to_vec();
        body.extend(self.u16(0));
        body.extend(self.u32((t >> 32) as u32));
        body.extend(self.u32(t as u32));
        body.extend(self.u32(data.len() as u32));
        body.extend(self.u32(wire));
        body.extend(data);
        self.block(PB, &body);
    }
}

/// Linux cooked (v1) header in front of an Ethernet frame's IP packet.
fn to_sll(eth: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
    v.extend(&eth[12..14]);
    v.extend(&eth[14..]);
    v
}

#[test]
fn pcapng_interfaces_sections_resolutions_and_blocks() {
    let frames = sample_frames("openssl-tls12.pcap");
    let (a, b) = frames.split_at(frames.len() / 2);
    let mut want = Vec::new();
    let mut bytes = Vec::new();
    // Time of the latest packet written (a Simple Packet Block has that).
    let mut last = 0i64;
    for big in [false, true] {
        let mut n = Ng::new(big);
        // 0: Ethernet, µs; 1: Linux cooked, ns with an offset of 100 s;
        // 2: LINKTYPE_PPP (not decoded: skipped, one warning);
        // 3: raw IP, 2^-20 s units, 4-byte FCS (left in the frame).
        n.idb(1, "eth0", &[]);
        n.idb(113, "any", &[(9, vec![9]), (14, n.u64(100).to_vec())]);
        n.idb(9, "ppp0", &[]);
        n.idb(101, "tun0", &[(9, vec![0x80 | 20]), (13, vec![4])]);
        // Blocks to skip: name resolution, interface statistics, custom.
        n.block(4, &[0, 0, 0, 0]);
        n.block(5, &[0; 12]);
        n.block(0x0000_0BAD, &[0, 0, 0x7e, 0xd9, 1, 2, 3, 4]);
        for (i, f) in a.iter().enumerate() {
            let t = f.ts_us as u64;
            match i % 4 {
                0 => {
                    n.epb(0, t, &f.data, f.wire_len, &[]);
                    want.push(Owned {
                        iface: 0,
                        ..f.clone()
                    });
                    last = f.ts_us;
                }
                1 => {
                    let d = to_sll(&f.data);
                    let tn = (t - 100_000_000) * 1000 + 999;
                    n.epb(1, tn, &d, d.len() as u32, &[(1, b"a comment".to_vec())]);
                    want.push(Owned {
                        link: LinkType::LinuxSll,
                        data: d.clone(),
                        wire_len: d.len() as u32,
                        iface: 1,
                        ..f.clone()
                    });
                    last = f.ts_us;
                }
                2 => {
                    n.epb(2, t, &f.data, f.wire_len, &[]);
                    last = f.ts_us;
                }
                _ => {
                    let mut d = f.data[14..].to_vec();
                    d.extend([1, 2, 3, 4]);
                    let units = ((t / 1_000_000) << 20) | (((t % 1_000_000) << 20) / 1_000_000);
                    n.epb(3, units, &d, d.len() as u32, &[]);
                    // Binary fractions convert back to µs, truncated.
                    let back = (units >> 20) * 1_000_000 + (((units & 0xfffff) * 1_000_000) >> 20);
                    want.push(Owned {
                        link: LinkType::Raw,
                        ts_us: back as i64,
                        wire_len: d.len() as u32,
                        data: d,
                        iface: 3,
                    });
                    last = back as i64;
                }
            }
        }
        bytes.extend(n.out);
        // A second section of this byte order: one interface, simple and
        // obsolete packet blocks, an FCS length in epb_flags.
        let mut m = Ng::new(big);
        m.idb(1, "eth1", &[]);
        for (i, f) in b.iter().enumerate() {
            let t = f.ts_us as u64;
            match i % 3 {
                0 => {
                    m.spb(&f.data, f.wire_len);
                    want.push(Owned {
                        ts_us: last,
                        iface: 0,
                        ..f.clone()
                    });
                }
                1 => {
                    m.pb(0, t, &f.data, f.wire_len);
                    want.push(Owned {
                        iface: 0,
                        ..f.clone()
                    });
                    last = f.ts_us;
                }
                _ => {
                    let mut d = f.data.clone();
                    d.extend([9, 9]);
                    let flags = (2u32 << 5) | 1;
                    m.epb(0, t, &d, f.wire_len + 2, &[(2, m.u32(flags).to_vec())]);
                    want.push(Owned {
                        iface: 0,
                        wire_len: f.wire_len + 2,
                        data: d,
                        ..f.clone()
                    });
                    last = f.ts_us;
                }
            }
        }
        bytes.extend(m.out);
    }
    let (got, warnings) = native_all_ways(&bytes);
    assert_eq!(
        warnings,
        vec![
            "interface 2 (ppp0): link type 9 (PPP) is not supported; \
             its packets are skipped",
            "section 3, interface 2 (ppp0): link type 9 (PPP) is not supported; \
             its packets are skipped",
        ]
    );
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {i}");
    }
}

#[test]
fn pcapng_times_saturate_and_offsets_are_signed() {
    let frames = sample_frames("openssl-tls12.pcap");
    let f = &frames[0];
    for big in [false, true] {
        let mut n = Ng::new(big);
        n.idb(1, "s", &[(9, vec![0])]); // seconds
        n.idb(1, "neg", &[(14, n.u64((-5i64) as u64).to_vec())]);
        n.epb(0, u64::MAX, &f.data, f.wire_len, &[]);
        n.epb(1, 7_000_000, &f.data, f.wire_len, &[]);
        let (got, _) = native_all_ways(&n.out);
        assert_eq!(got[0].ts_us, i64::MAX);
        assert_eq!(got[1].ts_us, 2_000_000);
    }
}

// ---- damage ----------------------------------------------------------------------------

fn read_until_error(bytes: &[u8]) -> (u64, String) {
    let f = temp_with(bytes);
    let mut r = match Reader::open(Window::read_file(f.reopen().unwrap(), 0).unwrap(), false) {
        Ok(r) => r,
        Err(e) => return (0, format!("open: {e}")),
    };
    let mut n = 0;
    loop {
        match r.next_frame() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, "end".into()),
            Err(e) => return (n, e.to_string()),
        }
    }
}

#[test]
fn damage_gets_libpcaps_messages() {
    let frames = sample_frames("openssl-tls12.pcap");
    let fmt = ClassicFmt {
        big: false,
        nanos: false,
        modified: false,
        network: 1,
    };
    let good = write_classic(fmt, &frames);
    let last = frames.last().unwrap().data.len();
    let n = frames.len() as u64;
    assert_eq!(read_until_error(&good), (n, "end".into()));
    assert_eq!(
        read_until_error(&good[..good.len() - last / 2]),
        (
            n - 1,
            format!(
                "libpcap error: truncated dump file; tried to read {last} captured bytes, \
                 only got {}",
                last - last / 2
            )
        )
    );
    assert_eq!(
        read_until_error(&good[..good.len() - last - 6]),
        (
            n - 1,
            "libpcap error: truncated dump file; tried to read 16 header bytes, only got 10".into()
        )
    );
    assert_eq!(
        read_until_error(&good[..10]),
        (
            0,
            "open: libpcap error: truncated dump file; tried to read 24 file header bytes, \
             only got 6"
                .into()
        )
    );
    assert_eq!(
        read_until_error(b"not a capture"),
        (0, "open: libpcap error: unknown file format".into())
    );
    let mut bad = good.clone();
    let at = good.len() - last - 16 + 8;
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        read_until_error(&bad),
        (
            n - 1,
            "libpcap error: invalid packet capture length 4294967295, bigger than snaplen \
             of 65535"
                .into()
        )
    );
    // pcapng: a block cut short, a trailer that disagrees, an unknown interface.
    let mut ng = Ng::new(false);
    ng.idb(1, "eth0", &[]);
    for f in &frames {
        ng.epb(0, f.ts_us as u64, &f.data, f.wire_len, &[]);
    }
    let good = ng.out.clone();
    assert_eq!(read_until_error(&good), (n, "end".into()));
    let (k, msg) = read_until_error(&good[..good.len() - 10]);
    assert_eq!(k, n - 1);
    assert!(
        msg.starts_with("libpcap error: truncated pcapng dump file"),
        "{msg}"
    );
    let mut bad = good.clone();
    let end = bad.len();
    bad[end - 4] ^= 4;
    assert_eq!(
        read_until_error(&bad),
        (
            n - 1,
            "libpcap error: block total length in header and trailer don't match".into()
        )
    );
    ng.epb(7, 0, &frames[0].data, 60, &[]);
    assert_eq!(
        read_until_error(&ng.out),
        (
            n,
            "libpcap error: a packet arrived on interface 7, but there's no Interface \
             Description Block for that interface"
                .into()
        )
    );
}

// ---- chunks ----------------------------------------------------------------------------

#[test]
fn a_chunk_reads_from_its_start_to_its_end() {
    let frames = sample_frames("openssl-tls13.pcap");
    let fmt = ClassicFmt {
        big: false,
        nanos: false,
        modified: false,
        network: 1,
    };
    let bytes = write_classic(fmt, &frames);
    let f = temp_with(&bytes);
    // Record offsets.
    let mut offs = vec![];
    let mut r = Reader::open(Window::read_file(f.reopen().unwrap(), 0).unwrap(), false).unwrap();
    loop {
        offs.push(r.offset());
        if r.next_frame().unwrap().is_none() {
            break;
        }
    }
    let (s, e) = (offs[3], offs[7]);
    let mut r = Reader::open(Window::read_file(f.reopen().unwrap(), 0).unwrap(), false).unwrap();
    r.read_head().unwrap();
    r.jump(s);
    let mut got = vec![];
    while let Some(fr) = next_owned(&mut r, e) {
        got.push(fr);
    }
    assert_eq!(got, frames[3..7]);
    assert_eq!(r.offset(), e);
    // On past the end.
    assert_eq!(next_owned(&mut r, u64::MAX).unwrap(), frames[7]);
}

/// A pcapng whose every packet is on an interface of a link type not
/// decoded (PPP) warns of the interface and then fails as a classic pcap
/// of that link type does: nothing of it could be analysed. With one
/// Ethernet interface beside it, the file reads on.
#[test]
fn pcapng_with_only_skipped_interfaces_fails() {
    use crate::input::frame::{Event, FrameSource};
    use crate::input::offline::Files;
    use crate::input::source::Input;
    let frames = sample_frames("openssl-tls12.pcap");
    let events = |ethernet_too: bool| {
        let mut n = Ng::new(false);
        n.idb(9, "ppp0", &[]);
        if ethernet_too {
            n.idb(1, "eth0", &[]);
        }
        for (i, f) in frames.iter().enumerate() {
            let iface = u32::from(ethernet_too && i % 2 == 0);
            n.epb(
                iface,
                1_000_000 + i as u64,
                &f.data,
                f.data.len() as u32,
                &[],
            );
        }
        let file = temp_with(&n.out);
        let mut files = Files::new(vec![Input::File(file.path().to_path_buf())]);
        let mut out = Vec::new();
        loop {
            match files.next() {
                Event::Frame(_) => out.push("frame".to_string()),
                Event::Warning(w) => out.push(format!("warning {w}")),
                Event::Failed(e) => out.push(format!("failed {e}")),
                Event::End => return out,
                _ => {}
            }
        }
    };
    let only_ppp = events(false);
    assert!(only_ppp.iter().all(|e| e != "frame"), "{only_ppp:?}");
    assert!(
        only_ppp[0].contains("link type 9 (PPP) is not supported"),
        "{only_ppp:?}"
    );
    let last = only_ppp.last().unwrap();
    assert!(
        last.starts_with("failed ") && last.contains(&format!("({} packets skipped", frames.len())),
        "{only_ppp:?}"
    );
    let mixed = events(true);
    assert_eq!(
        mixed.iter().filter(|e| *e == "frame").count(),
        frames.len().div_ceil(2)
    );
    assert!(!mixed.iter().any(|e| e.starts_with("failed")), "{mixed:?}");
}
