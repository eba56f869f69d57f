#!/usr/bin/env python3
"""Generate the tlsready sample captures with real TLS stacks on loopback.

Run through ./make-samples.sh (which checks the tools and then runs the oracle),
or directly:  python3 make_samples.py [--keep] [--only NAME ...] [--list]

Every scenario:
  * starts tcpdump on `lo` (or `any`, or dumpcap for pcapng) with a BPF filter
    on the scenario's port, waits for "listening on", runs the servers and
    clients, then stops the capture with SIGINT (one capture file per scenario);
  * post-processes if needed (address rewrite, VLAN tags, gzip);
  * registers the rows it expects to see in expected.tsv, which
    make-samples.sh checks against the tshark oracle afterwards
    (`python3 make_samples.py --check expected.tsv`).

Only loopback (127.0.0.1 / ::1) is used; public-looking addresses in the
Microsoft 365 samples are produced offline by pcaprewrite.py.
"""
import argparse
import csv
import ctypes
import gzip
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in samples/
sys.path.insert(0, HERE)
import mailserver  # noqa: E402

LEGACY = ['-cipher', 'DEFAULT:@SECLEVEL=0']  # OpenSSL 3 needs this for TLS 1.0/1.1
WORK = None
LOG = None
SCENARIOS = []   # (name, function)
EXPECT = []      # dicts: file, client_ip, server_ip, server_port, sni, cmax, neg
NO_TLS = set()   # files that intentionally contain no ClientHello/ServerHello


def log(msg):
    print(msg, flush=True)
    LOG.write(msg + '\n')
    LOG.flush()


def scenario(fn):
    SCENARIOS.append((fn.__name__.replace('_', '-'), fn))
    return fn


def expect(file, sni, cmax, neg, client='127.0.0.1', server='127.0.0.1', port=443, n=1, tshark_neg=None):
    """Rows a scenario intends. `tshark_neg`: what tshark says instead of `neg`
    where it is known to be wrong (tests/samples.rs TSHARK_WRONG has the right value)."""
    for _ in range(n):
        EXPECT.append(dict(file=file, client_ip=client, server_ip=server, server_port=str(port),
                           sni=sni, cmax=cmax, neg=neg if tshark_neg is None else tshark_neg))


def out(name):
    return os.path.join(HERE, name)


def work(name):
    return os.path.join(WORK, name)


# --------------------------------------------------------------------------- helpers

def listening(port, pid=None):
    """True if something listens on TCP `port` (IPv4 or IPv6), from /proc/net
    (of process `pid`'s network namespace when given)."""
    want = ':%04X' % port
    base = f'/proc/{pid}/net' if pid else '/proc/net'
    for f in (base + '/tcp', base + '/tcp6'):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    p = line.split()
                    if p[1].endswith(want) and p[3] == '0A':
                        return True
        except FileNotFoundError:
            pass
    return False


def wait_listen(port, proc=None, timeout=10, netns=False):
    end = time.time() + timeout
    while time.time() < end:
        if listening(port, proc.pid if netns else None):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f'server for port {port} exited early (rc={proc.returncode})')
        time.sleep(0.02)
    raise RuntimeError(f'nothing listening on port {port} after {timeout}s')


def ensure_free(*ports):
    for port in ports:
        end = time.time() + 5
        while listening(port):
            if time.time() > end:
                raise RuntimeError(f'port {port} is already in use')
            time.sleep(0.05)


class Capture:
    """tcpdump (classic pcap) or dumpcap (pcapng) on an interface, one file."""

    def __init__(self, path, bpf, iface='lo', linktype=None, tool='tcpdump', ns=None):
        self.path, self.bpf, self.iface, self.linktype, self.tool = path, bpf, iface, linktype, tool
        self.ns = ns

    def __enter__(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        if self.tool == 'tcpdump':
            cmd = ['tcpdump', '-i', self.iface, '--immediate-mode', '-U', '-s', '0', '-n', '-Z', 'root',
                   '-w', self.path]
            if self.linktype:
                cmd += ['-y', self.linktype]
            if self.bpf:
                cmd.append(self.bpf)
            ready = 'listening on'
        else:
            cmd = ['dumpcap', '-i', self.iface, '-s', '0', '-f', self.bpf, '-w', self.path]
            ready = 'Capturing on'
        if self.ns:
            cmd = ['ip', 'netns', 'exec', self.ns] + cmd
        self.stderr = []
        self.ready = threading.Event()
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)

        def drain():
            for line in self.p.stderr:
                self.stderr.append(line.rstrip())
                if ready in line:
                    self.ready.set()
        self.t = threading.Thread(target=drain, daemon=True)
        self.t.start()
        if not self.ready.wait(10):
            self.p.kill()
            raise RuntimeError(f'{self.tool} did not start: {self.stderr}')
        time.sleep(0.2)
        return self

    def __exit__(self, et, ev, tb):
        time.sleep(0.3)
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise RuntimeError(f'{self.tool} did not stop')
        self.t.join(5)
        LOG.write(f'{self.tool} {os.path.basename(self.path)}: ' + ' | '.join(self.stderr) + '\n')
        if et is None:
            if self.p.returncode != 0:
                raise RuntimeError(f'{self.tool} exited {self.p.returncode}: {self.stderr}')
            if not os.path.exists(self.path) or os.path.getsize(self.path) < 100:
                raise RuntimeError(f'capture {self.path} is empty')
        return False


class NetNs:
    """A throwaway network namespace that this process enters (setns on the main
    thread, so every tool it starts runs there) and leaves: its own loopback and
    its own per-namespace sysctls, the host's left untouched."""

    CLONE_NEWNET = 0x40000000

    def __init__(self, name, sysctls=()):
        self.name, self.sysctls = name, sysctls
        self.libc = ctypes.CDLL(None, use_errno=True)

    def setns(self, fd):
        if self.libc.setns(fd, self.CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns into {self.name}')

    def __enter__(self):
        subprocess.run(['ip', 'netns', 'add', self.name], check=True)
        self.home = os.open('/proc/self/ns/net', os.O_RDONLY)
        fd = os.open(f'/run/netns/{self.name}', os.O_RDONLY)
        try:
            self.setns(fd)
        finally:
            os.close(fd)
        subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
        for k, v in self.sysctls:
            subprocess.run(['sysctl', '-q', '-w', f'{k}={v}'], check=True)
        return self

    def __exit__(self, et, ev, tb):
        self.setns(self.home)
        os.close(self.home)
        subprocess.run(['ip', 'netns', 'del', self.name], check=True)
        return False


class Server:
    """A server subprocess (openssl s_server, gnutls-serv) with its log in WORK."""

    def __init__(self, cmd, port, name, ns=None):
        if ns:
            cmd = ['ip', 'netns', 'exec', ns] + cmd  # `ip netns exec` execs: same pid
        else:
            ensure_free(port)
        self.cmd, self.port, self.name = cmd, port, name
        self.logf = open(work(f'{name}.log'), 'ab')
        self.logf.write(('\n$ ' + ' '.join(cmd) + '\n').encode())
        self.logf.flush()
        # stdin stays open: s_server treats EOF on stdin as "shut down"
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.logf, stderr=subprocess.STDOUT)
        wait_listen(port, self.p, netns=bool(ns))

    def wait(self, timeout=10, kill=False):
        """Wait for exit (s_server -naccept); with kill=True terminate it instead."""
        if kill:
            self.p.terminate()
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise RuntimeError(f'{self.name} did not exit: {self.cmd}')
        finally:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            self.logf.close()


def s_server(port, cert, *args, naccept=1, host='127.0.0.1', www=False, ns=None):
    accept = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    cmd = ['openssl', 's_server', '-accept', accept, '-cert', cert + '.crt', '-key', cert + '.key',
           '-naccept', str(naccept)] + (['-www'] if www else []) + list(args)
    return Server(cmd, port, f's_server-{port}', ns=ns)


def run_client(cmd, data=b'', ok=True, name='client', timeout=20):
    r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    LOG.write('\n$ ' + ' '.join(cmd) + f'\n(rc={r.returncode})\n' + r.stdout.decode('latin-1') + '\n')
    if ok and r.returncode != 0:
        raise RuntimeError(f'{name} failed (rc={r.returncode}): {" ".join(cmd)}')
    if not ok and r.returncode == 0:
        raise RuntimeError(f'{name} unexpectedly succeeded: {" ".join(cmd)}')
    return r.stdout.decode('latin-1')


def s_client(port, *args, host='127.0.0.1', data=b'hello from s_client\n', ok=True, ns=None):
    connect = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    pre = ['ip', 'netns', 'exec', ns] if ns else []
    return run_client(pre + ['openssl', 's_client', '-connect', connect] + list(args), data, ok, 's_client')


def openssl_pair(pcap, port, cert, srv_args, cli_args, naccept=1, ok=True, **cap):
    bpf = cap.pop('bpf', f'tcp port {port}')
    with Capture(pcap, bpf, **cap):
        srv = s_server(port, cert, *srv_args, naccept=naccept)
        s_client(port, *cli_args, ok=ok)
        srv.wait(kill=not ok)


def make_cert(name, cn, sans):
    base = work(name)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '3650',
                    '-keyout', base + '.key', '-out', base + '.crt', '-subj', f'/CN={cn}',
                    '-addext', 'subjectAltName=' + ','.join(f'DNS:{s}' for s in sans)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return base


def rewrite(src, dst, *rules):
    cmd = [sys.executable, os.path.join(HERE, 'pcaprewrite.py'), 'addr', src, dst]
    for r in rules:
        cmd += ['--rule', r]
    subprocess.run(cmd, check=True)


def pcaprewrite(*args):
    subprocess.run([sys.executable, os.path.join(HERE, 'pcaprewrite.py')] + list(args), check=True)


def add_vlan(src, dst, *tags):
    cmd = [sys.executable, os.path.join(HERE, 'pcaprewrite.py'), 'vlan', src, dst]
    for t in tags:
        cmd += ['--tag', t]
    subprocess.run(cmd, check=True)


def edit_frames(src, dst, *ops):
    cmd = [sys.executable, os.path.join(HERE, 'pcaprewrite.py'), 'frames', src, dst]
    for op, arg in ops:
        cmd += [op, arg]
    subprocess.run(cmd, check=True)


def data_frames(pcap, dport):
    """Frame numbers of the client->server segments carrying payload."""
    r = subprocess.run(['tshark', '-r', pcap, '-n', '-Y', f'tcp.dstport == {dport} && tcp.len > 0',
                        '-T', 'fields', '-e', 'frame.number'], check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return [int(x) for x in r.stdout.split()]


def py_client_ctx(max_version=None, min_version=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def py_server_ctx(cert, max_version=None, alpn=None):
    ctx = mailserver.make_context(cert + '.crt', cert + '.key', ssl.TLSVersion.TLSv1_2, max_version)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def py_echo_server(port, ctx, host='127.0.0.1', count=1):
    ensure_free(port)
    ls = mailserver.listen(host, port)
    ls.settimeout(20)
    errors = []

    def run():
        try:
            for _ in range(count):
                s, _ = ls.accept()
                s.settimeout(20)
                with ctx.wrap_socket(s, server_side=True) as t:
                    data = t.recv(1024)
                    t.sendall(b'echo: ' + data)
                    try:
                        t.unwrap()
                    except (ssl.SSLError, OSError):
                        pass
        except Exception as e:  # reported by join()
            errors.append(e)
        finally:
            ls.close()
    th = threading.Thread(target=run, daemon=True)
    th.start()

    def join():
        th.join(20)
        if th.is_alive() or errors:
            raise RuntimeError(f'python server on {port} failed: {errors}')
    return join


def mail_server(proto, port, cert, mode='starttls', banner='mail.example.test', count=1,
                host='127.0.0.1', min_version=None, max_version=None):
    ensure_free(port)
    ctx = mailserver.make_context(cert + '.crt', cert + '.key', min_version, max_version) if cert else None
    ls = mailserver.listen(host, port)
    errors = []

    def run():
        try:
            mailserver.serve(ls, proto, ctx, mode, banner, count)
        except Exception as e:
            errors.append(e)
    th = threading.Thread(target=run, daemon=True)
    th.start()

    def join():
        th.join(20)
        if th.is_alive() or errors:
            raise RuntimeError(f'{proto} server on {port} failed: {errors}')
    return join


# --------------------------------------------------------------------------- certificates

CERTS = {}


def certs():
    if not CERTS:
        CERTS['default'] = make_cert('default', 'example.test', ['example.test', '*.example.test'])
        CERTS['neutral'] = make_cert('neutral', 'server.example.test', ['server.example.test'])
        CERTS['m365'] = make_cert('m365', 'outlook.office365.com', ['outlook.office365.com', '*.outlook.com'])
    return CERTS


# --------------------------------------------------------------------------- plain openssl

@scenario
def openssl_versions():
    c = certs()['default']
    for v, flag, label in (('tls10', '-tls1', 'TLS1.0'), ('tls11', '-tls1_1', 'TLS1.1'),
                           ('tls12', '-tls1_2', 'TLS1.2'), ('tls13', '-tls1_3', 'TLS1.3')):
        f = f'openssl-{v}.pcap'
        sni = f'{v}.example.test'
        openssl_pair(out(f), 443, c, [flag] + LEGACY, [flag, '-servername', sni] + LEGACY)
        expect(f, sni, label, label)


@scenario
def openssl_fallback():
    c = certs()['default']
    # client offers TLS1.0..TLS1.3 (supported_versions), server only speaks TLS1.0
    f = 'openssl-tls13-client-tls10-server.pcap'
    openssl_pair(out(f), 443, c, ['-tls1'] + LEGACY, ['-servername', 'fallback13.example.test'] + LEGACY)
    expect(f, 'fallback13.example.test', 'TLS1.3', 'TLS1.0')
    # client offers TLS1.0..TLS1.2 (no supported_versions extension), server only TLS1.0
    f = 'openssl-tls12-client-tls10-server.pcap'
    openssl_pair(out(f), 443, c, ['-tls1'] + LEGACY, ['-no_tls1_3', '-servername', 'fallback12.example.test'] + LEGACY)
    expect(f, 'fallback12.example.test', 'TLS1.2', 'TLS1.0')


@scenario
def openssl_fail():
    c = certs()['default']
    f = 'openssl-tls10-client-tls12min-server-fail.pcap'
    openssl_pair(out(f), 443, c, ['-min_protocol', 'TLSv1.2'],
                 ['-tls1', '-servername', 'fail.example.test'] + LEGACY, ok=False)
    expect(f, 'fail.example.test', 'TLS1.0', '')


@scenario
def gnutls():
    c = certs()['default']
    f = 'gnutls-tls12.pcap'
    with Capture(out(f), 'tcp port 443'):
        srv = Server(['gnutls-serv', '--x509certfile', c + '.crt', '--x509keyfile', c + '.key',
                      '--echo', '-p', '443'], 443, 'gnutls-serv')
        try:
            run_client(['gnutls-cli', '--insecure', '--sni-hostname', 'gnutls.example.test',
                        '--priority', 'NORMAL:-VERS-ALL:+VERS-TLS1.2', '-p', '443', '127.0.0.1'],
                       b'hello from gnutls-cli\n', name='gnutls-cli')
            time.sleep(0.2)
        finally:
            srv.wait(kill=True)
    expect(f, 'gnutls.example.test', 'TLS1.2', 'TLS1.2')


@scenario
def curl():
    c = certs()['default']
    f = 'curl-tls13.pcap'
    with Capture(out(f), 'tcp port 443'):
        srv = s_server(443, c, '-alpn', 'http/1.1', www=True)
        run_client(['curl', '--silent', '--show-error', '--insecure', '--max-time', '10', '-o', '/dev/null',
                    '--resolve', 'curl.example.test:443:127.0.0.1', 'https://curl.example.test/'], name='curl')
        srv.wait()
    expect(f, 'curl.example.test', 'TLS1.3', 'TLS1.3')


@scenario
def python_tls12():
    c = certs()['default']
    f = 'python-tls12.pcap'
    with Capture(out(f), 'tcp port 443'):
        join = py_echo_server(443, py_server_ctx(c, ssl.TLSVersion.TLSv1_2, ['http/1.1']))
        ctx = py_client_ctx(alpn=['h2', 'http/1.1'])  # offers TLS1.2+TLS1.3
        with socket.create_connection(('127.0.0.1', 443), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname='python.example.test') as t:
                t.sendall(b'hello from python\n')
                t.recv(1024)
                try:
                    t.unwrap()
                except (ssl.SSLError, OSError):
                    pass
        join()
    expect(f, 'python.example.test', 'TLS1.3', 'TLS1.2')


# --------------------------------------------------------------------------- split ClientHello

def memorybio_client(port, sni, mode):
    """Handshake through ssl.MemoryBIO so the ClientHello bytes can be re-sent our way.

    mode 'segments': ClientHello record sent in 4 TCP segments (first one only 3 bytes).
    mode 'records' : ClientHello handshake message re-framed into 4 TLS records
                     (first one carries 2 bytes, i.e. a partial handshake header),
                     all records sent with a single send().
    mode 'fastopen': the ClientHello rides on the SYN (TCP Fast Open, sendto
                     with MSG_FASTOPEN; needs tcp_fastopen enabled without cookies).
    """
    ctx = py_client_ctx()
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outb, server_hostname=sni)
    if mode == 'fastopen':
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(10)
    else:
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    ch = outb.read()
    rlen = int.from_bytes(ch[3:5], 'big')
    assert ch[0] == 22 and len(ch) == 5 + rlen and ch[5] == 1, 'unexpected ClientHello framing'
    if mode == 'fastopen':
        if sock.sendto(ch, socket.MSG_FASTOPEN, ('127.0.0.1', port)) != len(ch):
            raise RuntimeError('the ClientHello did not fit on the SYN')
    elif mode == 'segments':
        cuts = [0, 3, 90, 200, len(ch)]
        for a, b in zip(cuts, cuts[1:]):
            sock.sendall(ch[a:b])
            time.sleep(0.05)
    else:
        body = ch[5:]
        cuts = [0, 2, 60, 160, len(body)]
        recs = b''
        for a, b in zip(cuts, cuts[1:]):
            recs += bytes([22]) + ch[1:3] + (b - a).to_bytes(2, 'big') + body[a:b]
        sock.sendall(recs)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outb.read()
            if pending:
                sock.sendall(pending)
            d = sock.recv(65536)
            if not d:
                raise RuntimeError('server closed during handshake')
            inc.write(d)
    obj.write(b'hello after split ClientHello\n')
    sock.sendall(outb.read())
    try:
        obj.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLError):
        pass
    sock.sendall(outb.read())
    time.sleep(0.1)
    sock.close()
    return obj.version()


@scenario
def split():
    c = certs()['default']
    f = 'split-segments.pcap'
    with Capture(out(f), 'tcp port 443'):
        srv = s_server(443, c)
        v = memorybio_client(443, 'split-segments.example.test', 'segments')
        srv.wait()
    assert v == 'TLSv1.3', v
    expect(f, 'split-segments.example.test', 'TLS1.3', 'TLS1.3')
    f = 'split-records.pcap'
    with Capture(out(f), 'tcp port 443'):
        srv = s_server(443, c, '-no_tls1_3')
        v = memorybio_client(443, 'split-records.example.test', 'records')
        srv.wait()
    assert v == 'TLSv1.2', v
    expect(f, 'split-records.example.test', 'TLS1.3', 'TLS1.2')
    # offline variants of split-segments.pcap: segments 2 and 3 of the
    # ClientHello delivered out of order / segment 2 retransmitted late
    seg = data_frames(out('split-segments.pcap'), 443)[:4]
    edit_frames(out('split-segments.pcap'), out('split-segments-reordered.pcap'), ('--swap', f'{seg[1]},{seg[2]}'))
    expect('split-segments-reordered.pcap', 'split-segments.example.test', 'TLS1.3', 'TLS1.3')
    edit_frames(out('split-segments.pcap'), out('split-segments-retransmit.pcap'), ('--dup', f'{seg[1]},{seg[2]}'))
    expect('split-segments-retransmit.pcap', 'split-segments.example.test', 'TLS1.3', 'TLS1.3')


@scenario
def fastopen():
    # TCP Fast Open in a throwaway network namespace (tcp_fastopen 0x607:
    # client and server, no cookie needed, on every listener): the Python
    # MemoryBIO client's ClientHello rides on the SYN to s_server (TLS 1.3).
    # Then offline, a server that answers the SYN twice with different initial
    # sequence numbers: a copy of the SYN-ACK with the ISN moved is inserted
    # after the real one, and the server's data (and the client's ACKs) follow
    # either the second SYN-ACK or the first.
    c = certs()['default']
    f = 'tfo-tls13.pcap'
    with NetNs('tlsready-samples-tfo', [('net.ipv4.tcp_fastopen', '0x607')]):
        with Capture(out(f), 'tcp port 443'):
            srv = s_server(443, c)
            v = memorybio_client(443, 'tfo.example.test', 'fastopen')
            srv.wait()
    assert v == 'TLSv1.3', v
    syn = subprocess.run(['tshark', '-r', out(f), '-n', '-Y', 'tcp.flags.syn == 1 && tcp.flags.ack == 0',
                          '-T', 'fields', '-e', 'tcp.len'], check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.split()
    if not syn or int(syn[0]) == 0:
        raise RuntimeError(f'the SYN carried no data (lengths {syn})')
    expect(f, 'tfo.example.test', 'TLS1.3', 'TLS1.3')
    pcaprewrite('synack', out(f), out('tfo-second-synack.pcap'), '--isn-delta', '0x5a5a1234', '--follow', 'second')
    expect('tfo-second-synack.pcap', 'tfo.example.test', 'TLS1.3', 'TLS1.3')
    pcaprewrite('synack', out(f), out('tfo-stale-synack.pcap'), '--isn-delta', '0x5a5a1234', '--follow', 'first')
    # tshark follows the later SYN-ACK and finds no ServerHello
    expect('tfo-stale-synack.pcap', 'tfo.example.test', 'TLS1.3', 'TLS1.3', tshark_neg='')


@scenario
def midstream():
    # capture "started late": everything up to and including the ClientHello
    # of openssl-tls12.pcap removed (no SYN, no ClientHello, ServerHello kept)
    src = out('openssl-tls12.pcap')
    if not os.path.exists(src):
        openssl_versions()
    ch = data_frames(src, 443)[0]
    edit_frames(src, out('midstream-no-clienthello.pcap'), ('--drop', f'1-{ch}'))
    expect('midstream-no-clienthello.pcap', '', '', 'TLS1.2')


@scenario
def hrr():
    # TLS1.3 HelloRetryRequest: client sends a P-256 key share, server only takes X25519
    c = certs()['default']
    f = 'openssl-tls13-hrr.pcap'
    openssl_pair(out(f), 443, c, ['-tls1_3', '-groups', 'X25519'],
                 ['-tls1_3', '-groups', 'P-256:X25519', '-servername', 'hrr.example.test'])
    expect(f, 'hrr.example.test', 'TLS1.3', 'TLS1.3')


@scenario
def tls13_draft_layout():
    # The ServerHello of openssl-tls13.pcap rewritten offline into the layout of
    # the TLS 1.3 drafts before 22 (no session id echo, no compression method,
    # the version in the version field): once with 0x0304 there, once with the
    # draft-18 code 0x7f12 (the client's supported_versions then offers 0x7f12).
    # Random, cipher suite and key_share are the real server's bytes.
    src = out('openssl-tls13.pcap')
    if not os.path.exists(src):
        openssl_versions()
    for f, version, label in (('tls13-draft-layout-0304.pcap', '0x0304', 'TLS1.3'),
                              ('tls13-draft18-layout.pcap', '0x7f12', 'TLS1.3-draft18')):
        pcaprewrite('draft13', src, out(f), '--version', version)
        expect(f, 'tls13.example.test', label, label)


# --------------------------------------------------------------------------- link layers / formats

@scenario
def ipv6():
    c = certs()['default']
    f = 'ipv6.pcap'
    with Capture(out(f), 'tcp port 443'):
        srv = s_server(443, c, '-tls1_2', host='::1')
        s_client(443, '-tls1_2', '-servername', 'ipv6.example.test', host='::1')
        srv.wait()
    expect(f, 'ipv6.example.test', 'TLS1.2', 'TLS1.2', client='::1', server='::1')


@scenario
def vlan():
    src = out('openssl-tls12.pcap')
    if not os.path.exists(src):
        openssl_versions()
    add_vlan(src, out('vlan.pcap'), '0x8100:100')
    expect('vlan.pcap', 'tls12.example.test', 'TLS1.2', 'TLS1.2')
    add_vlan(src, out('qinq.pcap'), '0x88a8:100', '0x8100:200')
    expect('qinq.pcap', 'tls12.example.test', 'TLS1.2', 'TLS1.2')


@scenario
def cooked():
    c = certs()['default']
    bpf = 'tcp port 443 and host 127.0.0.1'   # `any` also sees non-loopback traffic
    openssl_pair(out('sll.pcap'), 443, c, ['-tls1_2'], ['-tls1_2', '-servername', 'sll.example.test'],
                 iface='any', linktype='LINUX_SLL', bpf=bpf)
    expect('sll.pcap', 'sll.example.test', 'TLS1.2', 'TLS1.2')
    openssl_pair(out('sll2.pcap'), 443, c, ['-tls1_3'], ['-servername', 'sll2.example.test'],
                 iface='any', linktype='LINUX_SLL2', bpf=bpf)
    expect('sll2.pcap', 'sll2.example.test', 'TLS1.3', 'TLS1.3')


@scenario
def pcapng():
    c = certs()['default']
    f = 'openssl-tls13.pcapng'
    openssl_pair(out(f), 443, c, [], ['-servername', 'pcapng.example.test'], tool='dumpcap')
    os.chmod(out(f), 0o644)  # dumpcap creates 0600
    expect(f, 'pcapng.example.test', 'TLS1.3', 'TLS1.3')


@scenario
def gz():
    src = out('openssl-tls12.pcap')
    if not os.path.exists(src):
        openssl_versions()
    with open(src, 'rb') as fi, open(out('openssl-tls12.pcap.gz'), 'wb') as fo:
        # mtime=0 and no file name: byte-identical output for identical input
        with gzip.GzipFile(filename='', mode='wb', fileobj=fo, mtime=0, compresslevel=9) as gzf:
            gzf.write(fi.read())


# --------------------------------------------------------------------------- capture file formats

class TunNet:
    """Namespaces A and B joined by two tun devices (tunwire.py): traffic
    between A (10.97.0.1) and B (10.97.0.2) is captured on A's device as raw
    IP (LINKTYPE_RAW). Nothing leaves the two namespaces."""
    A, B = 'tlsready-smp-a', 'tlsready-smp-b'
    ADDR_A, ADDR_B = '10.97.0.1', '10.97.0.2'
    DEV_A, DEV_B = 'tlsrdy-tun-a', 'tlsrdy-tun-b'

    def __enter__(self):
        for ns in (self.A, self.B):
            subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)
            subprocess.run(['ip', 'netns', 'add', ns], check=True)
        self.wire = subprocess.Popen([sys.executable, os.path.join(HERE, 'tunwire.py'), self.DEV_A, self.DEV_B],
                                     stdout=subprocess.PIPE, text=True)
        if self.wire.stdout.readline().strip() != 'ready':
            raise RuntimeError('tunwire.py did not start')
        for ns, dev, addr in ((self.A, self.DEV_A, self.ADDR_A), (self.B, self.DEV_B, self.ADDR_B)):
            for cmd in (['link', 'set', dev, 'netns', ns], ['-n', ns, 'addr', 'add', addr + '/24', 'dev', dev],
                        ['-n', ns, 'link', 'set', dev, 'up'], ['-n', ns, 'link', 'set', 'lo', 'up']):
                subprocess.run(['ip'] + cmd, check=True)
        return self

    def __exit__(self, et, ev, tb):
        self.wire.kill()
        self.wire.wait()
        for ns in (self.A, self.B):
            subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)
        return False

    def pair(self, cert, srv_args, cli_args, port=443):
        """One s_server in B, one s_client in A to it."""
        srv = s_server(port, cert, *srv_args, host=self.ADDR_B, ns=self.B)
        s_client(port, *cli_args, host=self.ADDR_B, ns=self.A)
        srv.wait()

    def local_pair(self, cert, srv_args, cli_args, port=443):
        """s_server and s_client both in A, on its loopback."""
        srv = s_server(port, cert, *srv_args, ns=self.A)
        s_client(port, *cli_args, ns=self.A)
        srv.wait()


def editcap(fmt, src, dst):
    subprocess.run(['editcap', '-F', fmt, src, dst], check=True)
    os.chmod(dst, 0o644)


@scenario
def formats():
    """Link types and file formats as capture tools write them: raw IP from a
    tun device, dumpcap on two interfaces of different link types, mergecap
    across link types, editcap conversions, pcapng sections of both byte
    orders in one file."""
    c = certs()['default']
    tun = TunNet
    with TunNet() as net:
        # Raw IP (tcpdump on a tun device).
        f = 'rawip.pcap'
        with Capture(out(f), 'tcp port 443', iface=tun.DEV_A, ns=tun.A):
            net.pair(c, ['-tls1_2'], ['-tls1_2', '-servername', 'rawip.example.test'])
        expect(f, 'rawip.example.test', 'TLS1.2', 'TLS1.2', client=tun.ADDR_A, server=tun.ADDR_B)
        # dumpcap on loopback (Ethernet) and the tun device (raw IP) at once.
        f = 'dumpcap-two-interfaces.pcapng'
        with Capture(out(f), 'tcp port 443', iface=['lo', tun.DEV_A], tool='dumpcap', ns=tun.A):
            net.local_pair(c, ['-tls1_3'], ['-servername', 'two-lo.example.test'])
            net.pair(c, ['-tls1'] + LEGACY, ['-tls1', '-servername', 'two-tun.example.test'] + LEGACY)
        os.chmod(out(f), 0o644)
        expect(f, 'two-lo.example.test', 'TLS1.3', 'TLS1.3')
        expect(f, 'two-tun.example.test', 'TLS1.0', 'TLS1.0', client=tun.ADDR_A, server=tun.ADDR_B)
        # Three captures of three link types, merged.
        raw = work('merge-raw.pcap')
        with Capture(raw, 'tcp port 443', iface=tun.DEV_A, ns=tun.A):
            net.pair(c, ['-tls1_2'], ['-no_tls1_3', '-servername', 'merged-raw.example.test'])
    eth, sll = work('merge-eth.pcap'), work('merge-sll.pcap')
    openssl_pair(eth, 443, c, ['-tls1_3'], ['-servername', 'merged-eth.example.test'])
    openssl_pair(sll, 443, c, ['-tls1_1'] + LEGACY, ['-tls1_1', '-servername', 'merged-sll.example.test'] + LEGACY,
                 iface='any', linktype='LINUX_SLL', bpf='tcp port 443 and host 127.0.0.1')
    f = 'mergecap-link-types.pcapng'
    subprocess.run(['mergecap', '-F', 'pcapng', '-w', out(f), eth, sll, raw], check=True)
    os.chmod(out(f), 0o644)
    expect(f, 'merged-eth.example.test', 'TLS1.3', 'TLS1.3')
    expect(f, 'merged-sll.example.test', 'TLS1.1', 'TLS1.1')
    expect(f, 'merged-raw.example.test', 'TLS1.2', 'TLS1.2', client=tun.ADDR_A, server=tun.ADDR_B)
    # editcap conversions of fresh captures.
    for fmt, f, sni, args in (('pcapng', 'editcap-pcapng.pcapng', 'editcap-pcapng.example.test', ['-tls1_2']),
                              ('nsecpcap', 'editcap-nsec.pcap', 'editcap-nsec.example.test', ['-tls1_3']),
                              ('modpcap', 'editcap-modified.pcap', 'editcap-modified.example.test', ['-tls1_2'])):
        src = work(f + '.src.pcap')
        openssl_pair(src, 443, c, args, args + ['-servername', sni])
        editcap(fmt, src, out(f))
        v = {'-tls1_2': 'TLS1.2', '-tls1_3': 'TLS1.3'}[args[0]]
        expect(f, sni, v, v)
    # Two sections: little-endian (dumpcap), then big-endian (pcapng_be.py).
    le, be_src, be = work('section-le.pcapng'), work('section-be.pcap'), work('section-be.pcapng')
    openssl_pair(le, 443, c, ['-tls1_2'], ['-tls1_2', '-servername', 'section-le.example.test'], tool='dumpcap')
    openssl_pair(be_src, 443, c, ['-tls1_3'], ['-servername', 'section-be.example.test'])
    subprocess.run([sys.executable, os.path.join(HERE, 'pcapng_be.py'), be_src, be], check=True)
    f = 'sections-both-byte-orders.pcapng'
    with open(out(f), 'wb') as o:
        for part in (le, be):
            with open(part, 'rb') as i:
                o.write(i.read())
    expect(f, 'section-le.example.test', 'TLS1.2', 'TLS1.2')
    expect(f, 'section-be.example.test', 'TLS1.3', 'TLS1.3')


# --------------------------------------------------------------------------- mail

O365_BANNER = 'AM0PR01CA0001.outlook.office365.com'


def mail_starttls(f, proto, port, cert, cli_args, banner='mail.example.test', data=None):
    data = data if data is not None else {'smtp': b'QUIT\n', 'imap': b'a002 LOGOUT\n', 'pop3': b'QUIT\n'}[proto]
    with Capture(out(f), f'tcp port {port}'):
        join = mail_server(proto, port, cert, banner=banner)
        s_client(port, '-starttls', proto, '-crlf', *cli_args, data=data)
        join()


@scenario
def mail():
    c = certs()['default']
    tls10 = ['-tls1'] + LEGACY
    # SMTP submission, old printer-style client: TLS1.0, no SNI, EHLO name set with -name
    f = 'smtp-starttls-tls10-587.pcap'
    mail_starttls(f, 'smtp', 587, c, tls10 + ['-noservername', '-name', 'printer01.corp.example'], banner=O365_BANNER)
    expect(f, '', 'TLS1.0', 'TLS1.0', port=587)
    f = 'smtp-starttls-tls12-2525.pcap'
    mail_starttls(f, 'smtp', 2525, c, ['-tls1_2', '-servername', 'smtp.example.test', '-name', 'scanner02.corp.example'])
    expect(f, 'smtp.example.test', 'TLS1.2', 'TLS1.2', port=2525)
    f = 'imap-starttls-tls10-143.pcap'
    mail_starttls(f, 'imap', 143, c, tls10 + ['-noservername'])
    expect(f, '', 'TLS1.0', 'TLS1.0', port=143)
    f = 'imap-starttls-tls12-10143.pcap'
    mail_starttls(f, 'imap', 10143, c, ['-tls1_2', '-servername', 'imap.example.test'])
    expect(f, 'imap.example.test', 'TLS1.2', 'TLS1.2', port=10143)
    f = 'pop3-starttls-tls10-110.pcap'
    mail_starttls(f, 'pop3', 110, c, tls10 + ['-noservername'])
    expect(f, '', 'TLS1.0', 'TLS1.0', port=110)
    f = 'pop3-starttls-tls12-10110.pcap'
    mail_starttls(f, 'pop3', 10110, c, ['-tls1_2', '-servername', 'pop3.example.test'])
    expect(f, 'pop3.example.test', 'TLS1.2', 'TLS1.2', port=10110)


@scenario
def mail_implicit():
    c = certs()['default']
    for f, proto, port, args, sni, ver, data in (
            ('smtps-implicit-tls12-465.pcap', 'smtp', 465, ['-tls1_2'], 'smtps.example.test', 'TLS1.2', b'QUIT\n'),
            ('imaps-implicit-tls10-993.pcap', 'imap', 993, ['-tls1'] + LEGACY, 'imaps.example.test', 'TLS1.0',
             b'a001 LOGOUT\n'),
            ('pop3s-implicit-tls13-995.pcap', 'pop3', 995, [], 'pop3s.example.test', 'TLS1.3', b'QUIT\n')):
        with Capture(out(f), f'tcp port {port}'):
            join = mail_server(proto, port, c, mode='implicit')
            s_client(port, '-crlf', '-servername', sni, *args, data=data)
            join()
        expect(f, sni, ver, ver, port=port)


@scenario
def mail_plaintext_answer():
    # Implicit TLS sent to mail servers that speak plaintext first (configured
    # for STARTTLS): s_client sends its ClientHello at once, the server sends
    # its greeting in clear (and answers the hello's bytes as a bad command);
    # s_client gives up on the greeting, which is no TLS record, without an
    # alert. No ServerHello.
    c = certs()['default']
    for f, proto, port, args, sni, cmax, banner in (
            ('smtps-plaintext-answer-465.pcap', 'smtp', 465, [], 'smtps.example.test', 'TLS1.3', O365_BANNER),
            ('imaps-plaintext-answer-993.pcap', 'imap', 993, ['-tls1'] + LEGACY, 'imaps.example.test', 'TLS1.0',
             'mail.example.test'),
            ('pop3s-plaintext-answer-995.pcap', 'pop3', 995, ['-tls1_2'], 'pop3s.example.test', 'TLS1.2',
             'mail.example.test')):
        with Capture(out(f), f'tcp port {port}'):
            join = mail_server(proto, port, c, mode='starttls', banner=banner)
            s_client(port, '-crlf', '-servername', sni, *args, data=b'', ok=False)
            join()
        expect(f, sni, cmax, '', port=port)


@scenario
def mail_plain():
    c = certs()['default']
    f = 'smtp-starttls-refused-25.pcap'
    with Capture(out(f), 'tcp port 25'):
        join = mail_server('smtp', 25, c, mode='refuse', banner=O365_BANNER)
        s = smtplib.SMTP('127.0.0.1', 25, local_hostname='printer02.corp.example', timeout=10)
        s.ehlo()
        try:
            s.starttls()
            raise RuntimeError('STARTTLS was not refused')
        except smtplib.SMTPResponseException as e:
            if e.smtp_code != 454:
                raise
        s.quit()
        join()
    NO_TLS.add(f)
    f = 'smtp-plaintext-25.pcap'
    with Capture(out(f), 'tcp port 25'):
        join = mail_server('smtp', 25, None, mode='plain', banner='mail.example.test')
        s = smtplib.SMTP('127.0.0.1', 25, local_hostname='printer03.corp.example', timeout=10)
        s.sendmail('scanner@corp.example', ['alice@corp.example'],
                   'From: scanner@corp.example\r\nTo: alice@corp.example\r\nSubject: Scan\r\n\r\n'
                   'Your scanned document is ready.\r\n')
        s.quit()
        join()
    NO_TLS.add(f)


# --------------------------------------------------------------------------- Microsoft 365 (rewritten)

@scenario
def m365():
    C = certs()
    # (a) SNI outlook.office365.com, server 52.96.10.20 (52.96.0.0/14)
    f = 'm365-sni-tls12.pcap'
    openssl_pair(work(f), 443, C['m365'], [], ['-tls1_2', '-servername', 'outlook.office365.com'])
    rewrite(work(f), out(f), '443=52.96.10.20,10.20.0.1')
    expect(f, 'outlook.office365.com', 'TLS1.2', 'TLS1.2', client='10.20.0.1', server='52.96.10.20')
    # (b) no SNI, Microsoft certificate names only, non-Microsoft address
    f = 'm365-cert-only-tls10.pcap'
    openssl_pair(work(f), 443, C['m365'], ['-tls1'] + LEGACY, ['-tls1', '-noservername'] + LEGACY)
    rewrite(work(f), out(f), '443=198.51.100.7,10.20.0.2')
    expect(f, '', 'TLS1.0', 'TLS1.0', client='10.20.0.2', server='198.51.100.7')
    # (c) no SNI, neutral certificate, Microsoft address 40.96.5.5 (40.96.0.0/13)
    f = 'm365-ip-only-tls11.pcap'
    openssl_pair(work(f), 443, C['neutral'], ['-tls1_1'] + LEGACY, ['-tls1_1', '-noservername'] + LEGACY)
    rewrite(work(f), out(f), '443=40.96.5.5,10.20.0.3')
    expect(f, '', 'TLS1.1', 'TLS1.1', client='10.20.0.3', server='40.96.5.5')
    # (d) SMTP STARTTLS TLS1.0 to Exchange Online, SNI smtp-legacy.office365.com, 52.98.1.1
    f = 'm365-legacy-smtp.pcap'
    with Capture(work(f), 'tcp port 587'):
        join = mail_server('smtp', 587, C['m365'], banner=O365_BANNER)
        s_client(587, '-starttls', 'smtp', '-crlf', '-name', 'printer01.corp.example', '-tls1',
                 '-servername', 'smtp-legacy.office365.com', *LEGACY, data=b'QUIT\n')
        join()
    rewrite(work(f), out(f), '587=52.98.1.1,10.20.0.4')
    expect(f, 'smtp-legacy.office365.com', 'TLS1.0', 'TLS1.0', client='10.20.0.4', server='52.98.1.1', port=587)
    # (e) Microsoft SNI on a non-Microsoft address with a neutral certificate
    f = 'm365-sni-spoof.pcap'
    openssl_pair(work(f), 443, C['neutral'], [], ['-tls1_2', '-servername', 'contoso.sharepoint.com'])
    rewrite(work(f), out(f), '443=203.0.113.9,10.20.0.5')
    expect(f, 'contoso.sharepoint.com', 'TLS1.2', 'TLS1.2', client='10.20.0.5', server='203.0.113.9')
    # (f) negative: www.microsoft.com is not a Microsoft 365 endpoint
    f = 'not-m365.pcap'
    openssl_pair(work(f), 443, C['neutral'], [], ['-servername', 'www.microsoft.com'])
    rewrite(work(f), out(f), '443=198.51.100.20,10.20.0.6')
    expect(f, 'www.microsoft.com', 'TLS1.3', 'TLS1.3', client='10.20.0.6', server='198.51.100.20')
    # (g) IPv6: ::1 -> 2603:1006::10 (2603:1006::/40), client fd20:20::7
    f = 'm365-ipv6.pcap'
    with Capture(work(f), 'tcp port 443'):
        srv = s_server(443, C['m365'], host='::1')
        s_client(443, '-tls1_2', '-servername', 'outlook.office.com', host='::1')
        srv.wait()
    rewrite(work(f), out(f), '443=2603:1006::10,fd20:20::7')
    expect(f, 'outlook.office.com', 'TLS1.2', 'TLS1.2', client='fd20:20::7', server='2603:1006::10')


@scenario
def clients_mixed():
    C = certs()
    f = 'clients-mixed.pcap'
    # real port -> (rewritten server, rewritten client); all end up on port 443
    servers = {
        14431: ('52.96.30.1', '10.30.0.1', ['-min_protocol', 'TLSv1'] + LEGACY),  # modern server, allows 1.0
        14432: ('52.96.30.2', '10.30.0.2', LEGACY),                                # modern server
        14433: ('52.98.30.3', '10.30.0.2', ['-tls1'] + LEGACY),                    # server capped at TLS1.0
        14434: ('40.97.30.4', '10.30.0.3', []),                                    # modern server
    }
    conns = [  # (real port, client args) in time order
        (14431, ['-tls1'] + LEGACY),
        (14432, ['-no_tls1_3'] + LEGACY),
        (14434, ['-tls1_3']),
        (14432, ['-no_tls1_3'] + LEGACY),
        (14431, ['-tls1'] + LEGACY),
        (14433, ['-no_tls1_3'] + LEGACY),   # fallback: offers up to 1.2, gets 1.0
        (14432, ['-no_tls1_3'] + LEGACY),
        (14434, ['-tls1_3']),
        (14432, ['-no_tls1_3'] + LEGACY),
        (14431, ['-tls1'] + LEGACY),
    ]
    with Capture(work(f), 'tcp portrange 14431-14434'):
        srvs = [s_server(p, C['m365'], *servers[p][2], naccept=sum(1 for q, _ in conns if q == p))
                for p in servers]
        for p, args in conns:
            s_client(p, '-servername', 'outlook.office365.com', *args)
        for s in srvs:
            s.wait()
    rewrite(work(f), out(f), *(f'{p}={s},{c},443' for p, (s, c, _) in servers.items()))
    for p, args in conns:
        srv, cli, _ = servers[p]
        cmax = {'-tls1': 'TLS1.0', '-no_tls1_3': 'TLS1.2', '-tls1_3': 'TLS1.3'}[args[0]]
        neg = 'TLS1.0' if p == 14433 else cmax
        expect(f, 'outlook.office365.com', cmax, neg, client=cli, server=srv)


# --------------------------------------------------------------------------- tunnels, wireless, fragments

def sh(*cmd, data=None):
    r = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    LOG.write('$ ' + ' '.join(cmd) + '\n' + r.stdout.decode('latin-1'))
    if r.returncode != 0:
        raise RuntimeError(f'failed (rc={r.returncode}): {" ".join(cmd)}: {r.stdout.decode("latin-1")}')


class Netns:
    """Network namespaces (`tlsr-NAME`, loopback up), deleted on exit."""

    def __init__(self, *names):
        self.names = [f'tlsr-{n}' for n in names]

    def __enter__(self):
        for n in self.names:
            subprocess.run(['ip', 'netns', 'del', n], stderr=subprocess.DEVNULL)
            sh('ip', 'netns', 'add', n)
            sh('ip', '-n', n, 'link', 'set', 'lo', 'up')
            # No IPv6 autoconfiguration chatter on the links.
            sh('ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1')
            sh('ip', 'netns', 'exec', n, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1')
        return self.names

    def __exit__(self, et, ev, tb):
        for n in self.names:
            subprocess.run(['ip', 'netns', 'del', n], stderr=subprocess.DEVNULL)
        return False


def veth(ns_a, name_a, addr_a, ns_b, name_b, addr_b, mtu=None):
    sh('ip', 'link', 'add', name_a, 'netns', ns_a, 'type', 'veth', 'peer', 'name', name_b, 'netns', ns_b)
    for ns, name, addr in ((ns_a, name_a, addr_a), (ns_b, name_b, addr_b)):
        sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', name)
        if mtu:
            sh('ip', '-n', ns, 'link', 'set', name, 'mtu', str(mtu))
        sh('ip', '-n', ns, 'link', 'set', name, 'up')


@scenario
def nflog():
    """tcpdump -i nflog:7 on the packets an nftables `log group 7` rule logs."""
    c = certs()['default']
    f = 'nflog.pcap'
    with Netns('nflog') as (n,):
        sh('ip', 'netns', 'exec', n, 'nft', '-f', '-', data=(
            b'table inet tlsready {\n chain out {\n  type filter hook output priority 0;\n'
            b'  tcp dport 443 log group 7\n  tcp sport 443 log group 7\n }\n}\n'))
        with Capture(out(f), '', iface='nflog:7', ns=n):
            srv = s_server(443, c, '-tls1_2', ns=n)
            s_client(443, '-servername', 'nflog.example.test', ns=n)
            srv.wait()
    expect(f, 'nflog.example.test', 'TLS1.3', 'TLS1.2')


@scenario
def vxlan():
    """The kernel's VXLAN (id 42, UDP 4789) between two namespaces; tcpdump on the underlay."""
    c = certs()['default']
    f = 'vxlan.pcap'
    with Netns('vxa', 'vxb') as (a, b):
        veth(a, 'under-a', '192.0.2.1/24', b, 'under-b', '192.0.2.2/24')
        for ns, dev, local, remote, addr in ((a, 'under-a', '192.0.2.1', '192.0.2.2', '10.42.0.1/24'),
                                             (b, 'under-b', '192.0.2.2', '192.0.2.1', '10.42.0.2/24')):
            sh('ip', '-n', ns, 'link', 'add', 'vxlan42', 'type', 'vxlan', 'id', '42', 'dstport', '4789',
               'local', local, 'remote', remote, 'dev', dev)
            sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', 'vxlan42')
            sh('ip', '-n', ns, 'link', 'set', 'vxlan42', 'up')
        with Capture(out(f), 'udp port 4789', iface='under-a', ns=a):
            srv = s_server(443, c, '-tls1_2', host='10.42.0.2', ns=b)
            s_client(443, '-servername', 'vxlan.example.test', host='10.42.0.2', ns=a)
            srv.wait()
    expect(f, 'vxlan.example.test', 'TLS1.3', 'TLS1.2', client='10.42.0.1', server='10.42.0.2')


def fragment_groups(pcap):
    """Frame numbers of the IPv4 fragments in `pcap`, grouped by datagram."""
    r = subprocess.run(['tshark', '-r', pcap, '-n', '-o', 'ip.defragment:FALSE', '-Y',
                        'ip.flags.mf == 1 || ip.frag_offset > 0', '-T', 'fields', '-e', 'frame.number',
                        '-e', 'ip.id'], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    groups = {}
    for line in r.stdout.splitlines():
        n, ident = line.split('\t')
        groups.setdefault(ident, []).append(int(n))
    return list(groups.values())


@scenario
def fragments():
    """Client and server with MTU 1500, a 256-byte MTU link between two routers
    in between, path MTU discovery off at both ends (no DF bit): the first
    router fragments the ClientHello, the second the server's flight."""
    c = certs()['default']
    f = 'ipv4-fragments.pcap'
    with Netns('fc', 'fr1', 'fr2', 'fs') as (fc, r1, r2, fs):
        veth(fc, 'c0', '10.1.0.1/24', r1, 'r1a', '10.1.0.254/24')
        veth(r1, 'r1b', '10.2.0.1/24', r2, 'r2a', '10.2.0.2/24', mtu=256)
        veth(r2, 'r2b', '10.3.0.254/24', fs, 's0', '10.3.0.1/24')
        sh('ip', '-n', fc, 'route', 'add', 'default', 'via', '10.1.0.254')
        sh('ip', '-n', fs, 'route', 'add', 'default', 'via', '10.3.0.254')
        sh('ip', '-n', r1, 'route', 'add', '10.3.0.0/24', 'via', '10.2.0.2')
        sh('ip', '-n', r2, 'route', 'add', '10.1.0.0/24', 'via', '10.2.0.1')
        for ns in (r1, r2):
            sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        for ns in (fc, fs):
            sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_no_pmtu_disc=1')
        with Capture(out(f), 'host 10.1.0.1', iface='r2a', ns=r2):
            srv = s_server(443, c, '-tls1_2', host='10.3.0.1', ns=fs)
            s_client(443, '-servername', 'frag.example.test', host='10.3.0.1', ns=fc)
            srv.wait()
    groups = fragment_groups(out(f))
    if len(groups) < 2 or not all(len(g) >= 2 for g in groups):
        raise RuntimeError(f'{f}: expected fragmented datagrams, got {groups}')
    expect(f, 'frag.example.test', 'TLS1.3', 'TLS1.2', client='10.1.0.1', server='10.3.0.1')
    # Every datagram's fragments in reverse order; before each datagram is
    # whole, one of its fragments comes twice (an exact overlap).
    ops = []
    for g in groups:
        ops += [('--swap', f'{g[i]},{g[-1 - i]}') for i in range(len(g) // 2)]
        ops.append(('--dup', f'{g[0]},{g[0]}'))
    r = 'ipv4-fragments-reordered.pcap'
    edit_frames(out(f), out(r), *ops)
    expect(r, 'frag.example.test', 'TLS1.3', 'TLS1.2', client='10.1.0.1', server='10.3.0.1')


# (kind, source sample, output, sni, client max, negotiated, client, server)
ENCAP = [
    ('wifi', 'openssl-tls12.pcap', 'wifi-80211.pcap', 'tls12.example.test', 'TLS1.2', 'TLS1.2', None, None),
    ('radiotap', 'openssl-tls13.pcap', 'wifi-radiotap.pcap', 'tls13.example.test', 'TLS1.3', 'TLS1.3', None, None),
    ('ppi', 'gnutls-tls12.pcap', 'wifi-ppi.pcap', 'gnutls.example.test', 'TLS1.2', 'TLS1.2', None, None),
    ('geneve', 'python-tls12.pcap', 'geneve.pcap', 'python.example.test', 'TLS1.3', 'TLS1.2', None, None),
    ('gre', 'openssl-tls11.pcap', 'gre.pcap', 'tls11.example.test', 'TLS1.1', 'TLS1.1', None, None),
    ('erspan1', 'openssl-tls10.pcap', 'erspan1.pcap', 'tls10.example.test', 'TLS1.0', 'TLS1.0', None, None),
    ('erspan2', 'curl-tls13.pcap', 'erspan2.pcap', 'curl.example.test', 'TLS1.3', 'TLS1.3', None, None),
    ('erspan3', 'openssl-tls13-client-tls10-server.pcap', 'erspan3.pcap', 'fallback13.example.test', 'TLS1.3',
     'TLS1.0', None, None),
    ('mpls', 'm365-sni-tls12.pcap', 'mpls.pcap', 'outlook.office365.com', 'TLS1.2', 'TLS1.2', '10.20.0.1',
     '52.96.10.20'),
    ('pppoe', 'ipv6.pcap', 'pppoe-ipv6.pcap', 'ipv6.example.test', 'TLS1.2', 'TLS1.2', '::1', '::1'),
    ('nested', 'openssl-tls13-hrr.pcap', 'nested-tunnels.pcap', 'hrr.example.test', 'TLS1.3', 'TLS1.3', None, None),
    ('raw', 'openssl-tls12-client-tls10-server.pcap', 'raw-ipv4.pcap', 'fallback12.example.test', 'TLS1.2',
     'TLS1.0', None, None),
    ('raw', 'ipv6.pcap', 'raw-ipv6.pcap', 'ipv6.example.test', 'TLS1.2', 'TLS1.2', '::1', '::1'),
    ('frag6', 'm365-ipv6.pcap', 'ipv6-fragments.pcap', 'outlook.office.com', 'TLS1.2', 'TLS1.2', 'fd20:20::7',
     '2603:1006::10'),
    ('fcs', 'split-segments.pcap', 'eth-fcs.pcap', 'split-segments.example.test', 'TLS1.3', 'TLS1.3', None, None),
]


@scenario
def encap():
    """Frames of the samples above wrapped offline by encap.py (scapy)."""
    for kind, src, dst, sni, cmax, neg, cli, srv in ENCAP:
        if not os.path.exists(out(src)):
            raise RuntimeError(f'{src} is missing: run its scenario first')
        subprocess.run([sys.executable, os.path.join(HERE, 'encap.py'), kind, out(src), out(dst)], check=True)
        expect(dst, sni, cmax, neg, client=cli or '127.0.0.1', server=srv or '127.0.0.1')


# --------------------------------------------------------------------------- check

def check(path, files):
    """Compare the oracle rows for `files` with what the scenarios intended."""
    key = ('file', 'client_ip', 'server_ip', 'server_port', 'sni', 'client_max_version', 'negotiated_version')
    with open(path) as fh:
        got = sorted(tuple(r[k] for k in key) for r in csv.DictReader(fh, delimiter='\t') if r['file'] in files)
    want = sorted((e['file'], e['client_ip'], e['server_ip'], e['server_port'], e['sni'], e['cmax'], e['neg'])
                  for e in EXPECT)
    ok = True
    for w in sorted(set(want) | set(got)):
        if want.count(w) != got.count(w):
            print(f'MISMATCH {w}: intended {want.count(w)} rows, tshark found {got.count(w)}', file=sys.stderr)
            ok = False
    print(f'check: {len(got)} oracle rows for {len(files)} files' + (' match the intent' if ok else ' DO NOT match'))
    return ok


def main():
    global WORK, LOG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', nargs='*', help='run only these scenarios')
    ap.add_argument('--list', action='store_true', help='list scenarios')
    ap.add_argument('--keep', action='store_true', help='keep the work directory (certs, logs, raw captures)')
    ap.add_argument('--no-oracle', action='store_true', help='do not regenerate and check expected.tsv')
    a = ap.parse_args()
    names = [n for n, _ in SCENARIOS]
    if a.list:
        print('\n'.join(names))
        return 0
    unknown = set(a.only or ()) - set(names)
    if unknown:
        sys.exit(f'unknown scenario(s): {sorted(unknown)}; see --list')
    if os.geteuid() != 0:
        sys.exit('must run as root (tcpdump, ports 25/110/143/443/465/587/993/995)')
    WORK = tempfile.mkdtemp(prefix='tlsready-samples-')
    LOG = open(os.path.join(WORK, 'make_samples.log'), 'w')
    t0 = time.time()
    try:
        for name, fn in SCENARIOS:
            if a.only and name not in a.only:
                continue
            log(f'== {name}')
            fn()
        log(f'captures done in {time.time() - t0:.1f}s')
    except BaseException:
        LOG.flush()
        print(f'FAILED; work directory kept: {WORK} (see make_samples.log)', file=sys.stderr)
        raise
    finally:
        LOG.close()
    if a.keep:
        print(f'work directory: {WORK}')
    else:
        shutil.rmtree(WORK)
    if a.no_oracle:
        return 0
    tsv = out('expected.tsv')
    subprocess.run([os.path.join(HERE, 'oracle.sh')], check=True)
    files = {e['file'] for e in EXPECT} | NO_TLS
    return 0 if check(tsv, files) else 1


if __name__ == '__main__':
    sys.exit(main())
