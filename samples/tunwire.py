#!/usr/bin/env python3
"""A point-to-point "wire" between two tun devices, for raw-IP captures.

    python3 tunwire.py TUN_A TUN_B

Creates the tun devices TUN_A and TUN_B (IFF_TUN, no packet information:
their link type is raw IP), prints "ready", then copies every packet one
device sends to the other, until killed. The caller moves each device into
a network namespace of its own and gives it an address: traffic between
the namespaces then crosses the two devices, where tcpdump and dumpcap
capture it as LINKTYPE_RAW. Stdlib only; needs root (/dev/net/tun).
"""
import fcntl
import os
import select
import struct
import sys

TUNSETIFF = 0x400454ca
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    a, b = open_tun(sys.argv[1]), open_tun(sys.argv[2])
    print('ready', flush=True)
    while True:
        ready, _, _ = select.select([a, b], [], [])
        for fd in ready:
            pkt = os.read(fd, 65536)
            try:
                os.write(b if fd == a else a, pkt)
            except OSError:
                pass  # the other device is not up yet


if __name__ == '__main__':
    main()
