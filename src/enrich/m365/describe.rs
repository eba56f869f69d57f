//! The text of `tlsready endpoints lookup`: which endpoint set matches a
//! name or an address, and why.

use std::net::IpAddr;

use super::Endpoints;
use super::names::normalize_name;

impl Endpoints {
    /// `tlsready endpoints lookup QUERY`: the answer, and whether something
    /// matched. QUERY is a host name, an address, a URL
    /// (`https://outlook.office365.com/owa`: its host) or a CIDR block
    /// (`52.96.0.0/14`: it matches when it shares an address with a
    /// Microsoft 365 prefix: one that holds it, or one inside it). A
    /// query that is none of these (`52.96.0.0/33`, `foo bar`) is an error.
    pub fn lookup(&self, query: &str) -> Result<(String, bool), String> {
        let query = query.trim();
        if let Some((ip, _)) = query.split_once('/')
            && ip.parse::<IpAddr>().is_ok()
        {
            return match query.parse::<ipnet::IpNet>() {
                Ok(net) => Ok(self.describe_net(net.trunc())),
                Err(_) => Err(format!("{query:?} is not a CIDR block")),
            };
        }
        let host = url_host(query).unwrap_or(query);
        let text = self.describe_lookup(host);
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|q| q.strip_suffix(']'))
            .unwrap_or(host);
        let matched = match unbracketed.parse::<IpAddr>() {
            Ok(ip) => self.ip_hit(ip).is_some(),
            Err(_) if normalize_name(host).is_none() => {
                return Err(format!(
                    "{query:?} is neither a host name, an IP address, a URL nor a CIDR block"
                ));
            }
            Err(_) => !self.names.candidates(host).is_empty(),
        };
        Ok((text, matched))
    }

    /// The answer for a CIDR block: the Microsoft 365 prefixes that hold
    /// it or lie inside it, each with its endpoint sets.
    fn describe_net(&self, net: ipnet::IpNet) -> (String, bool) {
        let hits = self.net_hits(net);
        if hits.is_empty() {
            let text = format!(
                "{net}: shares no address with a Microsoft 365 prefix (data {})\n",
                self.data
            );
            return (text, false);
        }
        let mut out = format!(
            "{net}: shares addresses with {} Microsoft 365 prefix{} (data {})\n",
            hits.len(),
            if hits.len() == 1 { "" } else { "es" },
            self.data
        );
        for (prefix, sets) in &hits {
            let how = if prefix.contains(&net) {
                "holds it"
            } else {
                "inside it"
            };
            for set in *sets {
                out.push_str(&format!(
                    "  prefix {prefix} ({how}), endpoint set {}, service {}\n",
                    set.id, set.service
                ));
            }
        }
        (out, true)
    }

    /// Human-readable answer for `tlsready endpoints lookup <name|address>`.
    ///
    /// An IP address (optionally in brackets) is matched against the prefixes,
    /// anything else as a server name. The best match comes first, followed by any
    /// other matching sets.
    pub fn describe_lookup(&self, query: &str) -> String {
        let query = query.trim();
        let unbracketed = query
            .strip_prefix('[')
            .and_then(|q| q.strip_suffix(']'))
            .unwrap_or(query);
        let mut out = String::new();
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            match self.ip_hit(ip) {
                Some((prefix, sets)) => {
                    out.push_str(&format!(
                        "{ip}: Microsoft 365 address (data {})\n",
                        self.data
                    ));
                    for (n, set) in sets.iter().enumerate() {
                        let lead = if n == 0 { "match" } else { "also" };
                        out.push_str(&format!(
                            "  {lead}: prefix {prefix}, endpoint set {}, service {}\n",
                            set.id, set.service
                        ));
                    }
                }
                None => out.push_str(&format!(
                    "{ip}: not in any Microsoft 365 prefix (data {})\n",
                    self.data
                )),
            }
            return out;
        }
        let Some(normal) = normalize_name(query) else {
            out.push_str(&format!(
                "{query:?}: neither an IP address nor a valid host name\n"
            ));
            return out;
        };
        let candidates = self.names.candidates(query);
        if candidates.is_empty() {
            out.push_str(&format!(
                "{normal}: matches no Microsoft 365 URL pattern (data {})\n",
                self.data
            ));
            if let Some(m) = self
                .left_out
                .best(query)
                .and_then(|i| self.left_out.to_match(i))
            {
                out.push_str(&format!(
                    "  listed as {} in endpoint set {}, which is not counted: an optional \
                     Common set or shared web infrastructure (see the README)\n",
                    m.pattern,
                    m.endpoint_id.map_or_else(String::new, |i| i.to_string())
                ));
            }
            return out;
        }
        out.push_str(&format!(
            "{normal}: Microsoft 365 name (data {})\n",
            self.data
        ));
        for (n, m) in candidates
            .iter()
            .filter_map(|&idx| self.names.to_match(idx))
            .enumerate()
        {
            let lead = if n == 0 { "match" } else { "also" };
            let set = match m.endpoint_id {
                Some(id) => format!("endpoint set {id}"),
                None => "no endpoint set (built-in)".to_string(),
            };
            let legacy = if m.legacy { ", legacy endpoint" } else { "" };
            out.push_str(&format!(
                "  {lead}: pattern {}, {set}, service {}{legacy}\n",
                m.pattern, m.service
            ));
        }
        out
    }
}

/// The host of a URL (`scheme://[user@]host[:port][/path]`), if `q` is one.
fn url_host(q: &str) -> Option<&str> {
    let (_, rest) = q.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        // [v6]:port
        return host.find(']').map(|end| &host[..=end]);
    }
    Some(host.split(':').next().unwrap_or(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_cidr_blocks_are_looked_up() {
        let e = Endpoints::embedded();
        let look = |q: &str| e.lookup(q).unwrap();
        let (t, m) = look("https://outlook.office365.com/owa");
        assert!(
            m && t.starts_with("outlook.office365.com: Microsoft 365 name"),
            "{t}"
        );
        let (_, m) = look("https://user@OUTLOOK.office365.com:443/owa?x=1");
        assert!(m);
        let (t, m) = look("52.96.0.0/14");
        assert!(m && t.contains("prefix 52.96.0.0/14 (holds it)"), "{t}");
        let (_, m) = look("192.0.2.0/24");
        assert!(!m);
        let (_, m) = look("https://www.example.com/");
        assert!(!m);
        let (_, m) = look("http://[2a01:111:f400::1]:80/x");
        assert!(m);
        // A block that holds prefixes without being in one, whole or by
        // its first or last address.
        let (t, m) = look("52.0.0.0/8");
        assert!(m && t.contains("prefix 52.96.0.0/14 (inside it)"), "{t}");
        let (t, m) = look("2603:1000::/24");
        assert!(m && t.contains("(inside it)"), "{t}");
        let (t, m) = look("52.96.1.0/24");
        assert!(m && t.contains("prefix 52.96.0.0/14 (holds it)"), "{t}");
        let (t, m) = look("::ffff:52.96.0.0/104");
        assert!(m && t.contains("prefix 52.96.0.0/14 (inside it)"), "{t}");
        // Not a query.
        for bad in ["52.96.0.0/33", "foo bar", "", "::1/129"] {
            assert!(e.lookup(bad).is_err(), "{bad}");
        }
        assert_eq!(url_host("https://[::1]:8443/"), Some("[::1]"));
    }
}
