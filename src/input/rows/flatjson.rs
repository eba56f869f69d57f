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

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// End (index of the closing quote) of the string whose content starts at
/// `start`, and whether it holds escapes.
fn string_end(b: &[u8], mut start: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let j = start + memchr::memchr2(b'"', b'\\', b.get(start..)?)?;
        if b.get(j) == Some(&b'"') {
            return Some((j, escaped));
        }
        escaped = true;
        start = j + 2;
    }
}

/// The string at `i` (its opening quote): decoded, and the index after it.
fn string(text: &str, i: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let (end, escaped) = string_end(b, i + 1)?;
    let s = if escaped {
        Cow::Owned(serde_json::from_str::<String>(text.get(i..=end)?).ok()?)
    } else {
        Cow::Borrowed(text.get(i + 1..end)?)
    };
    Some((s, end + 1))
}

fn value(text: &str, i: usize) -> Option<(Val<'_>, usize)> {
    let b = text.as_bytes();
    match b.get(i)? {
        b'"' => string(text, i).map(|(s, n)| (Val::Str(s), n)),
        b'[' => {
            let mut j = skip_ws(b, i + 1);
            if b.get(j) != Some(&b']') {
                loop {
                    if b.get(j) != Some(&b'"') {
                        return None;
                    }
                    let (end, _) = string_end(b, j + 1)?;
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
        let (val, next) = value(text, skip_ws(b, i + 1))?;
        field(key, val)?;
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
