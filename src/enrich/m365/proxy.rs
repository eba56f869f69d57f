//! The proxy for a URL, from the environment, read as curl reads it (the
//! convention administrators set up for command-line tools):
//!
//! * `https://` URLs: `https_proxy`, else `HTTPS_PROXY`, else `all_proxy`,
//!   else `ALL_PROXY`;
//! * `http://` URLs: `http_proxy` (lower case only: `HTTP_PROXY` can be set
//!   by a web server from a request header, so curl ignores it), else
//!   `all_proxy`, else `ALL_PROXY`;
//! * an empty value counts as unset;
//! * `no_proxy`, else `NO_PROXY`: a list separated by commas (or spaces) of
//!   host names, addresses and address ranges that are reached directly. A
//!   name matches itself and every name below it (`example.com` and
//!   `.example.com` both cover `www.example.com`; a leading `*.` is read as
//!   `.`); an address or CIDR range (`10.0.0.0/8`, `fd00::/8`) matches the
//!   addresses in it; `*` alone turns the proxy off.
//!
//! The proxy URL is `http://host:port` (the default scheme), `https://` (TLS
//! to the proxy), or `socks4://`, `socks4a://`, `socks5://`, `socks5h://`;
//! credentials as `user:password@` (percent-encoded).

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxy chosen for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySetting {
    /// The proxy URL, as set.
    pub url: String,
    /// The variable it came from.
    pub variable: &'static str,
}

impl ProxySetting {
    /// The proxy URL without credentials, for messages.
    pub fn shown(&self) -> String {
        let scheme_end = self.url.find("://").map_or(0, |s| s + 3);
        match self.url.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.len() >= scheme_end => {
                format!("{}{host}", self.url.get(..scheme_end).unwrap_or_default())
            }
            _ => self.url.clone(),
        }
    }
}

/// The proxy for a request to `host` over `scheme` (`http` or `https`),
/// looking variables up with `var`; `None`: connect directly.
pub fn proxy_for(
    scheme: &str,
    host: &str,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<ProxySetting> {
    let names: &[&'static str] = if scheme.eq_ignore_ascii_case("https") {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    let found = names.iter().find_map(|&name| {
        var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|url| ProxySetting {
                url,
                variable: name,
            })
    })?;
    let no_proxy = ["no_proxy", "NO_PROXY"]
        .iter()
        .find_map(|&name| var(name).filter(|v| !v.trim().is_empty()));
    match no_proxy {
        Some(list) if bypassed(&list, host) => None,
        _ => Some(found),
    }
}

/// The proxy for a request, from the process environment.
pub fn proxy_from_env(scheme: &str, host: &str) -> Option<ProxySetting> {
    proxy_for(scheme, host, &|name| std::env::var(name).ok())
}

/// `host` is covered by the `no_proxy` list.
pub fn bypassed(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(ip) = host_ip {
                let entry = entry.trim_start_matches('[').trim_end_matches(']');
                if let Ok(net) = entry.parse::<IpNet>() {
                    return net.contains(&ip);
                }
                return entry.parse::<IpAddr>().is_ok_and(|e| e == ip);
            }
            let entry = entry
                .trim_start_matches("*.")
                .trim_start_matches('.')
                .trim_end_matches('.')
                .to_ascii_lowercase();
            !entry.is_empty()
                && (host == entry
                    || host
                        .strip_suffix(entry.as_str())
                        .is_some_and(|rest| rest.ends_with('.')))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn chosen(scheme: &str, host: &str, pairs: &[(&str, &str)]) -> Option<(String, &'static str)> {
        proxy_for(scheme, host, &env(pairs)).map(|p| (p.url, p.variable))
    }

    #[test]
    fn variables_in_curl_order() {
        let all = [
            ("https_proxy", "http://a:1"),
            ("HTTPS_PROXY", "http://b:1"),
            ("all_proxy", "http://c:1"),
            ("ALL_PROXY", "http://d:1"),
            ("http_proxy", "http://e:1"),
            ("HTTP_PROXY", "http://f:1"),
        ];
        let h = "endpoints.office.com";
        assert_eq!(
            chosen("https", h, &all),
            Some(("http://a:1".into(), "https_proxy"))
        );
        assert_eq!(
            chosen("https", h, &all[1..]),
            Some(("http://b:1".into(), "HTTPS_PROXY"))
        );
        assert_eq!(
            chosen("https", h, &all[2..]),
            Some(("http://c:1".into(), "all_proxy"))
        );
        assert_eq!(
            chosen("https", h, &all[3..]),
            Some(("http://d:1".into(), "ALL_PROXY"))
        );
        // http_proxy is not for https URLs, HTTP_PROXY never.
        assert_eq!(chosen("https", h, &all[4..]), None);
        assert_eq!(
            chosen("http", h, &all[4..]),
            Some(("http://e:1".into(), "http_proxy"))
        );
        assert_eq!(chosen("http", h, &all[5..]), None);
        // Empty means unset.
        assert_eq!(
            chosen(
                "https",
                h,
                &[("https_proxy", " "), ("HTTPS_PROXY", "p:3128")]
            ),
            Some(("p:3128".into(), "HTTPS_PROXY"))
        );
    }

    #[test]
    fn no_proxy_lists() {
        let h = "endpoints.office.com";
        let p = |no: &str| {
            chosen(
                "https",
                h,
                &[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", no)],
            )
        };
        assert!(p("*").is_none());
        assert!(p("office.com").is_none(), "a domain covers its subdomains");
        assert!(p(".office.com").is_none());
        assert!(p("*.office.com").is_none());
        assert!(p("localhost, Endpoints.Office.COM.").is_none());
        assert!(p("localhost office.com").is_none(), "spaces separate too");
        assert!(p("ffice.com").is_some(), "not a label boundary");
        assert!(p("example.com,127.0.0.1").is_some());
        assert!(p("").is_some());
        // no_proxy is read before NO_PROXY.
        assert!(
            chosen(
                "https",
                h,
                &[
                    ("HTTPS_PROXY", "http://p:1"),
                    ("no_proxy", "office.com"),
                    ("NO_PROXY", "example.com")
                ]
            )
            .is_none()
        );
        assert!(bypassed("127.0.0.1", "127.0.0.1"));
        assert!(bypassed("127.0.0.0/8", "127.0.0.5"));
        assert!(!bypassed("10.0.0.0/8", "127.0.0.5"));
        assert!(bypassed("::1", "[::1]"));
        assert!(bypassed("fd00::/8", "[fd12::1]"));
        assert!(
            !bypassed("localhost", "127.0.0.1"),
            "names are not resolved"
        );
    }

    #[test]
    fn credentials_are_not_shown() {
        let s = |url: &str| {
            ProxySetting {
                url: url.into(),
                variable: "HTTPS_PROXY",
            }
            .shown()
        };
        assert_eq!(s("http://user:secret@proxy:3128"), "http://proxy:3128");
        assert_eq!(s("user:secret@proxy:3128"), "proxy:3128");
        assert_eq!(s("http://proxy:3128"), "http://proxy:3128");
    }
}
