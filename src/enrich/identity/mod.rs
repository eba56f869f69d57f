//! Passive host identity: which device a client address is, learned from
//! the clear-text traffic in the same capture (DHCP, DHCPv6, DNS PTR,
//! mDNS, LLMNR, NetBIOS, Kerberos, SMTP EHLO, HTTP User-Agent, Ethernet
//! MACs), or given by the user (`--hosts`).
//!
//! * [`observer`]: [`Identity`], fed with UDP datagrams, the starts of TCP
//!   streams, frame MACs and EHLO names; answers per address and time.
//! * [`table`]: the time-aware host table (an address names the device
//!   that held it at the time).
//! * [`macs`]: Ethernet source MACs and the router rule.
//! * [`server_names`]: DNS answers -> server names for connections
//!   without SNI.
//! * [`oui`]: MAC vendors (IEEE registry snapshot, `--oui`).
//! * [`os_hint`]: OS hints from DHCP vendor classes and User-Agents.
//! * [`hosts_file`]: `--hosts FILE`.

pub mod hosts_file;
pub mod macs;
pub mod observer;
pub mod os_hint;
pub mod oui;
pub mod server_names;
pub mod table;

pub use observer::{ClientIdentity, Datagram, Identity, IdentityStats, StreamWant};

/// Where a client's name came from. The order is the preference when an
/// address has several: the user's own list first, then names a device
/// gives itself through protocols that name one host, then DNS, then the
/// mail client's greeting, then users seen logging on from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// `--hosts FILE`.
    Hosts,
    /// DHCPv4 host name (option 12) or FQDN (option 81).
    Dhcp,
    /// DHCPv6 client FQDN (option 39).
    Dhcpv6,
    /// A Kerberos machine account (`HOST$@REALM`, `host/name@REALM`).
    Kerberos,
    /// A NetBIOS name registration, answer or node status.
    Nbns,
    /// An LLMNR answer (the responder's own name).
    Llmnr,
    /// An mDNS answer.
    Mdns,
    /// A DNS PTR answer (the DNS administrator's name for the address).
    Ptr,
    /// The name an SMTP client gave in EHLO/HELO.
    Ehlo,
    /// A Kerberos user principal requested from the address.
    KerberosUser,
}

impl Source {
    /// The spelling in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hosts => "hosts",
            Source::Dhcp => "dhcp",
            Source::Dhcpv6 => "dhcpv6",
            Source::Kerberos => "kerberos",
            Source::Nbns => "nbns",
            Source::Llmnr => "llmnr",
            Source::Mdns => "mdns",
            Source::Ptr => "ptr",
            Source::Ehlo => "ehlo",
            Source::KerberosUser => "kerberos-user",
        }
    }

    /// Every source, in the order of preference.
    pub const ALL: [Source; 10] = [
        Source::Hosts,
        Source::Dhcp,
        Source::Dhcpv6,
        Source::Kerberos,
        Source::Nbns,
        Source::Llmnr,
        Source::Mdns,
        Source::Ptr,
        Source::Ehlo,
        Source::KerberosUser,
    ];

    /// The source [`Source::as_str`] spells `s`.
    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A source that gives a host one name: another name from it for the
    /// same address (without a MAC to compare) means another device.
    pub fn one_name_per_host(self) -> bool {
        matches!(
            self,
            Source::Dhcp | Source::Dhcpv6 | Source::Nbns | Source::Kerberos
        )
    }
}

/// Longest name kept, in bytes before escaping (as SNI).
pub const MAX_NAME: usize = 255;

/// A name from the network as every output shows it: cut at [`MAX_NAME`]
/// bytes, control characters, backslashes and invalid UTF-8 escaped as
/// `\xNN` (the escaping of SNI).
pub fn escape(raw: &[u8]) -> String {
    let raw = raw.get(..MAX_NAME).unwrap_or(raw);
    // Most names are plain printable ASCII: nothing to escape.
    if raw.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        return raw.iter().map(|&b| char::from(b)).collect();
    }
    crate::text::escape_name(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escaped_like_sni() {
        assert_eq!(escape(b"PC7\x00\xff\\"), "PC7\\x00\\xff\\x5c");
        assert_eq!(escape(&[b'a'; 300]).len(), MAX_NAME);
        assert_eq!(escape(b"outlook.office365.com"), "outlook.office365.com");
        assert_eq!(escape("bücher.de".as_bytes()), "bücher.de");
        assert_eq!(escape(b"a\x7fb"), "a\\x7fb");
    }

    #[test]
    fn source_order_is_preference() {
        assert!(Source::Hosts < Source::Dhcp);
        assert!(Source::Kerberos < Source::Nbns);
        assert!(Source::Ptr < Source::Ehlo && Source::Ehlo < Source::KerberosUser);
        assert_eq!(Source::KerberosUser.as_str(), "kerberos-user");
        assert_eq!(Source::parse("kerberos-user"), Some(Source::KerberosUser));
        assert_eq!(Source::parse("dhcp"), Some(Source::Dhcp));
        assert_eq!(Source::parse("guess"), None);
        assert!(Source::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
