//! Hello extensions: walking an extension block, and the server_name and
//! ALPN contents. These, like supported_versions, signature_algorithms
//! and supported_groups, are read by `cursor`, held to tls-parser's
//! reading by tests: its generic parsers cost a vector (or a copy) per
//! value on every hello.

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

/// The host name of a server_name extension body, cut and escaped: the
/// first entry of type host_name, read as tls-parser reads the list (a
/// list length past the body is no list; entries up to the first one cut
/// short; bytes after the list ignored), held to it by a test.
pub(super) fn sni_from(body: &[u8]) -> Option<String> {
    // server_name_list<2>: name_type(1) host_name<2>
    let mut r = Rd(body);
    let n = usize::from(r.u16()?);
    let mut list = Rd(r.take(n)?);
    loop {
        let t = list.u8()?;
        let len = usize::from(list.u16()?);
        let name = list.take(len)?;
        if t == 0 {
            return Some(escape_host(name));
        }
    }
}

/// The protocol names of an ALPN extension body, raw, read as tls-parser
/// reads them (held to it by a test).
pub(super) fn alpn_from(body: &[u8]) -> Vec<Vec<u8>> {
    // protocol_name_list<2>: name<1>...
    let mut r = Rd(body);
    let Some(list) = r.u16().and_then(|n| r.take(usize::from(n))) else {
        return Vec::new();
    };
    let mut list = Rd(list);
    let mut names = Vec::new();
    while let Some(name) = list.u8().and_then(|n| list.take(usize::from(n))) {
        names.push(name.to_vec());
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use tls_parser::TlsExtension;

    /// server_name and ALPN bodies read here as tls-parser reads them:
    /// well-formed, empty, short, cut, padded and with other name types.
    #[test]
    fn names_as_tls_parser_reads_them() {
        let bodies: &[&[u8]] = &[
            &[],
            &[0],
            &[0, 0],
            &[0, 5, 0, 0, 2, b'a', b'b'],
            &[0, 5, 0, 0, 2, b'a', b'b', 9, 9],
            &[0, 6, 0, 0, 2, b'a', b'b'],
            &[0, 5, 0, 0, 3, b'a', b'b'],
            &[0, 10, 1, 0, 2, b'x', b'y', 0, 0, 2, b'a', b'b'],
            &[0, 12, 1, 0, 2, b'x', b'y', 0, 0, 2, b'a', b'b', 7],
            &[0, 9, 1, 0, 2, b'x', b'y', 0, 0, 9, b'a', b'b'],
            &[0, 7, 2, b'h', b'2', 3, b'a', b'b', b'c'],
            &[0, 8, 2, b'h', b'2', 3, b'a', b'b', b'c', 4],
            &[0, 7, 2, b'h', b'2', 9, b'a', b'b', b'c'],
            &[0, 1, 0],
            &[0, 3, 0, 0, 0],
            &[0, 3, 0, 1, b'a'],
            &[0, 4, 1, b'a', 0, 0],
        ];
        for b in bodies {
            let theirs = match tls_parser::parse_tls_extension_sni_content(b) {
                Ok((_, TlsExtension::SNI(list))) => list
                    .iter()
                    .find(|(t, _)| t.0 == 0)
                    .map(|(_, name)| escape_host(name)),
                _ => None,
            };
            assert_eq!(sni_from(b), theirs, "server_name {b:?}");
            let theirs: Vec<Vec<u8>> = match tls_parser::parse_tls_extension_alpn_content(b) {
                Ok((_, TlsExtension::ALPN(list))) => list.iter().map(|p| p.to_vec()).collect(),
                _ => Vec::new(),
            };
            assert_eq!(alpn_from(b), theirs, "alpn {b:?}");
        }
    }
}
