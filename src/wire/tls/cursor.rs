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
