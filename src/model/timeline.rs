//! Connections over time, counted as rows stream past, in bounded memory.
//!
//! Connections are counted per bucket of capture time. Buckets start a
//! second wide; when more than [`MAX_BUCKETS`] distinct buckets hold
//! connections (a long capture, or wild timestamps) they are widened (a
//! second, a minute, an hour, a day, then doubling), so memory stays
//! bounded whatever the input. Every width divides the next one and buckets are aligned to
//! the Unix epoch, so widening and merging are exact.

use std::collections::BTreeMap;

/// Most buckets kept before they are widened.
pub const MAX_BUCKETS: usize = 4096;

/// A second, in microseconds.
pub const SECOND: i64 = 1_000_000;
/// A minute, in microseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// An hour, in microseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// A day, in microseconds.
pub const DAY: i64 = 24 * HOUR;

/// Counts of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Connections counted (in the tally's scope) that started in the bucket.
    pub connections: u64,
    /// Of those, connections below TLS 1.2 (negotiated, or offered at most).
    pub below: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.connections += o.connections;
        self.below += o.below;
    }
}

/// Connections per time bucket, and the time span of every connection.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Bucket width (µs).
    width: i64,
    /// Bucket start (µs) -> counts.
    buckets: BTreeMap<i64, Counts>,
    /// First packet of the earliest connection (µs).
    first: Option<i64>,
    /// Last packet of the latest connection (µs).
    last: Option<i64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width: SECOND,
            buckets: BTreeMap::new(),
            first: None,
            last: None,
        }
    }
}

/// The widest bucket, 2^26 days (about 180,000 years): the whole range of
/// timestamps fits in a few.
const MAX_WIDTH: i64 = DAY << 26;

/// The width after `w`: a second, a minute, an hour, a day, then doubling
/// up to [`MAX_WIDTH`].
fn wider(w: i64) -> i64 {
    match w {
        SECOND => MINUTE,
        MINUTE => HOUR,
        HOUR => DAY,
        _ => w.saturating_mul(2).min(MAX_WIDTH),
    }
}

/// Start of the bucket of width `w` holding `ts` (the earliest bucket
/// starts at `i64::MIN`, a bucket start that would be earlier).
fn bucket(ts: i64, w: i64) -> i64 {
    ts.div_euclid(w).saturating_mul(w)
}

impl Timeline {
    /// Counts a connection that started at `ts` and was last seen at
    /// `last_ts`; `counted` is `None` when it is outside the tally's scope
    /// (it then only widens the time span), else whether it was below
    /// TLS 1.2.
    pub fn add(&mut self, ts: i64, last_ts: i64, counted: Option<bool>) {
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        let end = last_ts.max(ts);
        self.last = Some(self.last.map_or(end, |l| l.max(end)));
        if let Some(below) = counted {
            let c = Counts {
                connections: 1,
                below: u64::from(below),
            };
            self.buckets
                .entry(bucket(ts, self.width))
                .or_default()
                .add(c);
            self.bound();
        }
    }

    /// Adds the counts of another part of the same capture.
    pub fn merge(&mut self, o: &Timeline) {
        if let Some(f) = o.first {
            self.first = Some(self.first.map_or(f, |s| s.min(f)));
        }
        if let Some(l) = o.last {
            self.last = Some(self.last.map_or(l, |s| s.max(l)));
        }
        self.widen_to(o.width);
        for (&start, c) in &o.buckets {
            self.buckets
                .entry(bucket(start, self.width))
                .or_default()
                .add(*c);
        }
        self.bound();
    }

    /// Widens the buckets to `w` (a later width on the ladder).
    fn widen_to(&mut self, w: i64) {
        if w <= self.width {
            return;
        }
        let old = std::mem::take(&mut self.buckets);
        for (start, c) in old {
            self.buckets.entry(bucket(start, w)).or_default().add(c);
        }
        self.width = w;
    }

    /// Widens until at most [`MAX_BUCKETS`] buckets are kept.
    fn bound(&mut self) {
        while self.buckets.len() > MAX_BUCKETS && self.width < MAX_WIDTH {
            self.widen_to(wider(self.width));
        }
    }

    /// First packet of the earliest and last packet of the latest
    /// connection (µs), when any was seen.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.first?, self.last?))
    }

    /// Width of the buckets kept (µs).
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Counts over every bucket.
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.buckets.values() {
            t.add(*c);
        }
        t
    }

    /// A series for a chart: a bucket width chosen from the span (a second
    /// up to 2 minutes, a minute up to 3 hours, an hour up to 7 days, else
    /// a day; never narrower than the buckets kept, wider still beyond
    /// `max_bars`), and every bucket from the first to the last counted
    /// connection, empty ones included.
    pub fn series(&self, max_bars: usize) -> (i64, Vec<(i64, Counts)>) {
        let (Some((&lo, _)), Some((&hi, _))) = (
            self.buckets.first_key_value(),
            self.buckets.last_key_value(),
        ) else {
            return (self.width, Vec::new());
        };
        // In i128: wild timestamps may span more than an i64.
        let span = i128::from(hi) - i128::from(lo);
        let mut w = if span <= i128::from(2 * MINUTE) {
            SECOND
        } else if span <= i128::from(3 * HOUR) {
            MINUTE
        } else if span <= i128::from(7 * DAY) {
            HOUR
        } else {
            DAY
        };
        w = w.max(self.width);
        let bars =
            |w: i64| (i128::from(bucket(hi, w)) - i128::from(bucket(lo, w))) / i128::from(w) + 1;
        while bars(w) > max_bars.max(1) as i128 && w < MAX_WIDTH {
            w = wider(w);
        }
        let first = bucket(lo, w);
        let n = usize::try_from(bars(w)).unwrap_or(0).min(max_bars.max(1));
        let mut out: Vec<(i64, Counts)> = (0..n)
            .map(|i| {
                let t = i128::from(first) + i as i128 * i128::from(w);
                (i64::try_from(t).unwrap_or(i64::MAX), Counts::default())
            })
            .collect();
        for (&start, c) in &self.buckets {
            let i = (i128::from(bucket(start, w)) - i128::from(first)) / i128::from(w);
            if let Some((_, slot)) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
                slot.add(*c);
            }
        }
        (w, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_scope_and_span_of_all() {
        let mut t = Timeline::default();
        t.add(10 * SECOND, 12 * SECOND, Some(true));
        t.add(10 * SECOND + 5, 11 * SECOND, Some(false));
        t.add(3 * SECOND, 50 * SECOND, None);
        assert_eq!(t.span(), Some((3 * SECOND, 50 * SECOND)));
        assert_eq!(
            t.total(),
            Counts {
                connections: 2,
                below: 1
            }
        );
        let (w, s) = t.series(100);
        assert_eq!(w, SECOND);
        assert_eq!(
            s,
            vec![(
                10 * SECOND,
                Counts {
                    connections: 2,
                    below: 1
                }
            )]
        );
    }

    #[test]
    fn wild_timestamps_stay_bounded_and_counted() {
        let mut t = Timeline::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..50_000u64 {
            // xorshift: timestamps all over the i64 range.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t.add(x as i64, x as i64, Some(i % 3 == 0));
        }
        assert!(t.buckets.len() <= MAX_BUCKETS);
        assert_eq!(t.total().connections, 50_000);
        assert_eq!(t.total().below, 16_667);
        let (_, s) = t.series(120);
        assert!(s.len() <= 120);
        assert_eq!(s.iter().map(|b| b.1.connections).sum::<u64>(), 50_000);
    }

    #[test]
    fn widening_is_exact_and_merge_is_order_free() {
        // A week of connections, one every 7 minutes: more buckets than
        // kept at a minute, so they are widened to hours.
        let all: Vec<(i64, bool)> = (0..1440)
            .map(|i| (i * 7 * MINUTE + 3, i % 4 == 0))
            .collect();
        let mut one = Timeline::default();
        for &(ts, b) in &all {
            one.add(ts, ts, Some(b));
        }
        assert_eq!(one.width(), SECOND);
        let (mut a, mut b) = (Timeline::default(), Timeline::default());
        for (i, &(ts, low)) in all.iter().enumerate() {
            if i % 2 == 0 { &mut a } else { &mut b }.add(ts, ts, Some(low));
        }
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab.series(120), ba.series(120));
        assert_eq!(ab.series(120), one.series(120));
        assert_eq!(ab.span(), one.span());
        // Seven days: per hour, 168 bars, beyond 120: widened to a day.
        let (w, s) = one.series(200);
        assert_eq!(w, HOUR);
        assert_eq!(s.first().map(|b| b.0), Some(0));
        let (w, s) = one.series(120);
        assert_eq!(w, DAY);
        assert_eq!(s.len(), 7);
        assert_eq!(s.iter().map(|b| b.1.below).sum::<u64>(), 360);
        // Many buckets force widening: 10,000 minutes are more than kept,
        // as seconds and as minutes.
        let mut long = Timeline::default();
        for i in 0..10_000 {
            long.add(i * MINUTE, i * MINUTE, Some(false));
        }
        assert_eq!(long.width(), HOUR);
        assert_eq!(long.total().connections, 10_000);
    }
}
