//! SSL/TLS protocol versions: their spelling in every report and their
//! order by age, written once.

use std::borrow::Cow;

/// A protocol version number as it appears on the wire (`0x0303` is
/// TLS 1.2; `0x0002` or `0x0200` SSL 2; `0x7fNN` a TLS 1.3 draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    /// TLS 1.2.
    pub const TLS12: TlsVersion = TlsVersion(0x0303);
    /// TLS 1.3.
    pub const TLS13: TlsVersion = TlsVersion(0x0304);

    /// Spelling used in every report: `SSL2`, `SSL3`, `TLS1.0`..`TLS1.3`,
    /// `TLS1.3-draftNN`, else `0xNNNN`.
    pub fn name(self) -> Cow<'static, str> {
        match self.0 {
            0x0002 | 0x0200 => "SSL2".into(),
            0x0300 => "SSL3".into(),
            0x0301 => "TLS1.0".into(),
            0x0302 => "TLS1.1".into(),
            0x0303 => "TLS1.2".into(),
            0x0304 => "TLS1.3".into(),
            v @ 0x7f00..=0x7fff => format!("TLS1.3-draft{}", v & 0xff).into(),
            v => format!("0x{v:04x}").into(),
        }
    }

    /// Order by age: SSL2 < SSL3 < TLS1.0 < 1.1 < 1.2 < 1.3 drafts < 1.3.
    /// Unknown values rank lowest (0), so they never count as modern.
    pub fn rank(self) -> u32 {
        match self.0 {
            0x0002 | 0x0200 => 1,
            0x0300 => 2,
            0x0301 => 3,
            0x0302 => 4,
            0x0303 => 5,
            v @ 0x7f00..=0x7fff => 6 + u32::from(v & 0xff),
            0x0304 => 1000,
            _ => 0,
        }
    }

    /// TLS 1.3 or one of its drafts: everything after its ServerHello is
    /// encrypted.
    pub fn is_tls13(self) -> bool {
        self.0 == 0x0304 || self.0 >> 8 == 0x7f
    }

    /// TLS 1.2, a TLS 1.3 draft, or TLS 1.3.
    pub fn at_least_tls12(self) -> bool {
        self.rank() >= Self::TLS12.rank()
    }
}

/// The spelling of a version, empty when absent.
pub fn version_cell(v: Option<u16>) -> String {
    v.map(|v| TlsVersion(v).name().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order() {
        assert_eq!(TlsVersion(0x0301).name(), "TLS1.0");
        assert_eq!(TlsVersion(0x7f17).name(), "TLS1.3-draft23");
        assert_eq!(TlsVersion(0x0002).name(), "SSL2");
        assert_eq!(TlsVersion(0xfb1a).name(), "0xfb1a");
        assert!(TlsVersion(0x7f1c).is_tls13() && TlsVersion(0x0304).is_tls13());
        assert!(!TlsVersion(0x0303).is_tls13());
        assert!(TlsVersion(0x7f12).at_least_tls12() && !TlsVersion(0x0302).at_least_tls12());
        assert!(!TlsVersion(0xfb1a).at_least_tls12());
        assert!(TlsVersion(0x0304).rank() > TlsVersion(0x7f1c).rank());
        assert_eq!(version_cell(None), "");
    }
}
