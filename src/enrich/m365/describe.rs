//! The text of `tlsready endpoints lookup`: which endpoint set matches a
//! name or an address, and why.

use std::net::IpAddr;

use super::Endpoints;
use super::names::normalize_name;

impl Endpoints {
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
