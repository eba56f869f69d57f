//! TLS handshake parsing: pure functions from stream bytes to hello facts.
//!
//! [`record::HandshakeStream`] takes one direction's reassembled bytes and
//! emits [`record::Event`]s: ClientHello, ServerHello, the server
//! certificate's names, alerts and the switch to encrypted records. The
//! parts, one job each:
//!
//! - [`record`]: record framing, handshake message reassembly, the stream;
//! - [`hello`]: ClientHello and ServerHello facts and their parsing;
//! - [`extensions`]: the extension block and the extensions read;
//! - [`sslv2`]: SSLv2-format hellos;
//! - [`cert`]: the server certificate's names (X.509), cached per thread;
//! - [`cipher`]: cipher suite names;
//! - `cursor`: the lenient reader they share.
//!
//! Hello bodies are walked with a lenient cursor so that a hello cut short
//! (small snap length, capture end) still yields the facts before the cut;
//! extension contents, cipher names and certificates are decoded with
//! `tls-parser` and `x509-parser`. Version names and order are
//! [`crate::model::version::TlsVersion`].

pub mod cert;
pub mod cipher;
mod cursor;
pub mod extensions;
pub mod hello;
pub mod record;
pub mod sslv2;

pub use cert::{MAX_CERT_NAMES, certificate_names};
pub use cipher::cipher_name;
pub use hello::{
    ClientHello, HRR_RANDOM, ServerHello, is_grease, parse_client_hello, parse_server_hello,
};
pub use record::{
    Event, HS_CLIENT_HELLO, HS_SERVER_HELLO, HandshakeStream, MAX_HANDSHAKE_LEN, MAX_RECORD_LEN,
    Start, classify_start, find_hello_start,
};
pub use sslv2::{parse_sslv2_client_hello, parse_sslv2_server_hello};
