//! The one packet loop: every way of running (inline, pipelined, chunked,
//! live) reads a [`FrameSource`] and hands its events to a [`Consumer`]
//! through [`Driver::run`]. The loop counts progress, honours stop
//! requests (signal, duration, count), waits when a live source is idle,
//! and returns at regular ticks when asked to (live status lines).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::progress::Progress;
use crate::input::filter::FrameFilter;
use crate::input::frame::{Dropped, Event, Frame, FrameSource};

/// What limits reading, besides the inputs' ends: a stop flag set by
/// signals, and a read filter (a BPF expression, compiled by each
/// reading thread, see [`FrameFilter`]).
#[derive(Clone, Default)]
pub struct ReadControl {
    /// Set by a signal: stop reading.
    pub stop: Option<std::sync::Arc<AtomicBool>>,
    /// Only frames matching this BPF expression are analysed (the others
    /// are not counted, as libpcap's filter would drop them).
    pub filter: Option<String>,
}

impl ReadControl {
    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.stop
            .as_deref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// This thread's compiled filter (checked by the command line first;
    /// an expression that does not compile here filters nothing out).
    pub fn compile(&self) -> Option<FrameFilter> {
        self.filter
            .as_deref()
            .and_then(|e| FrameFilter::new(e).ok())
    }
}

/// What takes the frames: the flow table, or a reader thread's batcher.
pub trait Consumer {
    /// One frame; returns true when it is worth saving (`capture -w`).
    fn frame(&mut self, f: &Frame<'_>) -> bool;

    /// Frames dropped before analysis, counted.
    fn dropped(&mut self, _d: &Dropped) {}

    /// The current input ended cleanly.
    fn end_of_input(&mut self) {}

    /// An input failed (the message names it); reading goes on.
    fn failed(&mut self, msg: String);

    /// Part of an input is skipped (the message names it and why).
    fn warning(&mut self, _msg: String) {}

    /// Nothing more should be read (an output failed, nothing left to
    /// follow...).
    fn done(&self) -> bool {
        false
    }
}

/// Why [`Driver::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The source has no more input.
    End,
    /// The consumer wants no more.
    Done,
    /// A stop was asked for: signal, duration or frame count.
    Requested,
    /// A tick is due (see [`Driver::tick_every`]); call `run` again to go on.
    Tick,
}

/// Bytes read between progress reports.
const PROGRESS_STEP: u64 = 1 << 22;
/// Bytes of a record header, counted with each frame's own bytes.
const RECORD_HEADER: u64 = 16;
/// Pause when a live source has nothing waiting (the kernel buffers meanwhile).
const IDLE_PAUSE: Duration = Duration::from_millis(5);

/// The packet loop and its settings.
pub struct Driver<'a> {
    progress: &'a dyn Progress,
    stop: Option<&'a AtomicBool>,
    filter: Option<&'a FrameFilter>,
    deadline: Option<Instant>,
    max_frames: Option<u64>,
    tick: Option<Duration>,
    last_tick: Instant,
    frames: u64,
    unreported: u64,
}

impl<'a> Driver<'a> {
    /// A loop reporting progress to `progress`, reading until the input
    /// ends or the consumer is done.
    pub fn new(progress: &'a dyn Progress) -> Self {
        Driver {
            progress,
            stop: None,
            filter: None,
            deadline: None,
            max_frames: None,
            tick: None,
            last_tick: Instant::now(),
            frames: 0,
            unreported: 0,
        }
    }

    /// Also stops when `flag` is set (signals).
    pub fn stop_on(mut self, flag: &'a AtomicBool) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Stops when `c`'s flag is set, and reads only frames matching
    /// `filter` (compiled from `c`'s expression by the caller's thread).
    pub fn controlled(mut self, c: &'a ReadControl, filter: Option<&'a FrameFilter>) -> Self {
        self.stop = c.stop.as_deref();
        self.filter = filter;
        self
    }

    /// Also stops after `limit` (from now), if given.
    pub fn for_at_most(mut self, limit: Option<Duration>) -> Self {
        self.deadline = limit.map(|d| Instant::now() + d);
        self
    }

    /// Also stops after `limit` frames, if given.
    pub fn frames_at_most(mut self, limit: Option<u64>) -> Self {
        self.max_frames = limit;
        self
    }

    /// Returns [`Stop::Tick`] every `every` (wall clock).
    pub fn tick_every(mut self, every: Duration) -> Self {
        self.tick = Some(every);
        self.last_tick = Instant::now();
        self
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn stop_requested(&self) -> bool {
        self.stop.is_some_and(|f| f.load(Ordering::Relaxed))
            || self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.max_frames.is_some_and(|m| self.frames >= m)
    }

    fn report_progress(&mut self) {
        if self.unreported > 0 {
            self.progress.advance(self.unreported);
            self.unreported = 0;
        }
    }

    /// Reads `src` into `dst` until the input ends, `dst` is done, a stop
    /// is requested or a tick is due.
    ///
    /// Generic, so that each configuration's source and consumer are
    /// compiled into the loop (this runs for every frame); trait objects
    /// work too.
    pub fn run<S, C>(&mut self, src: &mut S, dst: &mut C) -> Stop
    where
        S: FrameSource + ?Sized,
        C: Consumer + ?Sized,
    {
        let saves = src.saves();
        // Stop requests and ticks are only looked at when configured.
        let watch = self.stop.is_some()
            || self.deadline.is_some()
            || self.max_frames.is_some()
            || self.tick.is_some();
        let stop = loop {
            if dst.done() {
                break Stop::Done;
            }
            if watch && self.stop_requested() {
                break Stop::Requested;
            }
            match src.next() {
                Event::Frame(f) if self.filter.is_some_and(|p| !p.matches(&f)) => {
                    // Filtered out: read (progress), not counted.
                    self.unreported += RECORD_HEADER + f.data.len() as u64;
                }
                Event::Frame(f) => {
                    self.frames += 1;
                    // About the bytes read (record headers vary).
                    self.unreported += RECORD_HEADER + f.data.len() as u64;
                    if self.unreported >= PROGRESS_STEP {
                        self.report_progress();
                    }
                    if dst.frame(&f) && saves {
                        let data = f.data.to_vec();
                        src.keep(&data);
                    }
                }
                Event::Dropped(d) => dst.dropped(&d),
                Event::Opened(label) => self.progress.message(&label),
                Event::Closed => dst.end_of_input(),
                Event::Failed(msg) => dst.failed(msg),
                Event::Warning(msg) => dst.warning(msg),
                Event::Idle => std::thread::sleep(IDLE_PAUSE),
                Event::End => break Stop::End,
            }
            if watch
                && let Some(every) = self.tick
                && self.last_tick.elapsed() >= every
            {
                self.last_tick = Instant::now();
                break Stop::Tick;
            }
        };
        self.report_progress();
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::frame::Dropped;
    use crate::wire::decode::LinkType;

    /// Five frames, an idle moment, a failure, then the end.
    struct Script(usize);

    impl FrameSource for Script {
        fn next(&mut self) -> Event<'_> {
            self.0 += 1;
            match self.0 {
                1..=5 => Event::Frame(Frame {
                    link: LinkType::Raw,
                    ts_us: self.0 as i64,
                    data: b"abcd",
                    wire_len: 4,
                }),
                6 => Event::Idle,
                7 => Event::Dropped(Dropped {
                    frames: 2,
                    ..Dropped::default()
                }),
                8 => Event::Failed("x: broken".into()),
                _ => Event::End,
            }
        }
    }

    #[derive(Default)]
    struct Count {
        frames: u64,
        dropped: u64,
        failed: Vec<String>,
        enough: Option<u64>,
    }

    impl Consumer for Count {
        fn frame(&mut self, _f: &Frame<'_>) -> bool {
            self.frames += 1;
            false
        }
        fn dropped(&mut self, d: &Dropped) {
            self.dropped += d.frames;
        }
        fn failed(&mut self, msg: String) {
            self.failed.push(msg);
        }
        fn done(&self) -> bool {
            self.enough.is_some_and(|n| self.frames >= n)
        }
    }

    struct Bytes(std::sync::atomic::AtomicU64);

    impl Progress for Bytes {
        fn advance(&self, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    #[test]
    fn reads_everything_and_counts_progress() {
        let p = Bytes(Default::default());
        let mut c = Count::default();
        let stop = Driver::new(&p).run(&mut Script(0), &mut c);
        assert_eq!(stop, Stop::End);
        assert_eq!((c.frames, c.dropped), (5, 2));
        assert_eq!(c.failed, vec!["x: broken".to_string()]);
        assert_eq!(p.0.load(Ordering::Relaxed), 5 * (16 + 4));
    }

    #[test]
    fn stops_when_asked() {
        let mut c = Count::default();
        let mut d = Driver::new(&super::super::progress::NoProgress).frames_at_most(Some(3));
        assert_eq!(d.run(&mut Script(0), &mut c), Stop::Requested);
        assert_eq!((c.frames, d.frames()), (3, 3));
        let flag = AtomicBool::new(true);
        let mut c = Count::default();
        let mut d = Driver::new(&super::super::progress::NoProgress).stop_on(&flag);
        assert_eq!(d.run(&mut Script(0), &mut c), Stop::Requested);
        assert_eq!(c.frames, 0);
        let mut c = Count {
            enough: Some(2),
            ..Count::default()
        };
        let mut d = Driver::new(&super::super::progress::NoProgress);
        assert_eq!(d.run(&mut Script(0), &mut c), Stop::Done);
        assert_eq!(c.frames, 2);
    }
}
