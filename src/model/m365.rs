//! How a connection's server relates to Microsoft 365: the service areas,
//! which evidence matched, and the classification a row carries. Plain
//! data; the matching itself is `crate::enrich::m365`.

use std::fmt;

use serde::Serialize;

/// A Microsoft 365 service area, as named in tlsready's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Service {
    /// Exchange Online (serviceArea `Exchange`).
    Exchange,
    /// SharePoint Online and OneDrive for Business (serviceArea `SharePoint`).
    SharePoint,
    /// Microsoft Teams (serviceArea `Skype`).
    Teams,
    /// Microsoft 365 Common and Office (serviceArea `Common`).
    Common,
}

impl Service {
    /// All services, in output order.
    pub const ALL: [Service; 4] = [
        Service::Exchange,
        Service::SharePoint,
        Service::Teams,
        Service::Common,
    ];

    /// The output name: `Exchange`, `SharePoint`, `Teams` or `Common`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Exchange => "Exchange",
            Service::SharePoint => "SharePoint",
            Service::Teams => "Teams",
            Service::Common => "Common",
        }
    }

    /// Maps a web-service `serviceArea` value (`Exchange`, `SharePoint`, `Skype`,
    /// `Common`; `Teams` is accepted too) to a service, ignoring ASCII case.
    pub fn from_service_area(area: &str) -> Option<Service> {
        let area = area.trim();
        [
            ("exchange", Service::Exchange),
            ("sharepoint", Service::SharePoint),
            ("skype", Service::Teams),
            ("teams", Service::Teams),
            ("common", Service::Common),
        ]
        .into_iter()
        .find(|(name, _)| area.eq_ignore_ascii_case(name))
        .map(|(_, service)| service)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kinds of evidence matched a Microsoft 365 endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MatchKinds {
    /// The TLS SNI host name matched a URL pattern.
    pub sni: bool,
    /// The name the client resolved for the server (DNS, no SNI sent)
    /// matched a URL pattern.
    pub dns: bool,
    /// A certificate name (CN or SAN) matched a URL pattern.
    pub cert: bool,
    /// The server address matched a published prefix.
    pub ip: bool,
    /// The SMTP greeting host name matched a URL pattern.
    pub banner: bool,
}

impl MatchKinds {
    /// True if any kind matched.
    pub fn any(&self) -> bool {
        self.sni || self.dns || self.cert || self.ip || self.banner
    }
}

impl MatchKinds {
    /// The names of the kinds that matched, in the order
    /// `sni`, `dns`, `cert`, `banner`, `ip`.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.sni, "sni"),
            (self.dns, "dns"),
            (self.cert, "cert"),
            (self.banner, "banner"),
            (self.ip, "ip"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

impl fmt::Display for MatchKinds {
    /// Joins the matched kinds with `+` in the order `sni+dns+cert+banner+ip`; empty when
    /// nothing matched.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// The verdict for one connection's server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    /// True if any evidence matched.
    pub m365: bool,
    /// Service of the strongest matching evidence (sni, dns, cert, banner, then ip).
    pub service: Option<Service>,
    /// Which kinds of evidence matched.
    pub matched: MatchKinds,
    /// Endpoint set id of the strongest matching evidence (same evidence as
    /// `service`); `None` when nothing matched or that evidence is a legacy name.
    pub endpoint_id: Option<u32>,
    /// True if any matched name is a legacy endpoint.
    pub legacy: bool,
}
