#!/usr/bin/env python3
"""Builds fuzz seeds from capture files (used by seed.sh).

usage: seed.py OUTDIR CAPTURE...

For each capture, tshark lists the TCP payloads; they are put together per
direction in sequence order. Then:
  OUTDIR/tls_hello/  streams that start like TLS (0x14-0x18 or SSLv2),
                     first 8 KiB, behind a chunking control byte;
  OUTDIR/starttls/   plaintext mail dialogues, as (side<<7|len, bytes) turns;
  OUTDIR/capture/    classic pcap files as frame lists (first byte 0xf4).
"""
import hashlib
import os
import struct
import subprocess
import sys


def streams(path):
    """Each direction's bytes, {(stream, src port): bytes}, and the
    new payloads in capture order, [((stream, src port), payload)]."""
    out = subprocess.run(
        ["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream", "-e",
         "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.payload"],
        capture_output=True, text=True, check=False).stdout
    dirs, order = {}, []
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 4 or not all(f[:4]):
            continue
        key = (int(f[0]), int(f[1].split(",")[0]))
        seq = int(f[2].split(",")[0])
        data = bytes.fromhex(f[3].split(",")[0].replace(":", ""))
        if seq not in dirs.setdefault(key, {}):
            dirs[key][seq] = data
            order.append((key, data))
    joined = {}
    for key, segs in dirs.items():
        base = min(segs)
        buf = bytearray()
        for seq in sorted(segs):
            off = (seq - base) % (1 << 32)
            if off > len(buf):
                break
            buf[off:off + len(segs[seq])] = segs[seq]
        joined[key] = bytes(buf)
    return joined, order


def save(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tls_like(b):
    return len(b) > 5 and ((0x14 <= b[0] <= 0x18 and b[1] == 3) or b[0] & 0x80)


def mail_turns(joined, order):
    """Plaintext dialogues, one turn per packet in capture order."""
    by_stream = {}
    for key, data in order:
        by_stream.setdefault(key[0], []).append((key, data))
    for pkts in by_stream.values():
        first = pkts[0][0]
        if tls_like(joined[first]):
            continue
        turns, done = bytearray(), set()
        for key, data in pkts:
            if key in done or len(turns) > 8192:
                continue
            if tls_like(data):
                done.add(key)
                continue
            side = 0 if key == first else 1
            for i in range(0, len(data), 127):
                chunk = data[i:i + 127]
                turns += bytes([(side << 7) | len(chunk)]) + chunk
        if turns:
            yield bytes(turns)


def pcap_frames(path):
    """Frames of a classic pcap file, or None."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24:
        return None
    magic = raw[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    link = struct.unpack(e + "I", raw[20:24])[0] & 0xffff
    # Index into LINKS in fuzz_targets/capture.rs.
    idx = {1: 0, 101: 1, 12: 1, 228: 1, 229: 1, 0: 2, 108: 3, 113: 4, 276: 5,
           105: 6, 127: 7, 192: 8, 239: 9}.get(link)
    if idx is None:
        return None
    out = bytearray([0xf4])
    pos = 24
    while pos + 16 <= len(raw) and len(out) < 64 * 1024:
        _, _, incl, _ = struct.unpack(e + "IIII", raw[pos:pos + 16])
        frame = raw[pos + 16:pos + 16 + incl][:0xffff]
        pos += 16 + incl
        out += bytes([idx, 1]) + struct.pack(">H", len(frame)) + frame
    return bytes(out)


def main():
    outdir = sys.argv[1]
    for path in sys.argv[2:]:
        joined, order = streams(path)
        for key, data in joined.items():
            if tls_like(data):
                save(outdir, "tls_hello", b"\x07" + data[:8192])
        for turns in mail_turns(joined, order):
            save(outdir, "starttls", turns)
        frames = pcap_frames(path)
        if frames:
            save(outdir, "capture", frames)


if __name__ == "__main__":
    main()
