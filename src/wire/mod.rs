//! Pure parsers of what travels on the wire, with no state across
//! connections:
//!
//! - [`decode`]: link, IP and TCP headers of a frame, down to a segment;
//! - [`tls`]: TLS records, hellos, extensions, SSLv2, certificates;
//! - [`mail`]: the plaintext SMTP/IMAP/POP3 dialogue before STARTTLS;
//! - [`names`]: the clear-text protocols that name hosts (DHCP, DNS, mDNS,
//!   LLMNR, NetBIOS, Kerberos, HTTP), from UDP datagrams and TCP payloads;
//! - what frames carry around IP: [`ieee80211`], [`radiotap`], [`ppi`],
//!   [`nflog`] link layers, [`tunnel`] (GRE/ERSPAN, VXLAN, GENEVE) and
//!   [`encap`] shim headers (MPLS, PPPoE).

pub mod decode;
pub mod encap;
pub mod ieee80211;
pub mod mail;
pub mod names;
pub mod nflog;
pub mod ppi;
pub mod radiotap;
pub mod tls;
pub mod tunnel;
