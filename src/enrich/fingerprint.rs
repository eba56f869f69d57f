//! TLS `ClientHello` fingerprints: JA4 (`FoxIO`, TLS over TCP) and JA3.
//!
//! The functions here work on a borrowed [`HelloView`] of an already parsed
//! `ClientHello`, so this module has no dependency on the packet parser.
//!
//! JA4 (`t13d1516h2_8daaf6152771_e5627efa2ab1`) has three parts:
//!
//! * **a**: `t` (TCP), the TLS version (highest non-GREASE
//!   `supported_versions` entry, else `legacy_version`), `d`/`i` (SNI present
//!   or not), the cipher and extension counts (GREASE excluded, two digits,
//!   capped at 99) and two characters derived from the first ALPN value;
//! * **b**: the first 12 hex digits of the SHA-256 of the sorted cipher list;
//! * **c**: the first 12 hex digits of the SHA-256 of the sorted extension
//!   list (without SNI and ALPN), followed by `_` and the signature
//!   algorithms in wire order.
//!
//! The ALPN characters follow the `FoxIO` reference implementation, which is
//! what the reference test vectors were produced with: if the first and last
//! bytes of the first ALPN value are ASCII alphanumeric they are used as-is; a
//! non-ASCII byte becomes `9` (so the value `0xba 0xad` gives `99`); if either
//! byte is ASCII but not alphanumeric, the specification's rule applies and
//! the first and last digits of the value's hex encoding are used.
//!
//! JA3 is `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`
//! in decimal, lists `-`-joined in wire order with GREASE values removed, and
//! its MD5 hex digest.

use md5::Md5;
use sha2::{Digest, Sha256};

/// Extension type of `server_name` (SNI).
const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension type of `application_layer_protocol_negotiation` (ALPN).
const EXT_ALPN: u16 = 0x0010;
/// Part b / c value used when the corresponding list is empty.
const EMPTY_HASH: &str = "000000000000";

/// Borrowed view of the `ClientHello` facts that the fingerprints need.
///
/// All lists are in wire order with GREASE values still present; the
/// fingerprint functions remove GREASE themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelloView<'a> {
    /// `ClientHello.client_version` (legacy version), e.g. `0x0303`.
    pub legacy_version: u16,
    /// Cipher suites in wire order, GREASE included.
    pub ciphers: &'a [u16],
    /// Extension types in wire order, GREASE included.
    pub extensions: &'a [u16],
    /// Whether a `server_name` extension was present.
    pub has_sni: bool,
    /// Raw bytes of the first ALPN protocol name, if the ALPN extension was
    /// present and carried at least one name.
    pub alpn_first: Option<&'a [u8]>,
    /// `supported_versions` entries in wire order, GREASE included; empty if
    /// the extension is absent.
    pub supported_versions: &'a [u16],
    /// `signature_algorithms` entries in wire order.
    pub signature_algorithms: &'a [u16],
    /// `supported_groups` entries in wire order, GREASE included.
    pub supported_groups: &'a [u16],
    /// `ec_point_formats` entries in wire order.
    pub ec_point_formats: &'a [u8],
}

use crate::cache::Memo;
use crate::wire::tls::ClientHello;
pub use crate::wire::tls::is_grease;

/// Iterates over the non-GREASE values of `values`.
fn non_grease(values: &[u16]) -> impl Iterator<Item = u16> + '_ {
    values.iter().copied().filter(|&v| !is_grease(v))
}

/// JA4 two-character version code for a protocol version number.
fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// The version JA4 reports: the highest non-GREASE `supported_versions`
/// entry, or `legacy_version` if there is none.
fn ja4_version(h: &HelloView<'_>) -> u16 {
    non_grease(h.supported_versions)
        .max()
        .unwrap_or(h.legacy_version)
}

/// Two-digit count, capped at 99.
fn count2(n: usize) -> String {
    format!("{:02}", n.min(99))
}

/// The two ALPN characters of JA4 part a (see the module documentation).
fn alpn_code(alpn: Option<&[u8]>) -> String {
    let Some(value) = alpn else {
        return "00".to_owned();
    };
    let (Some(&first), Some(&last)) = (value.first(), value.last()) else {
        return "00".to_owned();
    };
    // ASCII alphanumeric bytes are kept; non-ASCII bytes become '9' as in the
    // FoxIO reference implementation.
    let map = |b: u8| -> Option<char> {
        if b.is_ascii_alphanumeric() {
            Some(char::from(b))
        } else if !b.is_ascii() {
            Some('9')
        } else {
            None
        }
    };
    if let (Some(a), Some(b)) = (map(first), map(last)) {
        return [a, b].iter().collect();
    }
    // ASCII but not alphanumeric: first and last hex digit of the value.
    let hex_digit = |n: u8| char::from_digit(u32::from(n & 0x0f), 16).unwrap_or('0');
    [hex_digit(first >> 4), hex_digit(last)].iter().collect()
}

/// JA4 part a, e.g. `t13d1516h2`.
fn part_a(h: &HelloView<'_>) -> String {
    format!(
        "t{}{}{}{}{}",
        version_code(ja4_version(h)),
        if h.has_sni { 'd' } else { 'i' },
        count2(non_grease(h.ciphers).count()),
        count2(non_grease(h.extensions).count()),
        alpn_code(h.alpn_first),
    )
}

/// Joins values as 4-digit lowercase hex, comma-separated.
fn hex_list(values: impl IntoIterator<Item = u16>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((v >> shift) & 0xf)] as char);
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Joins values in decimal, `-`-separated (JA3 list format).
fn dec_list<T: Into<u32>>(values: impl IntoIterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('-');
        }
        crate::text::push_num(&mut out, u64::from(v.into()), 1);
    }
    out
}

/// Lowercase hex encoding of `bytes`.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// First 12 hex digits of the SHA-256 of `s`.
fn sha256_12(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    let mut hex = to_hex(&digest);
    hex.truncate(12);
    hex
}

/// Sorted non-GREASE cipher list, as JA4 hashes it.
fn sorted_ciphers(h: &HelloView<'_>) -> Vec<u16> {
    let mut v: Vec<u16> = non_grease(h.ciphers).collect();
    v.sort_unstable();
    v
}

/// Sorted non-GREASE extension list without SNI and ALPN, as JA4 hashes it.
fn sorted_extensions(h: &HelloView<'_>) -> Vec<u16> {
    let mut v: Vec<u16> = non_grease(h.extensions)
        .filter(|&e| e != EXT_SERVER_NAME && e != EXT_ALPN)
        .collect();
    v.sort_unstable();
    v
}

/// The unhashed JA4 parts b and c.
struct RawParts {
    /// Sorted cipher list, comma-joined hex.
    ciphers: String,
    /// Sorted extension list, comma-joined hex, then `_` and the signature
    /// algorithms if there are any.
    extensions: String,
    /// Whether the (GREASE-free) cipher list is empty.
    no_ciphers: bool,
    /// Whether the (GREASE-, SNI- and ALPN-free) extension list is empty.
    no_extensions: bool,
}

impl RawParts {
    /// Builds the raw parts b and c of `h`.
    fn new(h: &HelloView<'_>) -> Self {
        let ciphers = sorted_ciphers(h);
        let exts = sorted_extensions(h);
        let mut extensions = hex_list(exts.iter().copied());
        let mut sigs = non_grease(h.signature_algorithms).peekable();
        if sigs.peek().is_some() {
            extensions.push('_');
            extensions.push_str(&hex_list(sigs));
        }
        Self {
            ciphers: hex_list(ciphers.iter().copied()),
            extensions,
            no_ciphers: ciphers.is_empty(),
            no_extensions: exts.is_empty(),
        }
    }
}

/// JA4 fingerprint of a TLS-over-TCP `ClientHello`, e.g.
/// `t13d1516h2_8daaf6152771_e5627efa2ab1`.
///
/// Part b is `000000000000` when there are no (non-GREASE) ciphers, part c
/// when there are no extensions other than GREASE, SNI and ALPN.
#[must_use]
pub fn ja4(h: &HelloView<'_>) -> String {
    let raw = RawParts::new(h);
    let b = if raw.no_ciphers {
        EMPTY_HASH.to_owned()
    } else {
        sha256_12(&raw.ciphers)
    };
    let c = if raw.no_extensions {
        EMPTY_HASH.to_owned()
    } else {
        sha256_12(&raw.extensions)
    };
    format!("{}_{b}_{c}", part_a(h))
}

/// The unhashed, sorted JA4 form (`ja4_r`), e.g.
/// `t13d1516h2_002f,0035,…_0005,000a,…_0403,0804,…`.
///
/// The signature algorithm section (and its `_`) is omitted when there are
/// none; empty cipher or extension lists give empty sections.
#[must_use]
pub fn ja4_raw(h: &HelloView<'_>) -> String {
    let raw = RawParts::new(h);
    format!("{}_{}_{}", part_a(h), raw.ciphers, raw.extensions)
}

/// The JA3 string, e.g. `771,4865-4866-…,0-23-…,29-23-24,0`.
#[must_use]
pub fn ja3_string(h: &HelloView<'_>) -> String {
    format!(
        "{},{},{},{},{}",
        h.legacy_version,
        dec_list(non_grease(h.ciphers)),
        dec_list(non_grease(h.extensions)),
        dec_list(non_grease(h.supported_groups)),
        dec_list(h.ec_point_formats.iter().copied()),
    )
}

/// JA3 fingerprint: lowercase hex MD5 of [`ja3_string`].
#[must_use]
pub fn ja3(h: &HelloView<'_>) -> String {
    to_hex(&Md5::digest(ja3_string(h).as_bytes()))
}

/// Borrowed JA4/JA3 input from a ClientHello.
fn hello_view<'a>(ch: &'a ClientHello, ciphers: &'a [u16]) -> HelloView<'a> {
    HelloView {
        legacy_version: ch.legacy_version,
        ciphers,
        extensions: &ch.extensions,
        has_sni: ch.extensions.contains(&0),
        alpn_first: ch.alpn.first().map(Vec::as_slice),
        supported_versions: &ch.supported_versions,
        signature_algorithms: &ch.signature_algorithms,
        supported_groups: &ch.supported_groups,
        ec_point_formats: &ch.ec_point_formats,
    }
}

/// Fingerprints computed lately, by a hash of the hello fields they use:
/// one application sends the same hello on every connection.
const FP_CACHE_MAX: usize = 4096;

thread_local! {
    static FP_CACHE: std::cell::RefCell<Memo<u64, Remembered>> =
        std::cell::RefCell::new(Memo::new(FP_CACHE_MAX));
}

/// A remembered hello: the fields the fingerprints read, compared whole
/// on a hit (hellos whose hashes collide never share fingerprints), and
/// its JA4 and JA3. The lists lie end to end in two buffers.
#[derive(Debug, Clone)]
struct Remembered {
    legacy_version: u16,
    has_sni: bool,
    /// The cipher suites as the hello lists them (SSLv2's 24-bit ones too).
    ciphers: Box<[u32]>,
    /// Extensions, supported versions, signature algorithms, supported
    /// groups.
    words: Box<[u16]>,
    /// Where each list of `words` ends.
    ends: [usize; 4],
    /// The first ALPN name, then the EC point formats.
    bytes: Box<[u8]>,
    /// The length of the first ALPN name, if there was one.
    alpn_len: Option<usize>,
    ja4: String,
    ja3: String,
}

impl Remembered {
    fn new(h: &ClientHello, v: &HelloView<'_>, ja4: String, ja3: String) -> Self {
        let lists = [
            v.extensions,
            v.supported_versions,
            v.signature_algorithms,
            v.supported_groups,
        ];
        let mut words = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
        let mut ends = [0; 4];
        for (end, l) in ends.iter_mut().zip(lists) {
            words.extend_from_slice(l);
            *end = words.len();
        }
        let alpn = v.alpn_first.unwrap_or_default();
        Remembered {
            legacy_version: v.legacy_version,
            has_sni: v.has_sni,
            ciphers: h.ciphers.as_slice().into(),
            words: words.into(),
            ends,
            bytes: [alpn, v.ec_point_formats].concat().into(),
            alpn_len: v.alpn_first.map(<[u8]>::len),
            ja4,
            ja3,
        }
    }

    /// True when `h`, seen as `v`, is this hello.
    fn is(&self, h: &ClientHello, v: &HelloView<'_>) -> bool {
        let e = self.ends;
        let w = &self.words;
        let alpn = self.alpn_len.unwrap_or(0);
        self.legacy_version == v.legacy_version
            && self.has_sni == v.has_sni
            && *self.ciphers == *h.ciphers
            && w.get(..e[0]) == Some(v.extensions)
            && w.get(e[0]..e[1]) == Some(v.supported_versions)
            && w.get(e[1]..e[2]) == Some(v.signature_algorithms)
            && w.get(e[2]..e[3]) == Some(v.supported_groups)
            && self.alpn_len.and_then(|n| self.bytes.get(..n)) == v.alpn_first
            && self.bytes.get(alpn..) == Some(v.ec_point_formats)
    }
}

/// The cache's hash of a hello's fields, each list hashed whole (a hit is
/// compared field by field, see [`Remembered::is`]).
fn key_hash(h: &ClientHello, v: &HelloView<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    (
        h.ciphers.as_slice(),
        v.legacy_version,
        v.extensions,
        v.has_sni,
        v.alpn_first,
        v.supported_versions,
        v.signature_algorithms,
        v.supported_groups,
        v.ec_point_formats,
    )
        .hash(&mut hasher);
    hasher.finish()
}

/// JA4 and JA3 of a ClientHello, through the per-thread cache.
pub fn of_hello(h: &ClientHello) -> (String, String) {
    let v = hello_view(h, &[]);
    let key = key_hash(h, &v);
    FP_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(r) = c.peek(&key).filter(|r| r.is(h, &v)) {
            return (r.ja4.clone(), r.ja3.clone());
        }
        // The 16-bit cipher values (SSLv2 specs of 24 bits are left out).
        let list: Vec<u16> = h
            .ciphers
            .iter()
            .filter_map(|c| u16::try_from(*c).ok())
            .collect();
        let full = HelloView {
            ciphers: &list,
            ..v
        };
        let (ja4, ja3) = (ja4(&full), ja3(&full));
        c.put(key, Remembered::new(h, &full, ja4.clone(), ja3.clone()));
        (ja4, ja3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ClientHello` facts extracted with tshark from a corpus capture, with
    /// the reference tool's JA4 and tshark's JA3 for that connection.
    struct Vector {
        src: &'static str,
        legacy_version: u16,
        ciphers: &'static [u16],
        extensions: &'static [u16],
        has_sni: bool,
        alpn_first: Option<&'static [u8]>,
        supported_versions: &'static [u16],
        signature_algorithms: &'static [u16],
        supported_groups: &'static [u16],
        ec_point_formats: &'static [u8],
        ja4: &'static str,
        ja3_string: &'static str,
        ja3: &'static str,
    }

    impl Vector {
        /// The vector as a [`HelloView`].
        fn view(&self) -> HelloView<'static> {
            HelloView {
                legacy_version: self.legacy_version,
                ciphers: self.ciphers,
                extensions: self.extensions,
                has_sni: self.has_sni,
                alpn_first: self.alpn_first,
                supported_versions: self.supported_versions,
                signature_algorithms: self.signature_algorithms,
                supported_groups: self.supported_groups,
                ec_point_formats: self.ec_point_formats,
            }
        }
    }

    /// One vector per distinct TCP JA4 value in
    /// `/work/shared/corpus/expected/ja4/*.tsv` (reference tool output). The
    /// facts were extracted with tshark 4.0 from
    /// `/work/shared/corpus/pcaps/<capture>`; `ja3_string` / `ja3` are
    /// tshark's `tls.handshake.ja3_full` / `tls.handshake.ja3` for the same
    /// `ClientHello`. The comment above each vector names capture, client
    /// address:port and server name.
    const VECTORS: &[Vector] = &[
        // badcurveball.pcap: 172.130.128.76:55318 -> bad.curveballtest.com
        Vector {
            src: "badcurveball.pcap 172.130.128.76:55318",
            legacy_version: 0x0303,
            ciphers: &[
                0xaaaa, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035, 0x000a,
            ],
            extensions: &[
                0x4a4a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d,
                0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x7a7a, 0x0015,
            ],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[0x2a2a, 0x0304, 0x0303, 0x0302, 0x0301],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201,
            ],
            supported_groups: &[0xcaca, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d1615h2_46e7e9700bed_45f260be83e2",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53-10,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-21,29-23-24,0",
            ja3: "66918128f1b9b03303d77c6f2eefd128",
        },
        // browsers-x509.pcapng: 172.27.7.31:54524 -> edge.microsoft.com
        Vector {
            src: "browsers-x509.pcapng 172.27.7.31:54524",
            legacy_version: 0x0303,
            ciphers: &[
                0xaaaa, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0x6a6a, 0x000d, 0x0000, 0x000a, 0x0005, 0x000b, 0x002b, 0x001b, 0xff01, 0x0033,
                0x4469, 0x002d, 0x0023, 0x0017, 0x0012, 0x0010, 0x0a0a, 0x0015,
            ],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[0x9a9a, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0x4a4a, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,13-0-10-5-11-43-27-65281-51-17513-45-35-23-18-16-21,29-23-24,0",
            ja3: "34fcb8e0ef812f18e760b52314a54fd0",
        },
        // ipv6.pcapng: 2001:4998:ef83:14:8000::100d:64034 -> www.cloudflare.com
        Vector {
            src: "ipv6.pcapng 2001:4998:ef83:14:8000::100d:64034",
            legacy_version: 0x0303,
            ciphers: &[
                0xc030, 0xc02c, 0xc028, 0xc024, 0xc014, 0xc00a, 0x009f, 0x006b, 0x0039, 0xcca9,
                0xcca8, 0xccaa, 0xff85, 0x00c4, 0x0088, 0x0081, 0x009d, 0x003d, 0x0035, 0x00c0,
                0x0084, 0xc02f, 0xc02b, 0xc027, 0xc023, 0xc013, 0xc009, 0x009e, 0x0067, 0x0033,
                0x00be, 0x0045, 0x009c, 0x003c, 0x002f, 0x00ba, 0x0041, 0xc011, 0xc007, 0x0005,
                0x0004, 0xc012, 0xc008, 0x0016, 0x000a, 0x00ff,
            ],
            extensions: &[0x0000, 0x000b, 0x000a, 0x000d, 0x0010],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[],
            signature_algorithms: &[
                0x0601, 0x0603, 0xefef, 0x0501, 0x0503, 0x0401, 0x0403, 0xeeee, 0xeded, 0x0301,
                0x0303, 0x0201, 0x0203,
            ],
            supported_groups: &[0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t12d4605h2_85626a9a5f7f_aaf95bb78ec9",
            ja3_string: "771,49200-49196-49192-49188-49172-49162-159-107-57-52393-52392-52394-65413-196-136-129-157-61-53-192-132-49199-49195-49191-49187-49171-49161-158-103-51-190-69-156-60-47-186-65-49169-49159-5-4-49170-49160-22-10-255,0-11-10-13-16,29-23-24,0",
            ja3: "3faa4ad39f690c4ef1c3160caa375465",
        },
        // latest.pcapng: 172.16.225.48:52937 -> discovery.cem.cloud.us
        Vector {
            src: "latest.pcapng 172.16.225.48:52937",
            legacy_version: 0x0303,
            ciphers: &[
                0xc02c, 0xc02b, 0xc030, 0xc02f, 0xc024, 0xc023, 0xc028, 0xc027, 0xc00a, 0xc009,
                0xc014, 0xc013, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x000a,
            ],
            extensions: &[
                0x0000, 0x0005, 0x000a, 0x000b, 0x000d, 0x0023, 0x0017, 0xff01,
            ],
            has_sni: true,
            alpn_first: None,
            supported_versions: &[],
            signature_algorithms: &[
                0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0202,
                0x0601, 0x0603,
            ],
            supported_groups: &[0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t12d190800_d83cc789557e_7af1ed941c26",
            ja3_string: "771,49196-49195-49200-49199-49188-49187-49192-49191-49162-49161-49172-49171-157-156-61-60-53-47-10,0-5-10-11-13-35-23-65281,29-23-24,0",
            ja3: "a0e9f5d64349fb13191bc781f81f42e1",
        },
        // latest.pcapng: 172.16.225.48:52938 -> app.slack.com
        Vector {
            src: "latest.pcapng 172.16.225.48:52938",
            legacy_version: 0x0303,
            ciphers: &[
                0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0x5a5a, 0x000d, 0x0010, 0x0000, 0x000b, 0x0023, 0x4469, 0xff01, 0x0033, 0x000a,
                0x002d, 0x002b, 0x0005, 0x0017, 0x0012, 0x001b, 0x6a6a, 0x0029,
            ],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[0x6a6a, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0xbaba, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d1516h2_8daaf6152771_9b887d9acb53",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,13-16-0-11-35-17513-65281-51-10-45-43-5-23-18-27-41,29-23-24,0",
            ja3: "d81fcba3f82df97ae9971d938da5caa6",
        },
        // macos_tcp_flags.pcap: 172.16.5.16:61311 -> venarisecurity.com
        Vector {
            src: "macos_tcp_flags.pcap 172.16.5.16:61311",
            legacy_version: 0x0303,
            ciphers: &[
                0x1301, 0x1302, 0x1303, 0xc02c, 0xc02b, 0xc024, 0xc023, 0xc00a, 0xc009, 0xcca9,
                0xc030, 0xc02f, 0xc028, 0xc027, 0xc014, 0xc013, 0xcca8, 0x009d, 0x009c, 0x003d,
                0x003c, 0x0035, 0x002f, 0xc008, 0xc012, 0x000a,
            ],
            extensions: &[
                0xff01, 0x0000, 0x0017, 0x000d, 0x0005, 0x0012, 0x0010, 0x000b, 0x0033, 0x002d,
                0x002b, 0x000a, 0x0015,
            ],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[0x0304, 0x0303, 0x0302, 0x0301],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0203, 0x0805, 0x0805, 0x0501, 0x0806, 0x0601,
                0x0201,
            ],
            supported_groups: &[0x001d, 0x0017, 0x0018, 0x0019],
            ec_point_formats: &[0x00],
            ja4: "t13d2613h2_2802a3db6c62_845d286b0d67",
            ja3_string: "771,4865-4866-4867-49196-49195-49188-49187-49162-49161-52393-49200-49199-49192-49191-49172-49171-52392-157-156-61-60-53-47-49160-49170-10,65281-0-23-13-5-18-16-11-51-45-43-10-21,29-23-24-25,0",
            ja3: "6fa3244afc6bb6f9fad207b6b52af26b",
        },
        // socks-https-example.pcap: 10.180.156.185:53554 -> www.example.com
        Vector {
            src: "socks-https-example.pcap 10.180.156.185:53554",
            legacy_version: 0x0301,
            ciphers: &[
                0x0039, 0x0038, 0x0035, 0x0016, 0x0013, 0x000a, 0x0033, 0x0032, 0x002f, 0x009a,
                0x0099, 0x0096, 0x0005, 0x0004, 0x0015, 0x0012, 0x0009, 0x0014, 0x0011, 0x0008,
                0x0006, 0x0003, 0x00ff,
            ],
            extensions: &[0x0000],
            has_sni: true,
            alpn_first: None,
            supported_versions: &[],
            signature_algorithms: &[],
            supported_groups: &[],
            ec_point_formats: &[],
            ja4: "t10d230100_6a57a6f57151_000000000000",
            ja3_string: "769,57-56-53-22-19-10-51-50-47-154-153-150-5-4-21-18-9-20-17-8-6-3-255,0,,",
            ja3: "06a92bf69b367389d2feb0d70501ddfe",
        },
        // tls-handshake.pcapng: 192.168.1.168:50122 -> lp-push-server-452.lastpass.com
        Vector {
            src: "tls-handshake.pcapng 192.168.1.168:50122",
            legacy_version: 0x0303,
            ciphers: &[
                0x4a4a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0xaaaa, 0x000d, 0x0033, 0x0000, 0xff01, 0x002b, 0x0023, 0x002d, 0x0005, 0x0012,
                0x000b, 0x0017, 0x4469, 0x0010, 0x001b, 0x000a, 0x1a1a, 0x0015,
            ],
            has_sni: true,
            alpn_first: Some(b"http/1.1"),
            supported_versions: &[0xaaaa, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0xaaaa, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d1516h1_8daaf6152771_e5627efa2ab1",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,13-51-0-65281-43-35-45-5-18-11-23-17513-16-27-10-21,29-23-24,0",
            ja3: "bee6dc22161d532d945e0daa64213c43",
        },
        // tls-handshake.pcapng: 192.168.1.168:50123 -> mtalk.google.com
        Vector {
            src: "tls-handshake.pcapng 192.168.1.168:50123",
            legacy_version: 0x0303,
            ciphers: &[
                0xaaaa, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0x1a1a, 0x0033, 0x002b, 0x001b, 0x0000, 0x0012, 0x002d, 0x000d, 0x000a, 0x0005,
                0x0023, 0x0017, 0xff01, 0x000b, 0xcaca, 0x0015,
            ],
            has_sni: true,
            alpn_first: None,
            supported_versions: &[0x9a9a, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0x1a1a, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d151400_8daaf6152771_de4a06bb82e3",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,51-43-27-0-18-45-13-10-5-35-23-65281-11-21,29-23-24,0",
            ja3: "bfc66ad4d55e0c1a1847863d4d5c301a",
        },
        // tls-handshake.pcapng: 192.168.1.168:50153 -> edge-chat.facebook.com
        Vector {
            src: "tls-handshake.pcapng 192.168.1.168:50153",
            legacy_version: 0x0303,
            ciphers: &[
                0xbaba, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0xeaea, 0x0000, 0x0017, 0x0005, 0x002b, 0x0012, 0x0023, 0x000a, 0x0033, 0x0010,
                0x002d, 0x001b, 0x4469, 0x000b, 0x000d, 0xff01, 0xfafa, 0x0015, 0x0029,
            ],
            has_sni: true,
            alpn_first: Some(b"http/1.1"),
            supported_versions: &[0xeaea, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0xeaea, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d1517h1_8daaf6152771_6cdcb247c39b",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,0-23-5-43-18-35-10-51-16-45-27-17513-11-13-65281-21-41,29-23-24,0",
            ja3: "e2ce5351e791ab3c3f63764919302aca",
        },
        // tls-non-ascii-alpn.pcapng: 192.168.1.168:50112 -> clientservices.googleapis.com
        Vector {
            src: "tls-non-ascii-alpn.pcapng 192.168.1.168:50112",
            legacy_version: 0x0303,
            ciphers: &[
                0xaaaa, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: &[
                0x9a9a, 0xff01, 0x0033, 0x002d, 0x0005, 0x4469, 0x000d, 0x0010, 0x0023, 0x001b,
                0x002b, 0x0000, 0x0012, 0x000a, 0x0017, 0x000b, 0x6a6a, 0x0015,
            ],
            has_sni: true,
            alpn_first: Some(b"\xba\xad"),
            supported_versions: &[0x0a0a, 0x0304, 0x0303],
            signature_algorithms: &[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            supported_groups: &[0x0a0a, 0x001d, 0x0017, 0x0018],
            ec_point_formats: &[0x00],
            ja4: "t13d151699_8daaf6152771_e5627efa2ab1",
            ja3_string: "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,65281-51-45-5-17513-13-16-35-27-43-0-18-10-23-11-21,29-23-24,0",
            ja3: "1c258ebef8eee2dfa3df6d8d07285af9",
        },
    ];

    #[test]
    fn ja4_matches_reference_vectors() {
        for v in VECTORS {
            assert_eq!(ja4(&v.view()), v.ja4, "ja4 for {}", v.src);
        }
    }

    #[test]
    fn ja3_matches_tshark() {
        for v in VECTORS {
            assert_eq!(
                ja3_string(&v.view()),
                v.ja3_string,
                "ja3 string for {}",
                v.src
            );
            assert_eq!(ja3(&v.view()), v.ja3, "ja3 for {}", v.src);
        }
    }

    /// A minimal TLS 1.3-style hello for hand-written edge cases.
    fn base() -> HelloView<'static> {
        HelloView {
            legacy_version: 0x0303,
            ciphers: &[0x1301, 0x1302],
            extensions: &[0x0000, 0x000a, 0x0010, 0x002b],
            has_sni: true,
            alpn_first: Some(b"h2"),
            supported_versions: &[0x0304, 0x0303],
            signature_algorithms: &[0x0804, 0x0403],
            supported_groups: &[0x001d],
            ec_point_formats: &[0],
        }
    }

    #[test]
    fn grease_values() {
        let grease: Vec<u16> = (0..=0xffff_u16).filter(|&v| is_grease(v)).collect();
        let expected: Vec<u16> = (0..16_u16).map(|i| (i << 12) | (i << 4) | 0x0a0a).collect();
        assert_eq!(grease, expected);
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x0304));
    }

    #[test]
    fn alpn_codes() {
        assert_eq!(alpn_code(None), "00");
        assert_eq!(alpn_code(Some(b"")), "00");
        assert_eq!(alpn_code(Some(b"h2")), "h2");
        assert_eq!(alpn_code(Some(b"http/1.1")), "h1");
        assert_eq!(alpn_code(Some(b"spdy/3")), "s3");
        // A one-byte value uses that byte as both first and last character.
        assert_eq!(alpn_code(Some(b"h")), "hh");
        // Non-ASCII bytes become '9' (reference implementation; see
        // tls-non-ascii-alpn.pcapng in VECTORS).
        assert_eq!(alpn_code(Some(b"\xba\xad")), "99");
        assert_eq!(alpn_code(Some(b"h\xff")), "h9");
        // ASCII non-alphanumeric: first and last hex digit of the value.
        assert_eq!(alpn_code(Some(b"/x")), "28");
        assert_eq!(alpn_code(Some(b"\x01ab\x0e")), "0e");
    }

    #[test]
    fn version_selection() {
        let mut h = base();
        assert!(ja4(&h).starts_with("t13d"));
        // GREASE is ignored and the highest value wins regardless of order.
        h.supported_versions = &[0x0303, 0x2a2a, 0x0304];
        assert!(ja4(&h).starts_with("t13d"));
        // Only GREASE, or no extension: fall back to legacy_version.
        h.supported_versions = &[0x2a2a];
        assert!(ja4(&h).starts_with("t12d"));
        h.supported_versions = &[];
        for (v, code) in [
            (0x0302, "11"),
            (0x0301, "10"),
            (0x0300, "s3"),
            (0x0002, "s2"),
            (0xfeff, "d1"),
            (0xfefd, "d2"),
            (0xfefc, "d3"),
            (0x7f17, "00"),
            (0x1234, "00"),
        ] {
            h.legacy_version = v;
            assert_eq!(ja4(&h).get(1..3), Some(code), "version {v:#06x}");
        }
        // A TLS 1.3 draft number is numerically the highest and maps to 00.
        h.supported_versions = &[0x7f17, 0x0304, 0x0303];
        assert!(ja4(&h).starts_with("t00d"));
    }

    #[test]
    fn sni_counts_and_cap() {
        let mut h = base();
        h.has_sni = false;
        h.alpn_first = None;
        // Extension count includes SNI and ALPN but not GREASE.
        h.extensions = &[0x0a0a, 0x0000, 0x000a, 0x0010, 0x002b, 0xfafa];
        assert_eq!(ja4(&h).get(..10), Some("t13i020400"));
        let many: Vec<u16> = (1..=150).collect();
        h.ciphers = &many;
        h.extensions = &many;
        assert_eq!(ja4(&h).get(..10), Some("t13i999900"));
    }

    #[test]
    fn empty_lists_and_raw_form() {
        let mut h = base();
        assert_eq!(
            ja4_raw(&h),
            "t13d0204h2_1301,1302_000a,002b_0804,0403",
            "signature algorithms keep wire order"
        );
        let hashed = ja4(&h);
        assert_eq!(
            hashed.get(11..),
            Some(
                format!(
                    "{}_{}",
                    sha256_12("1301,1302"),
                    sha256_12("000a,002b_0804,0403")
                )
                .as_str()
            )
        );
        // No signature algorithms: no trailing underscore.
        h.signature_algorithms = &[];
        assert_eq!(ja4_raw(&h), "t13d0204h2_1301,1302_000a,002b");
        assert_eq!(ja4(&h).get(24..), Some(sha256_12("000a,002b").as_str()));
        // Only GREASE / SNI / ALPN extensions and no ciphers: zero hashes.
        h.ciphers = &[0x0a0a];
        h.extensions = &[0x0000, 0x0010, 0x1a1a];
        assert_eq!(ja4(&h), "t13d0002h2_000000000000_000000000000");
        assert_eq!(ja4_raw(&h), "t13d0002h2__");
    }

    #[test]
    fn spec_example_raw_form() {
        // browsers-x509.pcapng 172.27.7.31:54524 (Edge): this is the ja4_r
        // example for t13d1516h2_8daaf6152771_e5627efa2ab1.
        let v = VECTORS
            .iter()
            .find(|v| v.src == "browsers-x509.pcapng 172.27.7.31:54524");
        let Some(v) = v else {
            panic!("vector missing");
        };
        assert_eq!(
            ja4_raw(&v.view()),
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,\
             cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,\
             ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
    }

    #[test]
    fn hash_formatting() {
        assert_eq!(sha256_12(""), "e3b0c44298fc");
        let h = HelloView::default();
        assert_eq!(ja3_string(&h), "0,,,,");
        assert_eq!(ja3(&h), to_hex(&Md5::digest(b"0,,,,")));
        assert_eq!(
            to_hex(&Md5::digest(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let mut h = base();
        h.ciphers = &[0x0a0a, 0x1301];
        h.extensions = &[0x1a1a, 0x0000];
        h.supported_groups = &[0x2a2a, 0x001d, 0x0017];
        h.ec_point_formats = &[0, 1];
        assert_eq!(ja3_string(&h), "771,4865,0,29-23,0-1");
    }

    /// A remembered hello whose hash equals another's (as a crafted hello
    /// could make it) does not lend it its fingerprints.
    #[test]
    fn the_cache_compares_whole_hellos() {
        let hello = ClientHello {
            legacy_version: 0x0303,
            ciphers: vec![0x1301, 0xc02f],
            extensions: vec![0, 10, 43],
            supported_versions: vec![0x0304],
            supported_groups: vec![29],
            ..ClientHello::default()
        };
        let right = of_hello(&hello);
        FP_CACHE.with(|c| c.borrow_mut().clear());
        let key = key_hash(&hello, &hello_view(&hello, &[]));
        let other = ClientHello {
            ciphers: vec![0x002f],
            ..hello.clone()
        };
        let mut wrong = FP_CACHE.with(|c| {
            of_hello(&other);
            let c = c.borrow();
            let (_, r) = c.iter().next().unwrap();
            r.clone()
        });
        wrong.ja4 = "ja4?".into();
        FP_CACHE.with(|c| c.borrow_mut().put(key, wrong));
        assert_eq!(of_hello(&hello), right);
        assert_ne!(right.0, "ja4?");
        // And now it is remembered as itself.
        assert_eq!(of_hello(&hello), right);
    }
}
