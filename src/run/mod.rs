//! Running an analysis: one packet loop ([`driver::Driver`]) over a
//! [`crate::input::frame::FrameSource`], in four configurations:
//!
//! - inline (`--threads 1`) and pipelined (a reader thread feeding the
//!   analysis), see [`pipelined`];
//! - chunked: pcap and pcapng files cut into chunks analysed at once and
//!   joined in order, see [`chunked`] (with `chunk`: a chunk and what its
//!   worker hands to the join; `gate`: how its threads wait for each
//!   other; `overrun`: reading past a chunk's end; `join`: joining the
//!   chunks in order);
//! - live capture, see [`capture`].
//!
//! [`names`] feeds the host identity from the same frames (`tlsready
//! hosts`; `analyze` once the input is read; `capture` as frames come).
//!
//! [`rows`] turns finished connections into rows for the outputs;
//! [`tally_rows`] is `tally`: connection rows read from files into the
//! outputs, without packets;
//! [`analysis`] feeds the flow table from the loop; [`progress`] is how
//! a run reports its progress.

pub mod analysis;
mod chunk;
pub mod chunked;
pub mod driver;
mod gate;
mod join;
pub mod names;
mod overrun;
pub mod pipelined;
pub mod progress;
pub mod rows;
pub mod tally_rows;

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use self::analysis::Analysis;
pub use self::driver::ReadControl;
use self::driver::{Consumer, Driver, Stop};
use self::names::Learner;
use self::progress::Progress;
use self::rows::{Replacement, Rows};
use crate::enrich::m365::Endpoints;
use crate::flow::names::NameLog;
use crate::flow::table::{FlowTable, Limits};
use crate::input::frame::{Dropped, Frame};
use crate::input::live::{CaptureError, CaptureStats, Live};
use crate::input::source::{Input, Problem};
use crate::model::stats::Stats;
use crate::output::Outputs;

/// What a run needs besides its inputs and outputs.
#[derive(Clone)]
pub struct Settings {
    /// Microsoft 365 endpoints.
    pub endpoints: Arc<Endpoints>,
    /// Flow-table limits (shared out among chunk workers).
    pub limits: Limits,
    /// Threads: 1 reads and analyses on one thread; 2 or more cut pcap and
    /// pcapng files into chunks, or read gzip files and streams on a
    /// thread of their own.
    pub threads: usize,
    /// Smallest chunk a file is cut into, in bytes.
    pub min_chunk: u64,
    /// A stop flag set by signals (SIGINT, SIGTERM: stop reading, analyse
    /// and report what was read), and the read filter.
    pub control: ReadControl,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The counters.
    pub stats: Stats,
    /// The first error writing rows: the outputs are incomplete.
    pub write_error: Option<io::Error>,
    /// A signal stopped the run before its inputs ended: the outputs hold
    /// every connection of the part read.
    pub interrupted: bool,
}

/// Analyses capture files into `outputs`. Input errors go to `report`
/// (already formatted, naming the input); reading goes on with the next.
/// The frames that name hosts go to `learn` in capture order, a part of
/// the input at a time (each chunk as it is joined, see [`names`]).
pub fn analyze(
    inputs: Vec<Input>,
    s: &Settings,
    outputs: &mut Outputs,
    progress: &dyn Progress,
    report: &mut dyn FnMut(Problem),
    learn: &mut (dyn FnMut(NameLog) + Send),
) -> Outcome {
    let chunks = if s.threads >= 2 {
        chunked::plan(&inputs, s.threads, s.min_chunk)
    } else {
        None
    };
    let (stats, write_error) = match chunks {
        // pcap and pcapng files: chunks analysed at once, joined in order.
        Some(chunks) => {
            let settings = chunked::Settings {
                endpoints: Arc::clone(&s.endpoints),
                limits: s.limits,
                threads: s.threads,
                control: s.control.clone(),
            };
            chunked::run(&chunks, &settings, outputs, progress, report, learn)
        }
        // Reading (native reader, header decode, early drops) on a thread of its
        // own, analysis here; with one thread both on this thread.
        None => pipelined::run(
            inputs,
            &s.control,
            Arc::clone(&s.endpoints),
            s.limits,
            s.threads >= 2,
            outputs,
            progress,
            report,
            learn,
        ),
    };
    let interrupted = s.control.stopped();
    Outcome {
        stats,
        write_error,
        interrupted,
    }
}

/// When a live capture stops, and what it does meanwhile.
pub struct LiveSettings<'a> {
    /// Set by signals.
    pub stop: &'a AtomicBool,
    /// Called about once a second with the table and the capture's counts
    /// (status line, periodic reports); returns newer endpoint data to
    /// classify the rows from now on, if any.
    pub tick: &'a mut dyn FnMut(&mut FlowTable<'_>, &CaptureStats) -> Option<Replacement>,
    /// What the capture learns of its hosts, as frames come: each row names
    /// its client as known when written, each report with all learned.
    pub names: &'a Learner,
}

/// A live capture's consumer: the flow table, then the name traffic it
/// kept from the frame, learned at once (so a row written at the next
/// frame knows it).
struct Learning<'t, 'o> {
    analysis: Analysis<'t, 'o>,
    names: &'t Learner,
}

impl Consumer for Learning<'_, '_> {
    #[inline]
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        // Name traffic and DNS answers are saved with the handshakes
        // (`-w`): `analyze` of the file learns the same names.
        let save = self.analysis.frame(f) | self.names.take_answer();
        match self.analysis.table.drain_names() {
            Some(log) => {
                self.names.learn(&log);
                save || log
                    .entries()
                    .iter()
                    .any(|e| matches!(e, crate::flow::names::Logged::Frame { .. }))
            }
            None => save,
        }
    }

    fn dropped(&mut self, d: &Dropped) {
        self.analysis.dropped(d);
    }

    fn failed(&mut self, msg: String) {
        self.analysis.failed(msg);
    }

    fn warning(&mut self, msg: String) {
        self.analysis.warning(msg);
    }

    fn done(&self) -> bool {
        self.analysis.done()
    }
}

/// How a live capture ended.
#[derive(Debug)]
pub struct LiveOutcome {
    /// The analysis.
    pub outcome: Outcome,
    /// libpcap's counts.
    pub capture: CaptureStats,
    /// What ended the capture early (interface gone, `-w` unwritable).
    pub error: Option<CaptureError>,
}

/// Analyses a live capture into `outputs` until it is stopped (signal, or
/// the capture's duration or count).
pub fn capture(
    live: &mut Live,
    endpoints: Arc<Endpoints>,
    limits: Limits,
    outputs: &mut Outputs,
    ls: LiveSettings<'_>,
) -> LiveOutcome {
    let next = std::cell::Cell::new(None);
    let mut rows = Rows::new(endpoints, outputs)
        .replaceable(&next)
        .named(ls.names);
    let mut table = FlowTable::new(limits, &mut rows).with_names();
    let mut driver = Driver::new(&progress::NoProgress)
        .stop_on(ls.stop)
        .for_at_most(live.options().duration)
        .frames_at_most(live.options().count)
        .tick_every(Duration::from_secs(1));
    loop {
        let stop = driver.run(
            live,
            &mut Learning {
                analysis: Analysis {
                    table: &mut table,
                    report: &mut |_| {},
                    learn: None,
                },
                names: ls.names,
            },
        );
        if stop != Stop::Tick {
            break;
        }
        let counts = live.tick();
        if let Some(r) = (ls.tick)(&mut table, &counts) {
            next.set(Some(r));
        }
        // Newer endpoint data taken up, rotated files closed on time.
        table.tick();
    }
    let (capture, error) = live.finish();
    table.finish();
    let stats = table.stats;
    drop(table);
    LiveOutcome {
        outcome: Outcome {
            stats,
            write_error: rows.take_error(),
            // A signal is how a capture ends, not an interruption.
            interrupted: false,
        },
        capture,
        error,
    }
}
