//! Server names from DNS answers: which name a client resolved to the
//! address it then connected to. It gives `dns_name` (and Microsoft 365
//! recognition by name, `m365_match` `dns`) to connections without SNI.
//!
//! Kept per server address: its last few answers with the client that
//! received each (a client's own answer is preferred; another's serves a
//! client whose resolver's answers were not captured), in two
//! generations: when the current one is full (of addresses, or of the
//! names its answers give) it becomes the previous one
//! and the older is dropped, so memory stays bounded under a flood of
//! answers and recent answers survive.
//!
//! A connection takes the latest answer received at most [`SLACK_US`]
//! after it began and no later than its last packet: what a reader of the
//! capture in order has seen when the connection's row is written, so a
//! row reads the same whichever thread analysed which part of the file.

use std::net::IpAddr;
use std::sync::Arc;

use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap as HashMap, FxHasher};

use super::escape;
use crate::cache::prefetch;
use crate::wire::names::{dns, wire_name};

/// An answer received at or before this much after a connection began is
/// taken as the one it used (answer and SYN can be reordered in a capture).
pub const SLACK_US: i64 = 2_000_000;

/// Answers kept per server address: the most recent, by distinct client.
const PER_SERVER: usize = 2;

/// Server addresses kept by default (both generations).
pub const DEFAULT_CAP: usize = 16_384;

/// Names of recent questions kept decoded (cleared when full).
const ASKED_CACHE: usize = 4096;

/// One answer: who received it, when, which name (a number in its
/// generation's [`Generation::names`]). Plain data: a generation's slots
/// are dropped without reading them, and written without touching a
/// reference count.
#[derive(Debug, Clone, Copy)]
struct Answer {
    ts: i64,
    name: u32,
    client: IpAddr,
}

/// The latest answers for one server address.
#[derive(Debug, Clone, Copy)]
struct Slot {
    answers: [Option<Answer>; PER_SERVER],
    server: IpAddr,
}

impl Slot {
    fn new(server: IpAddr) -> Slot {
        Slot {
            answers: [None; PER_SERVER],
            server,
        }
    }

    fn add(&mut self, client: IpAddr, ts: i64, name: u32, same: impl Fn(u32) -> bool) {
        // The same client and name: a later sighting.
        if let Some(a) = self
            .answers
            .iter_mut()
            .flatten()
            .find(|a| a.client == client && (a.name == name || same(a.name)))
        {
            a.ts = a.ts.max(ts);
            return;
        }
        // Else replace an empty place or the oldest answer.
        let i = (0..PER_SERVER)
            .min_by_key(|&i| self.answers[i].as_ref().map_or(i64::MIN, |a| a.ts))
            .unwrap_or(0);
        self.answers[i] = Some(Answer { ts, name, client });
    }
}

/// One generation of answers: slots kept in the order their server
/// addresses came, and an index of slot numbers by address. Most answers
/// name a new address: each place of the index holds 8 bytes (a tag of
/// the address's hash and its slot's number; the address itself is in its
/// slot, compared only when the tag matches), and the new slot is written
/// at the end. The index is open-addressed (linear probing, at most half
/// full: 128 KiB for the default bound's 8,192 addresses) so that the
/// place an address hashes to can be asked for ahead
/// ([`Generation::prefetch`]): answers are added in batches, each
/// address's places asked for a few answers before it is added.
#[derive(Debug, Default)]
struct Generation {
    /// 0: empty; else the tag (high half) and the slot's number plus one.
    index: Vec<u64>,
    slots: Vec<Slot>,
    /// The names its answers give (few: many addresses share a name).
    names: Vec<Arc<str>>,
    /// Numbers in `names`, by the name's address in memory (one question's
    /// name is one `Arc`, see [`ServerNames::learn`]; the same name in
    /// two `Arc`s is two numbers, which [`Slot::add`] compares by text).
    numbers: HashMap<usize, u32>,
}

/// The hash of a server address (its bits from 32 up place it in an
/// index, its low half is its tag).
fn hash_of(server: &IpAddr) -> u64 {
    let mut h = FxHasher::default();
    server.hash(&mut h);
    // (Fibonacci hashing: a product's high bits mix all of its input.)
    h.finish().wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Asks for the memory of the slot pushed next, written at the next new
/// address: most answers name a new address, and the slot's memory, last
/// written two generations ago, is no longer in the cache.
#[inline]
fn prefetch_next(slots: &[Slot], capacity: usize) {
    if slots.len() < capacity {
        let next = slots.as_ptr().wrapping_add(slots.len()).cast::<u8>();
        for off in [0, 64, std::mem::size_of::<Slot>() - 1] {
            prefetch(next.wrapping_add(off));
        }
    }
}

/// Where in `index` probing for hash `h` starts.
#[inline]
fn home(index: &[u64], h: u64) -> usize {
    // `index.len()` is a power of two.
    (h >> 32) as usize & index.len().wrapping_sub(1)
}

impl Generation {
    /// The place of `server` (hash `h`) in the index: `Ok` its slot's
    /// number, `Err` the empty place it would take (`None`: no index yet).
    fn probe(&self, server: &IpAddr, h: u64) -> Result<u32, Option<usize>> {
        if self.index.is_empty() {
            return Err(None);
        }
        let (mask, tag) = (self.index.len() - 1, h & 0xffff_ffff);
        let mut at = home(&self.index, h);
        // At most half full: an empty place comes.
        loop {
            let e = self.index[at];
            if e == 0 {
                return Err(Some(at));
            }
            let i = (e & 0xffff_ffff) as u32 - 1;
            if e >> 32 == tag
                && self
                    .slots
                    .get(i as usize)
                    .is_some_and(|s| s.server == *server)
            {
                return Ok(i);
            }
            at = (at + 1) & mask;
        }
    }

    fn get(&self, server: &IpAddr) -> Option<&Slot> {
        let i = self.probe(server, hash_of(server)).ok()?;
        self.slots.get(i as usize)
    }

    fn contains(&self, server: &IpAddr) -> bool {
        self.get(server).is_some()
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    /// Asks for the index's place of hash `h`.
    #[inline]
    fn prefetch(&self, h: u64) {
        if !self.index.is_empty() {
            prefetch(self.index.as_ptr().wrapping_add(home(&self.index, h)));
        }
    }

    fn clear(&mut self) {
        self.index.fill(0);
        self.slots.clear();
        self.names.clear();
        self.numbers.clear();
    }

    /// Room for `n` addresses (the index at most half full), made once.
    fn reserve(&mut self, n: usize) {
        self.index = vec![0; (2 * n.max(1)).next_power_of_two()];
        self.slots.reserve(n);
    }

    /// The number of `name` in this generation's names.
    fn number(&mut self, name: &Arc<str>) -> u32 {
        let next = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let n = *self
            .numbers
            .entry(Arc::as_ptr(name).cast::<u8>() as usize)
            .or_insert(next);
        if n == next {
            self.names.push(name.clone());
        }
        n
    }

    /// The text of name number `n`.
    fn name(&self, n: u32) -> Option<&Arc<str>> {
        self.names.get(n as usize)
    }

    /// The answers of `server`'s slot, with their names.
    fn answers<'a>(&'a self, server: &IpAddr) -> impl Iterator<Item = (IpAddr, i64, &'a Arc<str>)> {
        self.get(server)
            .into_iter()
            .flat_map(|s| s.answers.iter().flatten())
            .filter_map(|a| Some((a.client, a.ts, self.name(a.name)?)))
    }

    /// Adds an answer: `server`'s slot (when it has none, made from its
    /// slot in `prev`, else new) takes `name` received by `client` at `ts`.
    /// The index has room (see [`Generations::add`]).
    fn add(&mut self, prev: &Generation, server: IpAddr, client: IpAddr, ts: i64, name: &Arc<str>) {
        let Ok(next) = u32::try_from(self.slots.len()) else {
            return;
        };
        let number = self.number(name);
        let h = hash_of(&server);
        let i = match self.probe(&server, h) {
            Ok(i) => i,
            Err(None) => return,
            Err(Some(at)) => {
                self.index[at] = (h & 0xffff_ffff) << 32 | u64::from(next + 1);
                // Each branch writes the slot in place: a slot chosen
                // first and moved in was written to the stack piecewise
                // and read back in wider pieces, a stall on every answer.
                match prev.get(&server) {
                    Some(old) => {
                        // Its answers, their names numbered anew.
                        let mut s = Slot::new(server);
                        for (j, a) in old.answers.iter().enumerate() {
                            if let Some(a) = a
                                && let Some(n) = prev.name(a.name)
                            {
                                s.answers[j] = Some(Answer {
                                    name: self.number(n),
                                    ..*a
                                });
                            }
                        }
                        self.slots.push(s);
                    }
                    None => self.slots.push(Slot::new(server)),
                }
                prefetch_next(&self.slots, self.slots.capacity());
                next
            }
        };
        let names = &self.names;
        if let Some(slot) = self.slots.get_mut(i as usize) {
            slot.add(client, ts, number, |other| {
                names.get(other as usize).is_some_and(|o| **o == **name)
            });
        }
    }
}

/// The two generations and their bound.
#[derive(Debug)]
struct Generations {
    cur: Generation,
    prev: Generation,
    /// Server addresses (and names) a generation holds at most.
    cap: usize,
    rotations: u64,
}

impl Generations {
    fn add(&mut self, ts: i64, client: IpAddr, server: IpAddr, name: &Arc<str>) {
        // (Full of addresses, or of names: names come with answers too.)
        if self.cur.len() >= self.cap && !self.cur.contains(&server)
            || self.cur.names.len() >= self.cap
        {
            // The older generation's tables are cleared and reused (no
            // allocation, no growth).
            std::mem::swap(&mut self.prev, &mut self.cur);
            self.cur.clear();
            self.rotations += 1;
        }
        if self.cur.index.is_empty() {
            // Room for a whole generation at once: growing would move
            // every entry again at each doubling (the slots take about a
            // megabyte; their pages are touched as used).
            self.cur.reserve(self.cap);
        }
        // One lookup for a server address known or new.
        self.cur.add(&self.prev, server, client, ts, name);
    }
}

/// Server names learned from DNS answers.
#[derive(Debug)]
pub struct ServerNames {
    gens: Generations,
    /// Escaped names of recent questions, by their wire form: a name asked
    /// again costs a lookup, not a decode, an escape and an allocation.
    asked: HashMap<Box<[u8]>, Arc<str>>,
    /// Answers not added yet, in order (see [`ServerNames::settle`]).
    pending: Vec<Pending>,
    /// Their names (one for the addresses of one answer in a row).
    pending_names: Vec<Arc<str>>,
}

/// An answer waiting to be added: its name is its number in
/// [`ServerNames::pending_names`].
#[derive(Debug)]
struct Pending {
    ts: i64,
    client: IpAddr,
    server: IpAddr,
    name: u32,
}

/// Answers added at once ([`ServerNames::settle`]).
const BATCH: usize = 64;

/// How many answers ahead of its turn an address's places in the index
/// are asked for.
const AHEAD: usize = 8;

impl Default for ServerNames {
    fn default() -> Self {
        ServerNames::new(DEFAULT_CAP)
    }
}

/// How a server name was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// This client received the answer.
    ByClient,
    /// Some host received it (a resolver, or another client).
    ByAnyone,
}

impl ServerNames {
    /// Keeps the answers for at most about `cap` server addresses (room
    /// for half of them is made at the first answer).
    pub fn new(cap: usize) -> Self {
        ServerNames {
            gens: Generations {
                cur: Generation::default(),
                prev: Generation::default(),
                cap: cap.max(2) / 2,
                rotations: 0,
            },
            asked: HashMap::default(),
            pending: Vec::new(),
            pending_names: Vec::new(),
        }
    }

    /// A unicast DNS message received by `client` at `ts`: each A or AAAA
    /// record of an answer names its address with the question's name
    /// (the name the client asked for, through any CNAMEs). Queries and
    /// messages that do not parse teach nothing.
    pub fn learn(&mut self, ts: i64, client: IpAddr, msg: &[u8]) {
        let Some(s) = dns::scan(msg) else { return };
        let mut addrs = s.addresses().peekable();
        if addrs.peek().is_none() {
            return;
        }
        let Some(q) = s.question else { return };
        // (One lookup for the name asked before, most answers'.)
        let name = match self.asked.get(q) {
            Some(n) => Arc::clone(n),
            None => {
                let Some(text) = wire_name(q) else { return };
                if self.asked.len() >= ASKED_CACHE {
                    self.asked.clear();
                }
                let n: Arc<str> = escape(&text).into();
                self.asked.insert(q.into(), Arc::clone(&n));
                n
            }
        };
        for server in addrs {
            self.add(ts, client, server, &name);
        }
    }

    /// An answer received by `client` at `ts` resolved `name` (escaped) to
    /// `server` (added at the next [`ServerNames::settle`] at the latest).
    pub fn add(&mut self, ts: i64, client: IpAddr, server: IpAddr, name: &Arc<str>) {
        if !self
            .pending_names
            .last()
            .is_some_and(|n| Arc::ptr_eq(n, name))
        {
            self.pending_names.push(Arc::clone(name));
        }
        self.pending.push(Pending {
            ts,
            client,
            server,
            name: u32::try_from(self.pending_names.len() - 1).unwrap_or(u32::MAX),
        });
        if self.pending.len() >= BATCH {
            self.settle();
        }
    }

    /// Adds the answers learned and not added yet: before a lookup, and
    /// every [`BATCH`] answers. One at a time, each answer's new address
    /// waited on memory for its place in the index (the capture's bytes
    /// stream through the cache between answers); in a batch, the places
    /// of the answers [`AHEAD`] are asked for while one is added.
    pub fn settle(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        let ask = |gens: &Generations, p: &Pending| {
            let h = hash_of(&p.server);
            gens.cur.prefetch(h);
            gens.prev.prefetch(h);
        };
        for p in pending.iter().take(AHEAD) {
            ask(&self.gens, p);
        }
        for (i, p) in pending.iter().enumerate() {
            if let Some(q) = pending.get(i + AHEAD) {
                ask(&self.gens, q);
            }
            if let Some(name) = self.pending_names.get(p.name as usize) {
                self.gens.add(p.ts, p.client, p.server, name);
            }
        }
        pending.clear();
        self.pending = pending;
        self.pending_names.clear();
    }

    /// The name `client` had resolved for `server` for a connection that
    /// began at `first_ts` and was last seen at `last_ts` (see the module
    /// documentation), else the name anyone had. Answers not settled
    /// ([`ServerNames::settle`]) are not seen.
    pub fn lookup(
        &self,
        client: IpAddr,
        server: IpAddr,
        first_ts: i64,
        last_ts: i64,
    ) -> Option<(&Arc<str>, Resolved)> {
        Self::lookup_in(&[self], client, server, first_ts, last_ts)
    }

    /// [`ServerNames::lookup`] over the answers of several tables (the
    /// parts of one input).
    pub fn lookup_in<'a>(
        tables: &[&'a ServerNames],
        client: IpAddr,
        server: IpAddr,
        first_ts: i64,
        last_ts: i64,
    ) -> Option<(&'a Arc<str>, Resolved)> {
        debug_assert!(
            tables.iter().all(|t| t.pending.is_empty()),
            "settle before a lookup"
        );
        let until = first_ts.saturating_add(SLACK_US).min(last_ts.max(first_ts));
        let all = || {
            tables
                .iter()
                .flat_map(|t| [&t.gens.cur, &t.gens.prev])
                .flat_map(|g| g.answers(&server))
                .filter(|a| a.1 <= until)
        };
        // The latest answer (`max_by_key`: the last of equals).
        if let Some(a) = all().filter(|a| a.0 == client).max_by_key(|a| a.1) {
            return Some((a.2, Resolved::ByClient));
        }
        all().max_by_key(|a| a.1).map(|a| (a.2, Resolved::ByAnyone))
    }

    /// Times a full generation was dropped.
    pub fn rotations(&self) -> u64 {
        self.gens.rotations
    }

    /// Server addresses kept (of the answers settled).
    pub fn len(&self) -> usize {
        self.gens.cur.len() + self.gens.prev.len()
    }

    /// None kept (of the answers settled).
    pub fn is_empty(&self) -> bool {
        self.gens.cur.len() == 0 && self.gens.prev.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn client_first_then_anyone() {
        let mut t = ServerNames::new(100);
        let outlook: Arc<str> = "outlook.office365.com".into();
        let other: Arc<str> = "cdn.example".into();
        t.add(1_000_000, ip("10.0.0.5"), ip("52.96.1.1"), &outlook);
        t.add(1_000_000, ip("10.0.0.9"), ip("52.96.1.1"), &other);
        t.settle();
        let at = |t: &ServerNames, c, s| {
            t.lookup(ip(c), ip(s), 5_000_000, 9_000_000)
                .map(|(n, r)| (n.to_string(), r))
        };
        assert_eq!(
            at(&t, "10.0.0.5", "52.96.1.1"),
            Some(("outlook.office365.com".into(), Resolved::ByClient))
        );
        assert_eq!(
            at(&t, "10.0.0.7", "52.96.1.1"),
            Some(("cdn.example".into(), Resolved::ByAnyone))
        );
        assert_eq!(at(&t, "10.0.0.5", "52.96.1.2"), None);
    }

    #[test]
    fn time_aware() {
        let mut t = ServerNames::new(100);
        let a: Arc<str> = "a.example".into();
        let b: Arc<str> = "b.example".into();
        let (c, s) = (ip("10.0.0.5"), ip("192.0.2.1"));
        t.add(10_000_000, c, s, &a);
        t.add(50_000_000, c, s, &b);
        t.settle();
        let name = |first, last| t.lookup(c, s, first, last).map(|(n, _)| n.to_string());
        assert_eq!(name(20_000_000, 90_000_000).unwrap(), "a.example");
        assert_eq!(name(60_000_000, 90_000_000).unwrap(), "b.example");
        // Answer just after the SYN (reordered): still that one…
        assert_eq!(name(49_000_000, 90_000_000).unwrap(), "b.example");
        // …once the connection lasted until it came (else a reader in
        // order had not seen it when writing the row).
        assert_eq!(name(49_000_000, 49_500_000).unwrap(), "a.example");
        // Before any answer: none (a later answer is another lookup's).
        assert_eq!(name(0, 90_000_000), None);
    }

    /// The parts of one input answer together as one reader would.
    #[test]
    fn parts_answer_as_one() {
        let (a, b): (Arc<str>, Arc<str>) = ("a.example".into(), "b.example".into());
        let (c, s) = (ip("10.0.0.5"), ip("192.0.2.1"));
        let mut one = ServerNames::new(100);
        one.add(10_000_000, c, s, &a);
        one.add(50_000_000, ip("10.0.0.9"), s, &b);
        let (mut first, mut second) = (ServerNames::new(100), ServerNames::new(100));
        first.add(10_000_000, c, s, &a);
        second.add(50_000_000, ip("10.0.0.9"), s, &b);
        for t in [&mut one, &mut first, &mut second] {
            t.settle();
        }
        let parts = [&first, &second];
        for (f, l) in [(20_000_000, 90_000_000), (60_000_000, 90_000_000)] {
            assert_eq!(
                ServerNames::lookup_in(&parts, c, s, f, l),
                one.lookup(c, s, f, l)
            );
        }
        // Its own client's answer wins over a later one of another host.
        assert_eq!(
            ServerNames::lookup_in(&parts, c, s, 60_000_000, 90_000_000),
            Some((&a, Resolved::ByClient))
        );
    }

    #[test]
    fn bounded_by_generations() {
        let mut t = ServerNames::new(10);
        let n: Arc<str> = "x.example".into();
        for i in 0..1000u32 {
            t.add(
                i64::from(i),
                ip("10.0.0.1"),
                IpAddr::from(i.to_be_bytes()),
                &n,
            );
        }
        t.settle();
        assert!(t.len() <= 10);
        assert!(t.rotations() > 0);
        // The most recent survive.
        let at = |n: u32| t.lookup(ip("10.0.0.1"), IpAddr::from(n.to_be_bytes()), 999, 999);
        assert!(at(999).is_some());
        assert!(at(1).is_none());
    }

    /// Answers naming one address with ever new names: the names kept
    /// stay bounded too.
    #[test]
    fn bounded_in_names() {
        let mut t = ServerNames::new(10);
        let s = ip("192.0.2.1");
        for i in 0..1000 {
            let n: Arc<str> = format!("n{i}.example").into();
            t.add(i64::from(i), ip("10.0.0.1"), s, &n);
        }
        t.settle();
        assert!(t.gens.cur.names.len() + t.gens.prev.names.len() <= 10);
        assert!(t.rotations() > 0);
        let latest = t
            .lookup(ip("10.0.0.1"), s, 999, 999)
            .map(|(n, _)| n.to_string());
        assert_eq!(latest.as_deref(), Some("n999.example"));
    }

    /// An address answered again after a rotation: its answer of the
    /// previous generation still names its client's connections.
    #[test]
    fn previous_generation_still_answers() {
        let mut t = ServerNames::new(10);
        let (a, b): (Arc<str>, Arc<str>) = ("a.example".into(), "b.example".into());
        let s = ip("192.0.2.1");
        // Other addresses, answered to another client at `ts`.
        let others = |t: &mut ServerNames, ts: i64, from: u32| {
            for i in from..from + 5 {
                let other = IpAddr::from((0x0a01_0000 + i).to_be_bytes());
                t.add(ts, ip("10.0.0.9"), other, &b);
            }
            t.settle();
        };
        t.add(1, ip("10.0.0.1"), s, &a);
        others(&mut t, 2, 0);
        assert_eq!(t.rotations(), 1);
        t.add(3, ip("10.0.0.2"), s, &b);
        t.settle();
        assert_eq!(
            t.lookup(ip("10.0.0.1"), s, 4, 4),
            Some((&a, Resolved::ByClient))
        );
        assert_eq!(
            t.lookup(ip("10.0.0.2"), s, 4, 4),
            Some((&b, Resolved::ByClient))
        );
        assert_eq!(
            t.lookup(ip("10.0.0.7"), s, 4, 4),
            Some((&b, Resolved::ByAnyone))
        );
        // Carried into the current generation, it outlives the next rotation.
        others(&mut t, 5, 5);
        assert_eq!(t.rotations(), 2);
        assert_eq!(
            t.lookup(ip("10.0.0.1"), s, 6, 6),
            Some((&a, Resolved::ByClient))
        );
    }

    /// Answers added in batches read as added one at a time: through
    /// rotations, with addresses and names repeating, whatever the batch.
    #[test]
    fn batches_read_as_one_at_a_time() {
        let names: Vec<Arc<str>> = (0..7).map(|i| format!("n{i}.example").into()).collect();
        let answers: Vec<(i64, IpAddr, IpAddr, usize)> = (0..3000u32)
            .map(|i| {
                // Addresses repeat at several distances; clients and
                // names vary.
                let a = [i, i / 3, i % 41, i / 7 + 5000][(i % 4) as usize];
                let server = IpAddr::from((0x0a00_0000 + a).to_be_bytes());
                let client = IpAddr::from((0xc0a8_0000 + i % 5).to_be_bytes());
                (i64::from(i), client, server, (i as usize * 7) % names.len())
            })
            .collect();
        let mut single = ServerNames::new(400);
        let mut batched = ServerNames::new(400);
        for &(ts, c, s, n) in &answers {
            single.add(ts, c, s, &names[n]);
            single.settle();
            batched.add(ts, c, s, &names[n]);
        }
        batched.settle();
        assert!(batched.rotations() > 10);
        assert_eq!(single.rotations(), batched.rotations());
        let mut found = 0;
        for &(ts, c, s, _) in &answers {
            let (a, b) = (single.lookup(c, s, ts, ts), batched.lookup(c, s, ts, ts));
            assert_eq!(a, b, "{c} {s} {ts}");
            found += usize::from(a.is_some());
        }
        assert!(found > 200, "{found} {}", batched.rotations());
        // An answer waits for its batch (lookups settle first), then is seen.
        let (c, s) = (ip("10.9.9.9"), ip("192.0.2.99"));
        batched.add(1, c, s, &names[0]);
        assert_eq!(batched.pending.len(), 1);
        batched.settle();
        assert_eq!(
            batched.lookup(c, s, 2, 2),
            Some((&names[0], Resolved::ByClient))
        );
    }

    /// Every slot of both generations is found at its own number through
    /// the index, which stays at most half full: tiny and odd bounds,
    /// IPv4 and IPv6 addresses, through rotations.
    #[test]
    fn index_finds_every_slot() {
        let n: Arc<str> = "x.example".into();
        for cap in [0, 1, 2, 3, 5, 7, 10, 33, 100, 1000] {
            let mut t = ServerNames::new(cap);
            for i in 0..3000u32 {
                let server = if i % 3 == 0 {
                    IpAddr::from((u128::from(i / 2) << 64 | 0x2001_0db8).to_be_bytes())
                } else {
                    IpAddr::from((0x0a00_0000 + i / 2).to_be_bytes())
                };
                t.add(i64::from(i), ip("10.0.0.1"), server, &n);
            }
            t.settle();
            assert!(t.rotations() > 0, "{cap}");
            for g in [&t.gens.cur, &t.gens.prev] {
                let used = g.index.iter().filter(|&&e| e != 0).count();
                assert_eq!(used, g.slots.len(), "{cap}");
                assert!(
                    2 * used <= g.index.len(),
                    "{cap}: {used} of {}",
                    g.index.len()
                );
                for (i, s) in g.slots.iter().enumerate() {
                    assert_eq!(
                        g.probe(&s.server, hash_of(&s.server)),
                        Ok(i as u32),
                        "{cap}"
                    );
                }
            }
        }
    }
}
