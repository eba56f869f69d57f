//! What every source yields: frames, each with its own link type (pcapng
//! interfaces may differ), and the few events around them.

use crate::wire::decode::LinkType;

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// How to decode it.
    pub link: LinkType,
    /// Capture time, µs since the Unix epoch.
    pub ts_us: i64,
    /// The bytes captured.
    pub data: &'a [u8],
    /// Its length on the wire (more than `data` when cut by the snap length).
    pub wire_len: u32,
}

/// Frames a reader thread dropped before analysis (not TCP, bare ACKs,
/// connections already reported): only counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Frames.
    pub frames: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Of the frames: not TCP.
    pub not_tcp: u64,
    /// Latest timestamp among them (`i64::MIN` when none).
    pub last_ts: i64,
}

/// What a source has next.
#[derive(Debug)]
pub enum Event<'a> {
    /// A frame.
    Frame(Frame<'a>),
    /// Frames dropped before analysis.
    Dropped(Dropped),
    /// The next input was opened (its label, for progress).
    Opened(String),
    /// The current input ended cleanly.
    Closed,
    /// An input could not be opened or read to its end: the message names
    /// it; reading goes on with the next input.
    Failed(String),
    /// Part of an input is skipped (an interface whose link type is not
    /// decoded): the message names the input and the interface, once.
    Warning(String),
    /// Nothing waiting now (live capture): ask again shortly.
    Idle,
    /// No more input.
    End,
}

/// A source of frames: files, a chunk of a file, a reader thread's
/// batches, a live interface.
pub trait FrameSource {
    /// The next event; [`Event::End`] for ever once the input is over.
    fn next(&mut self) -> Event<'_>;

    /// Whether frames worth saving should be handed to [`FrameSource::keep`].
    fn saves(&self) -> bool {
        false
    }

    /// The frame last returned is worth saving (its bytes again).
    fn keep(&mut self, _data: &[u8]) {}
}

/// A capture timestamp (seconds and microseconds) as µs since the epoch,
/// saturating: a pcapng timestamp in seconds can exceed i64 µs.
pub fn ts_us(secs: i64, micros: i64) -> i64 {
    secs.saturating_mul(1_000_000).saturating_add(micros)
}

/// A libpcap packet header's time as µs since the epoch (see [`ts_us`]).
pub fn timeval_us(tv: &libc::timeval) -> i64 {
    // The fields are 32-bit on some systems (Windows).
    #[allow(clippy::useless_conversion)]
    ts_us(i64::from(tv.tv_sec), i64::from(tv.tv_usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_saturate() {
        assert_eq!(ts_us(1_700_000_000, 250), 1_700_000_000_000_250);
        assert_eq!(ts_us(i64::MAX / 1000, 5), i64::MAX);
        assert_eq!(ts_us(-1, 0), -1_000_000);
    }
}
