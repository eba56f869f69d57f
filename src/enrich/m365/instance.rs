//! Microsoft 365 cloud instances and the versions of their endpoint data.
//!
//! Microsoft's endpoints web service publishes one list per instance
//! (Worldwide, USGovDoD, USGovGCCHigh, China), each with a version of the form
//! `YYYYMMDDNN`: the publication date and a two-digit counter.

use std::fmt;

/// A Microsoft 365 cloud instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Instance {
    /// The commercial cloud (and GCC).
    #[default]
    #[value(name = "worldwide")]
    Worldwide,
    /// US Government DoD.
    #[value(name = "usgovdod")]
    UsGovDod,
    /// US Government GCC High.
    #[value(name = "usgovgcchigh")]
    UsGovGccHigh,
    /// Microsoft 365 operated by 21Vianet (China).
    #[value(name = "china")]
    China,
}

impl Instance {
    /// Every instance.
    pub const ALL: [Instance; 4] = [
        Instance::Worldwide,
        Instance::UsGovDod,
        Instance::UsGovGccHigh,
        Instance::China,
    ];

    /// The name the web service uses, in its URLs and answers
    /// (`Worldwide`, `USGovDoD`, `USGovGCCHigh`, `China`).
    pub fn service_name(self) -> &'static str {
        match self {
            Instance::Worldwide => "Worldwide",
            Instance::UsGovDod => "USGovDoD",
            Instance::UsGovGccHigh => "USGovGCCHigh",
            Instance::China => "China",
        }
    }

    /// The lower-case name used on the command line and in file names.
    pub fn key(self) -> &'static str {
        match self {
            Instance::Worldwide => "worldwide",
            Instance::UsGovDod => "usgovdod",
            Instance::UsGovGccHigh => "usgovgcchigh",
            Instance::China => "china",
        }
    }

    /// The instance of a web-service name, ignoring ASCII case.
    pub fn from_service_name(name: &str) -> Option<Instance> {
        Instance::ALL
            .into_iter()
            .find(|i| i.service_name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.service_name())
    }
}

/// A web-service data version, `YYYYMMDDNN` (e.g. `2026073100`): ten digits
/// whose first eight are a valid date. Versions order as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataVersion(u64);

impl DataVersion {
    /// Parses a version; `None` unless it is ten ASCII digits starting with
    /// a valid date.
    pub fn parse(s: &str) -> Option<DataVersion> {
        let s = s.trim();
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = s.parse().ok()?;
        let v = DataVersion(n);
        v.date()?;
        Some(v)
    }

    /// The publication date the version names.
    pub fn date(self) -> Option<time::Date> {
        let ymd = self.0 / 100;
        let year = i32::try_from(ymd / 10_000).ok()?;
        let month = u8::try_from(ymd / 100 % 100).ok()?;
        let day = u8::try_from(ymd % 100).ok()?;
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
    }

    /// Whole days from the publication date to `today` (negative when the
    /// date lies ahead).
    pub fn age_days(self, today: time::Date) -> i64 {
        self.date().map_or(0, |d| (today - d).whole_days())
    }
}

impl fmt::Display for DataVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

/// Today's date, UTC.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let v = DataVersion::parse("2026073100").unwrap();
        assert_eq!(v.to_string(), "2026073100");
        assert_eq!(
            v.date(),
            Some(time::macros::date!(2026 - 07 - 31)),
            "the date part"
        );
        assert!(DataVersion::parse("2026080101").unwrap() > v);
        assert!(DataVersion::parse("2026073101").unwrap() > v);
        for bad in [
            "",
            "202607310",
            "20260731000",
            "2026073a00",
            "2026023000",
            "2026130100",
            "+026073100",
        ] {
            assert_eq!(DataVersion::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn age_in_days() {
        let v = DataVersion::parse("2026073100").unwrap();
        assert_eq!(v.age_days(time::macros::date!(2026 - 07 - 31)), 0);
        assert_eq!(v.age_days(time::macros::date!(2026 - 09 - 29)), 60);
        assert_eq!(v.age_days(time::macros::date!(2026 - 12 - 02)), 124);
        assert_eq!(v.age_days(time::macros::date!(2026 - 07 - 30)), -1);
    }

    #[test]
    fn instance_names() {
        for i in Instance::ALL {
            assert_eq!(Instance::from_service_name(i.service_name()), Some(i));
            assert_eq!(Instance::from_service_name(i.key()), Some(i));
        }
        assert_eq!(
            Instance::from_service_name("usgovgcchigh"),
            Some(Instance::UsGovGccHigh)
        );
        assert_eq!(Instance::from_service_name("Germany"), None);
    }
}
