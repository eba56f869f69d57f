//! The integration tests, one test binary (as ripgrep does): each module a
//! theme, [`util`] the helpers they share. Tests that need the shared
//! checkout (`../shared`) or python3 print why they skip when it is absent;
//! CI has both.

mod util;

mod broken_captures;
mod corpus;
mod devices;
#[cfg(feature = "update")]
mod endpoints_update;
mod formats;
mod hostile_input;
mod html_report;
mod identity;
mod live_capture;
mod memory_budget;
mod named_pipes;
mod newcomer;
mod parallel;
mod reassembly_props;
mod regressions;
mod samples;
mod tally_rows;
mod truth_small;
