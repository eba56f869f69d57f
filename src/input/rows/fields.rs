//! Field parsers shared by the row readers: timestamps, version and
//! cipher spellings, spreadsheet-quoted cells. Pure functions on text.

use std::borrow::Cow;

use crate::model::row::ConnRecord;
use crate::model::version::TlsVersion;
use crate::text::escape_name;
use crate::wire::tls::cipher_name;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |n, &c| {
        n.checked_mul(10)?.checked_add(u32::from(c - b'0'))
    })
}

/// The form tlsready writes, `2026-11-28T10:56:59.472706Z` (six
/// fractional digits, UTC), read without the general parser; `None` for
/// any other form (the general parser then reads it, the same way).
#[inline]
fn parse_rfc3339_us(b: &[u8]) -> Option<i64> {
    let b: &[u8; 27] = b.try_into().ok()?;
    if b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let d = |i: usize| -> Option<u32> {
        let c = b[i].wrapping_sub(b'0');
        (c < 10).then_some(u32::from(c))
    };
    let two = |i: usize| -> Option<u32> { Some(d(i)? * 10 + d(i + 1)?) };
    let y = two(0)? * 100 + two(2)?;
    let (mo, day, h, mi, sec) = (two(5)?, two(8)?, two(11)?, two(14)?, two(17)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let micros = (two(20)? * 10_000 + two(22)? * 100 + two(24)?) as i64;
    let days = days_from_civil(i64::from(y), mo, day);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// What the last rows read had in common, kept to read the next faster:
/// the date of the last timestamp in the written form, the last cipher.
#[derive(Debug, Default)]
pub struct Memo {
    /// `YYYY-MM-DDT` of the last timestamp read by the fast path, and its
    /// day number.
    date: Option<([u8; 11], i64)>,
    /// The last cipher spelling and its id.
    cipher: Option<(String, u32)>,
}

impl Memo {
    /// [`parse_rfc3339`], the date of the written form read once per day.
    #[inline]
    pub fn time(&mut self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if let (Some((date, days)), Some(head)) = (&self.date, b.get(..11))
            && b.len() == 27
            && head == date
        {
            // The same date as before (checked then): the time of day.
            return time_of_day_us(b, *days).or_else(|| parse_rfc3339(s));
        }
        let t = parse_rfc3339(s)?;
        if let Ok(b27) = <&[u8; 27]>::try_from(b)
            && parse_rfc3339_us(b27).is_some()
            && let Some(days) = date_days(b27)
        {
            let mut date = [0u8; 11];
            date.copy_from_slice(&b27[..11]);
            self.date = Some((date, days));
        }
        Some(t)
    }

    /// [`parse_cipher`], the last spelling remembered.
    #[inline]
    pub fn cipher(&mut self, s: &str) -> Option<u32> {
        if let Some((last, id)) = &self.cipher
            && last == s
        {
            return Some(*id);
        }
        let id = parse_cipher(s)?;
        match &mut self.cipher {
            Some((last, last_id)) => {
                last.clear();
                last.push_str(s);
                *last_id = id;
            }
            None => self.cipher = Some((s.to_string(), id)),
        }
        Some(id)
    }
}

/// The day number of the date of the written form (checked by
/// [`parse_rfc3339_us`] first).
fn date_days(b: &[u8; 27]) -> Option<i64> {
    let d = |i: usize| -> Option<u32> {
        let c = b[i].wrapping_sub(b'0');
        (c < 10).then_some(u32::from(c))
    };
    let two = |i: usize| -> Option<u32> { Some(d(i)? * 10 + d(i + 1)?) };
    let y = two(0)? * 100 + two(2)?;
    Some(days_from_civil(i64::from(y), two(5)?, two(8)?))
}

/// The written form's time of day after a date of `days` (`None` when it
/// is not that form: the general parser then reads it).
#[inline]
fn time_of_day_us(b: &[u8], days: i64) -> Option<i64> {
    let b: &[u8; 27] = b.try_into().ok()?;
    if b[13] != b':' || b[16] != b':' || b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    let d = |i: usize| -> Option<u32> {
        let c = b[i].wrapping_sub(b'0');
        (c < 10).then_some(u32::from(c))
    };
    let two = |i: usize| -> Option<u32> { Some(d(i)? * 10 + d(i + 1)?) };
    let (h, mi, sec) = (two(11)?, two(14)?, two(17)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let micros = (two(20)? * 10_000 + two(22)? * 100 + two(24)?) as i64;
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Parses an RFC 3339 / ISO 8601 date and time into µs since the Unix
/// epoch: `2026-11-28T10:56:59.472706Z`, a space instead of `T`, any number
/// of fractional digits (cut to µs), `Z`, `±HH:MM`, `±HHMM`, or no zone
/// (UTC).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if let Some(t) = parse_rfc3339_us(s.as_bytes()) {
        return Some(t);
    }
    let b = s.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let (date, rest) = b.split_at(10);
    if date.get(4) != Some(&b'-') || date.get(7) != Some(&b'-') {
        return None;
    }
    let y = digits(date.get(..4)?)?;
    let mo = digits(date.get(5..7)?)?;
    let d = digits(date.get(8..10)?)?;
    if !matches!(rest.first(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let t = rest.get(1..9)?;
    if t.get(2) != Some(&b':') || t.get(5) != Some(&b':') {
        return None;
    }
    let h = digits(t.get(..2)?)?;
    let mi = digits(t.get(3..5)?)?;
    let sec = digits(t.get(6..8)?)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = rest.get(9..)?;
    let mut micros = 0i64;
    if rest.first() == Some(&b'.') {
        let n = rest
            .get(1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if n == 0 {
            return None;
        }
        let frac = rest.get(1..=n)?;
        for i in 0..6 {
            micros = micros * 10 + frac.get(i).map_or(0, |c| i64::from(c - b'0'));
        }
        rest = rest.get(n + 1..)?;
    }
    let offset_s: i64 = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (oh, om) = match tz {
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                [a, b] => (digits(&[*a, *b])?, 0),
                _ => return None,
            };
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset_s;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Parses an address as [`IpAddr::from_str`] does; dotted IPv4 addresses
/// (most rows) without its general parser.
///
/// [`IpAddr::from_str`]: std::net::IpAddr
#[inline]
pub fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    let b = s.as_bytes();
    let mut octets = [0u8; 4];
    let mut n = 0usize;
    let mut i = 0usize;
    // Four octets of one to three digits, no leading zero, at most 255,
    // separated by dots; anything else (IPv6 too) goes to the std parser,
    // which gives the same answer for these.
    while n < 4 {
        let start = i;
        let mut v = 0u32;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - start == 3 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        let len = i - start;
        let leading_zero = len > 1 && b.get(start) == Some(&b'0');
        if len == 0 || leading_zero || v > 255 {
            return s.parse().ok();
        }
        if let Some(slot) = octets.get_mut(n) {
            *slot = v as u8;
        }
        n += 1;
        if n < 4 {
            if b.get(i) != Some(&b'.') {
                return s.parse().ok();
            }
            i += 1;
        }
    }
    if i != b.len() {
        return s.parse().ok();
    }
    Some(std::net::IpAddr::V4(std::net::Ipv4Addr::from(octets)))
}

/// Parses seconds since the epoch with a fraction (`1700000000.123456`,
/// Zeek's `time`) into µs, rounding to the nearest µs.
pub fn parse_epoch(s: &str) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let neg = int.starts_with('-');
    let secs: i64 = int.parse().ok()?;
    let fb = frac.as_bytes();
    if !fb.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut micros = 0i64;
    for i in 0..6 {
        micros = micros * 10 + fb.get(i).map_or(0, |c| i64::from(c - b'0'));
    }
    if fb.get(6).is_some_and(|&c| c >= b'5') {
        micros += 1;
    }
    let micros = if neg { -micros } else { micros };
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// µs from seconds as a JSON float (Zeek JSON logs), to the nearest µs.
pub fn epoch_from_f64(secs: f64) -> Option<i64> {
    let us = (secs * 1e6).round();
    (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
}

/// Reads a version as tlsready spells it ([`tls::version_name`]): `SSL2`,
/// `SSL3`, `TLS1.0`..`TLS1.3`, `TLS1.3-draftNN`, `0xNNNN`.
pub fn parse_version(s: &str) -> Option<u16> {
    Some(match s {
        "SSL2" => 0x0002,
        "SSL3" => 0x0300,
        "TLS1.0" => 0x0301,
        "TLS1.1" => 0x0302,
        "TLS1.2" => 0x0303,
        "TLS1.3" => 0x0304,
        _ => {
            if let Some(n) = s.strip_prefix("TLS1.3-draft") {
                0x7f00 | u16::from(n.parse::<u8>().ok()?)
            } else {
                u16::from_str_radix(s.strip_prefix("0x")?, 16).ok()?
            }
        }
    })
}

/// The best offered version (by age, for verdicts) that a row's
/// `client_max_version` (the numerically highest offered) stands for.
///
/// The two differ only when the client offered TLS 1.3 drafts together
/// with TLS 1.3 (both count as TLS 1.2 or higher), or a value tlsready does
/// not know above TLS 1.3: then what the client offers besides is not in
/// the row, and it is unknown (`None`), as for a ClientHello not captured.
pub fn best_from_max(max: Option<u16>) -> Option<u16> {
    let v = max?;
    if TlsVersion(v).rank() == 0 && v > 0x0304 {
        None
    } else {
        Some(v)
    }
}

/// Cipher suite id from its IANA name (as tlsready and Zeek spell it),
/// `SSL2_…`, or `0xNNNN`.
pub fn parse_cipher(s: &str) -> Option<u32> {
    if let Some(hex) = s.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok();
    }
    if s.starts_with("SSL2_") {
        return (0x01_0080u32..=0x07_00c0)
            .step_by(0x40)
            .find(|&id| cipher_name(id) == s);
    }
    static BY_NAME: std::sync::OnceLock<rustc_hash::FxHashMap<&'static str, u16>> =
        std::sync::OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            tls_parser::CIPHERS
                .entries()
                .map(|(id, c)| (c.name, *id))
                .collect()
        })
        .get(s)
        .map(|&id| u32::from(id))
}

/// Undoes the spreadsheet quoting of a text cell (a `'` put before a
/// leading `=`, `+`, `-`, `@`, tab or CR).
pub fn unquote_cell(s: &str) -> &str {
    match s.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => s.get(1..).unwrap_or(s),
        _ => s,
    }
}

/// `yes`/`no` (tlsready), `T`/`F` (Zeek), `true`/`false`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "T" | "true" | "1" => Some(true),
        "no" | "F" | "false" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Escapes a name from another sensor's log the way tlsready escapes names
/// from the network (control characters and backslashes as `\xNN`), so
/// that the same name reads the same from every source. Borrowed when
/// nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if s.chars().any(|c| c == '\\' || crate::text::unsafe_char(c)) {
        Cow::Owned(escape_name(s.as_bytes()))
    } else {
        Cow::Borrowed(s)
    }
}

/// A row read back made safe to show: control characters and
/// bidirectional marks in its text become `\xNN`
/// ([`crate::text::escape_controls`]): a hostile row cannot send escape
/// sequences to the terminal. Text already escaped (tlsready's own rows)
/// reads the same.
pub fn make_safe(r: &mut ConnRecord) {
    use crate::text::escape_controls;
    fn fix(s: &mut String) {
        if let Cow::Owned(o) = escape_controls(s) {
            *s = o;
        }
    }
    for s in [
        &mut r.sni,
        &mut r.alpn,
        &mut r.client_helo,
        &mut r.server_banner,
        &mut r.alert,
        &mut r.ja4,
        &mut r.ja3,
        &mut r.who.name,
        &mut r.who.source,
        &mut r.who.mac,
    ] {
        fix(s);
    }
    if let Cow::Owned(o) = escape_controls(&r.dns_name) {
        r.dns_name = o.into();
    }
    if r.cert_names
        .iter()
        .any(|n| matches!(escape_controls(n), Cow::Owned(_)))
    {
        r.cert_names = r
            .cert_names
            .iter()
            .map(|n| escape_controls(n).into_owned())
            .collect();
    }
}

/// The common name of an X.500 distinguished name as Zeek and Suricata
/// log it (`CN=example.test,O=…` or `C=US, O=…, CN=…`).
pub fn common_name(dn: &str) -> Option<&str> {
    dn.split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("CN="))
        .filter(|cn| !cn.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_with_the_writer() {
        for us in [
            0i64,
            1_741_075_200_123_456,
            1_795_000_000_000_001,
            951_782_400_999_999,
        ] {
            let s = crate::text::rfc3339(us);
            assert_eq!(parse_rfc3339(&s), Some(us), "{s}");
        }
        assert_eq!(
            parse_rfc3339("2026-11-28T10:56:36.824478+0000"),
            parse_rfc3339("2026-11-28T10:56:36.824478Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T11:56:36.824478+01:00"),
            parse_rfc3339("2026-11-28T10:56:36.824478Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T10:56:36Z"),
            Some(parse_rfc3339("2026-11-28T10:56:36.5Z").unwrap() - 500_000)
        );
        assert_eq!(parse_rfc3339("2026-13-28T10:56:36Z"), None);
        // The written form has a path of its own: the same answers.
        for s in [
            "2026-11-28T10:56:36.824478Z",
            "1970-01-01T00:00:00.000000Z",
            "2024-02-29T23:59:60.999999Z",
            "2026-13-28T10:56:36.824478Z",
            "2026-11-28T24:56:36.824478Z",
            "2026-11-28T10:56:36.82447xZ",
            "2026-11-28T10:56:36+824478Z",
        ] {
            let fast = parse_rfc3339_us(s.as_bytes());
            assert_eq!(fast.is_some(), parse_rfc3339(s).is_some(), "{s}");
            // Seven fractional digits: only the general parser reads it.
            let general = parse_rfc3339(&format!("{}0Z", &s[..s.len() - 1]));
            if fast.is_some() {
                assert_eq!(fast, general, "{s}");
            }
        }
        assert_eq!(parse_rfc3339("2026-11-28T10:56"), None);
        assert_eq!(parse_rfc3339("XXXXXXXXXX.XXXXXX"), None);
    }

    #[test]
    fn remembered_dates_read_as_the_parser() {
        let mut m = Memo::default();
        for s in [
            "2026-11-28T10:56:36.824478Z",
            "2026-11-28T23:59:60.999999Z",
            "2026-11-28T24:00:00.000000Z",
            "2026-11-28T10:5x:36.824478Z",
            "2026-11-28T10:56:36.824478+0000",
            "2026-11-28T10:56:36.8244780",
            "2026-11-29T00:00:00.000001Z",
            "2026-11-28T10:56:36Z",
            "2026-13-28T10:56:36.824478Z",
            "2026-11-28T10:56:36.824478Z",
        ] {
            assert_eq!(m.time(s), parse_rfc3339(s), "{s}");
        }
        for c in ["TLS_AES_128_GCM_SHA256", "0x1301", "nonsense", "0x1301"] {
            assert_eq!(m.cipher(c), parse_cipher(c), "{c}");
        }
    }

    #[test]
    fn addresses_as_std_parses_them() {
        for s in [
            "10.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            "1..3.4",
            "1.2.3.1234",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "",
            "a.b.c.d",
            "1.2.3.04",
            "100.200.30.4",
        ] {
            assert_eq!(parse_ip(s), s.parse().ok(), "{s:?}");
        }
    }

    #[test]
    fn epochs() {
        assert_eq!(
            parse_epoch("1741075200.123456"),
            Some(1_741_075_200_123_456)
        );
        assert_eq!(
            parse_epoch("1741075200.1234567"),
            Some(1_741_075_200_123_457)
        );
        assert_eq!(parse_epoch("1741075200"), Some(1_741_075_200_000_000));
        assert_eq!(parse_epoch("XXXXXXXXXX.XXXXXX"), None);
        assert_eq!(
            epoch_from_f64(1741075200.123456),
            Some(1_741_075_200_123_456)
        );
    }

    #[test]
    fn versions_round_trip() {
        for v in [
            0x0002u16, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304, 0x7f17, 0x0a0b, 0xfefd,
        ] {
            assert_eq!(parse_version(&TlsVersion(v).name()), Some(v));
        }
        assert_eq!(parse_version(""), None);
        assert_eq!(best_from_max(Some(0x0305)), None);
        assert_eq!(best_from_max(Some(0x7f17)), Some(0x7f17));
        assert_eq!(best_from_max(Some(0x0100)), Some(0x0100));
    }

    #[test]
    fn ciphers_round_trip() {
        for id in [0x1301u32, 0xc02f, 0x0005, 0x010080, 0x0700c0, 0xfefe] {
            assert_eq!(parse_cipher(&cipher_name(id)), Some(id), "{id:x}");
        }
    }

    #[test]
    fn cells() {
        assert_eq!(unquote_cell("'=cmd"), "=cmd");
        assert_eq!(unquote_cell("'x"), "'x");
        assert_eq!(unquote_cell("outlook.com"), "outlook.com");
        assert_eq!(common_name("CN=example.test"), Some("example.test"));
        assert_eq!(
            common_name("C=US, O=Google Inc, CN=*.google.com"),
            Some("*.google.com")
        );
        assert_eq!(escape("a\tb"), "a\\x09b");
    }
}
