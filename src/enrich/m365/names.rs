//! Server names against the published URL patterns: globs precompiled into
//! exact, suffix and indexed tables (see the module docs of
//! [`crate::enrich::m365`] for the semantics).

use std::cmp::Reverse;

use rustc_hash::{FxHashMap, FxHashSet};

use super::NameMatch;
use crate::model::m365::Service;

/// Longest accepted server name (DNS limit, without the trailing dot).
pub(super) const MAX_NAME_LEN: usize = 253;

/// Specificity order of a pattern entry; smaller is better.
/// (exact? 0 : 1, longest literal tail, most literal characters, id; no id last).
pub(super) type Rank = (u8, Reverse<usize>, Reverse<usize>, u64);

#[derive(Debug, Clone)]
pub(super) struct PatternEntry {
    pattern: String,
    pub(super) endpoint_id: Option<u32>,
    pub(super) service: Service,
    pub(super) legacy: bool,
    rank: Rank,
}

#[derive(Debug, Clone, Default)]
pub(super) struct NameTable {
    entries: Vec<PatternEntry>,
    /// Patterns without `*`, by name.
    exact: FxHashMap<String, Vec<usize>>,
    /// `*.suffix` patterns (no other `*`), by `suffix`.
    suffix: FxHashMap<String, Vec<usize>>,
    /// Other globs whose literal tail ends in two complete labels, by those labels.
    glob_by_two: FxHashMap<String, Vec<usize>>,
    /// Other globs whose literal tail ends in exactly one complete label, by it.
    glob_by_one: FxHashMap<String, Vec<usize>>,
    /// Globs whose literal tail holds no complete label (e.g. `foo.*`); always tested.
    glob_rest: Vec<usize>,
    /// (pattern, id) pairs already added, to skip repeats within a set.
    seen: FxHashSet<(String, Option<u32>)>,
}

impl NameTable {
    /// Adds a pattern (already validated, lower-case, no trailing dot).
    pub(super) fn add(
        &mut self,
        pattern: &str,
        endpoint_id: Option<u32>,
        service: Service,
        legacy: bool,
    ) {
        if !self.seen.insert((pattern.to_string(), endpoint_id)) {
            return;
        }
        let idx = self.entries.len();
        let tail = pattern.rsplit('*').next().unwrap_or(pattern);
        let has_star = pattern.contains('*');
        let rank = (
            u8::from(has_star),
            Reverse(tail.len()),
            Reverse(pattern.bytes().filter(|&b| b != b'*').count()),
            endpoint_id.map_or(u64::MAX, u64::from),
        );
        self.entries.push(PatternEntry {
            pattern: pattern.to_string(),
            endpoint_id,
            service,
            legacy,
            rank,
        });
        if !has_star {
            self.exact.entry(pattern.to_string()).or_default().push(idx);
            return;
        }
        if let Some(rest) = pattern.strip_prefix("*.")
            && !rest.contains('*')
        {
            self.suffix.entry(rest.to_string()).or_default().push(idx);
            return;
        }
        // Complete labels of the literal tail: every label except the first, which
        // is glued to the `*` (an empty first label means the tail starts with `.`).
        let complete: Vec<&str> = tail.split('.').skip(1).collect();
        match complete.as_slice() {
            [.., a, b] => self
                .glob_by_two
                .entry(format!("{a}.{b}"))
                .or_default()
                .push(idx),
            [b] => self
                .glob_by_one
                .entry((*b).to_string())
                .or_default()
                .push(idx),
            [] => self.glob_rest.push(idx),
        }
    }

    /// Sorts every bucket by rank so the first hit of a bucket is its best.
    pub(super) fn finish(&mut self) {
        let entries = &self.entries;
        let key = |idx: &usize| entries.get(*idx).map(|e| e.rank);
        for bucket in self
            .exact
            .values_mut()
            .chain(self.suffix.values_mut())
            .chain(self.glob_by_two.values_mut())
            .chain(self.glob_by_one.values_mut())
        {
            bucket.sort_by_key(key);
        }
        self.glob_rest.sort_by_key(key);
        self.seen = FxHashSet::default();
    }

    pub(super) fn entry(&self, idx: usize) -> Option<&PatternEntry> {
        self.entries.get(idx)
    }

    pub(super) fn rank(&self, idx: usize) -> Option<Rank> {
        self.entries.get(idx).map(|e| e.rank)
    }

    pub(super) fn to_match(&self, idx: usize) -> Option<NameMatch> {
        self.entry(idx).map(|e| NameMatch {
            endpoint_id: e.endpoint_id,
            service: e.service,
            pattern: e.pattern.clone(),
            legacy: e.legacy,
        })
    }

    /// The best matching entry for a name.
    pub(super) fn best(&self, name: &str) -> Option<usize> {
        self.candidates(name).first().copied()
    }

    /// All matching entries for a name, best first.
    pub(super) fn candidates(&self, name: &str) -> Vec<usize> {
        let Some(name) = normalize_name(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.collect(&name, &mut out);
        // A wildcard name `*.X` also counts as `X` (see module docs).
        if let Some(rest) = name.strip_prefix("*.") {
            self.collect(rest, &mut out);
        }
        out.sort_by_key(|&idx| self.rank(idx));
        out.dedup();
        out
    }

    /// Appends the entries matching a normalised name.
    fn collect(&self, name: &str, out: &mut Vec<usize>) {
        if let Some(hits) = self.exact.get(name) {
            out.extend_from_slice(hits);
        }
        // `*.suffix`: probe every proper label suffix of the name.
        let mut rest = name;
        while let Some((_, tail)) = rest.split_once('.') {
            rest = tail;
            if let Some(hits) = self.suffix.get(rest) {
                out.extend_from_slice(hits);
            }
        }
        // Other globs: only those sharing the name's last one or two labels.
        let last_one = name.rsplit('.').next().unwrap_or(name);
        let last_two = match name.rmatch_indices('.').nth(1) {
            Some((pos, _)) => name.get(pos + 1..),
            None => name.contains('.').then_some(name),
        };
        let buckets = [
            last_two.and_then(|k| self.glob_by_two.get(k)),
            self.glob_by_one.get(last_one),
            Some(&self.glob_rest),
        ];
        for &idx in buckets.into_iter().flatten().flatten() {
            if self
                .entries
                .get(idx)
                .is_some_and(|e| glob_match(e.pattern.as_bytes(), name.as_bytes()))
            {
                out.push(idx);
            }
        }
    }
}

/// Lower-cases a name, drops one trailing dot and surrounding whitespace; `None` if
/// the result is empty, too long, has an empty label or contains whitespace/control
/// characters.
pub(super) fn normalize_name(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.split('.').any(str::is_empty)
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// Glob match where `*` in the pattern matches any byte string (possibly empty) and
/// every other pattern byte matches itself.
pub(super) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the text position it absorbed to.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = text.get(t) {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&pc) if pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}
