#!/bin/bash
# Regenerate every tlsready sample capture and expected.tsv from scratch.
#
#   sudo ./samples/make-samples.sh            # all scenarios (~1 minute)
#   sudo ./samples/make-samples.sh --only mail m365   # some scenarios (see --list)
#   sudo ./samples/make-samples.sh --keep     # keep certs/logs/raw captures in /tmp
#
# What it does (details in make_samples.py):
#   * installs missing tools with apt-get (openssl, gnutls-bin, curl, tcpdump,
#     tshark, python3, iproute2, nftables, scapy) when run on Debian/Ubuntu;
#   * creates throwaway self-signed certificates (openssl req) in a temp dir;
#   * for each scenario, starts tcpdump on `lo` (or `any`; dumpcap for pcapng;
#     the Fast Open one in a throwaway network namespace of its own),
#     waits until it is listening, runs real TLS servers and clients on loopback
#     only (openssl s_server/s_client, gnutls-serv/cli, curl, Python ssl, the
#     minimal mail servers in mailserver.py), stops the capture with SIGINT;
#   * for tunnels and fragments, runs them in network namespaces (the kernel's
#     VXLAN, two routers fragmenting over a small-MTU link, nftables NFLOG);
#   * post-processes offline with pcaprewrite.py (Microsoft 365 / private
#     addresses, 802.1Q and QinQ tags, frame order) and gzip, and wraps
#     sample frames in 802.11/radiotap/PPI and tunnels with encap.py (scapy);
#   * runs oracle.sh (tshark) to rewrite expected.tsv and checks every row
#     against what the scenarios intended.
# Nothing leaves the machine (loopback, and veth pairs between network
# namespaces created and deleted by the run).  Needs root (packet capture, network namespaces,
# ports 25/110/143/443/465/587/993/995).  Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
    echo "make-samples.sh: must run as root" >&2
    exit 1
fi

missing=()
for tool in openssl:openssl gnutls-cli:gnutls-bin gnutls-serv:gnutls-bin curl:curl \
            tcpdump:tcpdump tshark:tshark dumpcap:tshark editcap:wireshark-common \
            mergecap:wireshark-common python3:python3 ip:iproute2 sysctl:procps nft:nftables; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "make-samples.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "make-samples.sh: missing tools: ${missing[*]}" >&2
        exit 1
    fi
fi

# encap.py builds outer headers with scapy.
if ! python3 -c 'import scapy' 2>/dev/null; then
    if [ "$(command -v python3)" = /usr/bin/python3 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-scapy >/dev/null
    else
        python3 -m pip install --quiet scapy
    fi
fi

exec python3 ./make_samples.py "$@"
