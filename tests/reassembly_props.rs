//! Property tests: TCP reassembly and TLS hello parsing do not depend on how
//! the bytes were cut into segments and records, nor on segment order,
//! duplication, overlap or sequence-number wrap.

use proptest::prelude::*;
use tlsready::flow::assembler::{MAX_PENDING, Piece, Reassembler};
use tlsready::wire::tls::{ClientHello, Event, HandshakeStream};

/// Segments `[start, end)` of a stream of `len` bytes: a cover of the stream
/// (cut at `cuts`), plus `extra` ranges (duplicates and overlaps).
fn segments(len: usize, cuts: &[usize], extra: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
    for &(a, b) in extra {
        let (a, b) = (a % (len + 1), b % (len + 1));
        if a != b {
            segs.push((a.min(b), a.max(b)));
        }
    }
    segs
}

/// Puts `items` in the order given by sorting on `keys` (a random permutation).
fn shuffled<T: Clone>(items: &[T], keys: &[u32]) -> Vec<T> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by_key(|&i| keys.get(i).copied().unwrap_or(u32::MAX - i as u32));
    idx.into_iter().map(|i| items[i].clone()).collect()
}

/// Runs `segs` of `stream` (data starting at `isn + 1`) through a reassembler.
fn reassemble(
    stream: &[u8],
    isn: u32,
    syn: bool,
    segs: &[(usize, usize)],
    mut sink: impl FnMut(Piece<'_>),
) -> Reassembler {
    let mut r = Reassembler::new();
    if syn {
        r.syn(isn);
    }
    for &(a, b) in segs {
        let seq = isn.wrapping_add(1).wrapping_add(a as u32);
        let data = &stream[a..b];
        r.segment(seq, data, data.len() as u32, &mut |p| sink(p));
        assert!(r.pending_bytes() < MAX_PENDING);
    }
    r
}

fn isn_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (u32::MAX - 5000)..=u32::MAX,
        Just(u32::MAX),
        Just(0u32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any cut, order, duplication and overlap gives back exactly the stream.
    #[test]
    fn any_segmentation_yields_the_stream(
        stream in proptest::collection::vec(any::<u8>(), 0..6000),
        isn in isn_strategy(),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        extra in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..12),
        keys in proptest::collection::vec(any::<u32>(), 0..64),
        syn in any::<bool>(),
    ) {
        let segs = segments(stream.len(), &cuts, &extra);
        let mut order = shuffled(&segs, &keys);
        if !syn {
            // Without a SYN the first segment sets the start: make it the
            // stream's first bytes (or nothing would be before it).
            if let Some(i) = order.iter().position(|&(a, b)| a == 0 && b > 0) {
                let first = order.remove(i);
                order.insert(0, first);
            }
        }
        let mut got = Vec::new();
        let mut gaps = 0;
        let r = reassemble(&stream, isn, syn, &order, |p| match p {
            Piece::Data(d) => got.extend_from_slice(d),
            Piece::Gap => gaps += 1,
        });
        prop_assert_eq!(gaps, 0);
        prop_assert_eq!(r.gaps, 0);
        prop_assert_eq!(&got, &stream);
        prop_assert_eq!(r.delivered, stream.len() as u64);
        prop_assert_eq!(r.pending_bytes(), 0);
        if !stream.is_empty() {
            prop_assert_eq!(
                r.next_seq(),
                Some(isn.wrapping_add(1).wrapping_add(stream.len() as u32))
            );
        }
    }
}

/// One ClientHello's contents, to build the message from.
#[derive(Debug, Clone)]
struct Hello {
    record_version: u16,
    version: u16,
    session_id: Vec<u8>,
    ciphers: Vec<u16>,
    sni: Option<String>,
    alpn: Vec<Vec<u8>>,
    versions: Vec<u16>,
    groups: Vec<u16>,
    sigalgs: Vec<u16>,
    points: Vec<u8>,
    unknown: Vec<(u16, Vec<u8>)>,
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn with_len8(body: &[u8]) -> Vec<u8> {
    let mut out = vec![body.len() as u8];
    out.extend_from_slice(body);
    out
}

impl Hello {
    fn extensions(&self) -> Vec<(u16, Vec<u8>)> {
        let mut ext = Vec::new();
        if let Some(name) = &self.sni {
            let mut entry = vec![0u8];
            entry.extend(with_len16(name.as_bytes()));
            ext.push((0x0000, with_len16(&entry)));
        }
        if !self.groups.is_empty() {
            ext.push((0x000a, with_len16(&u16s(&self.groups))));
        }
        if !self.points.is_empty() {
            ext.push((0x000b, with_len8(&self.points)));
        }
        if !self.sigalgs.is_empty() {
            ext.push((0x000d, with_len16(&u16s(&self.sigalgs))));
        }
        if !self.alpn.is_empty() {
            let list: Vec<u8> = self.alpn.iter().flat_map(|p| with_len8(p)).collect();
            ext.push((0x0010, with_len16(&list)));
        }
        if !self.versions.is_empty() {
            ext.push((0x002b, with_len8(&u16s(&self.versions))));
        }
        for (t, body) in &self.unknown {
            if !ext.iter().any(|(u, _)| u == t) {
                ext.push((*t, body.clone()));
            }
        }
        ext
    }

    /// The handshake message: type, 24-bit length, body.
    fn message(&self) -> Vec<u8> {
        let mut body = self.version.to_be_bytes().to_vec();
        body.extend_from_slice(&[0x5a; 32]);
        body.extend(with_len8(&self.session_id));
        body.extend(with_len16(&u16s(&self.ciphers)));
        body.extend_from_slice(&[1, 0]);
        let block: Vec<u8> = self
            .extensions()
            .iter()
            .flat_map(|(t, b)| {
                let mut e = t.to_be_bytes().to_vec();
                e.extend(with_len16(b));
                e
            })
            .collect();
        body.extend(with_len16(&block));
        let len = (body.len() as u32).to_be_bytes();
        let mut msg = vec![1, len[1], len[2], len[3]];
        msg.extend(body);
        msg
    }

    /// Handshake records carrying `msg`, cut at `cuts` (records of at most
    /// 2^14 bytes, none empty).
    fn records(&self, msg: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % msg.len()).collect();
        points.push(0);
        points.push(msg.len());
        points.sort_unstable();
        points.dedup();
        let mut wire = Vec::new();
        for w in points.windows(2) {
            for chunk in msg[w[0]..w[1]].chunks(16384) {
                wire.push(22);
                wire.extend_from_slice(&self.record_version.to_be_bytes());
                wire.extend(with_len16(chunk));
            }
        }
        wire
    }
}

fn hello_strategy() -> impl Strategy<Value = Hello> {
    let u16v = |max| proptest::collection::vec(any::<u16>(), 1..max);
    (
        (
            prop_oneof![Just(0x0301u16), Just(0x0300), Just(0x0303)],
            prop_oneof![Just(0x0300u16), Just(0x0301), Just(0x0302), Just(0x0303)],
            proptest::collection::vec(any::<u8>(), 0..=32),
            u16v(120),
            proptest::option::of("[a-z0-9][a-z0-9.-]{0,62}"),
        ),
        (
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..5),
            prop_oneof![Just(Vec::new()), u16v(8)],
            prop_oneof![Just(Vec::new()), u16v(20)],
            prop_oneof![Just(Vec::new()), u16v(30)],
            proptest::collection::vec(any::<u8>(), 0..4),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just(0x0a0au16),
                        Just(0x0017),
                        Just(0xff01),
                        0x0100u16..0xfe00
                    ],
                    proptest::collection::vec(any::<u8>(), 0..300),
                ),
                0..6,
            ),
        ),
    )
        .prop_map(
            |((record_version, version, session_id, ciphers, sni), rest)| {
                let (alpn, versions, groups, sigalgs, points, unknown) = rest;
                Hello {
                    record_version,
                    version,
                    session_id,
                    ciphers,
                    sni,
                    alpn,
                    versions,
                    groups,
                    sigalgs,
                    points,
                    unknown,
                }
            },
        )
}

/// The ClientHellos a stream of `wire` bytes gives.
fn hellos(feed: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Vec<ClientHello> {
    let mut s = HandshakeStream::new();
    let mut out = Vec::new();
    feed(&mut |b: &[u8]| {
        s.feed(b, &mut |e| {
            if let Event::ClientHello(ch) = e {
                out.push(*ch);
            }
        })
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A ClientHello cut into random records, then into random segments given
    /// out of order, duplicated and overlapping (across a sequence wrap),
    /// gives the same facts as the hello in one record in one piece.
    #[test]
    fn client_hello_same_facts_however_cut(
        hello in hello_strategy(),
        record_cuts in proptest::collection::vec(any::<usize>(), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
        extra in proptest::collection::vec((any::<usize>(), any::<usize>()), 0..8),
        keys in proptest::collection::vec(any::<u32>(), 0..48),
        isn in isn_strategy(),
    ) {
        let msg = hello.message();
        let whole = hellos(|f| f(&hello.records(&msg, &[])));
        prop_assert_eq!(whole.len(), 1);
        let expected = &whole[0];
        prop_assert!(!expected.truncated);
        prop_assert_eq!(expected.legacy_version, hello.version);
        prop_assert_eq!(expected.record_version, hello.record_version);
        let ciphers: Vec<u32> = hello.ciphers.iter().map(|&c| u32::from(c)).collect();
        prop_assert_eq!(&expected.ciphers, &ciphers);
        prop_assert_eq!(&expected.sni, &hello.sni);
        prop_assert_eq!(&expected.alpn, &hello.alpn);
        prop_assert_eq!(&expected.supported_versions, &hello.versions);
        prop_assert_eq!(&expected.supported_groups, &hello.groups);
        prop_assert_eq!(&expected.signature_algorithms, &hello.sigalgs);
        prop_assert_eq!(&expected.ec_point_formats, &hello.points);
        let types: Vec<u16> = hello.extensions().iter().map(|(t, _)| *t).collect();
        prop_assert_eq!(&expected.extensions, &types);

        let wire = hello.records(&msg, &record_cuts);
        let segs = shuffled(&segments(wire.len(), &cuts, &extra), &keys);
        let got = hellos(|f| {
            let mut gaps = 0;
            reassemble(&wire, isn, true, &segs, |p| match p {
                Piece::Data(d) => f(d),
                Piece::Gap => gaps += 1,
            });
            assert_eq!(gaps, 0);
        });
        prop_assert_eq!(&got, &whole);
    }
}
