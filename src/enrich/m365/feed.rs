//! Reading the endpoints web-service JSON: custom serde visitors, so that
//! every error names the endpoint set, the field and the position.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustc_hash::FxHashMap;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};

use super::EndpointsError;
use super::names::MAX_NAME_LEN;
use crate::model::m365::Service;

/// One endpoint set as far as matching needs it.
#[derive(Debug)]
pub(super) struct RawSet {
    pub(super) id: u32,
    pub(super) service: Service,
    pub(super) urls: Vec<String>,
    pub(super) ips: Vec<IpNet>,
    /// `required` flag of the set (absent counts as required).
    required: bool,
}

/// Required sets that list shared web infrastructure rather than Microsoft
/// 365 service endpoints: certificate revocation (84: crl.microsoft.com;
/// 125: public CAs and www.microsoft.com) and the go.microsoft.com
/// redirector (89).
pub const SHARED_INFRA_SET_IDS: [u32; 3] = [84, 89, 125];

impl RawSet {
    /// Sets not matched: optional Common ones (`required: false`: auxiliary
    /// CDNs, `*.microsoft.com`, Bing, consumer services) and
    /// [`SHARED_INFRA_SET_IDS`]. Optional sets of a service (such as set 2,
    /// POP3/IMAP4/SMTP client traffic) are matched.
    pub(super) fn shared_infrastructure(&self) -> bool {
        (self.service == Service::Common && !self.required)
            || SHARED_INFRA_SET_IDS.contains(&self.id)
    }
}

/// Converts a serde_json error into [`EndpointsError::Parse`], without repeating the
/// position in the message.
pub(super) fn parse_error(label: &str, err: &serde_json::Error) -> EndpointsError {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    EndpointsError::Parse {
        label: label.to_string(),
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// Describes where in the data an error is: array index and set id (if read yet).
#[derive(Debug, Clone, Copy)]
struct SetCtx {
    index: usize,
    id: Option<u32>,
}

impl fmt::Display for SetCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "endpoint set id {id} (array index {})", self.index),
            None => write!(
                f,
                "endpoint set at array index {} (id not read yet)",
                self.index
            ),
        }
    }
}

pub(super) struct SetsSeed;

impl<'de> DeserializeSeed<'de> for SetsSeed {
    type Value = Vec<RawSet>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(SetsSeed)
    }
}

impl<'de> Visitor<'de> for SetsSeed {
    type Value = Vec<RawSet>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of endpoint sets (Microsoft endpoints web-service format)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut sets: Vec<RawSet> = Vec::new();
        let mut ids: FxHashMap<u32, usize> = FxHashMap::default();
        while let Some(set) = seq.next_element_seed(SetSeed { index: sets.len() })? {
            if let Some(first) = ids.insert(set.id, sets.len()) {
                return Err(de::Error::custom(format!(
                    "endpoint set id {} (array index {}): duplicate id, already used at array index {first}",
                    set.id,
                    sets.len()
                )));
            }
            sets.push(set);
        }
        if sets.is_empty() {
            return Err(de::Error::custom("the array holds no endpoint sets"));
        }
        Ok(sets)
    }
}

struct SetSeed {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for SetSeed {
    type Value = RawSet;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SetSeed {
    type Value = RawSet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an endpoint set object at array index {}", self.index)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ctx = SetCtx {
            index: self.index,
            id: None,
        };
        let mut service: Option<Service> = None;
        let mut urls: Option<Vec<String>> = None;
        let mut ips: Option<Vec<IpNet>> = None;
        let mut required = true;
        while let Some(key) = map.next_key::<String>()? {
            let field = match key.as_str() {
                "id" if ctx.id.is_none() => Field::Id,
                "serviceArea" if service.is_none() => Field::ServiceArea,
                "urls" if urls.is_none() => Field::Urls,
                "ips" if ips.is_none() => Field::Ips,
                "id" | "serviceArea" | "urls" | "ips" => {
                    return Err(de::Error::custom(format!("{ctx}: duplicate field `{key}`")));
                }
                "required" => {
                    required = map.next_value::<Option<bool>>()?.unwrap_or(true);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match field {
                Field::Id | Field::ServiceArea => {
                    let place = Place {
                        ctx,
                        field,
                        item: None,
                    };
                    match map.next_value_seed(ScalarSeed { place })? {
                        Parsed::Id(id) => ctx.id = Some(id),
                        Parsed::Service(s) => service = Some(s),
                        Parsed::Url(_) | Parsed::Ip(_) => {}
                    }
                }
                Field::Urls | Field::Ips => {
                    let mut url_items = Vec::new();
                    let mut ip_items = Vec::new();
                    for item in map.next_value_seed(ListSeed { ctx, field })? {
                        match item {
                            Parsed::Url(u) => url_items.push(u),
                            Parsed::Ip(net) => ip_items.push(net),
                            Parsed::Id(_) | Parsed::Service(_) => {}
                        }
                    }
                    if field == Field::Urls {
                        urls = Some(url_items);
                    } else {
                        ips = Some(ip_items);
                    }
                }
            }
        }
        let Some(id) = ctx.id else {
            return Err(de::Error::custom(format!("{ctx}: missing field `id`")));
        };
        let Some(service) = service else {
            return Err(de::Error::custom(format!(
                "{ctx}: missing field `serviceArea`"
            )));
        };
        Ok(RawSet {
            id,
            service,
            urls: urls.unwrap_or_default(),
            ips: ips.unwrap_or_default(),
            required,
        })
    }
}

/// The fields of an endpoint set that matching uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    ServiceArea,
    Urls,
    Ips,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::ServiceArea => "serviceArea",
            Field::Urls => "urls",
            Field::Ips => "ips",
        }
    }
}

/// One validated scalar: a set id, a service area, a URL pattern or an IP prefix.
#[derive(Debug)]
enum Parsed {
    Id(u32),
    Service(Service),
    /// A normalised URL pattern.
    Url(String),
    Ip(IpNet),
}

/// Where a value is, e.g. "endpoint set id 9 (array index 3), field `ips`, item 1".
#[derive(Debug, Clone, Copy)]
struct Place {
    ctx: SetCtx,
    field: Field,
    item: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, field `{}`", self.ctx, self.field.name())?;
        if let Some(n) = self.item {
            write!(f, ", item {n}")?;
        }
        Ok(())
    }
}

/// A scalar visitor for one [`Field`]; `item` is set for list elements.
struct ScalarVisitor {
    place: Place,
}

impl ScalarVisitor {
    fn wanted(&self) -> &'static str {
        match self.place.field {
            Field::Id => "an unsigned 32-bit integer",
            Field::ServiceArea => "\"Exchange\", \"SharePoint\", \"Skype\" or \"Common\"",
            Field::Urls => "a URL pattern string",
            Field::Ips => "an IP prefix string",
        }
    }

    fn wrong<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::custom(format!(
            "{}: expected {}, found {found}",
            self.place,
            self.wanted()
        ))
    }
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.wanted(), self.place)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Parsed, E> {
        match (self.place.field, u32::try_from(v)) {
            (Field::Id, Ok(id)) => Ok(Parsed::Id(id)),
            _ => Err(self.wrong(Unexpected::Unsigned(v))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Float(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Err(self.wrong(Unexpected::Other("null")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Parsed, A::Error> {
        Err(self.wrong(Unexpected::Seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Parsed, A::Error> {
        Err(self.wrong(Unexpected::Map))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed, E> {
        let place = self.place;
        match place.field {
            Field::Id => Err(self.wrong(Unexpected::Str(v))),
            Field::ServiceArea => Service::from_service_area(v)
                .map(Parsed::Service)
                .ok_or_else(|| self.wrong(Unexpected::Str(v))),
            Field::Urls => validate_pattern(v)
                .map(Parsed::Url)
                .map_err(|why| E::custom(format!("{place}: invalid URL pattern {v:?}: {why}"))),
            Field::Ips => parse_prefix(v)
                .map(Parsed::Ip)
                .map_err(|why| E::custom(format!("{place}: invalid IP prefix {v:?}: {why}"))),
        }
    }
}

/// Deserializes and validates one scalar (`id`, `serviceArea`, or one item of
/// `urls`/`ips`) inside its own deserializer call, so that serde_json reports the
/// position right after the offending value.
struct ScalarSeed {
    place: Place,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parsed, D::Error> {
        deserializer.deserialize_any(ScalarVisitor { place: self.place })
    }
}

/// Deserializes `urls` or `ips`: an array of strings, or null (= empty).
struct ListSeed {
    ctx: SetCtx,
    field: Field,
}

impl ListSeed {
    fn wrong<E: de::Error>(&self, found: Unexpected<'_>) -> E {
        E::custom(format!(
            "{}, field `{}`: expected an array of strings, found {found}",
            self.ctx,
            self.field.name()
        ))
    }
}

impl<'de> DeserializeSeed<'de> for ListSeed {
    type Value = Vec<Parsed>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed {
    type Value = Vec<Parsed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an array of strings ({}, field `{}`)",
            self.ctx,
            self.field.name()
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Err(self.wrong(Unexpected::Str(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong(Unexpected::Map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let place = Place {
                ctx: self.ctx,
                field: self.field,
                item: Some(out.len()),
            };
            match seq.next_element_seed(ScalarSeed { place })? {
                Some(item) => out.push(item),
                None => return Ok(out),
            }
        }
    }
}

/// Parses `a.b.c.d/len`, `v6/len`, or a bare address (as a host prefix).
fn parse_prefix(text: &str) -> Result<IpNet, ipnet::AddrParseError> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) => Ok(net),
        Err(err) => match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Ok(IpNet::V4(Ipv4Net::from(a))),
            Ok(IpAddr::V6(a)) => Ok(IpNet::V6(Ipv6Net::from(a))),
            Err(_) => Err(err),
        },
    }
}

/// Validates and normalises one URL pattern: lower case, one trailing dot dropped,
/// non-empty labels, characters `a-z 0-9 - _ . *` only.
fn validate_pattern(text: &str) -> Result<String, &'static str> {
    let p = text.trim();
    let p = p.strip_suffix('.').unwrap_or(p).to_ascii_lowercase();
    if p.is_empty() {
        return Err("empty pattern");
    }
    if p.len() > MAX_NAME_LEN {
        return Err("longer than 253 characters");
    }
    if p.split('.').any(str::is_empty) {
        return Err("empty label");
    }
    if !p
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
    {
        return Err("only letters, digits, '-', '_', '.' and '*' are allowed");
    }
    Ok(p)
}
