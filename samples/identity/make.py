#!/usr/bin/env python3
"""Capture host-identity traffic made by real stacks, in network namespaces.

    sudo python3 samples/identity/make.py samples/identity/lan.pcap [--keep]

Three namespaces joined by a bridge (all addresses private, nothing leaves
the namespaces):

  idsrv   bridge br0 10.197.0.1/24, fd00:197::1/64: dnsmasq (DHCPv4, DHCPv6,
          DNS for corp.example; answers Microsoft 365 names with 10.197.0.1),
          MIT krb5kdc (realm CORP.EXAMPLE), openssl s_server on 443,
          python http.server on 80; tcpdump on br0 writes the capture.
  idc1    "BUCHHALTUNG-7", MAC 90:b1:1c:20:03:41 (a Dell OUI): ISC dhclient
          sending host name BUCHHALTUNG-7 and vendor class "MSFT 5.0" (what a
          Windows client sends), dhclient -6 sending an FQDN, Samba nmbd
          (NetBIOS name BUCHHALTUNG-7), kinit of the machine account
          BUCHHALTUNG-7$ (UDP) and of user alice (TCP), curl with a Windows 7
          CryptoAPI User-Agent, a TLS 1.0 ClientHello and a TLS 1.2 one, both
          without SNI, to the address that outlook.office365.com resolved to.
  idc2    "scanner-3og", MAC d8:3a:dd:00:03:0f (a Raspberry Pi OUI): BusyBox
          udhcpc (host name option, its own vendor class), llmnrd and
          avahi-daemon (its own name over LLMNR and mDNS), nmblookup (node
          status of idc1), a reverse lookup of idc1's address (PTR), an LLMNR
          query by idc1, TLS 1.2 with SNI.

The tools are Debian's: dnsmasq isc-dhcp-client udhcpc samba llmnrd
avahi-daemon krb5-kdc krb5-admin-server krb5-user openssl curl tcpdump
(installed with apt-get when missing). Needs root.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NS = ["idsrv", "idc1", "idc2"]
SRV4, SRV6 = "10.197.0.1", "fd00:197::1"
MAC1, MAC2 = "90:b1:1c:20:03:41", "d8:3a:dd:00:03:0f"
REALM = "CORP.EXAMPLE"
PACKAGES = {
    "dnsmasq": "dnsmasq", "dhclient": "isc-dhcp-client", "udhcpc": "udhcpc",
    "nmbd": "samba", "nmblookup": "samba-common-bin", "llmnrd": "llmnrd",
    "avahi-daemon": "avahi-daemon", "krb5kdc": "krb5-kdc",
    "kadmin.local": "krb5-admin-server", "kinit": "krb5-user",
    "openssl": "openssl", "curl": "curl", "tcpdump": "tcpdump",
}

procs = []


def run(*args, ns=None, check=True, env=None, input=None, timeout=30):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, input=input,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def spawn(*args, ns, log, env=None):
    cmd = ["ip", "netns", "exec", ns] + list(args)
    p = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
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


def addr_of(ns, dev, family="-4"):
    out = run("ip", family, "-o", "addr", "show", "dev", dev, "scope", "global", ns=ns).stdout
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
        run("sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", ns=ns)
        run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", ns=ns)
    run("ip", "link", "add", "br0", "type", "bridge", ns="idsrv")
    run("ip", "link", "set", "br0", "type", "bridge", "stp_state", "0", ns="idsrv")
    for i, mac in ((1, MAC1), (2, MAC2)):
        run("ip", "link", "add", f"vs{i}", "netns", "idsrv", "type", "veth", "peer",
            "name", f"vc{i}", "netns", f"idc{i}")
        run("ip", "link", "set", f"vs{i}", "master", "br0", "up", ns="idsrv")
        run("ip", "link", "set", f"vc{i}", "address", mac, "up", ns=f"idc{i}")
    run("ip", "addr", "add", f"{SRV4}/24", "dev", "br0", ns="idsrv")
    run("ip", "addr", "add", f"{SRV6}/64", "dev", "br0", "nodad", ns="idsrv")
    run("ip", "link", "set", "br0", "up", ns="idsrv")
    resolvers()


def resolvers():
    """glibc's resolver in the clients asks dnsmasq (ip netns exec bind-mounts
    /etc/netns/NS/resolv.conf over /etc/resolv.conf)."""
    for ns in ("idc1", "idc2"):
        os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
        with open(f"/etc/netns/{ns}/resolv.conf", "w") as f:
            f.write(f"nameserver {SRV4}\nsearch corp.example\n")


def cleanup(tmp):
    # dhclient goes to the background once bound: stop it by its pid file.
    for pidfile in ("dhclient.pid", "dhclient6.pid"):
        try:
            os.kill(int(open(f"{tmp}/{pidfile}").read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    for p in reversed(procs):
        try:
            stop(p)
        except Exception:
            pass
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def kdc(tmp):
    conf = f"{tmp}/krb5.conf"
    tcp_conf = f"{tmp}/krb5-tcp.conf"
    kdc_conf = f"{tmp}/kdc.conf"
    realm = (f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n"
             f" dns_lookup_realm = false\n%s"
             f"[realms]\n {REALM} = {{\n  kdc = {SRV4}\n }}\n")
    open(conf, "w").write(realm % "")
    open(tcp_conf, "w").write(realm % " udp_preference_limit = 1\n")
    open(kdc_conf, "w").write(
        f"[kdcdefaults]\n kdc_ports = 88\n kdc_tcp_ports = 88\n"
        f"[realms]\n {REALM} = {{\n  database_name = {tmp}/principal\n"
        f"  key_stash_file = {tmp}/stash\n  acl_file = {tmp}/kadm5.acl\n }}\n"
        f"[logging]\n kdc = FILE:{tmp}/kdc.log\n")
    open(f"{tmp}/kadm5.acl", "w").write("")
    env = dict(os.environ, KRB5_CONFIG=conf, KRB5_KDC_PROFILE=kdc_conf)
    run("kdb5_util", "create", "-s", "-P", "master-not-secret", "-r", REALM, env=env)
    for q in ("addprinc -randkey BUCHHALTUNG-7$", f"ktadd -k {tmp}/machine.keytab BUCHHALTUNG-7$",
              "addprinc -pw alice-not-secret alice"):
        run("kadmin.local", "-r", REALM, "-q", q, env=env)
    spawn("krb5kdc", "-n", "-r", REALM, ns="idsrv", log=f"{tmp}/krb5kdc.out", env=env)
    time.sleep(1)
    return conf, tcp_conf


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = os.path.abspath(sys.argv[1])
    keep = "--keep" in sys.argv
    if os.geteuid() != 0:
        raise SystemExit("make_identity.py: must run as root")
    ensure_tools()
    tmp = tempfile.mkdtemp(prefix="tlsready-identity-")
    try:
        network()
        raw = f"{tmp}/raw.pcap"
        cap = spawn("tcpdump", "-i", "br0", "-U", "-n", "-s", "0", "-w", raw, ns="idsrv",
                    log=f"{tmp}/tcpdump.out")
        wait_for(lambda: "listening on" in open(f"{tmp}/tcpdump.out").read(), "tcpdump")

        spawn("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--user=root",
              "--interface=br0", "--bind-interfaces", f"--pid-file={tmp}/dnsmasq.pid",
              f"--dhcp-leasefile={tmp}/dnsmasq.leases", "--domain=corp.example",
              "--dhcp-range=10.197.0.100,10.197.0.150,255.255.255.0,1h",
              "--dhcp-range=fd00:197::100,fd00:197::1ff,64,1h", "--dhcp-authoritative",
              f"--address=/outlook.office365.com/{SRV4}",
              f"--address=/contoso.sharepoint.com/{SRV4}", "--log-dhcp",
              ns="idsrv", log=f"{tmp}/dnsmasq.out")
        spawn("openssl", "s_server", "-accept", "443", "-www", "-cert", f"{tmp}/cert.pem",
              "-key", f"{tmp}/key.pem", "-cipher", "DEFAULT:@SECLEVEL=0",
              ns="idsrv", log=f"{tmp}/s_server.out") if make_cert(tmp) else None
        spawn("python3", "-m", "http.server", "80", "--bind", SRV4, ns="idsrv",
              log=f"{tmp}/http.out")
        krb5_conf, krb5_tcp = kdc(tmp)
        time.sleep(1)

        # idc1: DHCPv4 with a Windows client's host name and vendor class.
        open(f"{tmp}/dhclient.conf", "w").write(
            'send host-name "BUCHHALTUNG-7";\nsend vendor-class-identifier "MSFT 5.0";\n'
            "request subnet-mask, broadcast-address, routers, domain-name, "
            "domain-name-servers;\n")
        run("dhclient", "-4", "-1", "-v", "-cf", f"{tmp}/dhclient.conf", "-lf",
            f"{tmp}/dhclient.leases", "-pf", f"{tmp}/dhclient.pid", "vc1", ns="idc1",
            timeout=60)
        ip1 = addr_of("idc1", "vc1")
        # idc2: BusyBox udhcpc with a host name.
        run("udhcpc", "-i", "vc2", "-f", "-q", "-n", "-t", "5", "-x", "hostname:scanner-3og",
            "-s", "/etc/udhcpc/default.script", ns="idc2", timeout=60)
        ip2 = addr_of("idc2", "vc2")
        if not ip1 or not ip2:
            raise SystemExit(f"DHCP gave no address: {ip1} {ip2}")
        # idc1: DHCPv6 with an FQDN.
        open(f"{tmp}/dhclient6.conf", "w").write(
            'send fqdn.fqdn "BUCHHALTUNG-7.corp.example.";\nsend fqdn.server-update off;\n')
        run("dhclient", "-6", "-1", "-v", "-cf", f"{tmp}/dhclient6.conf", "-lf",
            f"{tmp}/dhclient6.leases", "-pf", f"{tmp}/dhclient6.pid", "vc1", ns="idc1",
            timeout=60, check=False)
        # The DHCP clients rewrote resolv.conf (dhclient -6 with an IPv6
        # server the client has no route to): ask dnsmasq over IPv4.
        resolvers()

        # Names the devices announce themselves.
        smb = f"{tmp}/smb.conf"
        open(smb, "w").write(
            "[global]\n netbios name = BUCHHALTUNG-7\n workgroup = CORP\n"
            " interfaces = vc1\n bind interfaces only = yes\n"
            f" lock directory = {tmp}/smb\n state directory = {tmp}/smb\n"
            f" cache directory = {tmp}/smb\n pid directory = {tmp}/smb\n"
            f" private dir = {tmp}/smb\n log file = {tmp}/nmbd.log\n"
            " disable netbios = no\n")
        os.makedirs(f"{tmp}/smb", exist_ok=True)
        smb2 = f"{tmp}/smb2.conf"
        open(smb2, "w").write(open(smb).read().replace("BUCHHALTUNG-7", "SCANNER-3OG")
                              .replace("vc1", "vc2").replace("/smb", "/smb2"))
        os.makedirs(f"{tmp}/smb2", exist_ok=True)
        spawn("nmbd", "-F", "--no-process-group", "-s", smb, ns="idc1", log=f"{tmp}/nmbd.out")
        spawn("llmnrd", "-H", "scanner-3og", "-i", "vc2", ns="idc2", log=f"{tmp}/llmnrd.out")
        avahi = f"{tmp}/avahi-daemon.conf"
        open(avahi, "w").write(
            "[server]\nhost-name=scanner-3og\ndomain-name=local\nuse-ipv4=yes\nuse-ipv6=no\n"
            "allow-interfaces=vc2\nenable-dbus=no\n[publish]\npublish-addresses=yes\n"
            "publish-workstation=no\npublish-hinfo=no\n")
        os.makedirs("/run/avahi-daemon", exist_ok=True)
        spawn("avahi-daemon", "-f", avahi, "--no-drop-root", "--no-chroot", "--no-rlimits",
              ns="idc2", log=f"{tmp}/avahi.out")
        # nmbd registers its names by broadcast; avahi probes and announces.
        wait_for(lambda: ":137 " in run("ss", "-uln", ns="idc1").stdout, "nmbd")
        time.sleep(6)

        # Lookups answered by those responders.
        run("nmblookup", "-s", smb2, "-A", ip1, ns="idc2", check=False)
        run("nmblookup", "-s", smb2, "-B", "10.197.0.255", "BUCHHALTUNG-7", ns="idc2",
            check=False)
        run("llmnr-query", "-I", "vc1", "-T", "A", "scanner-3og", ns="idc1", check=False)
        # DNS: a reverse lookup of idc1 (PTR), Microsoft names resolved.
        run("getent", "hosts", ip1, ns="idc2", check=False)
        run("getent", "ahostsv4", "outlook.office365.com", ns="idc1")
        run("getent", "ahostsv4", "contoso.sharepoint.com", ns="idc2")

        # Kerberos: the machine account over UDP, a user over TCP.
        env = dict(os.environ, KRB5_CONFIG=krb5_conf, KRB5CCNAME=f"FILE:{tmp}/cc1")
        run("kinit", "-k", "-t", f"{tmp}/machine.keytab", f"BUCHHALTUNG-7$@{REALM}",
            ns="idc1", env=env)
        env = dict(env, KRB5_CONFIG=krb5_tcp, KRB5CCNAME=f"FILE:{tmp}/cc2")
        run("kinit", f"alice@{REALM}", ns="idc1", env=env, input="alice-not-secret\n")

        # Plaintext HTTP with Windows 7's CryptoAPI User-Agent.
        run("curl", "-s", "-o", "/dev/null", "-A", "Microsoft-CryptoAPI/6.1",
            f"http://{SRV4}/", ns="idc1", check=False)
        # TLS without SNI to the address outlook.office365.com resolved to
        # (the old client: TLS 1.0 only; then TLS 1.2), and with SNI.
        for proto in ("-tls1", "-tls1_2"):
            run("openssl", "s_client", "-connect", f"{SRV4}:443", "-noservername", proto,
                "-cipher", "DEFAULT:@SECLEVEL=0", ns="idc1", input="", check=False)
        run("openssl", "s_client", "-connect", f"{SRV4}:443", "-servername",
            "contoso.sharepoint.com", "-tls1_2", ns="idc2", input="", check=False)

        # idc1 gives its address back.
        run("dhclient", "-4", "-r", "-cf", f"{tmp}/dhclient.conf", "-lf",
            f"{tmp}/dhclient.leases", "-pf", f"{tmp}/dhclient.pid", "vc1", ns="idc1",
            check=False)
        time.sleep(1)
        stop(cap, signal.SIGINT)
        shutil.copy(raw, out)
        print(f"{out}: idc1 {ip1} ({MAC1}), idc2 {ip2} ({MAC2})")
    finally:
        cleanup(tmp)
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def make_cert(tmp):
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        "-subj", "/CN=server.corp.example", "-keyout", f"{tmp}/key.pem",
        "-out", f"{tmp}/cert.pem")
    return True


if __name__ == "__main__":
    main()
