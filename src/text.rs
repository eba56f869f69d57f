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
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u8(out, o);
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends a byte in decimal.
fn push_u8(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
        out.extend_from_slice(&two_digits(n % 100));
    } else if n >= 10 {
        out.extend_from_slice(&two_digits(n));
    } else {
        out.push(b'0' + n);
    }
}

/// `n` (below 100) as two digits.
fn two_digits(n: u8) -> [u8; 2] {
    [b'0' + n / 10, b'0' + n % 10]
}

/// RFC 3339 UTC time of a µs timestamp, e.g. `2025-03-04T08:00:00.123456Z`
/// (always six fractional digits); empty when out of range.
pub fn rfc3339(ts_us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_time(&mut s, ts_us);
    s
}

/// Appends [`rfc3339`] of `ts_us` to `out` (nothing when out of range).
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

/// [`rfc3339`] of `ts_us` as bytes, `None` when out of range. The date
/// comes from `time` by day number (remembered for the last day seen on
/// this thread: a row has two timestamps, rows come in time order); the
/// time of day is plain arithmetic.
fn time_bytes(ts_us: i64) -> Option<[u8; 27]> {
    const DAY_US: i64 = 86_400_000_000;
    thread_local! {
        /// The last day number formatted, and its `YYYY-MM-DDT` (`None`:
        /// out of range).
        static LAST_DAY: std::cell::Cell<(i64, Option<[u8; 11]>)> =
            const { std::cell::Cell::new((i64::MIN, None)) };
    }
    let day = ts_us.div_euclid(DAY_US);
    let in_day = ts_us.rem_euclid(DAY_US);
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
    let mut t = *b"YYYY-MM-DDT00:00:00.000000Z";
    t[..11].copy_from_slice(&date);
    // `in_day` is below a day's µs: every field fits its digits.
    let secs = in_day / 1_000_000;
    let micros = in_day % 1_000_000;
    let digit = |n: i64| b'0' + u8::try_from(n % 10).unwrap_or(0);
    for (i, n) in [
        (11, secs / 3600),
        (14, secs / 60 % 60),
        (17, secs % 60),
        (20, micros / 10_000),
        (22, micros / 100 % 100),
        (24, micros % 100),
    ] {
        t[i] = digit(n / 10);
        t[i + 1] = digit(n);
    }
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

/// Escapes a name for every output: printable ASCII and other printable
/// UTF-8 pass, control characters, backslash and invalid UTF-8 become `\xNN`.
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
            if c == '\\' || c.is_control() {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(rfc3339(i64::MAX), "");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_name(b"ok.example"), "ok.example");
        assert_eq!(escape_name(b"a\x00b\xffc\\"), "a\\x00b\\xffc\\x5c");
        assert_eq!(escape_name("bücher.de".as_bytes()), "bücher.de");
    }
}
