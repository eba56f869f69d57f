#!/usr/bin/env python3
"""Offline rewriting of classic pcap files (stdlib only) for the tlsready samples.

Only classic pcap (magic a1b2c3d4 / d4c3b2a1, micro- or nanosecond) with
link type DLT_EN10MB (1) is supported as input, which is what `tcpdump -i lo`
writes on Linux (loopback frames carry an Ethernet header with zero MACs).

Sub-commands
------------
  addr IN OUT --rule PORT=SERVER_IP,CLIENT_IP[,NEW_PORT] [--rule ...]
      For every TCP segment between two loopback addresses (127.0.0.0/8 or
      ::1) where one side uses PORT (the real listening port of the server):
        client -> server : src := CLIENT_IP, dst := SERVER_IP, dport := NEW_PORT
        server -> client : src := SERVER_IP, dst := CLIENT_IP, sport := NEW_PORT
      so both directions of a connection are rewritten consistently.  IPv4
      rules only touch IPv4 packets and IPv6 rules only IPv6 packets.  The IPv4
      header checksum and the TCP checksum are recomputed.  Packets matching
      no rule are kept unchanged; the tool fails if a rule never matched.

  frames IN OUT [--drop N[-M]] [--swap A,B] [--dup N,AFTER]
      Frame-level edits, frame numbers are 1-based and refer to the INPUT:
      --swap A,B    exchange the frame contents of A and B (timestamps stay in
                    place, so time is still monotonic): out-of-order delivery;
      --dup N,AFTER insert a copy of frame N after frame AFTER, with AFTER's
                    timestamp: a (spurious) retransmission;
      --drop N[-M]  delete frames N..M: e.g. a capture started mid-connection.

  vlan IN OUT --tag TPID:VID [--tag TPID:VID ...]
      Insert 802.1Q/802.1ad tags (outermost first) after the 12 MAC bytes of
      every frame, e.g. `--tag 0x88a8:100 --tag 0x8100:200` for QinQ.
"""
import argparse
import ipaddress
import struct
import sys


def read_pcap(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit(f'{path}: too short for a pcap header')
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        endian = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        endian = '>'
    else:
        raise SystemExit(f'{path}: not a classic pcap file (magic {magic.hex()})')
    linktype = struct.unpack(endian + 'I', data[20:24])[0] & 0x0FFFFFFF
    pkts = []
    off = 24
    while off + 16 <= len(data):
        ts_s, ts_f, incl, orig = struct.unpack(endian + 'IIII', data[off:off + 16])
        off += 16
        pkts.append([ts_s, ts_f, orig, bytearray(data[off:off + incl])])
        off += incl
    return endian, data[:24], linktype, pkts


def write_pcap(path, endian, header, pkts):
    out = bytearray(header)
    for ts_s, ts_f, orig, frame in pkts:
        out += struct.pack(endian + 'IIII', ts_s, ts_f, len(frame), orig)
        out += frame
    with open(path, 'wb') as f:
        f.write(out)


def csum(data):
    if len(data) % 2:
        data = bytes(data) + b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def l3_offset(frame):
    """Offset of the L3 header and its ethertype, skipping VLAN tags."""
    off = 12
    etype = struct.unpack('!H', frame[off:off + 2])[0]
    while etype in (0x8100, 0x88a8, 0x9100):
        off += 4
        etype = struct.unpack('!H', frame[off:off + 2])[0]
    return off + 2, etype


def is_loopback(raw):
    return ipaddress.ip_address(bytes(raw)).is_loopback


def cmd_addr(args):
    rules = {}
    for r in args.rule:
        port, _, rest = r.partition('=')
        parts = rest.split(',')
        if len(parts) not in (2, 3):
            raise SystemExit(f'bad rule {r!r}')
        server = ipaddress.ip_address(parts[0])
        client = ipaddress.ip_address(parts[1])
        if server.version != client.version:
            raise SystemExit(f'rule {r!r}: mixed address families')
        newport = int(parts[2]) if len(parts) == 3 else int(port)
        rules.setdefault((server.version, int(port)), (server.packed, client.packed, newport))
    used = set()
    endian, header, linktype, pkts = read_pcap(args.input)
    if linktype != 1:
        raise SystemExit(f'{args.input}: link type {linktype}, only EN10MB (1) supported')
    for pkt in pkts:
        frame = pkt[3]
        l3, etype = l3_offset(frame)
        if etype == 0x0800:
            ver = 4
            ihl = (frame[l3] & 0x0F) * 4
            if frame[l3 + 9] != 6:
                continue
            src, dst = slice(l3 + 12, l3 + 16), slice(l3 + 16, l3 + 20)
            l4 = l3 + ihl
            tot_len = struct.unpack('!H', frame[l3 + 2:l3 + 4])[0]
            l4_end = l3 + tot_len
        elif etype == 0x86DD:
            ver = 6
            if frame[l3 + 6] != 6:  # no extension headers expected on loopback
                continue
            src, dst = slice(l3 + 8, l3 + 24), slice(l3 + 24, l3 + 40)
            l4 = l3 + 40
            l4_end = l4 + struct.unpack('!H', frame[l3 + 4:l3 + 6])[0]
        else:
            continue
        if l4_end > len(frame):  # truncated capture: cannot fix checksums
            raise SystemExit(f'{args.input}: truncated packet, capture with -s 0')
        if not (is_loopback(frame[src]) and is_loopback(frame[dst])):
            continue
        sport, dport = struct.unpack('!HH', frame[l4:l4 + 4])
        if (ver, dport) in rules:
            key = (ver, dport)
            srv, cli, newport = rules[key]
            frame[src], frame[dst] = cli, srv
            frame[l4 + 2:l4 + 4] = struct.pack('!H', newport)
        elif (ver, sport) in rules:
            key = (ver, sport)
            srv, cli, newport = rules[key]
            frame[src], frame[dst] = srv, cli
            frame[l4:l4 + 2] = struct.pack('!H', newport)
        else:
            continue
        used.add(key)
        seglen = l4_end - l4
        if ver == 4:
            frame[l3 + 10:l3 + 12] = b'\0\0'
            frame[l3 + 10:l3 + 12] = struct.pack('!H', csum(frame[l3:l3 + ihl]))
            pseudo = bytes(frame[src]) + bytes(frame[dst]) + struct.pack('!BBH', 0, 6, seglen)
        else:
            pseudo = bytes(frame[src]) + bytes(frame[dst]) + struct.pack('!I3xB', seglen, 6)
        frame[l4 + 16:l4 + 18] = b'\0\0'
        frame[l4 + 16:l4 + 18] = struct.pack('!H', csum(pseudo + bytes(frame[l4:l4_end])))
    unused = set(rules) - used
    if unused:
        raise SystemExit(f'{args.input}: rules never matched: {sorted(unused)}')
    write_pcap(args.output, endian, header, pkts)


def cmd_vlan(args):
    tags = b''
    for t in args.tag:
        tpid, _, vid = t.partition(':')
        tags += struct.pack('!HH', int(tpid, 0), int(vid, 0) & 0x0FFF)
    endian, header, linktype, pkts = read_pcap(args.input)
    if linktype != 1:
        raise SystemExit(f'{args.input}: link type {linktype}, only EN10MB (1) supported')
    for pkt in pkts:
        frame = pkt[3]
        pkt[3] = frame[:12] + tags + frame[12:]
        pkt[2] += len(tags)
    write_pcap(args.output, endian, header, pkts)


def cmd_frames(args):
    endian, header, linktype, pkts = read_pcap(args.input)
    n = len(pkts)

    def idx(x):
        i = int(x)
        if not 1 <= i <= n:
            raise SystemExit(f'frame {i} out of range 1..{n}')
        return i - 1
    for sw in args.swap or ():
        a, b = map(idx, sw.split(','))
        pkts[a][2:], pkts[b][2:] = pkts[b][2:], pkts[a][2:]
    dups = {}
    for d in args.dup or ():
        src, after = map(idx, d.split(','))
        dups.setdefault(after, []).append(src)
    drop = set()
    for d in args.drop or ():
        lo, _, hi = d.partition('-')
        drop.update(range(idx(lo), idx(hi or lo) + 1))
    result = []
    for i, p in enumerate(pkts):
        if i not in drop:
            result.append(p)
        for src in dups.get(i, ()):
            result.append([p[0], p[1], pkts[src][2], bytearray(pkts[src][3])])
    write_pcap(args.output, endian, header, result)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('addr')
    a.add_argument('input')
    a.add_argument('output')
    a.add_argument('--rule', action='append', required=True)
    fr = sub.add_parser('frames')
    fr.add_argument('input')
    fr.add_argument('output')
    fr.add_argument('--swap', action='append')
    fr.add_argument('--dup', action='append')
    fr.add_argument('--drop', action='append')
    v = sub.add_parser('vlan')
    v.add_argument('input')
    v.add_argument('output')
    v.add_argument('--tag', action='append', required=True)
    args = ap.parse_args()
    {'addr': cmd_addr, 'vlan': cmd_vlan, 'frames': cmd_frames}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
