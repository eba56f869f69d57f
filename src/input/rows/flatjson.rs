//! A fast path for the flat JSON objects tlsready writes (one per line):
//! string keys without escapes, values that are strings, numbers,
//! `true`/`false`/`null` or arrays of strings. Strings are found with
//! `memchr` and borrowed from the line; escaped ones are decoded by
//! serde_json. Anything else (nesting, other arrays, a syntax error) gives
//! `None`, and the caller reads the line with serde_json instead, which also
//! names what is wrong. Measured on the benchmark's rows this path takes
//! about a third of the time of serde_json's derived deserializer.

use std::borrow::Cow;

/// A value of a flat object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val<'a> {
    /// A string, decoded.
    Str(Cow<'a, str>),
    /// A number, as written.
    Num(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An array of strings, as written (brackets included).
    Arr(&'a str),
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Most often no white space at all: one comparison (every white space
    // byte is at most a space).
    if b.get(i).is_none_or(|&c| c > b' ') {
        return i;
    }
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// Bytes of `x` equal to `c`: the lowest set high bit marks the first one
/// (bits above it may be set wrongly; only the lowest is used).
#[inline]
fn bytes_eq(x: u64, c: u8) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let v = x ^ (LO * u64::from(c));
    v.wrapping_sub(LO) & !v & HI
}

/// End (index of the closing quote) of the string whose content starts at
/// `start`, and whether it holds escapes. The strings of a row are short:
/// eight bytes are looked at a time, without a call.
#[inline]
fn string_end(b: &[u8], i: usize) -> Option<(usize, bool)> {
    string_end_in(b, i, true)
}

/// [`string_end`]; `escapes`: whether `b` may hold a backslash at all
/// (when not, only quotes are looked for).
#[inline(always)]
fn string_end_in(b: &[u8], mut i: usize, escapes: bool) -> Option<(usize, bool)> {
    if !escapes {
        while let Some(w) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let hit = bytes_eq(u64::from_le_bytes(word), b'"');
            if hit != 0 {
                return Some((i + (hit.trailing_zeros() / 8) as usize, false));
            }
            i += 8;
        }
        return memchr::memchr(b'"', b.get(i..)?).map(|n| (i + n, false));
    }
    let mut escaped = false;
    loop {
        while let Some(w) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            let x = u64::from_le_bytes(word);
            let hit = bytes_eq(x, b'"') | bytes_eq(x, b'\\');
            if hit != 0 {
                i += (hit.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match b.get(i)? {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// The string at `i` (its opening quote): decoded, and the index after it.
#[inline]
fn string(text: &str, i: usize, escapes: bool) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let (end, escaped) = string_end_in(b, i + 1, escapes)?;
    let s = if escaped {
        Cow::Owned(serde_json::from_str::<String>(text.get(i..=end)?).ok()?)
    } else {
        Cow::Borrowed(text.get(i + 1..end)?)
    };
    Some((s, end + 1))
}

#[inline]
fn value(text: &str, i: usize, escapes: bool) -> Option<(Val<'_>, usize)> {
    let b = text.as_bytes();
    match b.get(i)? {
        b'"' => string(text, i, escapes).map(|(s, n)| (Val::Str(s), n)),
        b'[' => {
            let mut j = skip_ws(b, i + 1);
            if b.get(j) != Some(&b']') {
                loop {
                    if b.get(j) != Some(&b'"') {
                        return None;
                    }
                    let (end, _) = string_end_in(b, j + 1, escapes)?;
                    j = skip_ws(b, end + 1);
                    match b.get(j)? {
                        b',' => j = skip_ws(b, j + 1),
                        b']' => break,
                        _ => return None,
                    }
                }
            }
            Some((Val::Arr(text.get(i..=j)?), j + 1))
        }
        b't' => text
            .get(i..)?
            .starts_with("true")
            .then_some((Val::Bool(true), i + 4)),
        b'f' => text
            .get(i..)?
            .starts_with("false")
            .then_some((Val::Bool(false), i + 5)),
        b'n' => text
            .get(i..)?
            .starts_with("null")
            .then_some((Val::Null, i + 4)),
        b'-' | b'0'..=b'9' => {
            let n = b
                .get(i..)?
                .iter()
                .take_while(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .count();
            Some((Val::Num(text.get(i..i + n)?), i + n))
        }
        _ => None,
    }
}

/// Calls `field` with each key and value of the flat object `text`;
/// `None` when `text` is not such an object (or `field` says `None`).
pub fn scan<'a>(
    text: &'a str,
    mut field: impl FnMut(&'a str, Val<'a>) -> Option<()>,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(());
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (end, escaped) = string_end(b, i + 1)?;
        if escaped {
            return None;
        }
        let key = text.get(i + 1..end)?;
        i = skip_ws(b, end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let (val, next) = value(text, skip_ws(b, i + 1), true)?;
        field(key, val)?;
        i = skip_ws(b, next);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return (skip_ws(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// The keys [`scan_ordered`] has seen, and which keys followed which: rows
/// of one file have their keys in one order (some keys left out in some
/// rows), so the next key is first compared with those that followed the
/// previous key before (a comparison or two instead of finding the key's
/// end and matching it against every name).
#[derive(Debug)]
pub struct KeyOrder {
    /// `key":` as written, and its id.
    keys: Vec<(Box<[u8]>, u8)>,
    /// Per key (and [`START`] for the first), the keys seen after it, the
    /// most recent first.
    next: Vec<[u8; FOLLOWERS]>,
}

/// Keys remembered per file (more are read, but not compared first).
const MAX_KEYS: usize = 64;
/// Keys remembered after each key.
const FOLLOWERS: usize = 3;
/// A key slot that is none.
const NONE: u8 = u8::MAX;
/// The slot of "before the first key" in [`KeyOrder::next`].
const START: usize = MAX_KEYS;

impl Default for KeyOrder {
    fn default() -> Self {
        KeyOrder {
            keys: Vec::new(),
            next: vec![[NONE; FOLLOWERS]; MAX_KEYS + 1],
        }
    }
}

/// `a == b` for short slices, a word at a time, without a call to
/// `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    #[inline]
    fn word(s: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        if let Some(x) = s.get(at..at + 8) {
            w.copy_from_slice(x);
        }
        u64::from_le_bytes(w)
    }
    #[inline]
    fn half(s: &[u8], at: usize) -> u32 {
        let mut w = [0u8; 4];
        if let Some(x) = s.get(at..at + 4) {
            w.copy_from_slice(x);
        }
        u32::from_le_bytes(w)
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

impl KeyOrder {
    /// The slot of the key at `b[at..]` among those seen after `prev`, and
    /// the index after its colon.
    #[inline]
    fn known(&self, prev: usize, b: &[u8], at: usize) -> Option<(usize, usize)> {
        for &slot in self.next.get(prev)? {
            let (key, _) = self.keys.get(usize::from(slot))?;
            let after = at + key.len();
            if b.get(at..after).is_some_and(|x| same(x, key)) {
                return Some((usize::from(slot), after));
            }
        }
        None
    }

    /// Remembers `written` (`key":`) with its id as seen after `prev`; its
    /// slot, or [`START`] when no more keys are remembered.
    fn learn(&mut self, prev: usize, written: &[u8], id: u8) -> usize {
        let slot = match self.keys.iter().position(|(k, _)| &k[..] == written) {
            Some(s) => s,
            None if self.keys.len() < MAX_KEYS => {
                self.keys.push((written.into(), id));
                self.keys.len() - 1
            }
            None => return START,
        };
        if let Some(f) = self.next.get_mut(prev) {
            f.rotate_right(1);
            if let Some(first) = f.first_mut() {
                *first = slot as u8;
            }
        }
        slot
    }
}

/// [`scan`] for objects whose keys are known by an id (`key_id`): calls
/// `field` with the id and value of each key (keys `key_id` maps to
/// `skip` are passed over without decoding their values further).
pub fn scan_ordered<'a>(
    text: &'a str,
    order: &mut KeyOrder,
    key_id: impl Fn(&str) -> u8,
    mut field: impl FnMut(u8, Val<'a>) -> Option<()>,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(());
    }
    let mut prev = START;
    // Most lines hold no backslash: their strings end at the next quote.
    let escapes = memchr::memchr(b'\\', b).is_some();
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (id, at) = match order.known(prev, b, i + 1) {
            Some((slot, after)) => {
                prev = slot;
                (order.keys.get(slot).map_or(0, |k| k.1), after)
            }
            None => {
                let (end, escaped) = string_end_in(b, i + 1, escapes)?;
                if escaped {
                    return None;
                }
                let id = key_id(text.get(i + 1..end)?);
                let mut after = skip_ws(b, end + 1);
                if b.get(after) != Some(&b':') {
                    return None;
                }
                after += 1;
                // Remembered as written, up to the colon.
                prev = order.learn(prev, b.get(i + 1..after)?, id);
                (id, after)
            }
        };
        let (val, next) = value(text, skip_ws(b, at), escapes)?;
        field(id, val)?;
        i = skip_ws(b, next);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return (skip_ws(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Option<Vec<(String, Val<'_>)>> {
        let mut v = Vec::new();
        scan(text, |k, x| {
            v.push((k.to_string(), x));
            Some(())
        })?;
        Some(v)
    }

    #[test]
    fn flat_objects() {
        let v =
            all(r#"{"a":"x","b":12,"c":["p","q\"r"],"d":true,"e":null,"f":"t\u00e9\\x01","g":[]}"#)
                .unwrap();
        assert_eq!(v[0], ("a".into(), Val::Str(Cow::Borrowed("x"))));
        assert_eq!(v[1], ("b".into(), Val::Num("12")));
        assert_eq!(v[2], ("c".into(), Val::Arr(r#"["p","q\"r"]"#)));
        assert_eq!(v[3], ("d".into(), Val::Bool(true)));
        assert_eq!(v[4], ("e".into(), Val::Null));
        assert_eq!(v[5], ("f".into(), Val::Str(Cow::Owned("té\\x01".into()))));
        assert_eq!(v[6], ("g".into(), Val::Arr("[]")));
        assert_eq!(all(" { } ").map(|v| v.len()), Some(0));
    }

    #[test]
    fn ordered_keys_read_as_scan() {
        let id = |k: &str| k.as_bytes().first().copied().unwrap_or(0);
        let mut order = KeyOrder::default();
        for text in [
            r#"{"a":"x","bb":12,"c":["p","q\"r"]}"#,
            r#"{"a":"y","bb":13,"c":[]}"#,
            r#"{"a":"y","bbb":1,"c":null}"#,
            r#"{ "a" : "z" ,"c":true}"#,
            r#"{"b":"y","a":"w"}"#,
            r#"{"a":"y\u00e9xyz0123456789","bb":13,"c":[]}"#,
            r#"{"a":"y","c":[]}"#,
            r#"{"a":"y","bb":13,"c":[]}"#,
            r#"{"a":"y","bbbbbbbbbbb":13,"c":[]}"#,
            r#"{"a":"y","bbbbbbbbbbc":13,"c":[]}"#,
        ] {
            let mut want = Vec::new();
            scan(text, |k, v| {
                want.push((id(k), v));
                Some(())
            })
            .unwrap();
            let mut got = Vec::new();
            scan_ordered(text, &mut order, id, |k, v| {
                got.push((k, v));
                Some(())
            })
            .unwrap();
            assert_eq!(got, want, "{text}");
        }
        for bad in [r#"{"a":"x""#, r#"{"a\"":1}"#, r#"{"a" 1}"#, r#"{"a":1"#] {
            assert!(
                scan_ordered(bad, &mut order, id, |_, _| Some(())).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn same_as_eq() {
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        for n in 0..text.len() {
            let a = &text[..n];
            assert!(same(a, a));
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 1;
                assert!(!same(a, &b), "{n} {at}");
            }
            assert!(!same(a, &text[..n + 1]));
        }
    }

    #[test]
    fn string_ends_found_eight_bytes_at_a_time() {
        let s = br#"0123456789abcdef\"xyz\\"tail"#;
        assert_eq!(string_end(s, 0), Some((23, true)));
        assert_eq!(string_end(b"abcdefgh\"", 0), Some((8, false)));
        assert_eq!(string_end(b"ab\"", 0), Some((2, false)));
        assert_eq!(string_end(b"abcdefghij", 0), None);
        assert_eq!(string_end(b"abcdefg\\", 0), None);
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for bad in [
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1,2]}"#,
            r#"{"a":"x""#,
            r#"{"a":"x"} x"#,
            r#"{"a\"":1}"#,
            r#"{"a" 1}"#,
            r#"["a"]"#,
            "",
        ] {
            assert!(all(bad).is_none(), "{bad}");
        }
    }
}
