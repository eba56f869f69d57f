//! Hello extensions: walking an extension block, and the contents of the
//! extensions read (server_name, ALPN, and with `tls-parser`
//! supported_versions, signature_algorithms, supported_groups).

use tls_parser::TlsExtension;

use super::cursor::Rd;
use crate::text::escape_host;

/// Walks an extension block: (type, body, complete) for each extension.
pub(super) fn walk_extensions(block: &[u8], mut f: impl FnMut(u16, &[u8], bool)) -> bool {
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
pub(super) fn typed_extension(t: u16, body: &[u8]) -> Option<TlsExtension<'_>> {
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

/// The host name of a server_name extension body, cut and escaped.
pub(super) fn sni_from(body: &[u8]) -> Option<String> {
    // server_name_list<2>: name_type(1) host_name<2>
    match tls_parser::parse_tls_extension_sni_content(body) {
        Ok((_, TlsExtension::SNI(list))) => list
            .iter()
            .find(|(t, _)| t.0 == 0)
            .map(|(_, name)| escape_host(name)),
        _ => None,
    }
}

/// The protocol names of an ALPN extension body, raw.
pub(super) fn alpn_from(body: &[u8]) -> Vec<Vec<u8>> {
    match tls_parser::parse_tls_extension_alpn_content(body) {
        Ok((_, TlsExtension::ALPN(list))) => list.iter().map(|p| p.to_vec()).collect(),
        _ => Vec::new(),
    }
}
