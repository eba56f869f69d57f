#!/usr/bin/env python3
"""tshark oracle: one TSV row per TCP connection carrying a ClientHello or ServerHello.

    python3 oracle.py FILE... > expected.tsv

Columns: file client_ip client_port server_ip server_port sni client_max_version
negotiated_version cipher alpn

* addresses are those of the innermost IP header (tunnels, mirrored traffic);
* client = sender of the ClientHello (or receiver of the ServerHello if no
  ClientHello was seen);
* client_max_version = highest non-GREASE value of the ClientHello
  supported_versions extension, else the ClientHello (legacy) version;
* negotiated_version = ServerHello supported_versions if present, else the
  ServerHello version; empty when no ServerHello was seen.  A HelloRetryRequest
  (ServerHello with the RFC 8446 magic random) is not taken as the ServerHello;
* cipher = IANA name of the ServerHello cipher suite (as tshark prints it);
* alpn = protocol selected in the ServerHello ALPN extension.

tshark runs with TCP reassembly (also out of order) and TLS record reassembly,
and decodes the non-standard mail ports used by the samples as SMTP/IMAP/POP3
so that STARTTLS is followed.
"""
import subprocess
import sys
import xml.etree.ElementTree as ET

DECODE_AS = ['tcp.port==2525,smtp', 'tcp.port==10143,imap', 'tcp.port==10110,pop']
PREFS = ['tcp.desegment_tcp_streams:TRUE', 'tcp.reassemble_out_of_order:TRUE',
         'tls.desegment_ssl_records:TRUE', 'tls.desegment_ssl_application_data:TRUE']
HRR_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'
VERSIONS = {0x0300: 'SSL3', 0x0301: 'TLS1.0', 0x0302: 'TLS1.1', 0x0303: 'TLS1.2', 0x0304: 'TLS1.3'}
COLUMNS = ['file', 'client_ip', 'client_port', 'server_ip', 'server_port', 'sni',
           'client_max_version', 'negotiated_version', 'cipher', 'alpn']


def is_grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def vname(v):
    if v is None:
        return ''
    if v in VERSIONS:
        return VERSIONS[v]
    if (v >> 8) == 0x7F:  # TLS 1.3 drafts
        return 'TLS1.3-draft%d' % (v & 0xFF)
    return '0x%04x' % v


def fields(elem, name):
    return [f for f in elem.iter('field') if f.get('name') == name]


def first_show(elem, name):
    f = fields(elem, name)
    return f[0].get('show') if f else None


def innermost_ip(pkt):
    """Addresses of the last IPv4/IPv6 layer before TCP: inside tunnels
    (VXLAN, GRE, ERSPAN...) the connection is the innermost one."""
    ip = None
    for proto in pkt.findall('proto'):
        name = proto.get('name')
        if name == 'tcp':
            break
        if name in ('ip', 'ipv6'):
            ip = proto
    if ip is None:
        return None, None
    return first_show(ip, ip.get('name') + '.src'), first_show(ip, ip.get('name') + '.dst')


def tshark(path):
    cmd = ['tshark', '-r', path, '-n', '-Y', 'tls.handshake.type == 1 || tls.handshake.type == 2', '-T', 'pdml']
    for p in PREFS:
        cmd += ['-o', p]
    for d in DECODE_AS:
        cmd += ['-d', d]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f'tshark failed on {path}: {r.stderr.decode()}')
    return ET.fromstring(r.stdout)


def analyse(path, name):
    conns = {}  # tcp.stream -> dict
    for pkt in tshark(path).iter('packet'):
        src, dst = innermost_ip(pkt)
        sport, dport = first_show(pkt, 'tcp.srcport'), first_show(pkt, 'tcp.dstport')
        stream = int(first_show(pkt, 'tcp.stream'))
        c = conns.setdefault(stream, {'ch': None, 'sh': None, 'frame': int(first_show(pkt, 'frame.number'))})
        for hs in fields(pkt, 'tls.handshake'):
            t = first_show(hs, 'tls.handshake.type')
            if t == '1' and c['ch'] is None:
                sv = [int(f.get('show'), 16) for f in fields(hs, 'tls.handshake.extensions.supported_version')]
                sv = [v for v in sv if not is_grease(v)]
                legacy = int(first_show(hs, 'tls.handshake.version'), 16)
                c['ch'] = dict(client=(src, sport), server=(dst, dport),
                               sni=first_show(hs, 'tls.handshake.extensions_server_name') or '',
                               cmax=max(sv) if sv else legacy)
            elif t == '2':
                rnd = fields(hs, 'tls.handshake.random')
                if rnd and rnd[0].get('value', '').lower() == HRR_RANDOM:
                    continue
                sv = [int(f.get('show'), 16) for f in fields(hs, 'tls.handshake.extensions.supported_version')]
                cs = fields(hs, 'tls.handshake.ciphersuite')
                cipher = cs[0].get('showname', '').split(': ', 1)[-1].rsplit(' (', 1)[0] if cs else ''
                c['sh'] = dict(client=(dst, dport), server=(src, sport),
                               neg=sv[0] if sv else int(first_show(hs, 'tls.handshake.version'), 16),
                               cipher=cipher,
                               alpn=first_show(hs, 'tls.handshake.extensions_alpn_str') or '')
    rows = []
    for stream, c in sorted(conns.items(), key=lambda kv: kv[1]['frame']):
        ch, sh = c['ch'], c['sh']
        ends = ch or sh
        rows.append([name, ends['client'][0], ends['client'][1], ends['server'][0], ends['server'][1],
                     ch['sni'] if ch else '', vname(ch['cmax']) if ch else '',
                     vname(sh['neg']) if sh else '', sh['cipher'] if sh else '', sh['alpn'] if sh else ''])
    return rows


def main():
    import os
    print('\t'.join(COLUMNS))
    for path in sys.argv[1:]:
        for row in analyse(path, os.path.basename(path)):
            print('\t'.join(str(x) for x in row))


if __name__ == '__main__':
    main()
