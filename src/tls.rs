//! TLS handshake parsing: pure functions from stream bytes to hello facts.
//!
//! [`HandshakeStream`] takes one direction's reassembled bytes and emits
//! [`Event`]s: ClientHello, ServerHello, the server certificate's names,
//! alerts and the switch to encrypted records. Records may span segments,
//! handshake messages may span records, and several messages may share a
//! record. SSLv2-format hellos are understood too.
//!
//! Hello bodies are walked with a lenient cursor so that a hello cut short
//! (small snap length, capture end) still yields the facts before the cut;
//! extension contents, cipher names and certificates are decoded with
//! `tls-parser` and `x509-parser`.

use std::borrow::Cow;
use std::sync::Arc;

use tls_parser::{TlsCipherSuite, TlsExtension};

/// Largest TLS record body accepted (2^14 plus the 2048 bytes of expansion RFC 5246 allows).
pub const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest handshake message reassembled; larger ones are parsed as truncated.
pub const MAX_HANDSHAKE_LEN: usize = 64 * 1024;
/// Longest host name kept from the network (DNS allows 253); longer ones
/// are cut, so hostile names cannot pin memory in caches and tallies.
pub const MAX_NAME: usize = 255;
/// Most certificate names kept per certificate.
pub const MAX_CERT_NAMES: usize = 100;
/// The HelloRetryRequest random (RFC 8446, 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Record content types.
const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// Handshake message types.
pub const HS_CLIENT_HELLO: u8 = 1;
/// ServerHello handshake type.
pub const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_HELLO_DONE: u8 = 14;

/// True for the RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa).
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Spelling of a protocol version as used in every report:
/// `SSL2`, `SSL3`, `TLS1.0`..`TLS1.3`, `TLS1.3-draftNN`, else `0xNNNN`.
pub fn version_name(v: u16) -> Cow<'static, str> {
    match v {
        0x0002 | 0x0200 => "SSL2".into(),
        0x0300 => "SSL3".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        0x7f00..=0x7fff => format!("TLS1.3-draft{}", v & 0xff).into(),
        _ => format!("0x{v:04x}").into(),
    }
}

/// Orders versions by age: SSL2 < SSL3 < TLS1.0 < 1.1 < 1.2 < 1.3 drafts < 1.3.
/// Unknown values rank lowest (0), so they never count as "modern".
pub fn version_rank(v: u16) -> u32 {
    match v {
        0x0002 | 0x0200 => 1,
        0x0300 => 2,
        0x0301 => 3,
        0x0302 => 4,
        0x0303 => 5,
        0x7f00..=0x7fff => 6 + u32::from(v & 0xff),
        0x0304 => 1000,
        _ => 0,
    }
}

/// IANA name of a cipher suite, or `0xNNNN` when unknown.
pub fn cipher_name(id: u32) -> Cow<'static, str> {
    if id > 0xffff {
        return sslv2_cipher_name(id);
    }
    match TlsCipherSuite::from_id(id as u16) {
        Some(c) => c.name.into(),
        None => format!("0x{id:04x}").into(),
    }
}

fn sslv2_cipher_name(id: u32) -> Cow<'static, str> {
    match id {
        0x010080 => "SSL2_RC4_128_WITH_MD5".into(),
        0x020080 => "SSL2_RC4_128_EXPORT40_WITH_MD5".into(),
        0x030080 => "SSL2_RC2_128_CBC_WITH_MD5".into(),
        0x040080 => "SSL2_RC2_128_CBC_EXPORT40_WITH_MD5".into(),
        0x050080 => "SSL2_IDEA_128_CBC_WITH_MD5".into(),
        0x060040 => "SSL2_DES_64_CBC_WITH_MD5".into(),
        0x0700c0 => "SSL2_DES_192_EDE3_CBC_WITH_MD5".into(),
        _ => format!("0x{id:06x}").into(),
    }
}

/// Escapes a name for every output: printable ASCII and other printable
/// UTF-8 pass, control characters, backslash and invalid UTF-8 become `\xNN`.
pub fn escape_name(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || c.is_control() {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
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
    /// [`version_rank`] (TLS 1.3 above its drafts, unknown values lowest).
    pub fn best_version(&self) -> u16 {
        self.offered()
            .max_by_key(|v| (version_rank(*v), *v))
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
    /// Chosen cipher suite (24-bit for SSLv2).
    pub cipher: u32,
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
}

/// What a direction's stream told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A ClientHello.
    ClientHello(Box<ClientHello>),
    /// A ServerHello (HelloRetryRequests included: check `is_hrr`).
    ServerHello(Box<ServerHello>),
    /// The leaf certificate's subject CN and DNS SANs, escaped.
    Certificate(Arc<[String]>),
    /// ServerHelloDone: the server's plaintext flight is over (TLS <= 1.2).
    ServerHelloDone,
    /// A plaintext alert (level, description).
    Alert(u8, u8),
    /// ChangeCipherSpec or application data: later records are encrypted.
    Encrypted,
    /// The bytes are not TLS (first record header invalid).
    NotTls,
}

/// Lenient big-endian reader: every read returns `None` past the end.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    /// Takes up to `n` bytes; the flag says whether all `n` were there.
    fn take_upto(&mut self, n: usize) -> (&'a [u8], bool) {
        let k = n.min(self.0.len());
        let (a, b) = self.0.split_at(k);
        self.0 = b;
        (a, k == n)
    }
}

fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// Walks an extension block: (type, body, complete) for each extension.
fn walk_extensions(block: &[u8], mut f: impl FnMut(u16, &[u8], bool)) -> bool {
    let mut r = Rd(block);
    while !r.0.is_empty() {
        let Some(t) = r.u16() else { return false };
        let Some(len) = r.u16() else {
            f(t, &[], false);
            return false;
        };
        let (body, whole) = r.take_upto(usize::from(len));
        f(t, body, whole);
        if !whole {
            return false;
        }
    }
    true
}

/// Decodes one extension with tls-parser from its type and body.
fn typed_extension(t: u16, body: &[u8]) -> Option<TlsExtension<'_>> {
    // tls-parser parses "type, length, body"; rebuild that header in front.
    let mut raw = Vec::with_capacity(body.len() + 4);
    raw.extend_from_slice(&t.to_be_bytes());
    raw.extend_from_slice(&u16::try_from(body.len()).ok()?.to_be_bytes());
    raw.extend_from_slice(body);
    match tls_parser::parse_tls_extension(&raw) {
        Ok((_, ext)) => Some(owned_ext(ext)),
        Err(_) => None,
    }
}

/// Keeps only what we use from an extension, detached from the temp buffer.
fn owned_ext(ext: TlsExtension<'_>) -> TlsExtension<'static> {
    match ext {
        TlsExtension::SupportedVersions(v) => TlsExtension::SupportedVersions(v),
        TlsExtension::SignatureAlgorithms(v) => TlsExtension::SignatureAlgorithms(v),
        TlsExtension::EllipticCurves(v) => TlsExtension::EllipticCurves(v),
        _ => TlsExtension::Unknown(tls_parser::TlsExtensionType(0), &[]),
    }
}

fn sni_from(body: &[u8]) -> Option<String> {
    // server_name_list<2>: name_type(1) host_name<2>
    match tls_parser::parse_tls_extension_sni_content(body) {
        Ok((_, TlsExtension::SNI(list))) => list
            .iter()
            .find(|(t, _)| t.0 == 0)
            .map(|(_, name)| escape_name(name.get(..MAX_NAME).unwrap_or(name))),
        _ => None,
    }
}

fn alpn_from(body: &[u8]) -> Vec<Vec<u8>> {
    match tls_parser::parse_tls_extension_alpn_content(body) {
        Ok((_, TlsExtension::ALPN(list))) => list.iter().map(|p| p.to_vec()).collect(),
        _ => Vec::new(),
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
        ch.ciphers = u16_list(cs).into_iter().map(u32::from).collect();
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
        let complete = walk_extensions(block, |t, b, w| {
            ch.extensions.push(t);
            if !w {
                return;
            }
            match t {
                0x0000 => ch.sni = sni_from(b),
                0x0010 => ch.alpn = alpn_from(b),
                0x002b => {
                    if let Some(TlsExtension::SupportedVersions(v)) = typed_extension(t, b) {
                        ch.supported_versions = v.iter().map(|x| x.0).collect();
                    }
                }
                0x000d => {
                    if let Some(TlsExtension::SignatureAlgorithms(v)) = typed_extension(t, b) {
                        ch.signature_algorithms = v;
                    }
                }
                0x000a => {
                    if let Some(TlsExtension::EllipticCurves(v)) = typed_extension(t, b) {
                        ch.supported_groups = v.iter().map(|g| g.0).collect();
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
        sh.cipher = u32::from(r.u16()?);
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

/// Subject CN and DNS SANs of a DER certificate, escaped.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::*;
    let mut names: Vec<String> = Vec::new();
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return names;
    };
    let mut add = |raw: &[u8]| {
        let n = escape_name(raw.get(..MAX_NAME).unwrap_or(raw));
        if names.len() < MAX_CERT_NAMES && !names.contains(&n) {
            names.push(n);
        }
    };
    for cn in cert.subject().iter_common_name() {
        match cn.as_str() {
            Ok(s) => add(s.as_bytes()),
            Err(_) => add(cn.as_slice()),
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            if let GeneralName::DNSName(d) = gn {
                add(d.as_bytes());
            }
        }
    }
    names
}

/// Certificates parsed lately, by a hash of their DER: servers present the
/// same certificate on every connection, and X.509 parsing is costly.
const CERT_CACHE_MAX: usize = 1024;

thread_local! {
    static CERT_CACHE: std::cell::RefCell<rustc_hash::FxHashMap<u64, Arc<[String]>>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// [`certificate_names`] through the per-thread cache.
fn cached_certificate_names(der: &[u8]) -> Arc<[String]> {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let key = BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(der);
    CERT_CACHE.with(|c| {
        if let Some(v) = c.borrow().get(&key) {
            return v.clone();
        }
        let names: Arc<[String]> = certificate_names(der).into();
        let mut m = c.borrow_mut();
        if m.len() >= CERT_CACHE_MAX {
            m.clear();
        }
        m.insert(key, Arc::clone(&names));
        names
    })
}

/// Names from a TLS (<= 1.2) Certificate message body: the leaf's names.
fn certificate_message_names(body: &[u8]) -> Arc<[String]> {
    let mut r = Rd(body);
    let Some(_list_len) = r.take(3) else {
        return Arc::from([]);
    };
    let Some(l) = r.take(3) else {
        return Arc::from([]);
    };
    let len = (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]);
    match r.take(len) {
        Some(der) => cached_certificate_names(der),
        None => Arc::from([]),
    }
}

/// Parses an SSLv2 CLIENT-HELLO message (after the 2-byte record header).
pub fn parse_sslv2_client_hello(msg: &[u8]) -> Option<ClientHello> {
    let mut r = Rd(msg);
    if r.u8()? != 1 {
        return None;
    }
    let version = r.u16()?;
    let cs_len = usize::from(r.u16()?);
    let sid_len = usize::from(r.u16()?);
    let ch_len = usize::from(r.u16()?);
    if cs_len % 3 != 0 || sid_len > 32 || !(16..=32).contains(&ch_len) {
        return None;
    }
    let (cs, whole) = r.take_upto(cs_len);
    let ciphers = cs
        .chunks_exact(3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]))
        .collect();
    let truncated = !whole || r.take(sid_len + ch_len).is_none();
    Some(ClientHello {
        record_version: 0x0002,
        legacy_version: version,
        sslv2_format: true,
        ciphers,
        truncated,
        ..Default::default()
    })
}

/// Parses an SSLv2 SERVER-HELLO message (after the 2-byte record header).
pub fn parse_sslv2_server_hello(msg: &[u8]) -> Option<ServerHello> {
    let mut r = Rd(msg);
    if r.u8()? != 4 {
        return None;
    }
    let _hit = r.u8()?;
    let _cert_type = r.u8()?;
    let version = r.u16()?;
    let cert_len = usize::from(r.u16()?);
    let cs_len = usize::from(r.u16()?);
    let _cid_len = r.u16()?;
    let cipher = r.take(cert_len).and_then(|_| r.take(cs_len.min(3)));
    let cipher = cipher
        .filter(|c| c.len() == 3)
        .map(|c| (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]));
    Some(ServerHello {
        legacy_version: version,
        cipher: cipher.unwrap_or(0),
        sslv2_format: true,
        truncated: cipher.is_none(),
        ..Default::default()
    })
}

/// How a buffer's start relates to a TLS record or SSLv2 hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A plausible TLS record header.
    Tls,
    /// A plausible SSLv2-format hello (2-byte header).
    Sslv2,
    /// Not TLS.
    No,
    /// Too few bytes to tell.
    NeedMore,
}

/// Does `b` start with a TLS record (or SSLv2 hello) that a stream could
/// begin with? `hs` narrows it to a handshake record carrying that message type.
pub fn classify_start(b: &[u8], hs: Option<u8>) -> Start {
    let Some(&first) = b.first() else {
        return Start::NeedMore;
    };
    if first & 0x80 != 0 {
        // SSLv2 record: 2-byte length, msg type 1 (client) or 4 (server).
        if b.len() < 5 {
            return Start::NeedMore;
        }
        let len = (usize::from(first & 0x7f) << 8) | usize::from(b[1]);
        let ok_type = match hs {
            Some(HS_CLIENT_HELLO) => b[2] == 1,
            Some(HS_SERVER_HELLO) => b[2] == 4,
            _ => b[2] == 1 || b[2] == 4,
        };
        let ver = u16::from_be_bytes([b[3], b[4]]);
        let ver_ok = if b[2] == 1 {
            ver == 0x0002 || (0x0300..=0x0304).contains(&ver)
        } else if b.len() >= 7 {
            let v = u16::from_be_bytes([b[5], b[6]]);
            v == 0x0002 || (0x0300..=0x0304).contains(&v)
        } else {
            return Start::NeedMore;
        };
        return if ok_type && ver_ok && len >= 9 {
            Start::Sslv2
        } else {
            Start::No
        };
    }
    if b.len() < 5 {
        return Start::NeedMore;
    }
    let ct = b[0];
    let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if !(CT_CCS..=CT_HEARTBEAT).contains(&ct) || b[1] != 3 || b[2] > 4 || len > MAX_RECORD_LEN {
        return Start::No;
    }
    let Some(t) = hs else { return Start::Tls };
    if ct != CT_HANDSHAKE || len < 4 {
        return Start::No;
    }
    // Check the bytes there are: handshake type, a length < 2^16, and a
    // hello body starting with version 3.x (or a TLS 1.3 draft 0x7fNN).
    let ok = |i: usize, f: &dyn Fn(u8) -> bool| b.get(i).is_none_or(|&x| f(x));
    if !ok(5, &|x| x == t)
        || !ok(6, &|x| x == 0)
        || !ok(9, &|x| x == 3 || (t == HS_SERVER_HELLO && x == 0x7f))
    {
        return Start::No;
    }
    if b.len() < 10 {
        Start::NeedMore
    } else {
        Start::Tls
    }
}

/// First possible ClientHello or ServerHello record in `b`: its offset,
/// and whether it is certain (false: a possible start cut by the end of `b`).
pub fn find_hello_start(b: &[u8]) -> Option<(usize, bool)> {
    let mut i = 0;
    while let Some(p) = b
        .get(i..)
        .and_then(|s| s.iter().position(|&x| x == CT_HANDSHAKE))
    {
        let at = i + p;
        let rest = b.get(at..).unwrap_or_default();
        let kinds = [
            classify_start(rest, Some(HS_CLIENT_HELLO)),
            classify_start(rest, Some(HS_SERVER_HELLO)),
        ];
        if kinds.contains(&Start::Tls) {
            return Some((at, true));
        }
        if kinds.contains(&Start::NeedMore) {
            return Some((at, false));
        }
        i = at + 1;
    }
    None
}

/// Per-direction TLS record and handshake reassembler.
#[derive(Debug, Default)]
pub struct HandshakeStream {
    /// Stream bytes not yet forming a whole record.
    buf: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    hs: Vec<u8>,
    st: State,
}

/// Everything but the buffers, so that messages can be handled while the
/// buffers are borrowed.
#[derive(Debug, Default)]
struct State {
    hs_record_version: u16,
    /// A HelloRetryRequest went by: a compatibility ChangeCipherSpec may
    /// follow before the real ServerHello, so CCS does not end plaintext.
    after_hrr: bool,
    encrypted: bool,
    failed: bool,
}

impl State {
    fn finished(&self) -> bool {
        self.encrypted || self.failed
    }

    fn message(&mut self, t: u8, msg: &[u8], cut: bool, out: &mut dyn FnMut(Event)) {
        match t {
            HS_CLIENT_HELLO => {
                if let Some(mut ch) = parse_client_hello(msg, self.hs_record_version) {
                    ch.truncated |= cut;
                    out(Event::ClientHello(Box::new(ch)));
                }
            }
            HS_SERVER_HELLO => {
                if let Some(mut sh) = parse_server_hello(msg) {
                    sh.truncated |= cut;
                    let v13 = sh.version() == 0x0304 || sh.version() >> 8 == 0x7f;
                    let hrr = sh.is_hrr;
                    self.after_hrr |= hrr;
                    out(Event::ServerHello(Box::new(sh)));
                    if v13 && !hrr {
                        // Everything after a TLS 1.3 ServerHello is encrypted.
                        self.encrypted = true;
                        out(Event::Encrypted);
                    }
                }
            }
            HS_CERTIFICATE => out(Event::Certificate(certificate_message_names(msg))),
            HS_SERVER_HELLO_DONE => out(Event::ServerHelloDone),
            _ => {}
        }
    }

    /// Parses the whole messages at the front of `hs`; returns the bytes used.
    fn messages(&mut self, hs: &[u8], out: &mut dyn FnMut(Event)) -> usize {
        let mut pos = 0;
        while let Some(h) = hs.get(pos..pos + 4) {
            let t = h[0];
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if len > MAX_HANDSHAKE_LEN {
                // Hostile or garbage length: report what we have, stop.
                self.message(t, hs.get(pos + 4..).unwrap_or_default(), true, out);
                self.failed = true;
                return hs.len();
            }
            let Some(msg) = hs.get(pos + 4..pos + 4 + len) else {
                break;
            };
            pos += 4 + len;
            self.message(t, msg, false, out);
            if self.finished() {
                return hs.len();
            }
        }
        pos
    }

    /// Parses the whole records at the front of `b`, appending handshake
    /// bytes to `hs`; returns the bytes used.
    fn records(&mut self, b: &[u8], hs: &mut Vec<u8>, out: &mut dyn FnMut(Event)) -> usize {
        let mut pos = 0;
        while !self.finished() {
            let rest = b.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match classify_start(rest, None) {
                Start::NeedMore => break,
                Start::No => {
                    self.failed = true;
                    out(Event::NotTls);
                }
                Start::Sslv2 => {
                    let len = (usize::from(rest[0] & 0x7f) << 8) | usize::from(rest[1]);
                    let Some(msg) = rest.get(2..2 + len) else {
                        break;
                    };
                    if let Some(ch) = parse_sslv2_client_hello(msg) {
                        out(Event::ClientHello(Box::new(ch)));
                    } else if let Some(sh) = parse_sslv2_server_hello(msg) {
                        out(Event::ServerHello(Box::new(sh)));
                    }
                    // Later SSLv2 messages are encrypted or irrelevant.
                    self.encrypted = true;
                    out(Event::Encrypted);
                    pos += 2 + len;
                }
                Start::Tls => {
                    let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
                    let Some(body) = rest.get(5..5 + len) else {
                        break;
                    };
                    let ct = rest[0];
                    pos += 5 + len;
                    match ct {
                        CT_HANDSHAKE => {
                            if hs.is_empty() {
                                self.hs_record_version = u16::from_be_bytes([rest[1], rest[2]]);
                                // The common case, a message in one record: no copy.
                                let used = self.messages(body, out);
                                hs.extend_from_slice(body.get(used..).unwrap_or_default());
                            } else {
                                hs.extend_from_slice(body);
                                let used = self.messages(hs, out);
                                hs.drain(..used.min(hs.len()));
                            }
                        }
                        CT_ALERT if body.len() == 2 => out(Event::Alert(body[0], body[1])),
                        CT_CCS if self.after_hrr => {}
                        // An alert of another length is encrypted.
                        CT_ALERT | CT_CCS | CT_APPDATA => {
                            self.encrypted = true;
                            out(Event::Encrypted);
                        }
                        _ => {}
                    }
                }
            }
        }
        pos
    }
}

impl HandshakeStream {
    /// A new stream positioned at a record boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the stream is past its plaintext handshake or not TLS.
    pub fn finished(&self) -> bool {
        self.st.finished()
    }

    /// Bytes buffered (record and handshake reassembly).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.hs.len()
    }

    /// Memory held by the buffers.
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.hs.capacity()
    }

    /// Back to a new stream, keeping the buffers' memory.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.hs.clear();
        self.st = State::default();
    }

    /// Feeds the next stream bytes; events go to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut dyn FnMut(Event)) {
        if self.finished() {
            return;
        }
        if self.buf.is_empty() {
            // Whole records straight from `data`; keep only the rest.
            let used = self.st.records(data, &mut self.hs, out);
            self.buf
                .extend_from_slice(data.get(used..).unwrap_or_default());
        } else {
            self.buf.extend_from_slice(data);
            let used = self.st.records(&self.buf, &mut self.hs, out);
            self.buf.drain(..used.min(self.buf.len()));
        }
        if self.finished() {
            self.buf.clear();
            self.hs.clear();
        }
    }

    /// At the end of the stream: a hello still being reassembled is parsed
    /// as truncated, so the facts before the cut are kept.
    pub fn flush_truncated(&mut self, out: &mut dyn FnMut(Event)) {
        if self.finished() {
            return;
        }
        // A record whose body was cut: take its handshake bytes as they are.
        let start = classify_start(&self.buf, None);
        if self.buf.len() > 5 && start == Start::Tls && self.buf[0] == CT_HANDSHAKE {
            if self.hs.is_empty() {
                self.st.hs_record_version = u16::from_be_bytes([self.buf[1], self.buf[2]]);
            }
            self.hs.extend_from_slice(&self.buf[5..]);
        } else if self.buf.len() > 2
            && start == Start::Sslv2
            && let Some(mut ch) = parse_sslv2_client_hello(&self.buf[2..])
        {
            ch.truncated = true;
            out(Event::ClientHello(Box::new(ch)));
        }
        if let Some((&t, rest)) = self.hs.split_first()
            && (t == HS_CLIENT_HELLO || t == HS_SERVER_HELLO)
            && rest.len() > 3
        {
            self.st.message(t, &rest[3..], true, out);
        }
        self.buf.clear();
        self.hs.clear();
        self.st.failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello handshake message with the given extensions.
    pub(crate) fn client_hello_msg(version: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        let mut eb = Vec::new();
        for (t, d) in exts {
            eb.extend_from_slice(&t.to_be_bytes());
            eb.extend_from_slice(&(d.len() as u16).to_be_bytes());
            eb.extend_from_slice(d);
        }
        body.extend_from_slice(&(eb.len() as u16).to_be_bytes());
        body.extend_from_slice(&eb);
        let mut m = vec![HS_CLIENT_HELLO, 0, 0, 0];
        let l = body.len() as u32;
        m[1..4].copy_from_slice(&l.to_be_bytes()[1..]);
        m.extend_from_slice(&body);
        m
    }

    fn sni_ext(name: &str) -> (u16, Vec<u8>) {
        let mut d = Vec::new();
        d.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        (0, d)
    }

    fn records(ct: u8, msg: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in msg.chunks(chunk) {
            out.extend_from_slice(&[ct, 3, 1]);
            out.extend_from_slice(&(c.len() as u16).to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    }

    fn collect(stream: &mut HandshakeStream, data: &[u8], step: usize) -> Vec<Event> {
        let mut ev = Vec::new();
        for c in data.chunks(step) {
            stream.feed(c, &mut |e| ev.push(e));
        }
        ev
    }

    #[test]
    fn grease_and_names() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
        assert_eq!(version_name(0x0301), "TLS1.0");
        assert_eq!(version_name(0x7f17), "TLS1.3-draft23");
        assert_eq!(version_name(0x0002), "SSL2");
        assert_eq!(version_name(0xfb1a), "0xfb1a");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x0700c0), "SSL2_DES_192_EDE3_CBC_WITH_MD5");
    }

    #[test]
    fn client_hello_across_records_and_segments() {
        let msg = client_hello_msg(
            0x0303,
            &[
                sni_ext("mail.example.org"),
                (0x002b, vec![6, 0x0a, 0x0a, 3, 4, 3, 3]),
            ],
        );
        let wire = records(CT_HANDSHAKE, &msg, 17);
        for step in [1, 3, 7, 1000] {
            let mut s = HandshakeStream::new();
            let ev = collect(&mut s, &wire, step);
            let Some(Event::ClientHello(ch)) = ev.first() else {
                panic!("no hello at step {step}: {ev:?}");
            };
            assert_eq!(ch.sni.as_deref(), Some("mail.example.org"));
            assert_eq!(ch.supported_versions, vec![0x0a0a, 0x0304, 0x0303]);
            assert_eq!(ch.max_version(), 0x0304);
            assert_eq!(ch.best_version(), 0x0304);
            assert_eq!(ch.ciphers, vec![0x1301, 0xc02f]);
            assert_eq!(ch.extensions, vec![0, 0x2b]);
            assert!(!ch.truncated);
        }
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

    #[test]
    fn several_messages_in_one_record() {
        let mut msg = Vec::new();
        // ServerHello TLS 1.2 + ServerHelloDone in one record.
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&[1u8; 32]);
        sh.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
        msg.extend_from_slice(&[HS_SERVER_HELLO, 0, 0, sh.len() as u8]);
        msg.extend_from_slice(&sh);
        msg.extend_from_slice(&[HS_SERVER_HELLO_DONE, 0, 0, 0]);
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, &records(CT_HANDSHAKE, &msg, 4000), 5);
        assert!(
            matches!(&ev[0], Event::ServerHello(sh) if sh.version() == 0x0303 && sh.cipher == 0xc02f)
        );
        assert_eq!(ev[1], Event::ServerHelloDone);
    }

    #[test]
    fn hello_retry_request_is_flagged() {
        let mut sh = vec![3, 3];
        sh.extend_from_slice(&HRR_RANDOM);
        sh.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let parsed = parse_server_hello(&sh).unwrap();
        assert!(parsed.is_hrr);
        assert_eq!(parsed.version(), 0x0304);
        let mut s = HandshakeStream::new();
        let mut msg = vec![HS_SERVER_HELLO, 0, 0, sh.len() as u8];
        msg.extend_from_slice(&sh);
        let ev = collect(&mut s, &records(CT_HANDSHAKE, &msg, 100), 100);
        // After an HRR the stream stays in plaintext, waiting for the real one.
        assert_eq!(ev.len(), 1);
        assert!(!s.finished());
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
            assert_eq!(parsed.cipher, 0x1302, "{v:?}");
            assert_eq!(parsed.extensions, [0x33], "{v:?}");
            assert!(!parsed.truncated, "{v:?}");
        }
        // Draft 22: session id echo and compression method, as in RFC 8446.
        let mut sh = vec![0x7f, 0x16];
        sh.extend_from_slice(&[7; 32]);
        sh.extend_from_slice(&[1, 9, 0x13, 0x03, 0, 0, 0]);
        let parsed = parse_server_hello(&sh).unwrap();
        assert_eq!((parsed.cipher, parsed.truncated), (0x1303, false));
    }

    #[test]
    fn sslv2_client_hello() {
        // SSLv2 CLIENT-HELLO: version 0x0301, 2 cipher specs, 16-byte challenge.
        let mut m = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        m.extend_from_slice(&[0, 0, 0x2f, 0x07, 0x00, 0xc0]);
        m.extend_from_slice(&[9u8; 16]);
        let mut wire = vec![0x80, m.len() as u8];
        wire.extend_from_slice(&m);
        assert_eq!(classify_start(&wire, Some(HS_CLIENT_HELLO)), Start::Sslv2);
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, &wire, 3);
        let Some(Event::ClientHello(ch)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(ch.sslv2_format);
        assert_eq!(ch.legacy_version, 0x0301);
        assert_eq!(ch.ciphers, vec![0x2f, 0x0700c0]);
    }

    #[test]
    fn truncated_hello_keeps_facts() {
        let msg = client_hello_msg(0x0301, &[sni_ext("cut.example"), (0x0017, vec![])]);
        let wire = records(CT_HANDSHAKE, &msg, 4000);
        let cut = &wire[..wire.len() - 2];
        let mut s = HandshakeStream::new();
        let mut ev = collect(&mut s, cut, 10);
        assert!(ev.is_empty());
        s.flush_truncated(&mut |e| ev.push(e));
        let Some(Event::ClientHello(ch)) = ev.first() else {
            panic!("{ev:?}")
        };
        assert!(ch.truncated);
        assert_eq!(ch.sni.as_deref(), Some("cut.example"));
        assert_eq!(ch.legacy_version, 0x0301);
    }

    #[test]
    fn hostile_lengths_do_not_panic() {
        let mut wire = vec![
            CT_HANDSHAKE,
            3,
            1,
            0,
            8,
            HS_CLIENT_HELLO,
            0xff,
            0xff,
            0xff,
            3,
            3,
            0,
            0,
        ];
        wire.extend_from_slice(&[0xff; 40]);
        let mut s = HandshakeStream::new();
        let _ = collect(&mut s, &wire, 1);
        s.flush_truncated(&mut |_| {});
        for n in 0..64 {
            let _ = parse_client_hello(&[3; 64][..n], 0x0301);
            let _ = parse_server_hello(&[3; 64][..n]);
            let _ = parse_sslv2_client_hello(&[1; 64][..n]);
            let _ = parse_sslv2_server_hello(&[4; 64][..n]);
        }
    }

    #[test]
    fn not_tls_and_scan() {
        let mut s = HandshakeStream::new();
        let ev = collect(&mut s, b"GET / HTTP/1.1\r\n", 100);
        assert_eq!(ev, vec![Event::NotTls]);
        let msg = client_hello_msg(0x0303, &[]);
        let mut buf = b"\x05\x01\x00junk".to_vec();
        let at = buf.len();
        buf.extend_from_slice(&records(CT_HANDSHAKE, &msg, 4000));
        assert_eq!(find_hello_start(&buf), Some((at, true)));
        // A ServerHello type byte after a ClientHello-looking header is a
        // possible ServerHello start, cut short: not certain.
        assert_eq!(
            find_hello_start(b"\x16\x03\x01\x00\x05\x02"),
            Some((0, false))
        );
        assert_eq!(find_hello_start(b"\x16\x03\x01\x00\x05\x07\x00"), None);
        // Cut after the record header: possible, not certain.
        assert_eq!(find_hello_start(b"xx\x16\x03\x01"), Some((2, false)));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_name(b"ok.example"), "ok.example");
        assert_eq!(escape_name(b"a\x00b\xffc\\"), "a\\x00b\\xffc\\x5c");
        assert_eq!(escape_name("bücher.de".as_bytes()), "bücher.de");
    }
}
