//! The connection-row readers of `tlsready tally` on arbitrary bytes.
//!
//! The input is read as `tally` reads a file (gzip and format recognised by
//! content), then by each reader as if it had that format, whole and (for
//! the JSON line formats) cut into blocks of whole lines: none may panic,
//! and blocks must give as many rows and malformed rows as the whole.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsready::enrich::m365::Endpoints;
use tlsready::input::rows::{self, Format, Opened};
use tlsready::model::row::ConnRecord;
use tlsready::model::sink::Sink;

struct Count(u64);

impl Sink for Count {
    fn record(&mut self, _: &ConnRecord) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static EP: Endpoints = Endpoints::embedded();
    }
    EP.with(|ep| {
        let owned = data.to_vec();
        if let Ok(Some(opened)) = rows::open_reader(Box::new(std::io::Cursor::new(owned))) {
            let _ = rows::read(opened, ep, &mut Count(0));
        }
        for format in [
            Format::OwnCsv,
            Format::OwnJson,
            Format::ZeekTsv,
            Format::ZeekJson,
            Format::SuricataEve,
        ] {
            let whole = Opened {
                reader: Box::new(std::io::Cursor::new(data.to_vec())),
                format,
                whole: None,
            };
            let mut n = Count(0);
            let end = rows::read(whole, ep, &mut n);
            if !rows::splittable(format) || format == Format::OwnCsv {
                continue;
            }
            // Blocks of whole lines (each ends at the first line end after
            // 64 bytes, as the run cuts at a line end), read apart.
            let (mut rest, mut first_line, mut m, mut bad) = (data, 0u64, Count(0), 0);
            while !rest.is_empty() {
                let at = rest
                    .iter()
                    .enumerate()
                    .skip(63)
                    .find(|&(_, &b)| b == b'\n')
                    .map_or(rest.len(), |(i, _)| i + 1);
                let (block, tail) = rest.split_at(at);
                let e = rows::read_block(format, block, first_line, None, ep, &mut m);
                bad += e.stats.bad;
                first_line += block.iter().filter(|&&b| b == b'\n').count() as u64;
                rest = tail;
            }
            assert_eq!(m.0, n.0, "{format:?}: rows in blocks");
            assert_eq!(bad, end.stats.bad, "{format:?}: malformed rows in blocks");
        }
    });
});
