//! Where finished rows go.

use super::row::ConnRecord;
use super::stats::Stats;

/// Where finished rows go (the outputs, a test's vector...).
pub trait Sink {
    /// One finished connection.
    fn record(&mut self, rec: &ConnRecord) -> std::io::Result<()>;

    /// Prints an interim report (long live captures); nothing by default.
    fn interim_report(&self, _stats: &Stats) {}

    /// The Microsoft 365 endpoint data was replaced mid-run (live capture):
    /// `description` says which data classifies the rows from now on.
    fn endpoints_replaced(&mut self, _description: &str) {}

    /// A live capture's pause, about once a second: a rotating output
    /// closes the files of a period that has ended.
    fn tick(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
