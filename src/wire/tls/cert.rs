//! The server certificate's names (subject CN and DNS SANs) with
//! `x509-parser`, through a per-thread cache.

use std::cell::RefCell;
use std::sync::Arc;

use super::cursor::Rd;
use crate::cache::Memo;
use crate::text::escape_host;

/// Most certificate names kept per certificate.
pub const MAX_CERT_NAMES: usize = 100;

/// Subject CN and DNS SANs of a DER certificate, escaped.
pub fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::*;
    let mut names: Vec<String> = Vec::new();
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return names;
    };
    let mut add = |raw: &[u8]| {
        let n = escape_host(raw);
        if names.len() < MAX_CERT_NAMES && !names.contains(&n) {
            names.push(n);
        }
    };
    for cn in cert.subject().iter_common_name() {
        match cn.as_str() {
            Ok(s) => add(s.as_bytes()),
            Err(_) => add(cn.as_slice()),
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            if let GeneralName::DNSName(d) = gn {
                add(d.as_bytes());
            }
        }
    }
    names
}

/// Certificates parsed lately, by their DER: servers present the same
/// certificate on every connection, and X.509 parsing is costly.
const CERT_CACHE_MAX: usize = 1024;

/// Leaf names by certificate DER.
type CertMemo = Memo<Box<[u8]>, Arc<[String]>>;

thread_local! {
    static CERT_CACHE: RefCell<CertMemo> = RefCell::new(Memo::new(CERT_CACHE_MAX));
}

/// [`certificate_names`] through the per-thread cache.
fn cached_certificate_names(der: &[u8]) -> Arc<[String]> {
    CERT_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(names) = c.get(der) {
            return names;
        }
        let names: Arc<[String]> = certificate_names(der).into();
        c.put(der.into(), Arc::clone(&names));
        names
    })
}

/// Names from a TLS (<= 1.2) Certificate message body: the leaf's names.
pub(super) fn certificate_message_names(body: &[u8]) -> Arc<[String]> {
    let mut r = Rd(body);
    let Some(_list_len) = r.take(3) else {
        return Arc::from([]);
    };
    let Some(l) = r.take(3) else {
        return Arc::from([]);
    };
    let len = (usize::from(l[0]) << 16) | (usize::from(l[1]) << 8) | usize::from(l[2]);
    match r.take(len) {
        Some(der) => cached_certificate_names(der),
        None => Arc::from([]),
    }
}
