//! Reading and analysis on two threads (with `--threads 1`, the driver
//! reads the files straight into the flow table on one).
//!
//! The reader side runs the driver over the input files into a
//! `Batcher`: it decodes each frame's headers and drops at once what
//! analysis does not need: non-TCP frames, bare ACKs, and frames of
//! connections whose handshake facts are complete (known through the shared
//! [`DoneFilter`]; FIN/RST/SYN frames always pass, so connections still
//! close). The rest are copied into batches. The analysis side runs the
//! same driver over those batches ([`Batches`]) into the flow table. Bulk
//! traffic, most of a capture's bytes, is thus only counted.

use std::io;
use std::sync::Arc;
use std::sync::mpsc;

use super::analysis::{Analysis, Learn};
use super::driver::{Consumer, Driver, ReadControl};
use super::progress::{NoProgress, Progress};
use super::rows::Rows;
use crate::enrich::m365::Endpoints;
use crate::flow::done_filter::DoneFilter;
use crate::flow::key::flow_hash;
use crate::flow::names::{MAX_BYTES, NameLog, frame_names, tcp_names, udp_wanted};
use crate::flow::segment::{bare_ack, pure_syn};
use crate::flow::table::{FlowTable, Limits};
use crate::input::frame::{Dropped, Event, Frame, FrameSource};
use crate::input::offline::Files;
use crate::input::source::{Input, Problem};
use crate::model::sink::Sink;
use crate::model::stats::Stats;
use crate::wire::decode::{self, LinkType, Skip, flags};

/// Frames per batch.
pub const BATCH_FRAMES: usize = 2048;
/// Frame bytes per batch (a batch is sent when either bound is reached).
pub const BATCH_BYTES: usize = 4 << 20;

/// Frames for the analysis side, with counts of those dropped early.
#[derive(Debug, Default)]
pub struct Batch {
    /// Concatenated frame bytes.
    data: Vec<u8>,
    /// Per frame: (timestamp µs, end offset in `data`, wire length, link).
    frames: Vec<(i64, usize, u32, LinkType)>,
    /// Frames dropped early (non-TCP, bare ACKs, done connections).
    dropped: Dropped,
}

impl Batch {
    /// Empties the batch, keeping its buffers.
    fn clear(&mut self) {
        if self.data.capacity() > 2 * BATCH_BYTES {
            self.data = Vec::new();
        }
        self.data.clear();
        self.frames.clear();
        self.dropped = Dropped {
            last_ts: i64::MIN,
            ..Dropped::default()
        };
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.dropped.frames == 0
    }

    /// True when the batch should be sent.
    fn full(&self) -> bool {
        self.frames.len() >= BATCH_FRAMES
            || self.data.len() >= BATCH_BYTES
            || self.dropped.frames >= 64 * BATCH_FRAMES as u64
    }

    /// Reader side: keep or drop one frame; `passed` frames were passed on
    /// before this batch.
    #[inline]
    fn offer(&mut self, filter: &DoneFilter, passed: u64, f: &Frame<'_>) {
        match decode::decode(f.link, f.data) {
            // Name traffic goes on to the table (see `flow::names`).
            Err(Skip::NotTcp) if !frame_names(f.link, f.data) => {
                self.dropped.not_tcp += 1;
                self.skip(f);
                return;
            }
            Err(Skip::Udp { sport, dport }) if !udp_wanted(true, sport, dport) => {
                self.dropped.not_tcp += 1;
                self.skip(f);
                return;
            }
            Ok(seg) if pure_syn(&seg) => {
                // A new connection, perhaps on the ports of one already
                // done: its frames must reach the analysis from here on.
                let index = passed + self.frames.len() as u64;
                filter.syn(flow_hash(seg.src, seg.sport, seg.dst, seg.dport), index);
            }
            // A bare ACK carries nothing to analyse; other frames of a
            // done connection neither.
            Ok(seg)
                if seg.flags & (flags::FIN | flags::RST | flags::SYN) == 0
                    && (seg.payload.is_empty() || !tcp_names(seg.sport, seg.dport))
                    && (bare_ack(&seg)
                        || filter.check_touch(
                            flow_hash(seg.src, seg.sport, seg.dst, seg.dport),
                            f.ts_us,
                        )) =>
            {
                self.skip(f);
                return;
            }
            _ => {}
        }
        self.data.extend_from_slice(f.data);
        self.frames
            .push((f.ts_us, self.data.len(), f.wire_len, f.link));
    }

    fn skip(&mut self, f: &Frame<'_>) {
        self.dropped.frames += 1;
        self.dropped.bytes += u64::from(f.wire_len);
        self.dropped.last_ts = self.dropped.last_ts.max(f.ts_us);
    }
}

/// What the reader side sends, in input order.
pub enum Msg {
    /// Frames.
    Batch(Batch),
    /// An input could not be opened or read (already formatted, names it).
    Error(String),
    /// Part of an input is skipped (already formatted, names it).
    Warning(String),
}

/// The reader side's consumer: frames into batches, batches and errors
/// out through `send` (false: the analysis side is gone).
struct Batcher<'a> {
    filter: &'a DoneFilter,
    batch: Batch,
    /// Frames passed on in the batches sent so far.
    passed: u64,
    fresh: &'a mut dyn FnMut() -> Batch,
    send: &'a mut dyn FnMut(Msg) -> bool,
    gone: bool,
}

impl Batcher<'_> {
    /// Sends the batch (input boundaries, full batches, the end).
    fn flush(&mut self) {
        if self.gone || self.batch.is_empty() {
            return;
        }
        let next = (self.fresh)();
        let full = std::mem::replace(&mut self.batch, next);
        self.passed += full.frames.len() as u64;
        self.gone = !(self.send)(Msg::Batch(full));
    }
}

impl Consumer for Batcher<'_> {
    #[inline]
    fn frame(&mut self, f: &Frame<'_>) -> bool {
        self.batch.offer(self.filter, self.passed, f);
        if self.batch.full() {
            self.flush();
        }
        false
    }

    fn end_of_input(&mut self) {
        self.flush();
    }

    fn failed(&mut self, msg: String) {
        self.flush();
        if !self.gone {
            self.gone = !(self.send)(Msg::Error(msg));
        }
    }

    fn warning(&mut self, msg: String) {
        self.flush();
        if !self.gone {
            self.gone = !(self.send)(Msg::Warning(msg));
        }
    }

    #[inline]
    fn done(&self) -> bool {
        self.gone
    }
}

/// Reads `inputs` in order, handing [`Msg`]s to `send` until it returns
/// false; `fresh` supplies empty batches.
fn read(
    inputs: Vec<Input>,
    control: &ReadControl,
    filter: &DoneFilter,
    progress: &dyn Progress,
    fresh: &mut dyn FnMut() -> Batch,
    send: &mut dyn FnMut(Msg) -> bool,
) {
    let mut batch = fresh();
    batch.clear();
    let mut batcher = Batcher {
        filter,
        batch,
        passed: 0,
        fresh,
        send,
        gone: false,
    };
    let filter = control.compile();
    Driver::new(progress)
        .controlled(control, filter.as_ref())
        .run(&mut Files::new(inputs), &mut batcher);
    batcher.flush();
}

/// The analysis side's source: the frames of each batch, then the counts
/// of those it dropped; used batches go back through `recycle`.
pub struct Batches<'r, I> {
    msgs: I,
    cur: Option<Batch>,
    /// Next frame of `cur`, and where its bytes start.
    pos: usize,
    start: usize,
    /// The counts of `cur`'s dropped frames were given.
    counted: bool,
    recycle: &'r mut dyn FnMut(Batch),
}

impl<'r, I: Iterator<Item = Msg>> Batches<'r, I> {
    /// The batches of `msgs`.
    pub fn new(msgs: I, recycle: &'r mut dyn FnMut(Batch)) -> Self {
        Batches {
            msgs,
            cur: None,
            pos: 0,
            start: 0,
            counted: true,
            recycle,
        }
    }
}

impl<I: Iterator<Item = Msg>> FrameSource for Batches<'_, I> {
    #[inline]
    fn next(&mut self) -> Event<'_> {
        // The common case first: the next frame of the current batch.
        if self.cur.as_ref().is_some_and(|b| self.pos < b.frames.len()) {
            return self.frame();
        }
        loop {
            match &self.cur {
                Some(b) if self.pos < b.frames.len() || !self.counted => break,
                _ => {}
            }
            if let Some(b) = self.cur.take() {
                (self.recycle)(b);
            }
            match self.msgs.next() {
                Some(Msg::Batch(b)) => {
                    self.cur = Some(b);
                    self.pos = 0;
                    self.start = 0;
                    self.counted = false;
                }
                Some(Msg::Error(e)) => return Event::Failed(e),
                Some(Msg::Warning(w)) => return Event::Warning(w),
                None => return Event::End,
            }
        }
        let Some(b) = self.cur.as_ref() else {
            return Event::End;
        };
        if self.pos < b.frames.len() {
            return self.frame();
        }
        self.counted = true;
        Event::Dropped(b.dropped)
    }
}

impl<I> Batches<'_, I> {
    /// The next frame of the current batch.
    #[inline]
    fn frame(&mut self) -> Event<'_> {
        let Some(b) = self.cur.as_ref() else {
            return Event::End;
        };
        let Some(&(ts_us, end, wire_len, link)) = b.frames.get(self.pos) else {
            return Event::End;
        };
        let data = b.data.get(self.start..end).unwrap_or_default();
        self.pos += 1;
        self.start = end;
        Event::Frame(Frame {
            link,
            ts_us,
            data,
            wire_len,
        })
    }
}

/// Analyses `inputs` as one stream: reading on a thread of its own when
/// `threaded`, else taking turns with the analysis on this thread. Rows go
/// to `sink`, input errors to `report`; returns the counters and the first
/// error writing rows; the name traffic goes to `learn`. Once `control`'s
/// stop is set, no more is read; what was read is analysed and reported.
#[allow(clippy::too_many_arguments)]
pub fn run(
    inputs: Vec<Input>,
    control: &ReadControl,
    endpoints: Arc<Endpoints>,
    limits: Limits,
    threaded: bool,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
    report: &mut dyn FnMut(Problem),
    learn: &mut dyn FnMut(NameLog),
) -> (Stats, Option<io::Error>) {
    let filter = Arc::new(DoneFilter::default());
    let mut rows = Rows::new(endpoints, sink);
    let mut table = FlowTable::new(limits, &mut rows)
        .with_filter(Arc::clone(&filter))
        .with_names();
    let mut thread_failed = false;
    {
        let mut analysis = Analysis {
            table: &mut table,
            report: &mut *report,
            learn: Some(Learn {
                take: &mut *learn,
                at: MAX_BYTES / 2,
                when: None,
            }),
        };
        let mut driver = Driver::new(&NoProgress);
        if threaded {
            std::thread::scope(|s| {
                let (tx, rx) = mpsc::sync_channel(4);
                let (recycle_tx, recycle_rx) = mpsc::channel::<Batch>();
                let filter = &filter;
                let reader = s.spawn(move || {
                    read(
                        inputs,
                        control,
                        filter,
                        progress,
                        &mut || {
                            let mut b = recycle_rx.try_recv().unwrap_or_default();
                            b.clear();
                            b
                        },
                        &mut |m| tx.send(m).is_ok(),
                    );
                });
                let mut recycle = |b| {
                    let _ = recycle_tx.send(b);
                };
                let mut src = Batches::new(rx.into_iter(), &mut recycle);
                driver.run(&mut src, &mut analysis);
                // The reader stops at its next send.
                drop(src);
                thread_failed = reader.join().is_err();
            });
        } else {
            // One thread: the frames go from the read buffer straight to
            // the table, which drops what it does not need itself (as a
            // chunk worker does): no batch, no copy, one decode.
            let compiled = control.compile();
            Driver::new(progress)
                .controlled(control, compiled.as_ref())
                .run(&mut Files::new(inputs), &mut analysis);
        }
    }
    if thread_failed {
        report(Problem::Error(
            "the reading thread failed; results are incomplete".into(),
        ));
    }
    table.finish();
    learn(table.take_names());
    let stats = table.stats;
    drop(table);
    (stats, rows.take_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::row::ConnRecord;

    #[derive(Default)]
    struct Collect(Vec<ConnRecord>);

    impl Sink for Collect {
        fn record(&mut self, rec: &ConnRecord) -> io::Result<()> {
            self.0.push(rec.clone());
            Ok(())
        }
    }

    fn run_on(threaded: bool, names: &[&str]) -> (Stats, Vec<(u16, Option<u16>)>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let inputs = names.iter().map(|n| Input::File(dir.join(n))).collect();
        let mut sink = Collect::default();
        let mut errors = Vec::new();
        let (stats, err) = run(
            inputs,
            &ReadControl::default(),
            Arc::new(Endpoints::embedded()),
            Limits::default(),
            threaded,
            &mut sink,
            &NoProgress,
            &mut |e| errors.push(e),
            &mut |_| {},
        );
        assert!(err.is_none() && errors.is_empty(), "{errors:?}");
        let rows = sink
            .0
            .iter()
            .map(|r| (r.client_port, r.negotiated_version))
            .collect();
        (stats, rows)
    }

    #[test]
    fn one_thread_and_two_give_the_same_rows_and_counts() {
        let names = [
            "clients-mixed.pcap",
            "openssl-tls12.pcap",
            "openssl-tls10.pcap",
        ];
        let (s1, r1) = run_on(false, &names);
        let (s2, r2) = run_on(true, &names);
        assert_eq!(r1, r2);
        assert_eq!(r1.len(), 12);
        let counts = |s: &Stats| (s.packets, s.bytes, s.passed_over(), s.connections, s.rows);
        assert_eq!(counts(&s1), counts(&s2));
        // With two threads, bare ACKs and the frames of connections
        // already reported are dropped by the reader, still counted; with
        // one, the table skips them itself.
        assert!(s2.early_dropped > 0);
        assert_eq!(s1.early_dropped, 0);
        assert_eq!(s1.rows, 12);
    }

    /// `vlan.pcap` holds the packets of `openssl-tls12.pcap`, at the same
    /// times, in VLAN frames: the same traffic seen at a second point. Read
    /// after it, its segments are copies of a connection closed lately.
    #[test]
    fn the_same_traffic_from_a_second_point_is_one_connection() {
        for threaded in [false, true] {
            let (s, rows) = run_on(threaded, &["openssl-tls12.pcap", "vlan.pcap"]);
            assert_eq!(rows.len(), 1, "threaded {threaded}");
            assert_eq!((s.connections, s.rows), (1, 1));
            assert!(s.after_close > 0);
        }
    }

    #[test]
    fn a_missing_input_is_reported_and_the_rest_read() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let inputs = vec![
            Input::File(dir.join("no-such.pcap")),
            Input::File(dir.join("openssl-tls13.pcap")),
        ];
        let mut sink = Collect::default();
        let mut errors = Vec::new();
        let (stats, _) = run(
            inputs,
            &ReadControl::default(),
            Arc::new(Endpoints::embedded()),
            Limits::default(),
            true,
            &mut sink,
            &NoProgress,
            &mut |e| errors.push(e),
            &mut |_| {},
        );
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("no-such.pcap"),
            "{}",
            errors[0]
        );
        assert_eq!(stats.rows, 1);
    }
}
