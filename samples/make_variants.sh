#!/bin/sh
# The three classic pcap variants of patched libpcaps of 1999 that
# Wireshark reads (same magic as pcap or modified pcap, longer record
# headers), converted by editcap from openssl-tls10.pcap; tshark reads the
# same ClientHello (port 52954, tls10.example.test) from each.
set -e
cd "$(dirname "$0")"
editcap -F rh6_1pcap openssl-tls10.pcap editcap-rh6_1.pcap     # RedHat 6.1: 24-byte headers
editcap -F suse6_3pcap openssl-tls10.pcap editcap-suse6_3.pcap # SuSE 6.3: modified magic, 28-byte headers
editcap -F nokiapcap openssl-tls10.pcap editcap-nokia.pcap     # Nokia IPSO: 20-byte headers
for f in editcap-rh6_1.pcap editcap-suse6_3.pcap editcap-nokia.pcap; do
  tshark -r "$f" -Y 'tls.handshake.type==1' -T fields -e tcp.srcport -e tls.handshake.extensions_server_name
done
