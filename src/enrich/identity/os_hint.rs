//! What operating system a client probably runs, from the words it sends
//! in clear: the DHCP vendor class (option 60) and HTTP `User-Agent`s.
//!
//! A hint, not a fingerprint: the words are the client's own, and a more
//! precise hint (a Windows version from CryptoAPI) beats a vaguer one
//! (`MSFT 5.0` is every Windows since 2000).

use std::sync::Arc;

/// One hint with its precision and evidence (shared: the hint of one
/// `User-Agent` serves every client that sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsHint {
    /// The OS, e.g. `Windows 7 / Server 2008 R2`.
    pub os: Arc<str>,
    /// Precision: 1 family (`Windows`, `Linux`), 2 family and generation,
    /// 3 a version.
    pub rank: u8,
    /// What said so: `dhcp:MSFT 5.0`, `http:Microsoft-CryptoAPI/6.1`.
    pub evidence: Arc<str>,
}

/// Longest evidence kept.
const MAX_EVIDENCE: usize = 96;

fn hint(os: impl Into<Arc<str>>, rank: u8, kind: &str, raw: &str) -> OsHint {
    let mut raw = raw.to_string();
    if raw.len() > MAX_EVIDENCE {
        let mut cut = MAX_EVIDENCE;
        while !raw.is_char_boundary(cut) {
            cut -= 1;
        }
        raw.truncate(cut);
    }
    OsHint {
        os: os.into(),
        rank,
        evidence: format!("{kind}:{raw}").into(),
    }
}

/// Windows by its NT version, as CryptoAPI's `Microsoft-CryptoAPI/X.Y` and
/// browsers' `Windows NT X.Y` spell it.
fn windows_nt(version: &str) -> Option<&'static str> {
    Some(match version {
        "5.0" => "Windows 2000",
        "5.1" => "Windows XP",
        "5.2" => "Windows XP x64 / Server 2003",
        "6.0" => "Windows Vista / Server 2008",
        "6.1" => "Windows 7 / Server 2008 R2",
        "6.2" => "Windows 8 / Server 2012",
        "6.3" => "Windows 8.1 / Server 2012 R2",
        "10.0" => "Windows 10 or later / Server 2016 or later",
        _ => return None,
    })
}

/// The version digits and dots at the start of `s`.
fn version_prefix(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    s[..end].trim_end_matches(['.', '_'])
}

/// A hint from a DHCP vendor class identifier (escaped text).
pub fn from_dhcp_vendor_class(vc: &str) -> Option<OsHint> {
    let h = |os: String, rank| Some(hint(os, rank, "dhcp", vc));
    if vc == "MSFT 98" {
        return h("Windows 98 / Me".into(), 2);
    }
    if vc.starts_with("MSFT") {
        return h("Windows".into(), 1);
    }
    if let Some(v) = vc.strip_prefix("android-dhcp-") {
        let v = version_prefix(v);
        return if v.is_empty() {
            h("Android".into(), 1)
        } else {
            h(format!("Android {v}"), 3)
        };
    }
    if let Some(rest) = vc.strip_prefix("dhcpcd") {
        // dhcpcd-9.4.1:Linux-6.1.0-13-amd64:x86_64:GenuineIntel
        let os = rest.split(':').nth(1).and_then(|s| s.split('-').next());
        return match os {
            Some(os) if !os.is_empty() => h(os.to_string(), 1),
            _ => None,
        };
    }
    if vc.starts_with("udhcp ") {
        return h("Linux (BusyBox)".into(), 1);
    }
    None
}

/// A hint from an HTTP `User-Agent` (escaped text).
pub fn from_user_agent(ua: &str) -> Option<OsHint> {
    let h = |os: String, rank| Some(hint(os, rank, "http", ua));
    if let Some(v) = ua.strip_prefix("Microsoft-CryptoAPI/") {
        return windows_nt(version_prefix(v)).and_then(|os| h(os.into(), 3));
    }
    if let Some(i) = ua.find("Windows NT ") {
        let v = version_prefix(&ua[i + "Windows NT ".len()..]);
        return match windows_nt(v) {
            Some(os) => h(os.into(), 3),
            None => h("Windows".into(), 1),
        };
    }
    for (marker, os) in [
        ("iPhone OS ", "iOS"),
        ("CPU OS ", "iPadOS"),
        ("Android ", "Android"),
    ] {
        if let Some(i) = ua.find(marker) {
            let v = version_prefix(&ua[i + marker.len()..]).replace('_', ".");
            let major = v.split('.').next().unwrap_or("");
            return if major.is_empty() {
                h(os.into(), 1)
            } else {
                h(format!("{os} {major}"), 3)
            };
        }
    }
    if ua.contains("Mac OS X") || ua.starts_with("macOS/") {
        return h("macOS".into(), 2);
    }
    if ua.contains("CrOS") {
        return h("ChromeOS".into(), 2);
    }
    if ua.contains("Windows") {
        return h("Windows".into(), 1);
    }
    if ua.contains("Linux") {
        return h("Linux".into(), 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(h: Option<OsHint>) -> Option<(String, u8)> {
        h.map(|h| (h.os.to_string(), h.rank))
    }

    #[test]
    fn dhcp_vendor_classes() {
        assert_eq!(
            os(from_dhcp_vendor_class("MSFT 5.0")),
            Some(("Windows".into(), 1))
        );
        assert_eq!(
            &*from_dhcp_vendor_class("MSFT 5.0").unwrap().evidence,
            "dhcp:MSFT 5.0"
        );
        assert_eq!(
            os(from_dhcp_vendor_class("MSFT 98")),
            Some(("Windows 98 / Me".into(), 2))
        );
        assert_eq!(
            os(from_dhcp_vendor_class("android-dhcp-13")),
            Some(("Android 13".into(), 3))
        );
        assert_eq!(
            os(from_dhcp_vendor_class(
                "dhcpcd-9.4.1:Linux-6.1.0-13-amd64:x86_64:GenuineIntel"
            )),
            Some(("Linux".into(), 1))
        );
        assert_eq!(
            os(from_dhcp_vendor_class("udhcp 1.35.0")),
            Some(("Linux (BusyBox)".into(), 1))
        );
        assert_eq!(from_dhcp_vendor_class("ArubaAP"), None);
    }

    #[test]
    fn user_agents() {
        assert_eq!(
            os(from_user_agent("Microsoft-CryptoAPI/6.1")),
            Some(("Windows 7 / Server 2008 R2".into(), 3))
        );
        assert_eq!(
            os(from_user_agent("Microsoft-CryptoAPI/10.0")),
            Some(("Windows 10 or later / Server 2016 or later".into(), 3))
        );
        assert_eq!(
            os(from_user_agent(
                "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)"
            )),
            Some(("Windows XP".into(), 3))
        );
        assert_eq!(
            os(from_user_agent(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15"
            )),
            Some(("iOS 17".into(), 3))
        );
        assert_eq!(
            os(from_user_agent(
                "Mozilla/5.0 (Linux; Android 4.4.2; Nexus 5 Build/KOT49H)"
            )),
            Some(("Android 4".into(), 3))
        );
        assert_eq!(
            os(from_user_agent(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
            )),
            Some(("macOS".into(), 2))
        );
        assert_eq!(
            os(from_user_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101"
            )),
            Some(("Linux".into(), 1))
        );
        assert_eq!(os(from_user_agent("curl/8.5.0")), None);
        assert_eq!(os(from_user_agent("Microsoft-CryptoAPI/")), None);
        let long = "Windows NT 6.1 ".repeat(20);
        assert!(from_user_agent(&long).unwrap().evidence.len() <= MAX_EVIDENCE + 5);
    }
}
