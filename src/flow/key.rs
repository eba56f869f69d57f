//! Which connection a segment belongs to: the canonical key of the flow
//! table, and a symmetric hash of the endpoints shared with the reader
//! thread's done filter.

use std::net::IpAddr;

use super::conn::Side;
use crate::wire::decode::Segment;

/// Canonical connection key: the lower (address, port) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    a: IpAddr,
    b: IpAddr,
    ap: u16,
    bp: u16,
}

impl FlowKey {
    /// The key of a segment's connection, and the side that sent it.
    pub fn of(seg: &Segment<'_>) -> (FlowKey, Side) {
        // Both addresses are of one family: comparing their bits orders
        // them as `IpAddr` does.
        if (ip_bits(seg.src), seg.sport) <= (ip_bits(seg.dst), seg.dport) {
            let k = FlowKey {
                a: seg.src,
                ap: seg.sport,
                b: seg.dst,
                bp: seg.dport,
            };
            (k, 0)
        } else {
            let k = FlowKey {
                a: seg.dst,
                ap: seg.dport,
                b: seg.src,
                bp: seg.sport,
            };
            (k, 1)
        }
    }

    /// The two endpoints, side 0 first.
    pub fn endpoints(&self) -> [(IpAddr, u16); 2] {
        [(self.a, self.ap), (self.b, self.bp)]
    }

    /// The connection's [`flow_hash`].
    pub fn tag(&self) -> u64 {
        flow_hash(self.a, self.ap, self.b, self.bp)
    }
}

/// An address as a number (IPv4 in the low 32 bits).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

impl std::hash::Hash for FlowKey {
    /// One word per key (the derived hash feeds every address byte to the
    /// hasher; this runs for every packet).
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let (a, b) = (ip_bits(self.a), ip_bits(self.b));
        let x = (a as u64)
            ^ ((a >> 64) as u64).rotate_left(29)
            ^ (b as u64).rotate_left(13)
            ^ ((b >> 64) as u64).rotate_left(43)
            ^ (u64::from(self.ap) << 48 | u64::from(self.bp) << 32);
        h.write_u64(x);
    }
}

/// A symmetric hash of a TCP connection's endpoints (same both ways).
pub fn flow_hash(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> u64 {
    // Each endpoint hashed alone, combined by addition: symmetric without
    // ordering the endpoints.
    let x = endpoint_hash(a, ap).wrapping_add(endpoint_hash(b, bp));
    (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb) | 1
}

/// A hash of one direction of a TCP connection (from `src` to `dst`).
pub fn direction_hash(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> u64 {
    let x = endpoint_hash(src, sport).rotate_left(23) ^ endpoint_hash(dst, dport);
    (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb)
}

fn endpoint_hash(ip: IpAddr, port: u16) -> u64 {
    let v = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) ^ (1 << 127),
    };
    let x = (v as u64) ^ ((v >> 64) as u64).rotate_left(17) ^ (u64::from(port) << 48);
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode::flags;

    fn seg(src: &str, sport: u16, dst: &str, dport: u16) -> Segment<'static> {
        Segment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport,
            dport,
            seq: 1,
            ack: 0,
            flags: flags::ACK,
            payload: &[],
            wire_len: 0,
        }
    }

    #[test]
    fn both_directions_share_a_key() {
        let (k1, s1) = FlowKey::of(&seg("10.0.0.1", 50000, "52.96.0.1", 443));
        let (k2, s2) = FlowKey::of(&seg("52.96.0.1", 443, "10.0.0.1", 50000));
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.tag(), k2.tag());
        assert_eq!(k1.endpoints()[s1], ("10.0.0.1".parse().unwrap(), 50000));
        let (k3, _) = FlowKey::of(&seg("10.0.0.1", 50001, "52.96.0.1", 443));
        assert_ne!(k1, k3);
    }

    #[test]
    fn directions_hash_apart() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "52.96.0.1".parse().unwrap();
        assert_ne!(
            direction_hash(a, 50000, b, 80),
            direction_hash(b, 80, a, 50000)
        );
        assert_ne!(
            direction_hash(a, 50000, b, 80),
            direction_hash(a, 50001, b, 80)
        );
        assert_eq!(
            direction_hash(a, 50000, b, 80),
            direction_hash(a, 50000, b, 80)
        );
    }

    #[test]
    fn hash_is_symmetric() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "52.96.0.1".parse().unwrap();
        let h = flow_hash(a, 50000, b, 443);
        assert_eq!(h, flow_hash(b, 443, a, 50000));
        assert_ne!(h, flow_hash(a, 50001, b, 443));
        assert_eq!(h & 1, 1);
    }
}
