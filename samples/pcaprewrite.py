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

  draft13 IN OUT --version V
      Rewrite the first TLS 1.3 ServerHello (RFC 8446 layout: legacy version
      0x0303, session id echo, compression method, supported_versions) into
      the layout of TLS 1.3 drafts before draft 22: version field V (0x0304
      or a draft code 0x7fNN), random, cipher suite, extensions; the session
      id echo, the compression method and supported_versions are removed.
      The ServerHello must start its segment; the record and handshake
      lengths shrink, later sequence numbers of the server (and the client's
      acknowledgements of them) move back by as many bytes.  For a draft
      code, the value 0x0304 in the ClientHello's supported_versions becomes
      V (same length), so the client offered what the server chose.

  synack IN OUT --isn-delta D --follow first|second
      Answer the SYN of the first connection twice: a copy of its SYN-ACK
      with the initial sequence number moved by D is inserted right after the
      real one.  --follow second: every later server sequence number and
      client acknowledgement moves by D too, so the data follows the second
      SYN-ACK.  --follow first: nothing else changes, the data follows the
      first SYN-ACK and the second one is stale.
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


class Seg:
    """An IPv4/IPv6 TCP segment of an Ethernet frame, read and edited in place."""

    def __init__(self, frame):
        self.frame = frame
        l3, etype = l3_offset(frame)
        self.l3 = l3
        if etype == 0x0800 and frame[l3 + 9] == 6:
            self.v6 = False
            self.l4 = l3 + (frame[l3] & 0x0F) * 4
        elif etype == 0x86DD and frame[l3 + 6] == 6:
            self.v6 = True
            self.l4 = l3 + 40
        else:
            raise ValueError('not TCP')
        self.hdr = (frame[self.l4 + 12] >> 4) * 4

    def u32(self, at):
        return struct.unpack('!I', self.frame[self.l4 + at:self.l4 + at + 4])[0]

    def put32(self, at, v):
        self.frame[self.l4 + at:self.l4 + at + 4] = struct.pack('!I', v & 0xFFFFFFFF)

    sport = property(lambda s: struct.unpack('!H', s.frame[s.l4:s.l4 + 2])[0])
    dport = property(lambda s: struct.unpack('!H', s.frame[s.l4 + 2:s.l4 + 4])[0])
    seq = property(lambda s: s.u32(4), lambda s, v: s.put32(4, v))
    ack = property(lambda s: s.u32(8), lambda s, v: s.put32(8, v))
    flags = property(lambda s: s.frame[s.l4 + 13])

    @property
    def payload(self):
        return bytes(self.frame[self.l4 + self.hdr:])

    def set_payload(self, data):
        del self.frame[self.l4 + self.hdr:]
        self.frame += data

    def refresh(self):
        """IP length and the IPv4 header and TCP checksums, from the frame as it is."""
        f, l3, l4 = self.frame, self.l3, self.l4
        seglen = len(f) - l4
        if self.v6:
            f[l3 + 4:l3 + 6] = struct.pack('!H', seglen)
            pseudo = bytes(f[l3 + 8:l3 + 40]) + struct.pack('!I3xB', seglen, 6)
        else:
            f[l3 + 2:l3 + 4] = struct.pack('!H', len(f) - l3)
            f[l3 + 10:l3 + 12] = b'\0\0'
            f[l3 + 10:l3 + 12] = struct.pack('!H', csum(f[l3:l4]))
            pseudo = bytes(f[l3 + 12:l3 + 20]) + struct.pack('!BBH', 0, 6, seglen)
        f[l4 + 16:l4 + 18] = b'\0\0'
        f[l4 + 16:l4 + 18] = struct.pack('!H', csum(pseudo + bytes(f[l4:])))


def tcp_frames(pkts, linktype, path):
    if linktype != 1:
        raise SystemExit(f'{path}: link type {linktype}, only EN10MB (1) supported')
    out = []
    for p in pkts:
        if len(p[3]) != p[2]:
            raise SystemExit(f'{path}: truncated packet, capture with -s 0')
        try:
            out.append((p, Seg(p[3])))
        except ValueError:
            out.append((p, None))
    return out


def after(a, b):
    """Sequence number a lies after b (modulo 2^32)."""
    return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000


def cmd_draft13(args):
    version = int(args.version, 0)
    if version != 0x0304 and version >> 8 != 0x7F:
        raise SystemExit('--version must be 0x0304 or a draft code 0x7fNN')
    endian, header, linktype, pkts = read_pcap(args.input)
    segs = tcp_frames(pkts, linktype, args.input)
    at = next((i for i, (_, s) in enumerate(segs)
               if s and s.payload[:1] == b'\x16' and s.payload[5:6] == b'\x02'), None)
    if at is None:
        raise SystemExit(f'{args.input}: no segment starts with a ServerHello')
    pkt, sh = segs[at]
    data = sh.payload
    rec_len = struct.unpack('!H', data[3:5])[0]
    body = data[9:9 + struct.unpack('!I', b'\0' + data[6:9])[0]]
    if struct.unpack('!H', body[:2])[0] != 0x0303:
        raise SystemExit(f'{args.input}: ServerHello legacy version is not 0x0303')
    random = body[2:34]
    sid = body[34]
    cipher = body[35 + sid:37 + sid]
    ext_block = body[38 + sid + 2:]
    exts = b''
    while ext_block:
        t, n = struct.unpack('!HH', ext_block[:4])
        if t != 0x002B:  # supported_versions: the version field says it
            exts += ext_block[:4 + n]
        ext_block = ext_block[4 + n:]
    new_body = struct.pack('!H', version) + random + cipher + struct.pack('!H', len(exts)) + exts
    new_msg = b'\x02' + struct.pack('!I', len(new_body))[1:] + new_body
    if 4 + len(body) != rec_len:
        raise SystemExit(f'{args.input}: the ServerHello record holds more than the ServerHello')
    new_rec = data[:3] + struct.pack('!H', len(new_msg)) + new_msg
    delta = 5 + rec_len - len(new_rec)
    sh_seq, server, client = sh.seq, sh.sport, sh.dport
    sh.set_payload(new_rec + data[5 + rec_len:])
    pkt[2] = len(pkt[3])
    for p, s in segs:
        if s is None or {s.sport, s.dport} != {server, client}:
            continue
        if s.sport == server and after(s.seq, sh_seq):
            s.seq = s.seq - delta
        if s.dport == server and s.flags & 0x10 and after(s.ack, sh_seq):
            s.ack = s.ack - delta
        if s.dport == server and version != 0x0304 and s.payload[:1] == b'\x16' and s.payload[5:6] == b'\x01':
            s.set_payload(client_hello_offer(s.payload, version))
        s.refresh()
    write_pcap(args.output, endian, header, pkts)


def client_hello_offer(rec, version):
    """The ClientHello record with 0x0304 in supported_versions replaced by `version`."""
    body = rec[9:]
    at = 2 + 32
    at += 1 + body[at]                                             # session id
    at += 2 + struct.unpack('!H', body[at:at + 2])[0]              # cipher suites
    at += 1 + body[at]                                             # compression
    end = at + 2 + struct.unpack('!H', body[at:at + 2])[0]
    at += 2
    while at < end:
        t, n = struct.unpack('!HH', body[at:at + 4])
        if t == 0x002B:
            lst = body[at + 5:at + 4 + n]
            i = next(i for i in range(0, len(lst), 2) if lst[i:i + 2] == b'\x03\x04')
            pos = 9 + at + 5 + i
            return rec[:pos] + struct.pack('!H', version) + rec[pos + 2:]
        at += 4 + n
    raise SystemExit('ClientHello without supported_versions')


def cmd_synack(args):
    delta = int(args.isn_delta, 0)
    endian, header, linktype, pkts = read_pcap(args.input)
    segs = tcp_frames(pkts, linktype, args.input)
    at = next((i for i, (_, s) in enumerate(segs) if s and s.flags & 0x12 == 0x12), None)
    if at is None:
        raise SystemExit(f'{args.input}: no SYN-ACK')
    pkt, sa = segs[at]
    server, client = sa.sport, sa.dport
    copy = [pkt[0], pkt[1], pkt[2], bytearray(pkt[3])]
    second = Seg(copy[3])
    second.seq = second.seq + delta
    second.refresh()
    if args.follow == 'second':
        for p, s in segs[at + 1:]:
            if s is None or {s.sport, s.dport} != {server, client}:
                continue
            if s.sport == server:
                s.seq = s.seq + delta
            elif s.flags & 0x10:
                s.ack = s.ack + delta
            s.refresh()
    pkts.insert(at + 1, copy)
    write_pcap(args.output, endian, header, pkts)


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
    d = sub.add_parser('draft13')
    d.add_argument('input')
    d.add_argument('output')
    d.add_argument('--version', required=True)
    sa = sub.add_parser('synack')
    sa.add_argument('input')
    sa.add_argument('output')
    sa.add_argument('--isn-delta', required=True)
    sa.add_argument('--follow', choices=('first', 'second'), required=True)
    args = ap.parse_args()
    {'addr': cmd_addr, 'vlan': cmd_vlan, 'frames': cmd_frames, 'draft13': cmd_draft13,
     'synack': cmd_synack}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
