//! The data every stage shares, with no dependency on any stage: the
//! connection row ([`row::ConnRecord`]), the run's counters
//! ([`stats::Stats`]), where rows go ([`sink::Sink`]), protocol versions
//! ([`version::TlsVersion`]), the Microsoft 365 classification of a
//! server ([`m365::Classification`]) and connections over time
//! ([`timeline::Timeline`]).

pub mod m365;
pub mod row;
pub mod sink;
pub mod stats;
pub mod timeline;
pub mod version;
