//! Text shared by every output, with no dependency on any stage: numbers,
//! RFC 3339 timestamps, spreadsheet-safe cells and escaped names.

/// Appends `n` in decimal, zero-padded to `width` digits.
pub fn push_num(out: &mut String, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Appends an address as `Display` writes it; IPv4 without the
/// formatting machinery (two per row).
pub fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    let mut b = Vec::new();
    push_ip_bytes(&mut b, ip);
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

/// [`push_ip`] to bytes.
pub fn push_ip_bytes(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            // At most `255.255.255.255`: made on the stack, appended once;
            // each octet as its digits and a dot, from a table.
            let mut b = [0u8; 16];
            let mut n = 0;
            for o in v4.octets() {
                let (digits, len) = OCTETS[usize::from(o)];
                if let Some(to) = b.get_mut(n..n + 4) {
                    to.copy_from_slice(&digits);
                }
                n += usize::from(len);
            }
            // Without the last dot.
            out.extend_from_slice(b.get(..n - 1).unwrap_or_default());
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Each byte value in decimal with a dot after it, and how many of the
/// four bytes that is.
const OCTETS: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10, b'.'], 4)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, b'.', 0], 3)
        } else {
            ([b'0' + o, b'.', 0, 0], 2)
        };
        i += 1;
    }
    t
};

/// `00` to `99`.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The last two digits of `n`.
fn pair(n: u32) -> [u8; 2] {
    let i = (n % 100) as usize * 2;
    [PAIRS[i], PAIRS[i + 1]]
}

/// RFC 3339 UTC time of a µs timestamp, e.g. `2025-03-04T08:00:00.123456Z`
/// (always six fractional digits); a time outside years 0000 to 9999 is
/// the nearest end of that range (a cell `tally` reads back).
pub fn rfc3339(ts_us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_time(&mut s, ts_us);
    s
}

/// Appends [`rfc3339`] of `ts_us` to `out`.
pub fn push_time(out: &mut String, ts_us: i64) {
    if let Some(t) = time_bytes(ts_us) {
        out.push_str(std::str::from_utf8(&t).unwrap_or_default());
    }
}

/// [`push_time`] to bytes.
pub fn push_time_bytes(out: &mut Vec<u8>, ts_us: i64) {
    if let Some(t) = time_bytes(ts_us) {
        out.extend_from_slice(&t);
    }
}

/// [`rfc3339`] of `ts_us` as bytes (`None` only if the calendar fails). The date
/// comes from `time` by day number; the time of day is plain arithmetic.
/// The last day and the last second formatted are remembered on this
/// thread: a row has two timestamps, rows come in time order.
fn time_bytes(ts_us: i64) -> Option<[u8; 27]> {
    const DAY_SECS: i64 = 86_400;
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
    const FIRST_US: i64 = -62_167_219_200_000_000;
    const LAST_US: i64 = 253_402_300_799_999_999;
    let ts_us = ts_us.clamp(FIRST_US, LAST_US);
    thread_local! {
        /// The last day number formatted, and its `YYYY-MM-DDT` (`None`:
        /// the calendar failed, which the clamp above leaves no room for).
        static LAST_DAY: std::cell::Cell<(i64, Option<[u8; 11]>)> =
            const { std::cell::Cell::new((i64::MIN, None)) };
        /// The last second formatted, and its `YYYY-MM-DDTHH:MM:SS.`.
        static LAST_SECOND: std::cell::Cell<(i64, [u8; 20])> =
            const { std::cell::Cell::new((i64::MIN, [0; 20])) };
    }
    let secs = ts_us.div_euclid(1_000_000);
    let micros = u32::try_from(ts_us.rem_euclid(1_000_000)).unwrap_or(0);
    let (known, mut prefix) = LAST_SECOND.get();
    if known != secs {
        let day = secs.div_euclid(DAY_SECS);
        let in_day = u32::try_from(secs.rem_euclid(DAY_SECS)).unwrap_or(0);
        let date = LAST_DAY.with(|last| {
            let (known, date) = last.get();
            if known == day {
                return date;
            }
            let mut s = String::with_capacity(11);
            let date = push_date(&mut s, day)
                .then(|| <[u8; 11]>::try_from(s.as_bytes()).ok())
                .flatten();
            last.set((day, date));
            date
        })?;
        let [h0, h1] = pair(in_day / 3600);
        let [m0, m1] = pair(in_day / 60 % 60);
        let [s0, s1] = pair(in_day % 60);
        let [y0, y1, y2, y3, _, o0, o1, _, d0, d1, _] = date;
        prefix = [
            y0, y1, y2, y3, b'-', o0, o1, b'-', d0, d1, b'T', h0, h1, b':', m0, m1, b':', s0, s1,
            b'.',
        ];
        LAST_SECOND.set((secs, prefix));
    }
    // Always six digits: the cells then sort as text in time order.
    let mut t = [b'Z'; 27];
    t[..20].copy_from_slice(&prefix);
    t[20..22].copy_from_slice(&pair(micros / 10_000));
    t[22..24].copy_from_slice(&pair(micros / 100));
    t[24..26].copy_from_slice(&pair(micros));
    Some(t)
}

/// Appends `YYYY-MM-DDT` of a day number since 1970-01-01; false when out of
/// `time`'s range.
fn push_date(out: &mut String, day: i64) -> bool {
    /// Julian day number of 1970-01-01.
    const UNIX_EPOCH_JD: i64 = 2_440_588;
    let Some(date) = i32::try_from(day.saturating_add(UNIX_EPOCH_JD))
        .ok()
        .and_then(|jd| time::Date::from_julian_day(jd).ok())
    else {
        return false;
    };
    let (y, mo, d) = date.to_calendar_date();
    push_num(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_num(out, u64::from(u8::from(mo)), 2);
    out.push('-');
    push_num(out, u64::from(d), 2);
    out.push('T');
    true
}

/// Makes a text cell safe for spreadsheets: a value a spreadsheet would run
/// as a formula (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`.
pub fn safe_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    push_safe(&mut out, s);
    out
}

/// Appends `s` as [`safe_cell`] would make it.
pub fn push_safe(out: &mut String, s: &str) {
    if matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    ) {
        out.push('\'');
    }
    out.push_str(s);
}

/// Longest host name kept from the network (DNS allows 253); longer ones
/// are cut, so hostile names cannot pin memory in caches and tallies.
pub const MAX_NAME: usize = 255;

/// A host name from the network, cut to [`MAX_NAME`] bytes and escaped
/// (see [`escape_name`]).
pub fn escape_host(raw: &[u8]) -> String {
    escape_name(raw.get(..MAX_NAME).unwrap_or(raw))
}

/// A character that must not reach a terminal or a report as it is: a
/// control character (escape sequences), or a bidirectional formatting
/// mark (a name shown reversed).
#[inline]
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Pushes `c` as the `\xNN` of each of its UTF-8 bytes.
fn push_escaped(out: &mut String, c: char) {
    let mut b = [0u8; 4];
    for byte in c.encode_utf8(&mut b).bytes() {
        out.push_str(&format!("\\x{byte:02x}"));
    }
}

/// Text read back from rows (tlsready's own, Zeek's, Suricata's) made safe
/// for the terminal and the reports: [`unsafe_char`]s become `\xNN`; a
/// backslash stays (tlsready's rows hold names already escaped, which
/// must read back the same). Borrowed when nothing needs escaping.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    // Bytes below 0x20, DEL, and the lead bytes of C1 controls (0xc2) and
    // of the marks (0xe2): most text has none.
    if !s
        .bytes()
        .any(|b| b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2)
        || !s.chars().any(unsafe_char)
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Escapes a name for every output: printable ASCII and other printable
/// UTF-8 pass; control characters, bidirectional marks ([`unsafe_char`]),
/// backslash and invalid UTF-8 become `\xNN`.
pub fn escape_name(raw: &[u8]) -> String {
    // The common case, printable ASCII without a backslash: as it is.
    if raw.iter().all(|&b| matches!(b, b' '..=b'~') && b != b'\\')
        && let Ok(s) = std::str::from_utf8(raw)
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || unsafe_char(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// A run of digits without its leading zeros (one zero kept for 0).
fn strip_zeros(s: &[u8]) -> &[u8] {
    let z = s.iter().take_while(|&&c| c == b'0').count();
    s.get(z.min(s.len().saturating_sub(1))..)
        .unwrap_or_default()
}

/// Orders names as people number files (`ls -v`): runs of digits by
/// their value, the rest byte by byte, so that tcpdump's rotated files
/// `trace.pcap`, `trace.pcap1` ... `trace.pcap10` come in the order they
/// were written (plain name order puts `trace.pcap10` before
/// `trace.pcap2`). Equal values with different zeros (`01`, `1`) fall
/// back to the plain order, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let run =
                |s: &[u8], k: usize| k + s[k..].iter().take_while(|c| c.is_ascii_digit()).count();
            let (ie, je) = (run(x, i), run(y, j));
            // Values compared as digit strings without leading zeros.
            let (p, q) = (strip_zeros(&x[i..ie]), strip_zeros(&y[j..je]));
            match p.len().cmp(&q.len()).then_with(|| p.cmp(q)) {
                Ordering::Equal => {}
                o => return o,
            }
            (i, j) = (ie, je);
        } else {
            match x[i].cmp(&y[j]) {
                Ordering::Equal => (i, j) = (i + 1, j + 1),
                o => return o,
            }
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows read back: control characters and bidirectional marks escaped,
    /// a backslash (of a name escaped already) kept; names from the
    /// network: the marks escaped too.
    #[test]
    fn controls_and_bidi_marks_escaped() {
        assert_eq!(
            escape_controls("\u{1b}[2Jx\u{202e}y\\x01é"),
            "\\x1b[2Jx\\xe2\\x80\\xaey\\x01é"
        );
        assert!(matches!(
            escape_controls("outlook.office365.com – é"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_name("PC\u{202e}gpj.exe".as_bytes()),
            "PC\\xe2\\x80\\xaegpj.exe"
        );
    }

    #[test]
    fn cells_are_neutralised() {
        assert_eq!(safe_cell("=cmd|'/c calc'!A1"), "'=cmd|'/c calc'!A1");
        assert_eq!(safe_cell("+1"), "'+1");
        assert_eq!(safe_cell("-x"), "'-x");
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("\tx"), "'\tx");
        assert_eq!(safe_cell("outlook.office365.com"), "outlook.office365.com");
    }

    #[test]
    fn times() {
        assert_eq!(
            rfc3339(1_741_075_200_000_000),
            "2025-03-04T08:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(1_741_075_200_000_200),
            "2025-03-04T08:00:00.000200Z"
        );
        assert_eq!(
            rfc3339(1_741_075_200_123_456),
            "2025-03-04T08:00:00.123456Z"
        );
        let mut s = String::new();
        push_num(&mut s, 7, 3);
        push_num(&mut s, 1234, 1);
        assert_eq!(s, "0071234");
        for ip in [
            "0.0.0.0",
            "10.200.3.41",
            "255.255.255.255",
            "::1",
            "2001:db8::8:800:200c:417a",
        ] {
            let mut s = String::new();
            push_ip(&mut s, ip.parse().expect("address"));
            assert_eq!(s, ip);
        }
    }

    /// The arithmetic agrees with `time`'s own RFC 3339 formatting, before
    /// 1970, across leap days and at the ends of a day.
    #[test]
    fn times_agree_with_the_time_crate() {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let mut samples = vec![0, -1, 1, 951_782_400_000_000, 951_868_799_999_999];
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x % 4_000_000_000_000_000);
        }
        for us in samples {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
                .expect("in range");
            assert_eq!(rfc3339(us), t.format(&fmt).expect("formats"), "{us}");
        }
        // Beyond years 0000 to 9999: the nearest end, read back as a time.
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339(i64::MIN), "0000-01-01T00:00:00.000000Z");
        assert_eq!(
            crate::input::rows::fields::parse_rfc3339(&rfc3339(i64::MAX)),
            Some(253_402_300_799_999_999)
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_name(b"ok.example"), "ok.example");
        assert_eq!(escape_name(b"a\x00b\xffc\\"), "a\\x00b\\xffc\\x5c");
        assert_eq!(escape_name("bücher.de".as_bytes()), "bücher.de");
    }

    #[test]
    fn natural_order_of_rotated_files() {
        let mut v = vec![
            "trace.pcap10",
            "trace.pcap2",
            "trace.pcap",
            "trace.pcap1",
            "a_00002.pcap",
            "a_00010.pcap",
            "b",
            "a1",
            "a01",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "a01",
                "a1",
                "a_00002.pcap",
                "a_00010.pcap",
                "b",
                "trace.pcap",
                "trace.pcap1",
                "trace.pcap2",
                "trace.pcap10"
            ]
        );
    }
}
