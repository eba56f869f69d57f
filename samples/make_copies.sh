#!/bin/sh
# The same packets seen at two capture points (a bridge and its port, a
# Windows trace that logs a packet at two layers): clients-mixed.pcap, and
# a copy of it 50 ms later (editcap -t), merged by mergecap with the two
# interfaces kept apart (-I none). Each connection closes before its copy
# begins; tshark finds the same ten TCP streams and ClientHellos as in
# clients-mixed.pcap, each twice.
set -e
cd "$(dirname "$0")"
t=$(mktemp -d)
editcap -F pcapng clients-mixed.pcap "$t/a.pcapng"
editcap -t 0.05 "$t/a.pcapng" "$t/b.pcapng"
mergecap -I none -w mergecap-two-points.pcapng "$t/a.pcapng" "$t/b.pcapng"
rm -r "$t"
chmod 644 mergecap-two-points.pcapng
tshark -r mergecap-two-points.pcapng -Y 'tls.handshake.type==1' -T fields \
  -e frame.interface_id -e tcp.stream -e tcp.srcport -e tls.handshake.extensions_server_name
