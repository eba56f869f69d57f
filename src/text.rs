//! Text shared by every output, with no dependency on any stage: numbers,
//! RFC 3339 timestamps, spreadsheet-safe cells and escaped names.

/// Appends `n` in decimal, zero-padded to `width` digits.
pub fn push_num(out: &mut String, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut x = n;
    loop {
        k -= 1;
        digits[k] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for _ in (digits.len() - k)..width {
        out.push('0');
    }
    for d in &digits[k..] {
        out.push(char::from(*d));
    }
}

/// RFC 3339 UTC time of a µs timestamp, e.g. `2025-03-04T08:00:00.123456Z`
/// (always six fractional digits); empty when out of range.
pub fn rfc3339(ts_us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_time(&mut s, ts_us);
    s
}

/// Appends the RFC 3339 UTC time of a µs timestamp (as [`rfc3339`]).
pub fn push_time(out: &mut String, ts_us: i64) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_us) * 1000) else {
        return;
    };
    let (y, mo, d) = t.to_calendar_date();
    push_num(out, u64::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_num(out, u64::from(u8::from(mo)), 2);
    out.push('-');
    push_num(out, u64::from(d), 2);
    out.push('T');
    push_num(out, u64::from(t.hour()), 2);
    out.push(':');
    push_num(out, u64::from(t.minute()), 2);
    out.push(':');
    push_num(out, u64::from(t.second()), 2);
    // Always six digits: the cells then sort as text in time order.
    out.push('.');
    push_num(out, u64::from(t.microsecond()), 6);
    out.push('Z');
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
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_name(b"ok.example"), "ok.example");
        assert_eq!(escape_name(b"a\x00b\xffc\\"), "a\\x00b\\xffc\\x5c");
        assert_eq!(escape_name("bücher.de".as_bytes()), "bücher.de");
    }
}
