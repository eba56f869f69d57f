//! The data every stage shares, with no dependency on any stage: the
//! connection row ([`row::ConnRecord`]), the run's counters
//! ([`stats::Stats`]), where rows go ([`sink::Sink`]), protocol versions
//! ([`version::TlsVersion`]) and the Microsoft 365 classification of a
//! server ([`m365::Classification`]).

pub mod m365;
pub mod row;
pub mod sink;
pub mod stats;
pub mod version;
