//! ClientHello and ServerHello: the facts each carries, parsed from a
//! handshake message body.

use super::cursor::{Rd, groups_vector, u16_vector, versions_vector};
use super::extensions::{alpn_from, sni_from, walk_extensions};
use crate::model::version::TlsVersion;

/// The HelloRetryRequest random (RFC 8446, 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// True for the RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa).
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Facts from one ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Record-layer version (0x0002 for an SSLv2-format hello).
    pub record_version: u16,
    /// ClientHello.client_version.
    pub legacy_version: u16,
    /// The hello used the SSLv2 record format.
    pub sslv2_format: bool,
    /// Cipher suites in wire order, GREASE included (SSLv2 specs with a zero
    /// first byte are folded to their 16-bit TLS value, others kept as 24-bit).
    pub ciphers: Vec<u32>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// server_name host name, escaped.
    pub sni: Option<String>,
    /// ALPN protocol names in wire order, raw.
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions in wire order, GREASE included; empty if absent.
    pub supported_versions: Vec<u16>,
    /// signature_algorithms in wire order.
    pub signature_algorithms: Vec<u16>,
    /// supported_groups in wire order, GREASE included.
    pub supported_groups: Vec<u16>,
    /// ec_point_formats.
    pub ec_point_formats: Vec<u8>,
    /// The message was cut short: facts after the cut are missing.
    pub truncated: bool,
}

impl ClientHello {
    /// Highest version offered, as reported: the highest non-GREASE
    /// supported_versions value (numerically, as tshark and JA4 take it:
    /// a TLS 1.3 draft 0x7fNN is above 0x0304), else the legacy version.
    pub fn max_version(&self) -> u16 {
        self.offered().max().unwrap_or(self.legacy_version)
    }

    /// Best version offered, for verdicts: as [`Self::max_version`] but by
    /// [`TlsVersion::rank`] (TLS 1.3 above its drafts, unknown values lowest).
    pub fn best_version(&self) -> u16 {
        self.offered()
            .max_by_key(|v| (TlsVersion(*v).rank(), *v))
            .unwrap_or(self.legacy_version)
    }

    fn offered(&self) -> impl Iterator<Item = u16> + '_ {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
    }
}

/// Facts from one ServerHello.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// ServerHello.server_version (legacy_version).
    pub legacy_version: u16,
    /// supported_versions extension value, if present.
    pub selected_version: Option<u16>,
    /// Chosen cipher suite (24-bit for SSLv2); `None` when the message was
    /// cut before it.
    pub cipher: Option<u32>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// ALPN protocol chosen.
    pub alpn: Option<Vec<u8>>,
    /// This is a HelloRetryRequest, not the answer.
    pub is_hrr: bool,
    /// SSLv2 SERVER-HELLO.
    pub sslv2_format: bool,
    /// The message was cut short.
    pub truncated: bool,
}

impl ServerHello {
    /// Negotiated version: supported_versions if present, else legacy version.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }

    /// [`Self::version`] when the message shows it: whole, or cut after
    /// its supported_versions, or with a legacy version other than TLS
    /// 1.2's (only a `0x0303` ServerHello may carry TLS 1.3 in an
    /// extension). A cut `0x0303` ServerHello is TLS 1.2 or 1.3: unknown.
    pub fn known_version(&self) -> Option<u16> {
        (!self.truncated
            || self.selected_version.is_some()
            || self.sslv2_format
            || self.legacy_version != 0x0303)
            .then(|| self.version())
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header). A body cut
/// short yields the facts before the cut with `truncated` set.
pub fn parse_client_hello(body: &[u8], record_version: u16) -> Option<ClientHello> {
    let mut ch = ClientHello {
        record_version,
        ..Default::default()
    };
    let mut r = Rd(body);
    ch.legacy_version = r.u16()?;
    if ch.legacy_version >> 8 != 3 && ch.legacy_version >> 8 != 0x7f {
        return None;
    }
    let done = (|| {
        r.take(32)?;
        let sid = r.u8()?;
        if sid > 32 {
            return None;
        }
        r.take(usize::from(sid))?;
        let clen = usize::from(r.u16()?);
        let (cs, whole) = r.take_upto(clen);
        ch.ciphers = cs
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .collect();
        if !whole {
            return None;
        }
        let comp = usize::from(r.u8()?);
        r.take(comp)?;
        if r.0.is_empty() {
            return Some(true); // no extensions at all
        }
        let elen = usize::from(r.u16()?);
        let (block, whole) = r.take_upto(elen);
        ch.extensions.reserve(block.len() / 4);
        let complete = walk_extensions(block, |t, b, w| {
            ch.extensions.push(t);
            if !w {
                return;
            }
            match t {
                0x0000 => ch.sni = sni_from(b),
                0x0010 => ch.alpn = alpn_from(b),
                0x002b => {
                    if let Some(v) = versions_vector(b) {
                        ch.supported_versions = v;
                    }
                }
                0x000d => {
                    if let Some(v) = u16_vector(b) {
                        ch.signature_algorithms = v;
                    }
                }
                0x000a => {
                    if let Some(v) = groups_vector(b) {
                        ch.supported_groups = v;
                    }
                }
                0x000b => {
                    if let Some((&n, rest)) = b.split_first() {
                        ch.ec_point_formats = rest.iter().take(usize::from(n)).copied().collect();
                    }
                }
                _ => {}
            }
        });
        Some(whole && complete)
    })();
    ch.truncated = done != Some(true);
    Some(ch)
}

/// Does a ServerHello with this version field use the layout of the TLS 1.3
/// drafts before draft 22 (version, random, cipher suite, extensions: no
/// session id echo, no compression method)? Up to draft 21 the version
/// field carried the TLS 1.3 version itself, as a draft code `0x7fNN` or as
/// `0x0304`; from draft 22 on (and in RFC 8446) it is frozen at `0x0303` and
/// the version travels in `supported_versions`, with the TLS 1.2 layout.
fn pre_draft22_layout(version: u16) -> bool {
    version == 0x0304 || (version >> 8 == 0x7f && (version & 0xff) < 22)
}

/// Parses a ServerHello body, in the layout its version field implies (see
/// [`pre_draft22_layout`]).
pub fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut sh = ServerHello::default();
    let mut r = Rd(body);
    sh.legacy_version = r.u16()?;
    let major = sh.legacy_version >> 8;
    if major != 3 && major != 0x7f {
        return None;
    }
    let draft = pre_draft22_layout(sh.legacy_version);
    let done = (|| {
        let random = r.take(32)?;
        sh.is_hrr = random == HRR_RANDOM;
        if !draft {
            let sid = r.u8()?;
            if sid > 32 {
                return None;
            }
            r.take(usize::from(sid))?;
        }
        sh.cipher = Some(u32::from(r.u16()?));
        if !draft {
            r.u8()?;
        }
        if r.0.is_empty() {
            return Some(true);
        }
        let elen = usize::from(r.u16()?);
        let (block, whole) = r.take_upto(elen);
        let complete = walk_extensions(block, |t, b, w| {
            sh.extensions.push(t);
            if !w {
                return;
            }
            match t {
                0x002b if b.len() == 2 => {
                    sh.selected_version = Some(u16::from_be_bytes([b[0], b[1]]))
                }
                0x0010 => sh.alpn = alpn_from(b).into_iter().next(),
                _ => {}
            }
        });
        Some(whole && complete)
    })();
    sh.truncated = done != Some(true);
    Some(sh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
    }

    #[test]
    fn max_is_numeric_best_is_by_rank() {
        let ch = ClientHello {
            legacy_version: 0x0303,
            supported_versions: vec![0x1a1a, 0x0304, 0x7f1c, 0xfb1a, 0x0303],
            ..Default::default()
        };
        assert_eq!(ch.max_version(), 0xfb1a);
        assert_eq!(ch.best_version(), 0x0304);
        let old = ClientHello {
            legacy_version: 0x0301,
            ..Default::default()
        };
        assert_eq!((old.max_version(), old.best_version()), (0x0301, 0x0301));
    }

    /// A ServerHello cut short gives only what lies before the cut: no
    /// cipher suite when it is cut before it, and no version when its
    /// legacy version is TLS 1.2's and its supported_versions is past the
    /// cut (it may be TLS 1.3).
    #[test]
    fn a_cut_server_hello_says_only_what_it_shows() {
        let mut whole = vec![3, 3];
        whole.extend_from_slice(&[7; 32]);
        whole.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let sh = parse_server_hello(&whole).unwrap();
        assert_eq!(
            (sh.known_version(), sh.cipher),
            (Some(0x0304), Some(0x1301))
        );
        let cut = parse_server_hello(&whole[..34]).unwrap();
        assert!(cut.truncated);
        assert_eq!((cut.known_version(), cut.cipher), (None, None));
        let cut = parse_server_hello(&whole[..40]).unwrap();
        assert_eq!((cut.known_version(), cut.cipher), (None, Some(0x1301)));
        // TLS 1.1 cannot be anything else.
        whole[1] = 2;
        let cut = parse_server_hello(&whole[..34]).unwrap();
        assert_eq!(cut.known_version(), Some(0x0302));
    }

    /// Up to draft 21 the ServerHello has no session id echo and no
    /// compression method; the version field (0x0304 or 0x7fNN) says so.
    /// From draft 22 on the TLS 1.2 layout is back.
    #[test]
    fn server_hello_layout_follows_the_version_field() {
        let key_share = [0, 0x33, 0, 4, 0, 0x1d, 0, 0];
        for v in [[3, 4], [0x7f, 0x10], [0x7f, 0x15]] {
            let mut sh = v.to_vec();
            sh.extend_from_slice(&[7; 32]);
            sh.extend_from_slice(&[0x13, 0x02, 0, key_share.len() as u8]);
            sh.extend_from_slice(&key_share);
            let parsed = parse_server_hello(&sh).unwrap();
            assert_eq!(parsed.cipher, Some(0x1302), "{v:?}");
            assert_eq!(parsed.extensions, [0x33], "{v:?}");
            assert!(!parsed.truncated, "{v:?}");
        }
        // Draft 22: session id echo and compression method, as in RFC 8446.
        let mut sh = vec![0x7f, 0x16];
        sh.extend_from_slice(&[7; 32]);
        sh.extend_from_slice(&[1, 9, 0x13, 0x03, 0, 0, 0]);
        let parsed = parse_server_hello(&sh).unwrap();
        assert_eq!((parsed.cipher, parsed.truncated), (Some(0x1303), false));
    }
}
