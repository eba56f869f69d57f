#!/usr/bin/env python3
"""Capture a device whose address moves (DHCP gives it a new one), made by
real stacks in network namespaces: the sample of `--group-by device`.

    sudo python3 samples/identity/moving.py samples/identity/moving.pcap [--keep]

Four namespaces joined by a bridge (all addresses private, nothing leaves
the namespaces):

  mvsrv   bridge br0 10.198.0.1/24: dnsmasq (DHCPv4 only, DNS off), openssl
          s_server on 443 (TLS 1.0 allowed); tcpdump on br0 writes the capture.
  mvc1    "LAGER-PC", MAC 90:b1:1c:20:05:01 (a Dell OUI): ISC dhclient sending
          host name LAGER-PC and vendor class "MSFT 5.0".
          Phase 1, at the first address A: two TLS 1.0-only handshakes to
          outlook.office365.com (SNI). Then it releases A (dhclient -r).
          The DHCP scope is renumbered: dnsmasq restarts with another range
          (10.198.0.130-149 instead of .100-119) and a new lease file, and
          dhclient binds again: a new address B, same MAC, same host name.
          Phase 2, at B: one TLS 1.2 handshake and one TLS 1.0-only one.
  mvc2    "kasse-2", MAC d8:3a:dd:00:05:02 (a Raspberry Pi OUI): BusyBox udhcpc
          with a host name, one address for the whole capture; TLS 1.2 in
          both phases.
  mvc3    no name: a static address 10.198.0.50, MAC 02:00:00:00:05:03 (locally
          administered, no vendor), TLS 1.2 in both phases.

Between the phases the capture waits 65 seconds: a host's old and new
address then are not active within the same minute, which is how the
identity tells a host that moved from a router sourcing many addresses at
once (src/enrich/identity/macs.rs).

Expected, per address: A will-break (2 connections, TLS 1.0 only), B ready
(one TLS 1.0 fallback among TLS 1.2 is occasional); per device (LAGER-PC,
A and B): 4 connections, at-risk (3 of 4 handshakes below TLS 1.2).

The tools are Debian's: dnsmasq isc-dhcp-client udhcpc openssl tcpdump
(installed with apt-get when missing). Needs root.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NS = ["mvsrv", "mvc1", "mvc2", "mvc3"]
SRV4 = "10.198.0.1"
STATIC3 = "10.198.0.50"
MACS = {1: "90:b1:1c:20:05:01", 2: "d8:3a:dd:00:05:02", 3: "02:00:00:00:05:03"}
SNI = "outlook.office365.com"
PACKAGES = {"dnsmasq": "dnsmasq", "dhclient": "isc-dhcp-client", "udhcpc": "udhcpc",
            "openssl": "openssl", "tcpdump": "tcpdump"}
GAP_SECONDS = 65

procs = []


def run(*args, ns=None, check=True, input=None, timeout=30):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def spawn(*args, ns, log):
    cmd = ["ip", "netns", "exec", ns] + list(args)
    p = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                         start_new_session=True)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        os.killpg(p.pid, sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def wait_for(pred, what, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def addr_of(ns, dev):
    out = run("ip", "-4", "-o", "addr", "show", "dev", dev, "scope", "global", ns=ns).stdout
    for line in out.splitlines():
        return line.split()[3].split("/")[0]
    return None


def ensure_tools():
    missing = sorted({pkg for tool, pkg in PACKAGES.items() if not shutil.which(tool)
                      and not os.path.exists(f"/usr/sbin/{tool}")})
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                       check=True, env=env)


def network():
    for ns in NS:
        run("ip", "netns", "del", ns, check=False)
        run("ip", "netns", "add", ns)
        run("ip", "link", "set", "lo", "up", ns=ns)
        run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", ns=ns)
        run("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1", ns=ns)
    run("ip", "link", "add", "br0", "type", "bridge", ns="mvsrv")
    run("ip", "link", "set", "br0", "type", "bridge", "stp_state", "0", ns="mvsrv")
    for i, mac in MACS.items():
        run("ip", "link", "add", f"vs{i}", "netns", "mvsrv", "type", "veth", "peer",
            "name", f"vc{i}", "netns", f"mvc{i}")
        run("ip", "link", "set", f"vs{i}", "master", "br0", "up", ns="mvsrv")
        run("ip", "link", "set", f"vc{i}", "address", mac, "up", ns=f"mvc{i}")
    run("ip", "addr", "add", f"{SRV4}/24", "dev", "br0", ns="mvsrv")
    run("ip", "link", "set", "br0", "up", ns="mvsrv")
    run("ip", "addr", "add", f"{STATIC3}/24", "dev", "vc3", ns="mvc3")


def dnsmasq(tmp, first, last, leases):
    return spawn("dnsmasq", "--keep-in-foreground", "--port=0", "--no-resolv", "--no-hosts",
                 "--user=root", "--interface=br0", "--bind-interfaces",
                 f"--pid-file={tmp}/dnsmasq.pid", f"--dhcp-leasefile={leases}",
                 f"--dhcp-range={first},{last},255.255.255.0,1h", "--dhcp-authoritative",
                 "--log-dhcp", ns="mvsrv", log=f"{tmp}/dnsmasq-{first}.out")


def tls(ns, proto):
    run("openssl", "s_client", "-connect", f"{SRV4}:443", "-servername", SNI, proto,
        "-cipher", "DEFAULT:@SECLEVEL=0", ns=ns, input="", check=False)
    time.sleep(0.3)


def dhclient(tmp, *extra, leases, check=True):
    return run("dhclient", "-4", *extra, "-cf", f"{tmp}/dhclient.conf", "-lf", leases,
               "-pf", f"{tmp}/dhclient.pid", "vc1", ns="mvc1", timeout=60, check=check)


def cleanup(tmp):
    try:
        os.kill(int(open(f"{tmp}/dhclient.pid").read().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass
    for p in reversed(procs):
        try:
            stop(p)
        except Exception:
            pass
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv
    if os.geteuid() != 0:
        raise SystemExit("moving.py: must run as root")
    ensure_tools()
    tmp = tempfile.mkdtemp(prefix="tlsready-moving-")
    try:
        network()
        raw = f"{tmp}/raw.pcap"
        cap = spawn("tcpdump", "-i", "br0", "-U", "-n", "-s", "0", "-w", raw, ns="mvsrv",
                    log=f"{tmp}/tcpdump.out")
        wait_for(lambda: "listening on" in open(f"{tmp}/tcpdump.out").read(), "tcpdump")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", f"/CN={SNI}", "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem")
        spawn("openssl", "s_server", "-accept", "443", "-www", "-cert", f"{tmp}/cert.pem",
              "-key", f"{tmp}/key.pem", "-cipher", "DEFAULT:@SECLEVEL=0",
              ns="mvsrv", log=f"{tmp}/s_server.out")
        srv = dnsmasq(tmp, "10.198.0.100", "10.198.0.119", f"{tmp}/leases1")
        time.sleep(1)
        open(f"{tmp}/dhclient.conf", "w").write(
            'send host-name "LAGER-PC";\nsend vendor-class-identifier "MSFT 5.0";\n'
            "request subnet-mask, broadcast-address, routers;\n")

        # Phase 1: LAGER-PC at A, kasse-2, the unnamed static client.
        dhclient(tmp, "-1", "-v", leases=f"{tmp}/dhclient1.leases")
        ip_a = addr_of("mvc1", "vc1")
        run("udhcpc", "-i", "vc2", "-f", "-q", "-n", "-t", "5", "-x", "hostname:kasse-2",
            "-s", "/etc/udhcpc/default.script", ns="mvc2", timeout=60)
        ip2 = addr_of("mvc2", "vc2")
        if not ip_a or not ip2:
            raise SystemExit(f"DHCP gave no address: {ip_a} {ip2}")
        tls("mvc1", "-tls1")
        tls("mvc1", "-tls1")
        tls("mvc2", "-tls1_2")
        tls("mvc3", "-tls1_2")
        dhclient(tmp, "-r", leases=f"{tmp}/dhclient1.leases", check=False)

        # The scope is renumbered; LAGER-PC binds again after a while.
        time.sleep(GAP_SECONDS)
        stop(srv)
        srv = dnsmasq(tmp, "10.198.0.130", "10.198.0.149", f"{tmp}/leases2")
        time.sleep(1)
        dhclient(tmp, "-1", "-v", leases=f"{tmp}/dhclient2.leases")
        ip_b = addr_of("mvc1", "vc1")
        if not ip_b or ip_b == ip_a:
            raise SystemExit(f"the second lease did not move: {ip_a} -> {ip_b}")

        # Phase 2: LAGER-PC at B.
        tls("mvc1", "-tls1_2")
        tls("mvc1", "-tls1")
        tls("mvc2", "-tls1_2")
        tls("mvc3", "-tls1_2")
        time.sleep(1)
        stop(cap, signal.SIGINT)
        shutil.copy(raw, out)
        print(f"{out}: LAGER-PC {ip_a} -> {ip_b} ({MACS[1]}), kasse-2 {ip2} ({MACS[2]}), "
              f"unnamed {STATIC3} ({MACS[3]})")
    finally:
        cleanup(tmp)
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
