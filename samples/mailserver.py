#!/usr/bin/env python3
"""Minimal SMTP / IMAP / POP3 servers with STARTTLS or implicit TLS (stdlib only).

They speak just enough of each protocol for `openssl s_client -starttls ...`
and Python's smtplib to get through a session.  Used by make_samples.py (in a
thread) to produce the mail samples; can also be run by hand:

    python3 mailserver.py smtp 2525 --cert c.pem --key k.pem [--mode starttls]

Modes:
  starttls  advertise and honour STARTTLS / STLS (default)
  refuse    advertise STARTTLS but answer it with 454 (SMTP only)
  plain     no TLS at all (STARTTLS is not advertised)
  implicit  TLS from the first byte (SMTPS 465, IMAPS 993, POP3S 995)
"""
import argparse
import socket
import ssl


class Conn:
    """Line-oriented connection that can be upgraded to TLS in place."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def send(self, text):
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def readline(self):
        while b'\n' not in self.buf:
            try:
                d = self.sock.recv(4096)
            except (ssl.SSLError, OSError):
                d = b''
            if not d:
                rest, self.buf = self.buf, b''
                return rest.decode('latin-1') if rest else None
            self.buf += d
        line, _, self.buf = self.buf.partition(b'\n')
        return line.rstrip(b'\r').decode('latin-1')

    def starttls(self, ctx):
        assert not self.buf, 'client pipelined data after STARTTLS'
        self.sock = ctx.wrap_socket(self.sock, server_side=True)

    def close(self):
        try:
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock = self.sock.unwrap()
        except (ssl.SSLError, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_session(c, ctx, mode, banner_host):
    product = 'Microsoft ESMTP MAIL Service' if 'outlook' in banner_host else 'ESMTP'
    c.send(f'220 {banner_host} {product} ready\r\n')
    tls = mode == 'implicit'
    while True:
        line = c.readline()
        if line is None:
            return
        verb = line.split(' ', 1)[0].upper()
        if verb == 'EHLO':
            caps = ['SIZE 157286400', 'PIPELINING', '8BITMIME']
            if mode in ('starttls', 'refuse') and not tls:
                caps.append('STARTTLS')
            lines = [f'{banner_host} Hello [{line[5:].strip() or "client"}]'] + caps
            c.send(''.join(f'250{"-" if i < len(lines) - 1 else " "}{l}\r\n' for i, l in enumerate(lines)))
        elif verb == 'HELO':
            c.send(f'250 {banner_host} Hello\r\n')
        elif verb == 'STARTTLS':
            if mode == 'refuse' or tls or mode == 'plain':
                c.send('454 4.7.0 TLS not available\r\n')
            else:
                c.send('220 2.0.0 SMTP server ready\r\n')
                c.starttls(ctx)
                tls = True
        elif verb in ('MAIL', 'RCPT', 'RSET', 'NOOP'):
            c.send('250 2.1.0 OK\r\n')
        elif verb == 'DATA':
            c.send('354 Start mail input; end with <CRLF>.<CRLF>\r\n')
            while True:
                l = c.readline()
                if l is None:
                    return
                if l == '.':
                    break
            c.send('250 2.6.0 Queued mail for delivery\r\n')
        elif verb == 'QUIT':
            c.send('221 2.0.0 Service closing transmission channel\r\n')
            return
        else:
            c.send('500 5.3.3 Unrecognized command\r\n')


def imap_session(c, ctx, mode, banner_host):
    tls = mode == 'implicit'
    caps = 'IMAP4rev1 AUTH=PLAIN' if tls else 'IMAP4rev1 STARTTLS LOGINDISABLED'
    c.send(f'* OK [CAPABILITY {caps}] {banner_host} IMAP4 service ready\r\n')
    while True:
        line = c.readline()
        if line is None:
            return
        parts = line.split(' ')
        tag, cmd = parts[0], (parts[1].upper() if len(parts) > 1 else '')
        if cmd == 'CAPABILITY':
            caps = 'IMAP4rev1 AUTH=PLAIN' if tls else 'IMAP4rev1 STARTTLS LOGINDISABLED'
            c.send(f'* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed.\r\n')
        elif cmd == 'STARTTLS' and not tls and mode == 'starttls':
            c.send(f'{tag} OK Begin TLS negotiation now.\r\n')
            c.starttls(ctx)
            tls = True
        elif cmd == 'LOGOUT':
            c.send(f'* BYE {banner_host} logging out\r\n{tag} OK LOGOUT completed.\r\n')
            return
        elif cmd == 'NOOP':
            c.send(f'{tag} OK NOOP completed.\r\n')
        else:
            c.send(f'{tag} BAD Command Error.\r\n')


def pop3_session(c, ctx, mode, banner_host):
    tls = mode == 'implicit'
    c.send(f'+OK The {banner_host} POP3 service is ready.\r\n')
    while True:
        line = c.readline()
        if line is None:
            return
        cmd = line.split(' ', 1)[0].upper()
        if cmd == 'CAPA':
            c.send('+OK\r\nTOP\r\nUIDL\r\nUSER\r\n' + ('' if tls else 'STLS\r\n') + '.\r\n')
        elif cmd == 'STLS' and not tls and mode == 'starttls':
            c.send('+OK Begin TLS negotiation\r\n')
            c.starttls(ctx)
            tls = True
        elif cmd == 'QUIT':
            c.send('+OK Microsoft Exchange Server POP3 server signing off.\r\n')
            return
        elif cmd == 'NOOP':
            c.send('+OK\r\n')
        else:
            c.send('-ERR Protocol error.\r\n')


SESSIONS = {'smtp': smtp_session, 'imap': imap_session, 'pop3': pop3_session}


def make_context(cert, key, min_version=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')  # allow TLS 1.0/1.1 with OpenSSL 3
    ctx.minimum_version = min_version or ssl.TLSVersion.TLSv1
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def listen(host, port):
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(8)
    return ls


def serve(ls, proto, ctx, mode='starttls', banner_host='mail.example.test', count=1, timeout=20):
    """Serve `count` connections on listening socket `ls`, then close it."""
    ls.settimeout(timeout)
    try:
        for _ in range(count):
            s, _ = ls.accept()
            s.settimeout(timeout)
            if mode == 'implicit':
                try:
                    s = ctx.wrap_socket(s, server_side=True)
                except (ssl.SSLError, OSError):
                    s.close()
                    continue
            c = Conn(s)
            try:
                SESSIONS[proto](c, ctx, mode, banner_host)
            except (ssl.SSLError, OSError):
                pass
            finally:
                c.close()
    finally:
        ls.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('proto', choices=sorted(SESSIONS))
    ap.add_argument('port', type=int)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--mode', default='starttls', choices=['starttls', 'refuse', 'plain', 'implicit'])
    ap.add_argument('--banner-host', default='mail.example.test')
    ap.add_argument('--count', type=int, default=1)
    a = ap.parse_args()
    ctx = make_context(a.cert, a.key) if a.cert else None
    serve(listen(a.host, a.port), a.proto, ctx, a.mode, a.banner_host, a.count)


if __name__ == '__main__':
    main()
