//! The run's counters, shown in the summary.

/// Counters shown in the summary.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Frames read.
    pub packets: u64,
    /// Bytes of frames on the wire.
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_packets: u64,
    /// Frames that were not TCP.
    pub not_tcp: u64,
    /// IP fragments (reassembled by `flow::defrag`).
    pub fragments: u64,
    /// IP datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Fragmented datagrams dropped incomplete (timed out, or at the end).
    pub frag_incomplete: u64,
    /// Fragmented datagrams dropped over a bound (size, count, bytes).
    pub frag_over_limit: u64,
    /// Fragmented datagrams dropped as invalid (inconsistent, cut short).
    pub frag_invalid: u64,
    /// Frames too short or malformed to decode.
    pub malformed: u64,
    /// Connections tracked.
    pub connections: u64,
    /// Connections closed for being idle.
    pub evicted_idle: u64,
    /// Connections evicted because the table was full.
    pub evicted_full: u64,
    /// Rows written.
    pub rows: u64,
    /// Connections shed when the memory budget (`--memcap`) was reached:
    /// reported as they stood, not followed further.
    pub shed_memcap: u64,
    /// Bytes those connections held.
    pub shed_bytes: u64,
    /// Connections evicted (longest idle) when shedding buffers was not
    /// enough to stay within the memory budget.
    pub evicted_memcap: u64,
    /// Frames the reader thread dropped without analysis (not TCP, bare
    /// ACKs, connections already reported).
    pub early_dropped: u64,
    /// TCP segments on the ports of a connection closed lately (copies
    /// from a second capture point, late retransmissions): counted, not
    /// taken as a new connection (see `flow::closed`).
    pub after_close: u64,
}

impl Stats {
    /// Frames "passed over": those that carry no TCP segment to analyse
    /// (not TCP over IP, IP fragments, frames too short or malformed to
    /// decode). The same count however the run reads (threads, chunks,
    /// live); frames dropped early for speed (bare ACKs, connections
    /// already reported) were still looked at and are not in it.
    pub fn passed_over(&self) -> u64 {
        self.not_tcp + self.fragments + self.malformed
    }

    /// Adds the counts of another part of the same run.
    pub fn add(&mut self, o: &Stats) {
        let Stats {
            packets,
            bytes,
            tcp_packets,
            not_tcp,
            fragments,
            reassembled,
            frag_incomplete,
            frag_over_limit,
            frag_invalid,
            malformed,
            connections,
            evicted_idle,
            evicted_full,
            rows,
            shed_memcap,
            shed_bytes,
            evicted_memcap,
            early_dropped,
            after_close,
        } = *o;
        self.packets += packets;
        self.bytes += bytes;
        self.tcp_packets += tcp_packets;
        self.not_tcp += not_tcp;
        self.fragments += fragments;
        self.reassembled += reassembled;
        self.frag_incomplete += frag_incomplete;
        self.frag_over_limit += frag_over_limit;
        self.frag_invalid += frag_invalid;
        self.malformed += malformed;
        self.connections += connections;
        self.evicted_idle += evicted_idle;
        self.evicted_full += evicted_full;
        self.rows += rows;
        self.shed_memcap += shed_memcap;
        self.shed_bytes += shed_bytes;
        self.evicted_memcap += evicted_memcap;
        self.early_dropped += early_dropped;
        self.after_close += after_close;
    }
}
