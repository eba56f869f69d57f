#!/usr/bin/env python3
"""Wrap the frames of a sample capture in the encapsulations of wireless and
mirrored captures, offline, with scapy building the outer headers.

    python3 encap.py KIND IN.pcap OUT.pcap

IN is one of the Ethernet samples made by real TLS stacks (make_samples.py).
Each of its IP packets is copied byte for byte (addresses, lengths,
checksums, TCP and TLS unchanged) and wrapped; timestamps are kept. KINDs:

  wifi       LINKTYPE_IEEE802_11 (105): data frames, client->AP To-DS,
             AP->client From-DS, LLC/SNAP; plus a beacon, a Null frame and
             a protected (encrypted) data frame, which carry no TCP.
  radiotap   LINKTYPE_IEEE802_11_RADIOTAP (127): radiotap with two present
             bitmaps (so TSFT is aligned to offset 16), Flags = FCS at end;
             QoS data frames with an FCS, AP->client four-address (WDS).
  ppi        LINKTYPE_PPI (192): PPI with an 802.11-Common field (FCS
             present), then 802.11 data frames with an FCS.
  geneve     Ethernet/IPv4/UDP 6081/GENEVE (one 8-byte option, protocol
             0x6558)/Ethernet/IP.
  gre        Ethernet/IPv4/GRE with checksum, key and sequence number,
             protocol 0x0800/IP.
  erspan1    GRE 0x88be without a sequence number (ERSPAN type I)/Ethernet/IP.
  erspan2    GRE with sequence number, 0x88be, ERSPAN type II/Ethernet/IP.
  erspan3    GRE with sequence number, 0x22eb, ERSPAN type III with the
             optional platform-specific subheader/Ethernet/IP.
  mpls       Ethernet 0x8847, two labels (bottom of stack on the second)/IP.
  pppoe      Ethernet 0x8864, PPPoE session, PPP protocol 0x0021/0x0057/IP.
  nested     QinQ/MPLS/IPv4/GRE/IPv4/UDP 4789/VXLAN/Ethernet/802.1Q/IP.
  raw        LINKTYPE_IPV4 (228) or LINKTYPE_IPV6 (229), by the packets'
             family: the bare IP packets.
  frag6      IPv6: every packet with more than 64 bytes of TCP is cut into
             fragments of 64 bytes (the last shorter), sent last first
             (out of order).
  fcs        Ethernet with every frame padded to 60 bytes and its FCS
             (CRC-32) appended; the file header says "4 bytes of FCS".

Every outer address is from the documentation ranges (RFC 5737).
"""
import os
import struct
import sys
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcaprewrite import l3_offset, read_pcap  # noqa: E402

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific  # noqa: E402
from scapy.contrib.geneve import GENEVE, GeneveOptions  # noqa: E402
from scapy.contrib.mpls import MPLS  # noqa: E402
from scapy.layers.dot11 import (Dot11, Dot11Beacon, Dot11Elt, Dot11FCS, Dot11QoS,  # noqa: E402
                                RadioTap, RadioTapExtendedPresenceMask)
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.l2 import GRE, LLC, SNAP, Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.ppp import PPP, PPPoE  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402

CLIENT_MAC, AP_MAC, GW_MAC = '02:00:00:00:00:0c', '02:00:00:00:00:0a', '02:00:00:00:00:05'
SWITCH_MAC, COLLECTOR_MAC = '02:00:00:00:01:01', '02:00:00:00:01:02'
TUNNEL_A, TUNNEL_B = '192.0.2.1', '192.0.2.2'        # GRE / GENEVE endpoints
SPAN_SRC, SPAN_DST = '198.51.100.10', '198.51.100.20'  # ERSPAN: switch -> collector


def packets(path):
    """The IP packets of an Ethernet capture: [ts_s, ts_f, ip_bytes, ethertype, to_server]."""
    endian, header, linktype, pkts = read_pcap(path)
    if linktype != 1:
        sys.exit(f'{path}: link type {linktype}, only Ethernet (1) is wrapped')
    out, server_port = [], None
    for ts_s, ts_f, _, frame in pkts:
        l3, et = l3_offset(frame)
        ip = bytes(frame[l3:])
        if et == 0x0800:
            ip, l4 = ip[:struct.unpack('!H', ip[2:4])[0]], (ip[0] & 15) * 4
        elif et == 0x86DD:
            ip, l4 = ip[:40 + struct.unpack('!H', ip[4:6])[0]], 40
        else:
            continue
        sport, dport = struct.unpack('!HH', ip[l4:l4 + 4])
        if server_port is None and ip[l4 + 13] & 0x12 == 0x02:
            server_port = dport
        out.append([ts_s, ts_f, ip, et, dport])
    if server_port is None:
        sys.exit(f'{path}: no SYN, cannot tell the client from the server')
    for p in out:
        p[4] = p[4] == server_port
    return endian, header, out


def write(path, endian, header, linktype, frames):
    """Classic pcap with `header`'s magic and snap length, a new link type."""
    out = bytearray(header[:20] + struct.pack(endian + 'I', linktype))
    for ts_s, ts_f, frame in frames:
        out += struct.pack(endian + 'IIII', ts_s, ts_f, len(frame), len(frame)) + frame
    with open(path, 'wb') as f:
        f.write(out)


def llc(et, ip):
    return LLC(dsap=0xaa, ssap=0xaa, ctrl=3) / SNAP(OUI=0, code=et) / Raw(ip)


def wifi(pkts):
    out = []
    first = pkts[0]
    beacon = (Dot11(type=0, subtype=8, addr1='ff:ff:ff:ff:ff:ff', addr2=AP_MAC, addr3=AP_MAC)
              / Dot11Beacon(cap='ESS') / Dot11Elt(ID='SSID', info=b'tlsready-lab'))
    out.append((first[0], first[1], bytes(beacon)))
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        if up:
            d = Dot11(type=2, subtype=0, FCfield='to_DS', addr1=AP_MAC, addr2=CLIENT_MAC, addr3=GW_MAC,
                      SC=i << 4)
        else:
            d = Dot11(type=2, subtype=0, FCfield='from_DS', addr1=CLIENT_MAC, addr2=AP_MAC, addr3=GW_MAC,
                      SC=i << 4)
        out.append((ts_s, ts_f, bytes(d / llc(et, ip))))
        if i == 2:
            null = Dot11(type=2, subtype=4, FCfield='to_DS', addr1=AP_MAC, addr2=CLIENT_MAC, addr3=AP_MAC)
            out.append((ts_s, ts_f, bytes(null)))
            enc = Dot11(type=2, subtype=0, FCfield='to_DS+protected', addr1=AP_MAC, addr2=CLIENT_MAC,
                        addr3=GW_MAC) / Raw(bytes(range(8)) + b'\x16\x03\x01' + bytes(48))
            out.append((ts_s, ts_f, bytes(enc)))
    return out


def radiotap(pkts):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        rt = RadioTap(present='TSFT+Flags+Rate+Channel+dBm_AntSignal+Antenna+Ext',
                      Ext=[RadioTapExtendedPresenceMask(index=1, present=0)],
                      mac_timestamp=ts_s * 1_000_000 + ts_f, Flags='FCS', Rate=108,
                      ChannelFrequency=5180, ChannelFlags='5GHz+OFDM', dBm_AntSignal=-42, Antenna=1)
        if up:
            d = Dot11FCS(type=2, subtype=8, FCfield='to_DS', addr1=AP_MAC, addr2=CLIENT_MAC, addr3=GW_MAC,
                         SC=i << 4)
        else:
            d = Dot11FCS(type=2, subtype=8, FCfield='to_DS+from_DS', addr1=CLIENT_MAC, addr2=AP_MAC,
                         addr3=GW_MAC, addr4=GW_MAC, SC=i << 4)
        out.append((ts_s, ts_f, bytes(rt / d / Dot11QoS(TID=6) / llc(et, ip))))
    return out


def ppi(pkts):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        # 802.11-Common (type 2, 20 bytes): TSFT, flags (0x0001: FCS
        # present), rate, channel frequency and flags, FHSS, signal, noise.
        common = struct.pack('<QHHHHBBbb', ts_s * 1_000_000 + ts_f, 0x0001, 108, 5180, 0x0140, 0, 0, -42, -95)
        hdr = struct.pack('<BBHI', 0, 0, 8 + 4 + len(common), 105) + struct.pack('<HH', 2, len(common)) + common
        if up:
            d = Dot11FCS(type=2, subtype=0, FCfield='to_DS', addr1=AP_MAC, addr2=CLIENT_MAC, addr3=GW_MAC,
                         SC=i << 4)
        else:
            d = Dot11FCS(type=2, subtype=0, FCfield='from_DS', addr1=CLIENT_MAC, addr2=AP_MAC, addr3=GW_MAC,
                         SC=i << 4)
        out.append((ts_s, ts_f, hdr + bytes(d / llc(et, ip))))
    return out


def outer(up, proto, payload, a=TUNNEL_A, b=TUNNEL_B, ident=0):
    src, dst = (a, b) if up else (b, a)
    return Ether(src=SWITCH_MAC, dst=COLLECTOR_MAC) / IP(src=src, dst=dst, proto=proto, id=ident, ttl=63) / payload


def inner_eth(et, ip, up, vlan=None):
    src, dst = (CLIENT_MAC, GW_MAC) if up else (GW_MAC, CLIENT_MAC)
    if vlan is None:
        return Ether(src=src, dst=dst, type=et) / Raw(ip)
    return Ether(src=src, dst=dst) / Dot1Q(vlan=vlan, type=et) / Raw(ip)


def geneve(pkts):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        g = GENEVE(vni=5001, proto=0x6558,
                   options=[GeneveOptions(classid=0x0102, type=0x80, data=b'\x00\x00\x00\x2a')])
        u = UDP(sport=49152 + up, dport=6081) / g / inner_eth(et, ip, up)
        out.append((ts_s, ts_f, bytes(outer(up, 17, u, ident=i))))
    return out


def gre(pkts):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        g = GRE(chksum_present=1, key_present=1, seqnum_present=1, key=0x1000 + up, sequence_number=i, proto=et)
        out.append((ts_s, ts_f, bytes(outer(up, 47, g / Raw(ip), ident=i))))
    return out


def erspan(kind):
    def wrap(pkts):
        out = []
        for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
            frame = inner_eth(et, ip, up)
            if kind == 1:
                g = GRE(proto=0x88BE) / frame
            elif kind == 2:
                g = GRE(seqnum_present=1, sequence_number=i, proto=0x88BE) / ERSPAN_II(
                    vlan=100, session_id=7, index=3) / frame
            else:
                g = GRE(seqnum_present=1, sequence_number=i, proto=0x22EB) / ERSPAN_III(
                    vlan=100, session_id=7, timestamp=ts_f, hw=5, d=int(not up), gra=3, o=1) / \
                    ERSPAN_PlatformSpecific(platf_id=3, info1=0x1234, info2=ts_s) / frame
            out.append((ts_s, ts_f, bytes(outer(True, 47, g, SPAN_SRC, SPAN_DST, ident=i))))
        return out
    return wrap


def mpls(pkts):
    out = []
    for ts_s, ts_f, ip, et, up in pkts:
        f = Ether(src=SWITCH_MAC, dst=COLLECTOR_MAC, type=0x8847) / MPLS(label=16 + up, s=0, ttl=64) / \
            MPLS(label=1000, s=1, ttl=64) / Raw(ip)
        out.append((ts_s, ts_f, bytes(f)))
    return out


def pppoe(pkts):
    out = []
    for ts_s, ts_f, ip, et, up in pkts:
        src, dst = (CLIENT_MAC, GW_MAC) if up else (GW_MAC, CLIENT_MAC)
        proto = 0x0021 if et == 0x0800 else 0x0057
        f = Ether(src=src, dst=dst, type=0x8864) / PPPoE(sessionid=0x2a) / PPP(proto=proto) / Raw(ip)
        out.append((ts_s, ts_f, bytes(f)))
    return out


def nested(pkts):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        vx = UDP(sport=50000 + up, dport=4789) / VXLAN(vni=4242, flags='Instance') / inner_eth(et, ip, up, vlan=30)
        mid = IP(src='203.0.113.1', dst='203.0.113.2', proto=17, id=i, ttl=64) / vx
        g = GRE(proto=0x0800) / mid
        o = IP(src=TUNNEL_A, dst=TUNNEL_B, proto=47, id=i, ttl=64) / g
        f = Ether(src=SWITCH_MAC, dst=COLLECTOR_MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20, type=0x8847) / \
            MPLS(label=3000, s=1, ttl=64) / o
        out.append((ts_s, ts_f, bytes(f)))
    return out


def frag6(pkts, size=64):
    out = []
    for i, (ts_s, ts_f, ip, et, up) in enumerate(pkts):
        if et != 0x86DD or ip[6] != 6:
            sys.exit('frag6: IPv6 packets without extension headers expected')
        body = ip[40:]
        if len(body) <= size:
            out.append((ts_s, ts_f, ip))
            continue
        frags = []
        for off in range(0, len(body), size):
            part = body[off:off + size]
            more = off + size < len(body)
            hdr = bytearray(ip[:40])
            hdr[4:6] = struct.pack('!H', 8 + len(part))
            hdr[6] = 44  # next header: fragment
            fh = struct.pack('!BBHI', 6, 0, off | int(more), 0x5000 + i)
            frags.append(bytes(hdr) + fh + part)
        for f in reversed(frags):
            out.append((ts_s, ts_f, f))
    return out


def fcs(pkts):
    out = []
    for ts_s, ts_f, ip, et, up in pkts:
        f = bytes(inner_eth(et, ip, up)).ljust(60, b'\0')
        out.append((ts_s, ts_f, f + struct.pack('<I', zlib.crc32(f))))
    return out


KINDS = {
    'wifi': (105, wifi), 'radiotap': (127, radiotap), 'ppi': (192, ppi), 'geneve': (1, geneve),
    'gre': (1, gre), 'erspan1': (1, erspan(1)), 'erspan2': (1, erspan(2)), 'erspan3': (1, erspan(3)),
    'mpls': (1, mpls), 'pppoe': (1, pppoe), 'nested': (1, nested), 'frag6': (1, None), 'raw': (None, None),
    # Link type 1 with the FCS-length bits: 2 16-bit words present.
    'fcs': (0x24000001, fcs),
}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in KINDS:
        sys.exit(__doc__)
    kind, src, dst = sys.argv[1:]
    endian, header, pkts = packets(src)
    linktype, fn = KINDS[kind]
    if kind == 'raw':
        fams = {p[3] for p in pkts}
        if len(fams) != 1:
            sys.exit('raw: one address family expected')
        linktype = 228 if fams == {0x0800} else 229
        frames = [(p[0], p[1], p[2]) for p in pkts]
    elif kind == 'frag6':
        frames = [(ts_s, ts_f, bytes(Ether(src=GW_MAC, dst=CLIENT_MAC, type=0x86DD) / Raw(f)))
                  for ts_s, ts_f, f in frag6(pkts)]
    else:
        frames = fn(pkts)
    write(dst, endian, header, linktype, frames)


if __name__ == '__main__':
    main()
