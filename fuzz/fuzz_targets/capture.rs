//! Whole captures and raw frames, end to end.
//!
//! Input whose first byte is below 0xf0 is a capture file: it is written to
//! a temporary file and read by the driver (`run::driver::Driver` over
//! `input::offline::Files`) into a flow table, as the command line does.
//! Input whose first byte is 0xf0 or above is a list of frames given to
//! `FlowTable::frame` directly, each record being: link type byte (an index
//! into `LINKS`: Ethernet, raw IP, null, loop, cooked v1/v2, 802.11,
//! radiotap, PPI, NFLOG), time step byte, 16-bit length, bytes. Tunnels,
//! shim headers and IP fragments (reassembled across frames) are reached
//! through any of them.
//! The low nibble of the first byte sets the flow-table size, so eviction
//! is exercised; the table must never grow past it. Capture files are also
//! cut into chunks and analysed on threads, as `analyze` does.

#![no_main]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tlsready::enrich::m365::Endpoints;
use tlsready::enrich::tally::Scope;
use tlsready::flow::table::{FlowTable, Limits};
use tlsready::input::offline::Files;
use tlsready::input::source;
use tlsready::model::row::ConnRecord;
use tlsready::model::sink::Sink;
use tlsready::output::{OutputPaths, Outputs, csv, json};
use tlsready::run::analysis::Analysis;
use tlsready::run::chunked;
use tlsready::run::driver::Driver;
use tlsready::run::progress::NoProgress;
use tlsready::run::rows::Rows;
use tlsready::wire::decode::LinkType;

const LINKS: [LinkType; 10] = [
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Null,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ieee80211,
    LinkType::Radiotap,
    LinkType::Ppi,
    LinkType::Nflog,
];

/// Discards rows, after formatting them as every output would.
struct Discard(u64);

impl Sink for Discard {
    fn record(&mut self, rec: &ConnRecord) -> std::io::Result<()> {
        let _ = csv::connection_cells(rec);
        let _ = json::json_line(rec);
        self.0 += 1;
        Ok(())
    }
}

fn endpoints() -> Arc<Endpoints> {
    static EP: OnceLock<Arc<Endpoints>> = OnceLock::new();
    EP.get_or_init(|| Arc::new(Endpoints::embedded())).clone()
}

fn temp_path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("tlsready-fuzz-{}.cap", std::process::id())))
}

fn capture(data: &[u8]) {
    let path = temp_path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let mut sink = Discard(0);
    let mut rows = Rows::new(endpoints(), &mut sink);
    let mut table = FlowTable::new(Limits::default(), &mut rows);
    if let Ok(inputs) = source::expand(std::slice::from_ref(path)) {
        Driver::new(&NoProgress).run(
            &mut Files::new(inputs),
            &mut Analysis {
                table: &mut table,
                report: &mut |_| {},
                learn: None,
            },
        );
    }
    table.finish();
    assert_eq!(table.tracked(), 0);
    let n = table.stats.rows;
    drop(table);
    drop(rows);
    assert_eq!(n, sink.0);
    chunked(path);
}

/// The same file cut into chunks (as `analyze --threads 3` does, with
/// chunks of any size): resynchronising, the chunk readers' landings, the
/// overrun and the join, on hostile bytes.
fn chunked(path: &PathBuf) {
    let Ok(inputs) = source::expand(std::slice::from_ref(path)) else {
        return;
    };
    let Some(chunks) = chunked::plan(&inputs, 3, 1) else {
        return;
    };
    let Ok(mut outputs) = Outputs::open(&OutputPaths::default(), Scope::All, false) else {
        return;
    };
    let settings = chunked::Settings {
        endpoints: endpoints(),
        limits: Limits::default(),
        threads: 3,
        control: Default::default(),
    };
    // The name traffic the chunks kept, through every name parser as each
    // chunk is joined.
    let mut identity = tlsready::enrich::identity::Identity::default();
    let mut follower = tlsready::run::names::Follower::default();
    let (stats, err) = chunked::run(
        &chunks,
        &settings,
        &mut outputs,
        &NoProgress,
        &mut |_| {},
        &mut |names| follower.replay(&names, &mut identity),
    );
    assert!(err.is_none());
    assert_eq!(stats.rows, outputs.summary.connections);
    let _ = identity.host_rows();
}

fn frames(ctl: u8, mut data: &[u8]) {
    let limits = Limits {
        max_flows: usize::from(ctl & 0x0f) + 1,
        idle_timeout_us: 2_000_000,
        ..Limits::default()
    };
    let mut sink = Discard(0);
    let mut rows = Rows::new(endpoints(), &mut sink);
    let mut analyzer = FlowTable::new(limits, &mut rows);
    let mut ts: i64 = 1_700_000_000_000_000;
    let mut n = 0u64;
    while data.len() >= 4 {
        let link = LINKS[usize::from(data[0]) % LINKS.len()];
        let extra = u32::from(data[0] >> 3) * 41;
        if data[1] == 0xff {
            // Clock jumps, backwards too, and far.
            ts = ts.wrapping_add(i64::from(data[2] as i8) << 40);
        } else {
            ts += i64::from(data[1]) * 100_000;
        }
        let len = usize::from(u16::from_be_bytes([data[2], data[3]])).min(data.len() - 4);
        let frame = &data[4..4 + len];
        data = &data[4 + len..];
        let _ = analyzer.frame(link, ts, frame, len as u32 + extra);
        n += 1;
        assert!(analyzer.tracked() <= limits.max_flows);
    }
    assert_eq!(analyzer.stats.packets, n);
    analyzer.finish();
    assert_eq!(analyzer.tracked(), 0);
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&ctl, rest)) if ctl >= 0xf0 => frames(ctl, rest),
        _ => capture(data),
    }
});
