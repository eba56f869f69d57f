#!/usr/bin/env python3
"""Write a classic pcap file as a big-endian pcapng section (stdlib only).

    python3 pcapng_be.py IN.pcap OUT.pcapng [--name IFNAME]

No capture tool on a little-endian machine writes big-endian pcapng (they
write the host's byte order), but pcapng readers must read both, also one
after the other in one file (`cat a.pcapng b.pcapng`). This writes a
Section Header Block in big-endian order, one Interface Description Block
(the input's link type and snap length, `if_name`, `if_tsresol` = 9:
nanoseconds), and one Enhanced Packet Block per input record, the time
converted to nanoseconds, the bytes unchanged.
"""
import argparse
import struct


def block(btype, body):
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack('>II', btype, total) + body + b'\0' * pad + struct.pack('>I', total)


def option(code, value):
    pad = (-len(value)) % 4
    return struct.pack('>HH', code, len(value)) + value + b'\0' * pad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('src')
    ap.add_argument('dst')
    ap.add_argument('--name', default='lo')
    a = ap.parse_args()
    data = open(a.src, 'rb').read()
    magic = data[:4]
    endian, nanos = {b'\xd4\xc3\xb2\xa1': ('<', False), b'\xa1\xb2\xc3\xd4': ('>', False),
                     b'\x4d\x3c\xb2\xa1': ('<', True), b'\xa1\xb2\x3c\x4d': ('>', True)}[magic]
    snaplen, linktype = struct.unpack(endian + 'II', data[16:24])
    out = [block(0x0A0D0D0A, struct.pack('>IHHq', 0x1A2B3C4D, 1, 0, -1) +
                 option(4, b'tlsready samples/pcapng_be.py') + option(0, b''))]
    out.append(block(1, struct.pack('>HHI', linktype & 0xFFFF, 0, snaplen) +
                     option(2, a.name.encode()) + option(9, bytes([9])) + option(0, b'')))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + 'IIII', data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ns = sec * 1_000_000_000 + (frac if nanos else frac * 1000)
        body = struct.pack('>IIIII', 0, ns >> 32, ns & 0xFFFFFFFF, len(pkt), orig) + pkt
        out.append(block(6, body + b'\0' * ((-len(pkt)) % 4)))
    with open(a.dst, 'wb') as f:
        f.write(b''.join(out))


if __name__ == '__main__':
    main()
