//! Pure parsers of what travels on the wire, with no state across
//! connections:
//!
//! - [`decode`]: link, IP and TCP headers of a frame, down to a segment;
//! - [`tls`]: TLS records, hellos, extensions, SSLv2, certificates;
//! - [`mail`]: the plaintext SMTP/IMAP/POP3 dialogue before STARTTLS.

pub mod decode;
pub mod mail;
pub mod tls;
