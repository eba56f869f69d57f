//! Hello extensions: walking an extension block, and the server_name and
//! ALPN contents (with `tls-parser`). supported_versions and
//! signature_algorithms are read by `cursor`, held to tls-parser's reading
//! by a test: its generic parser cost a copy of the extension and a
//! growing vector per value.

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
