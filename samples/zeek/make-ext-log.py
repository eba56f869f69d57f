#!/usr/bin/env python3
"""Writes ssl-ext.log: a Zeek ssl.log in the layout Zeek writes with the
ssl-log-ext policy loaded (policy/protocols/ssl/ssl-log-ext.zeek), one row per
ClientHello of the sample captures, its fields taken from the packets by
tshark (not by tlsready). Zeek itself is not packaged for Debian: this stands
in for a log Zeek would write, so that tests/tally_rows.rs can check how
`tlsready tally` reads those fields (offered versions, JA3, JA4).

    python3 samples/zeek/make-ext-log.py     # needs tshark
"""

import glob
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = [
    "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
    "tls.handshake.version", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
    "tls.handshake.extensions_supported_group", "tls.handshake.extensions_ec_point_format",
    "tls.handshake.sig_hash_alg", "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions.supported_version", "tls.handshake.extensions_server_name",
]
COLUMNS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "version", "cipher",
    "server_name", "established", "ssl_history", "client_version", "client_ciphers",
    "ssl_client_exts", "client_curves", "point_formats", "orig_alpn",
    "client_supported_versions", "sigalgs", "hashalgs",
]
TYPES = [
    "time", "string", "addr", "port", "addr", "port", "string", "string", "string", "bool",
    "string", "count", "vector[count]", "vector[count]", "vector[count]", "vector[count]",
    "vector[string]", "vector[count]", "vector[count]", "vector[count]",
]


def nums(v):
    return [int(x, 0) for x in v.split(",")] if v else None


def vec(values):
    if values is None:
        return "-"
    return ",".join(str(x) for x in values) if values else "(empty)"


def main():
    out = [
        "#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
        "#path\tssl", "#fields\t" + "\t".join(COLUMNS), "#types\t" + "\t".join(TYPES),
    ]
    n = 0
    for pcap in sorted(glob.glob(os.path.join(HERE, "..", "*.pcap"))):
        text = subprocess.run(
            ["tshark", "-r", pcap, "-Y", "tls.handshake.type == 1 && !tls.handshake.type == 2",
             "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
            + [a for f in FIELDS for a in ("-e", f)],
            capture_output=True, text=True, check=True,
        ).stdout
        for line in text.splitlines():
            f = dict(zip(FIELDS, line.split("\t")))
            legacy = nums(f["tls.handshake.version"])
            if not legacy or not f["tls.handshake.ciphersuite"]:
                continue  # SSLv2-format hellos: no ciphers in TLS form
            sig = nums(f["tls.handshake.sig_hash_alg"])
            n += 1
            row = [
                f["frame.time_epoch"][:17], f"C{n}",
                f["ip.src"] or f["ipv6.src"], f["tcp.srcport"],
                f["ip.dst"] or f["ipv6.dst"], f["tcp.dstport"],
                "-", "-", f["tls.handshake.extensions_server_name"] or "-", "F", "C",
                str(legacy[0]), vec(nums(f["tls.handshake.ciphersuite"])),
                vec(nums(f["tls.handshake.extension.type"])),
                vec(nums(f["tls.handshake.extensions_supported_group"])),
                vec(nums(f["tls.handshake.extensions_ec_point_format"])),
                f["tls.handshake.extensions_alpn_str"] or "-",
                vec(nums(f["tls.handshake.extensions.supported_version"])),
                vec([s & 0xFF for s in sig] if sig is not None else None),
                vec([s >> 8 for s in sig] if sig is not None else None),
            ]
            out.append("\t".join(row))
    with open(os.path.join(HERE, "ssl-ext.log"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{n} rows in samples/zeek/ssl-ext.log")


if __name__ == "__main__":
    main()
