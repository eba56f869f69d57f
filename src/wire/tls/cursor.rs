//! A lenient big-endian reader for hello bodies: every read returns `None`
//! past the end, so a message cut short still yields what came before.

/// Lenient big-endian reader: every read returns `None` past the end.
pub(super) struct Rd<'a>(pub(super) &'a [u8]);

impl<'a> Rd<'a> {
    pub(super) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    /// Takes up to `n` bytes; the flag says whether all `n` were there.
    pub(super) fn take_upto(&mut self, n: usize) -> (&'a [u8], bool) {
        let k = n.min(self.0.len());
        let (a, b) = self.0.split_at(k);
        self.0 = b;
        (a, k == n)
    }
}

/// Big-endian 16-bit values (an odd last byte is ignored).
pub(super) fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// A `<2>`-length-prefixed vector of 16-bit values (signature_algorithms),
/// as tls-parser reads it: `None` when the length runs
/// past the body, an odd last byte and bytes after the vector ignored.
pub(super) fn u16_vector(body: &[u8]) -> Option<Vec<u16>> {
    let mut r = Rd(body);
    let n = usize::from(r.u16()?);
    Some(u16_list(r.take(n)?))
}

/// A supported_groups body as tls-parser reads it: a `<2>`-length-prefixed
/// vector of 16-bit values, `None` when the length runs past the body or
/// is odd, bytes after the vector ignored.
pub(super) fn groups_vector(body: &[u8]) -> Option<Vec<u16>> {
    let mut r = Rd(body);
    let n = usize::from(r.u16()?);
    let list = r.take(n)?;
    (n % 2 == 0).then(|| u16_list(list))
}

/// A supported_versions body as tls-parser reads it: two bytes are one
/// version (the ServerHello form), otherwise a one-byte length (not
/// checked) then versions to the end of the body, an even number of bytes.
pub(super) fn versions_vector(body: &[u8]) -> Option<Vec<u16>> {
    match body.len() {
        0 => None,
        2 => Some(u16_list(body)),
        n if n % 2 == 0 => None,
        _ => Some(u16_list(body.get(1..)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tls_parser::TlsExtension;

    /// The vectors read here equal tls-parser's reading of the same bytes,
    /// on well-formed, short, odd and padded bodies.
    #[test]
    fn vectors_as_tls_parser_reads_them() {
        let bodies: &[&[u8]] = &[
            &[0, 4, 4, 3, 8, 4],
            &[0, 4, 4, 3, 8],
            &[0, 3, 4, 3, 8, 9],
            &[0, 2, 4, 3, 8, 9],
            &[0, 0],
            &[0],
            &[],
            &[4, 3, 4, 3, 3],
            &[3, 4],
            &[4, 3, 4, 3, 3, 7],
            &[1],
        ];
        for b in bodies {
            let theirs = match tls_parser::parse_tls_extension_signature_algorithms_content(b) {
                Ok((_, TlsExtension::SignatureAlgorithms(v))) => Some(v),
                _ => None,
            };
            assert_eq!(u16_vector(b), theirs, "signature_algorithms {b:?}");
            let theirs = match tls_parser::parse_tls_extension_elliptic_curves_content(b) {
                Ok((_, TlsExtension::EllipticCurves(v))) => Some(v.iter().map(|g| g.0).collect()),
                _ => None,
            };
            assert_eq!(groups_vector(b), theirs, "supported_groups {b:?}");
            let mut raw = vec![0, 0x2b];
            raw.extend_from_slice(&u16::try_from(b.len()).unwrap_or(0).to_be_bytes());
            raw.extend_from_slice(b);
            let theirs = match tls_parser::parse_tls_extension(&raw) {
                Ok((_, TlsExtension::SupportedVersions(v))) => {
                    Some(v.iter().map(|x| x.0).collect())
                }
                _ => None,
            };
            assert_eq!(versions_vector(b), theirs, "supported_versions {b:?}");
        }
    }
}
