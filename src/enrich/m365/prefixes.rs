//! Addresses against the published prefixes: one hash map per prefix
//! length, probed from the longest down.

use std::cmp::Reverse;

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use crate::model::m365::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SetRef {
    pub(super) id: u32,
    pub(super) service: Service,
}

/// Prefixes of one address family: per prefix length, the masked network address
/// (as `u128`) mapped to the prefix and its endpoint sets (sorted by id).
/// Masked network address to the prefix and its endpoint sets.
type PrefixMap = FxHashMap<u128, (IpNet, Vec<SetRef>)>;

#[derive(Debug, Clone)]
pub(super) struct PrefixTable {
    bits: u8,
    /// Sorted by prefix length, longest first.
    by_len: Vec<(u8, PrefixMap)>,
}

impl PrefixTable {
    pub(super) fn new(bits: u8) -> PrefixTable {
        PrefixTable {
            bits,
            by_len: Vec::new(),
        }
    }

    fn mask(&self, addr: u128, len: u8) -> u128 {
        let shift = u32::from(self.bits.saturating_sub(len));
        addr.checked_shr(shift)
            .and_then(|v| v.checked_shl(shift))
            .unwrap_or(0)
    }

    pub(super) fn add(&mut self, addr: u128, len: u8, net: IpNet, set: SetRef) {
        let key = self.mask(addr, len);
        let map = match self.by_len.iter().position(|(l, _)| *l == len) {
            Some(pos) => self.by_len.get_mut(pos).map(|(_, m)| m),
            None => {
                self.by_len.push((len, FxHashMap::default()));
                self.by_len.last_mut().map(|(_, m)| m)
            }
        };
        if let Some(map) = map {
            let slot = map.entry(key).or_insert_with(|| (net, Vec::new()));
            if !slot.1.contains(&set) {
                slot.1.push(set);
            }
        }
    }

    pub(super) fn finish(&mut self) {
        self.by_len.sort_by_key(|(len, _)| Reverse(*len));
        for (_, map) in &mut self.by_len {
            for (_, sets) in map.values_mut() {
                sets.sort_by_key(|s| s.id);
            }
        }
    }

    /// The prefixes that share an address with the block `addr`/`len`:
    /// those holding it (longest first), then those inside it (by address).
    pub(super) fn overlapping(&self, addr: u128, len: u8) -> Vec<(IpNet, &[SetRef])> {
        let mut holding = Vec::new();
        let mut inside = Vec::new();
        for (plen, map) in &self.by_len {
            if *plen <= len {
                if let Some((net, sets)) = map.get(&self.mask(addr, *plen)) {
                    holding.push((*net, sets.as_slice()));
                }
            } else {
                let block = self.mask(addr, len);
                inside.extend(
                    map.iter()
                        .filter(|(k, _)| self.mask(**k, len) == block)
                        .map(|(k, (net, sets))| (*k, *net, sets.as_slice())),
                );
            }
        }
        inside.sort_by_key(|(k, net, _)| (*k, net.prefix_len()));
        holding.extend(inside.into_iter().map(|(_, net, sets)| (net, sets)));
        holding
    }

    pub(super) fn lookup(&self, addr: u128) -> Option<(IpNet, &[SetRef])> {
        self.by_len.iter().find_map(|(len, map)| {
            map.get(&self.mask(addr, *len))
                .map(|(net, sets)| (*net, sets.as_slice()))
        })
    }
}
