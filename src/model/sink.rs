//! Where finished rows go.

use super::row::{ClientName, ConnRecord};
use super::stats::Stats;

/// Where finished rows go (the outputs, a test's vector...).
pub trait Sink {
    /// One finished connection.
    fn record(&mut self, rec: &ConnRecord) -> std::io::Result<()>;

    /// Prints an interim report (long live captures); nothing by default.
    fn interim_report(&self, _stats: &Stats) {}

    /// A live capture names its clients with what it has learned so far
    /// (`who`: who an address was at a time), before a report; `host_names`
    /// is the summary's line on the names learned. Nothing by default.
    fn name_clients(
        &mut self,
        _who: &dyn Fn(std::net::IpAddr, i64) -> Option<ClientName>,
        _host_names: String,
    ) {
    }

    /// The Microsoft 365 endpoint data was replaced mid-run (live capture):
    /// `description` says which data classifies the rows from now on.
    fn endpoints_replaced(&mut self, _description: &str) {}

    /// A live capture's pause, about once a second: a rotating output
    /// closes the files of a period that has ended.
    fn tick(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
