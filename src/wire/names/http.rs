//! Plaintext HTTP/1.x requests: the `User-Agent` (what software, often
//! which OS, sent it) and `Host`. Parsed by `httparse` from the start of
//! a client's stream; a head cut short by the end of the segment still
//! gives the header lines that are complete.

/// The naming facts of one request head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Method (`GET`, `POST`...).
    pub method: String,
    /// `User-Agent` value, raw.
    pub user_agent: Option<Vec<u8>>,
    /// `Host` value, raw.
    pub host: Option<Vec<u8>>,
}

/// Header lines read at most.
const MAX_HEADERS: usize = 64;
/// Bytes of a request head read at most.
pub const MAX_HEAD: usize = 8 * 1024;

/// Parses the request head at the start of `stream`. `None` when it is not
/// an HTTP/1.x request (the request line must be complete).
pub fn parse_request(stream: &[u8]) -> Option<Request> {
    let stream = stream.get(..MAX_HEAD).unwrap_or(stream);
    // Cheap reject: a method is upper-case letters followed by a space.
    let sp = stream.iter().take(16).position(|&b| b == b' ')?;
    if sp == 0 || !stream[..sp].iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(stream) {
        Ok(httparse::Status::Complete(_)) => facts(&req),
        Ok(httparse::Status::Partial) => {
            // Parse the complete lines again, closed by an empty line.
            let end = stream.windows(2).rposition(|w| w == b"\r\n")? + 2;
            let head = [&stream[..end], b"\r\n"].concat();
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&head) {
                Ok(httparse::Status::Complete(_)) => facts(&req),
                _ => None,
            }
        }
        Err(_) => None,
    }
}

fn facts(r: &httparse::Request<'_, '_>) -> Option<Request> {
    let mut out = Request {
        method: r.method?.to_string(),
        ..Request::default()
    };
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("user-agent") {
            out.user_agent = Some(h.value.to_vec());
        } else if h.name.eq_ignore_ascii_case("host") {
            out.host = Some(h.value.to_vec());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A request head of the form Windows 7's CryptoAPI sends to fetch a
    // certificate revocation list (written for the test, not captured).
    const CRYPTOAPI: &[u8] = b"GET /pki/crl/products/MicCodSigPCA_08-31-2010.crl HTTP/1.1\r\n\
Cache-Control: max-age = 900\r\nConnection: Keep-Alive\r\nAccept: */*\r\n\
If-Modified-Since: Thu, 26 Apr 2018 20:42:17 GMT\r\n\
User-Agent: Microsoft-CryptoAPI/6.1\r\nHost: crl.microsoft.com\r\n\r\n";

    #[test]
    fn user_agent_and_host() {
        let r = parse_request(CRYPTOAPI).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(
            r.user_agent.as_deref(),
            Some(&b"Microsoft-CryptoAPI/6.1"[..])
        );
        assert_eq!(r.host.as_deref(), Some(&b"crl.microsoft.com"[..]));
    }

    /// curl's request with that User-Agent (samples/identity/lan.pcap,
    /// frame 119).
    #[test]
    fn real_curl_request() {
        let r = parse_request(
            b"GET / HTTP/1.1\r\nHost: 10.197.0.1\r\nUser-Agent: Microsoft-CryptoAPI/6.1\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            r.user_agent.as_deref(),
            Some(&b"Microsoft-CryptoAPI/6.1"[..])
        );
        assert_eq!(r.host.as_deref(), Some(&b"10.197.0.1"[..]));
    }

    #[test]
    fn head_cut_short() {
        let cut = &CRYPTOAPI[..CRYPTOAPI.len() - 10];
        let r = parse_request(cut).unwrap();
        assert_eq!(
            r.user_agent.as_deref(),
            Some(&b"Microsoft-CryptoAPI/6.1"[..])
        );
        assert_eq!(r.host, None);
        // Cut inside the request line: nothing.
        assert_eq!(parse_request(&CRYPTOAPI[..20]), None);
    }

    #[test]
    fn not_http() {
        assert_eq!(parse_request(b"\x16\x03\x01\x02\x00\x01"), None);
        assert_eq!(parse_request(b"EHLO pc7.corp.example\r\n"), None);
        assert_eq!(parse_request(b"get / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse_request(b"GET / SPDY/3\r\n\r\n"), None);
    }
}
