#!/usr/bin/env python3
"""System tests: the real vpn-dataplane and vpn-controlplane together.
Usage: system_test.py BUILD_DIR [name-filter]. Prints 'system: N passed, M failed'."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from topo import Topology, sh, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def helper(t, ns, *args, timeout=20):
    r = sh("/usr/bin/python3", os.path.join(HERE, "nshelper.py"), *map(str, args), ns=ns,
           timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"nshelper {args}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def wait_until(fn, timeout=5.0):
    return wait_for(fn, timeout, step=0.1)


def test_arp_for_wan_address_answered(t):
    r = helper(t, t.ns_wan, "arp", "wan0", "198.18.0.1")
    assert r["answered"] and r["psrc"] == "198.18.0.1", r


def test_ike_main_mode_reply_leaves_wan(t):
    """UDP 500 reaches the control plane through the punt ring; its answer
    comes back through the inject ring with headers the kernel accepts."""
    before = t.counters()["punt_ike"]
    r = helper(t, t.ns_wan, "ike-mm1", "198.18.0.1")
    assert r["answered"], (r, t.log("cp"))
    assert r["from"] == ["198.18.0.1", 500], r
    assert r["init_cookie_echoed"] and r["resp_cookie"] != "00" * 8, r
    assert r["exch_type"] == 2 and r["next_payload"] == 1, r  # MM, SA payload first
    assert t.counters()["punt_ike"] == before + 1
    status = t.vpnctl("show", "status")
    assert status["punts"] >= 1, status


def test_unknown_destination_dropped_by_name(t):
    before = t.counters()["rx_not_for_us"]
    helper(t, t.ns_wan, "udp", "198.19.0.5", 9999, 3)
    assert wait_until(lambda: t.counters()["rx_not_for_us"] >= before + 3), t.counters()


def test_controlplane_restart_keeps_dataplane_and_counters(t):
    c0 = t.vpnctl("show", "counters")
    t.stop(t.cp, sig=9)
    assert t.dp.poll() is None, "dataplane died with the control plane"
    # While the control plane is down the dataplane keeps counting.
    helper(t, t.ns_wan, "udp", "198.19.0.6", 9999, 2)
    c1 = t.vpnctl("show", "counters")
    assert c1["dataplane_pid"] == c0["dataplane_pid"]
    assert c1["reasons"]["rx_not_for_us"] >= c0["reasons"]["rx_not_for_us"] + 2, (c0, c1)
    assert c1["rx_packets"] >= c0["rx_packets"]
    t.start_controlplane()
    s = t.vpnctl("show", "status")
    assert s["dataplane_pid"] == c0["dataplane_pid"] and s["dataplane_ready"] == 1, s
    # And it still answers IKE.
    r = helper(t, t.ns_wan, "ike-mm1", "198.18.0.1", 501)
    assert r["answered"], r


def test_controlplane_of_other_abi_refused(t):
    abi99 = os.path.join(t.build, "controlplane/app/vpn-controlplane-abi99")
    r = subprocess.run([abi99, "--config", t.cfg_path], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode != 0, r
    # The segment's version is the one the real binaries speak (shm_abi.h).
    abi = re.search(r"kAbiVersion = (\d+);",
                    open(os.path.join(REPO, "shared/include/vpn/shm_abi.h")).read()).group(1)
    assert "ABI mismatch" in r.stderr and f"segment has version {abi}" in r.stderr, r.stderr
    assert "speaks version 99" in r.stderr, r.stderr
    assert t.dp.poll() is None


def test_malformed_config_refused_with_file_line(t):
    bad = t.cfg_path + ".bad"
    with open(t.cfg_path) as f:
        text = f.read().replace('range = "100.64.0.100-100.64.0.199"',
                                'range = "100.64.0.199-100.64.0.100"')
    with open(bad, "w") as f:
        f.write(text)
    os.chmod(bad, 0o600)
    for binary in (t.cp_bin, t.dp_bin):
        r = subprocess.run([binary, "--config", bad], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0, (binary, r)
        assert f"{bad}:" in r.stderr and "reversed" in r.stderr, (binary, r.stderr)
    os.unlink(bad)


def clientsim(t, *args, timeout=150):
    sim = os.path.join(t.build, "tests/clientsim/vpn-clientsim")
    argv = ["ip", "netns", "exec", t.ns_wan, sim, "--server", "198.18.0.1", "--psk", "secret123",
            "--user", "demo", "--password", "demo-password", "--quiet"] + [str(a) for a in args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_zz_clients_connect_get_addresses_and_reach_lan(t):
    """Four simulated clients from one public address (different ports, as
    behind one NAT): IKE MM+QM with NAT-T, L2TP, PPP MS-CHAPv2, IPCP, then
    ICMP to the LAN host through the dataplane; sessions visible in vpnctl."""
    p = clientsim(t, "--clients", 4, "--rate", 20, "--ping", "100.64.0.10", "--count", 3,
                  "--hold", 4)
    sessions = wait_until(
        lambda: [s for s in t.vpnctl("show", "sessions") if s["assigned_ip"] != "-"]
        if len([s for s in t.vpnctl("show", "sessions") if s["assigned_ip"] != "-"]) == 4
        else None, timeout=90)
    out, _ = p.communicate(timeout=150)
    assert "clientsim: 4 connected, 0 failed" in out, out[-3000:] + t.log("cp")
    assert sessions and len({s["assigned_ip"] for s in sessions}) == 4, sessions
    assert all(s["user"] == "demo" and s["public_ip"] == "198.18.0.2" for s in sessions)
    assert all(s["encryption"] == "AES-CBC" and s["hashing"] == "SHA1" for s in sessions)
    c = t.counters()
    assert c["l2tp_cleartext"] == 0 and c["esp_bad_icv"] == 0, c
    # Gone again once the clients disconnect: nothing left installed.
    assert wait_until(lambda: t.vpnctl("show", "sessions") == [], timeout=30), \
        t.vpnctl("show", "sessions")


def test_zz_wrong_password_fails_cleanly(t):
    p = clientsim(t, "--clients", 1, "--password", "wrong", "--timeout", 25)
    out, _ = p.communicate(timeout=120)
    assert "clientsim: 0 connected, 1 failed" in out, out[-2000:]
    assert wait_until(lambda: t.vpnctl("show", "sessions") == [], timeout=30)
    assert "demo" in t.log("cp"), t.log("cp")
def test_radius_disconnect_listener_in_controlplane(t):
    """[radius] wires the RFC 5176 listener into vpn-controlplane: FreeRADIUS's
    radclient (inside the dataplane namespace) gets a Disconnect-NAK 503 for a
    user with no session, and no answer with the wrong secret."""
    if shutil.which("radclient") is None:
        raise AssertionError("radclient missing: scripts/install-deps.sh test installs freeradius-utils")
    radius = ('\n[radius]\ndae_port = 3799\ndae_address = "127.0.0.1"\n'
              '[[radius.server]]\naddress = "127.0.0.1"\nsecret = "sys-secret"\n')

    def disconnect(secret):
        return subprocess.run(
            ["ip", "netns", "exec", t.ns_dp, "radclient", "-x", "-r", "1", "-t", "2",
             "127.0.0.1:3799", "disconnect", secret],
            input='User-Name = "nobody"\n', capture_output=True, text=True, timeout=20)

    t.stop(t.cp)
    t.write_config(radius)
    try:
        t.start_controlplane()
        assert "Disconnect on port 3799" in t.log("cp"), t.log("cp")
        r = disconnect("sys-secret")
        assert "Disconnect-NAK" in r.stdout and "Session-Context-Not-Found" in r.stdout, r
        r = disconnect("wrong-secret")
        assert "Received" not in r.stdout and r.returncode != 0, r
        assert "Request Authenticator mismatch" in t.log("cp"), t.log("cp")
    finally:
        t.stop(t.cp)
        t.write_config()
        t.start_controlplane()


# --- Operations: telemetry, metrics, reload, capture (docs/operations.md) ---

import socket  # noqa: E402
import shutil  # noqa: E402


def telemetry(t, cmd):
    """One command over DPDK's telemetry socket, as dpdk-telemetry.py does:
    SOCK_SEQPACKET, a JSON greeting, then one JSON reply per command."""
    path = f"/var/run/dpdk/vpn-{t.shm}/dpdk_telemetry.v2"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect(path)
    try:
        hello = json.loads(s.recv(1 << 16).decode())
        s.send(cmd.encode())
        reply = json.loads(s.recv(1 << 16).decode())
    finally:
        s.close()
    return hello, reply[cmd.split(",")[0]]


def test_telemetry_socket_serves_vpn_counters(t):
    hello, cmds = telemetry(t, "/")
    dp_pid = t.vpnctl("show", "counters")["dataplane_pid"]
    assert hello["pid"] == dp_pid, hello
    for c in ("/vpn/counters", "/vpn/workers", "/vpn/ports", "/vpn/sas", "/vpn/sa",
              "/vpn/sessions", "/vpn/info"):
        assert c in cmds, cmds
    _, before = telemetry(t, "/vpn/counters")
    helper(t, t.ns_wan, "udp", "198.19.0.9", 9999, 4)
    assert wait_until(lambda: telemetry(t, "/vpn/counters")[1]["rx_not_for_us"]
                      >= before["rx_not_for_us"] + 4), telemetry(t, "/vpn/counters")
    # The same numbers as vpnctl reads from shared memory, every reason.
    shm = t.counters()
    _, tel = telemetry(t, "/vpn/counters")
    assert set(tel) == set(shm), set(tel) ^ set(shm)
    assert tel["rx_not_for_us"] == shm["rx_not_for_us"], (tel, shm)
    _, info = telemetry(t, "/vpn/info")
    assert info["dataplane_pid"] == dp_pid and info["abi_version"] >= 1, info
    assert info["shm_name"] == t.shm and info["workers"] == 1 and info["counter_blocks"] == 2
    _, ports = telemetry(t, "/vpn/ports")
    _, wan = telemetry(t, "/vpn/ports,wan")
    c = t.vpnctl("show", "counters")
    assert wan["role"] == "wan" and wan["rx_packets"] >= c["ports"][0]["rx_packets"] >= 4, (wan, c)
    assert ports["wan/rx_packets"] >= wan["rx_packets"] and "lan/tx_bytes" in ports, ports
    _, workers = telemetry(t, "/vpn/workers")
    assert workers["0/lcore"] == 1 and workers["1/housekeeping"] == 1, workers
    _, w0 = telemetry(t, "/vpn/workers,0")
    assert w0["rx_not_for_us"] + telemetry(t, "/vpn/workers,1")[1]["rx_not_for_us"] \
        >= tel["rx_not_for_us"]
    _, sas = telemetry(t, "/vpn/sas")
    assert "active_inbound" in sas and sas["max_sas"] > 0, sas
    # Bad parameters are errors (null), not crashes.
    assert telemetry(t, "/vpn/workers,99")[1] is None
    assert telemetry(t, "/vpn/ports,nosuch")[1] is None
    assert telemetry(t, "/vpn/sa,0")[1] is None
    assert telemetry(t, "/vpn/sa,x")[1] is None
    # And through DPDK's own client (Debian dpdk-dev), reading commands from stdin.
    tool = shutil.which("dpdk-telemetry.py")
    if tool:
        r = subprocess.run([tool, "-f", f"vpn-{t.shm}"], input="/vpn/info\n", text=True,
                           capture_output=True, timeout=20)
        assert r.returncode == 0 and f'"dataplane_pid": {dp_pid}' in r.stdout, r


METRIC_LINE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)$')


def parse_exposition(text):
    """Strict reader of the Prometheus text format 0.0.4: HELP then TYPE
    once per family, its samples contiguous after them, no duplicate series,
    counters named *_total. Returns {series: value}."""
    assert text.endswith("\n"), "exposition must end with a newline"
    samples, seen, family, ftype = {}, set(), None, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in seen, f"line {n}: family {name} declared twice"
            seen.add(name)
            family, ftype = name, None
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == family and ftype is None, f"line {n}: TYPE without HELP: {line}"
            assert typ in ("counter", "gauge"), line
            ftype = typ
            assert typ != "counter" or name.endswith("_total"), line
        else:
            m = METRIC_LINE.match(line)
            assert m, f"line {n} malformed: {line!r}"
            assert m.group(1) == family and ftype, f"line {n} outside its family: {line}"
            key = line.rsplit(" ", 1)[0]
            assert key not in samples, f"line {n}: duplicate series {key}"
            samples[key] = float(m.group(4))
    return samples


def http_get(t, port, path):
    code = ("import urllib.request,urllib.error,sys\n"
            f"try:\n r=urllib.request.urlopen('http://127.0.0.1:{port}{path}',timeout=5)\n"
            " sys.stdout.write(str(r.status)+'\\n'+r.headers.get('Content-Type','')+'\\n'+"
            "r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n sys.stdout.write(str(e.code)+'\\n')\n")
    r = sh("/usr/bin/python3", "-c", code, ns=t.ns_dp, timeout=20, check=False)
    status, _, rest = r.stdout.partition("\n")
    ctype, _, body = rest.partition("\n")
    return int(status or 0), ctype, body


def set_top_level(t, key_line):
    with open(t.cfg_path) as f:
        text = f.read()
    with open(t.cfg_path, "w") as f:
        f.write(key_line + "\n" + text)
    return text


def test_metrics_exposition_is_strict_and_served_over_http(t):
    helper(t, t.ns_wan, "udp", "198.19.0.11", 9999, 2)
    m = parse_exposition(t.vpnctl("show", "metrics", json_out=False))
    c = t.counters()
    by_reason = {}
    for k, v in m.items():
        if k.startswith("vpn_dataplane_reason_total{"):
            r = re.search(r'reason="([^"]+)"', k).group(1)
            by_reason[r] = by_reason.get(r, 0) + v
    assert set(by_reason) == set(c), set(by_reason) ^ set(c)
    assert by_reason["rx_not_for_us"] == c["rx_not_for_us"] >= 2
    assert m["vpn_controlplane_up"] == 1 and m["vpn_dataplane_up"] == 1
    assert 'vpn_port_rx_packets_total{port="wan"}' in m and m["vpn_ike_sas"] >= 0
    assert 'vpn_pool_size{pool="default"}' in m
    # Over HTTP: metrics_listen needs a control-plane restart.
    original = set_top_level(t, 'metrics_listen = "127.0.0.1:19469"')
    try:
        t.stop(t.cp)
        t.start_controlplane()
        status, ctype, body = http_get(t, 19469, "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        h = parse_exposition(body)
        assert set(h) == set(parse_exposition(t.vpnctl("show", "metrics", json_out=False)))
        assert http_get(t, 19469, "/")[0] == 404
        promtool = shutil.which("promtool")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=body, text=True,
                               capture_output=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
        # Control plane down: vpnctl still prints the dataplane's part.
        t.stop(t.cp)
        d = parse_exposition(t.vpnctl("show", "metrics", json_out=False))
        assert d["vpn_controlplane_up"] == 0 and d["vpn_dataplane_up"] == 1, d
        assert "vpn_ike_sas" not in d
    finally:
        with open(t.cfg_path, "w") as f:
            f.write(original)
        t.stop(t.cp)
        t.start_controlplane()


def vpnctl_rc(t, *words):
    r = subprocess.run([t.vpnctl_bin, "--socket", t.sock, "--shm", t.shm] + list(words),
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_reload_refuses_invalid_file_and_restart_only_changes(t):
    with open(t.cfg_path) as f:
        original = f.read()
    try:
        pid = t.cp.pid
        with open(t.cfg_path, "w") as f:
            f.write(original + "\n[ike\n")
        rc, out = vpnctl_rc(t, "reload")
        assert rc != 0 and "not reloaded" in out and f"{t.cfg_path}:" in out, out
        with open(t.cfg_path, "w") as f:
            f.write(original.replace('address = "198.18.0.1/24"', 'address = "198.18.0.9/24"'))
        rc, out = vpnctl_rc(t, "reload")
        assert rc != 0 and "[[port]] changed: needs a restart of both" in out, out
        with open(t.cfg_path, "w") as f:
            f.write(original.replace("mbufs = 16384", "mbufs = 8192"))
        rc, out = vpnctl_rc(t, "reload")
        assert rc != 0 and "[dataplane]" in out, out
        # Still running the old config, same process.
        assert t.cp.poll() is None and t.cp.pid == pid
        assert t.vpnctl("show", "status")["dataplane_ready"] == 1
        m = parse_exposition(t.vpnctl("show", "metrics", json_out=False))
        assert m['vpn_config_reloads_total{result="refused"}'] == 3, m
    finally:
        with open(t.cfg_path, "w") as f:
            f.write(original)
    rc, out = vpnctl_rc(t, "reload")
    assert rc == 0 and "no changes" in out, out


def read_capture(path):
    """The frames of a pcapng file as tshark reads them: [(src, dst, proto
    fields...)]; scapy's reader when tshark is not installed."""
    tshark = shutil.which("tshark")
    if tshark:
        r = subprocess.run([tshark, "-r", path, "-T", "fields", "-E", "separator=,", "-e", "ip.src",
                            "-e", "ip.dst", "-e", "ip.proto", "-e", "icmp.type", "-e",
                            "udp.dstport", "-e", "frame.interface_name"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [tuple(line.split(",")) for line in r.stdout.splitlines()]
    from scapy.all import rdpcap, IP, ICMP, UDP
    out = []
    for p in rdpcap(path):
        ip = p[IP] if IP in p else None
        out.append((ip.src if ip else "", ip.dst if ip else "", str(ip.proto) if ip else "",
                    str(p[ICMP].type) if ICMP in p else "",
                    str(p[UDP].dport) if UDP in p else "", ""))
    return out


def test_capture_port_is_bounded_and_readable(t):
    path = f"/tmp/{t.tag}-wan.pcapng"
    p = subprocess.Popen([t.vpnctl_bin, "--socket", t.sock, "--shm", t.shm, "--json", "capture",
                          "port", "wan", "host", "198.18.0.2", "count", "3", "duration", "20",
                          "file", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        before = t.counters()["capture_copied"]
        helper(t, t.ns_wan, "udp", "198.19.0.12", 9999, 6)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    info = json.loads(out)
    assert p.returncode == 0 and not info["running"], (out, err)
    assert info["packets"] == 3 and info["end_reason"] == "count", info
    frames = read_capture(path)
    assert len(frames) == 3, frames
    assert all(f[0] == "198.18.0.2" and f[1] == "198.19.0.12" and f[4] == "9999" for f in frames), \
        frames
    assert t.counters()["capture_copied"] >= before + 3
    # The time bound: an idle capture ends by duration.
    t0 = time.time()
    rc, out = vpnctl_rc(t, "--json", "capture", "port", "lan", "host", "100.64.0.99",
                        "duration", "1", "file", path)
    assert rc == 0 and json.loads(out)["end_reason"] == "duration", out
    assert time.time() - t0 < 6
    assert read_capture(path) == []
    # A relative path is the caller's; bad requests are refused clearly.
    rc, out = vpnctl_rc(t, "capture", "port", "nosuch")
    assert rc != 0 and "no port named nosuch" in out, out
    rc, out = vpnctl_rc(t, "capture", "session", "9999")
    assert rc != 0 and "no such session" in out, out
    rc, out = vpnctl_rc(t, "capture", "port", "wan", "count", "0")
    assert rc != 0 and "count must be" in out, out
    rc, out = vpnctl_rc(t, "capture", "port", "wan", "duration", "99999")
    assert rc != 0 and "duration must be" in out, out
    os.unlink(path)


def sessions_up(t, user=None):
    ss = [s for s in t.vpnctl("show", "sessions")
          if s["assigned_ip"] != "-" and (user is None or s["user"] == user)]
    return ss or None


def test_zz_capture_session_inner_traffic_readable_by_tshark(t):
    """A session's decrypted traffic (the client's pings to the LAN host and
    the replies), as it crosses the LAN port, in a pcapng tshark reads."""
    p = clientsim(t, "--clients", 1, "--ping", "100.64.0.10", "--count", 8, "--interval", 400,
                  "--traffic-delay", 3, "--hold", 1)
    path = f"/tmp/{t.tag}-session.pcapng"
    try:
        ss = wait_until(lambda: sessions_up(t), timeout=60)
        assert ss, t.log("cp")
        s = ss[0]
        rc, out = vpnctl_rc(t, "--json", "capture", "session", str(s["id"]), "count", "10",
                            "duration", "30", "file", path)
        assert rc == 0, out
        info = json.loads(out)
        assert info["packets"] == 10 and info["end_reason"] == "count", info
        assert f"session {s['id']}" in info["what"], info
    finally:
        out, _ = p.communicate(timeout=150)
    assert "clientsim: 1 connected, 0 failed" in out, out[-2000:]
    frames = read_capture(path)
    assert len(frames) == 10, frames
    ip = s["assigned_ip"]
    req = [f for f in frames if f[0] == ip and f[1] == "100.64.0.10" and f[3] == "8"]
    rep = [f for f in frames if f[0] == "100.64.0.10" and f[1] == ip and f[3] == "0"]
    assert len(req) + len(rep) == 10 and req and rep, frames
    if frames[0][5]:
        assert all(f[5] == "lan" for f in frames), frames
    os.unlink(path)


def test_zz_reload_keeps_sessions_and_admits_new_logins(t):
    """reload while a client pings: its session and traffic go on; a user
    added by the reload and a changed password work for new logins; the new
    pool is there; IKE lifetime applies to the new IKE SA only."""
    with open(t.cfg_path) as f:
        original = f.read()
    p = clientsim(t, "--clients", 1, "--ping", "100.64.0.10", "--count", 12, "--interval", 500,
                  "--traffic-delay", 1, "--hold", 1)
    try:
        ss = wait_until(lambda: sessions_up(t), timeout=60)
        assert ss, t.log("cp")
        old_ike = t.vpnctl("show", "sa")
        text = original.replace('password = "demo-password"', 'password = "demo-password-2"')
        text = text.replace("lifetime = 28800", "lifetime = 7200")
        text += ('\n[[user]]\nname = "bob"\npassword = "bob-password-1"\n'
                 '\n[[pool]]\nname = "extra"\nrange = "100.64.0.230-100.64.0.240"\n')
        assert text.count("demo-password-2") == 1 and "lifetime = 7200" in text
        with open(t.cfg_path, "w") as f:
            f.write(text)
        rc, out = vpnctl_rc(t, "reload")
        assert rc == 0 and "users" in out and "pools added: extra" in out and "[ike]" in out, out
        assert [s["id"] for s in sessions_up(t)] == [ss[0]["id"]]
        assert "extra" in [p_["name"] for p_ in t.vpnctl("show", "pools")]
    finally:
        out, _ = p.communicate(timeout=150)
    # Every ping before and after the reload answered.
    assert "clientsim: 1 connected, 0 failed" in out, out[-2000:]
    try:
        for user, pw in (("bob", "bob-password-1"), ("demo", "demo-password-2")):
            q = clientsim(t, "--clients", 1, "--user", user, "--password", pw, "--ping",
                          "100.64.0.10", "--count", 2, "--hold", 3)
            seen = wait_until(lambda: sessions_up(t, user), timeout=60)
            sa = t.vpnctl("show", "sa")
            out, _ = q.communicate(timeout=150)
            assert "clientsim: 1 connected, 0 failed" in out, (user, out[-2000:], t.log("cp"))
            assert seen, user
            assert sa and all(s["lifetime_left_s"] <= 7200 for s in sa), (sa, old_ike)
        assert old_ike and any(s["lifetime_left_s"] > 7200 for s in old_ike), old_ike
    finally:
        with open(t.cfg_path, "w") as f:
            f.write(original)
    rc, out = vpnctl_rc(t, "reload")
    # The pool added above cannot be removed by a reload: a restart applies it.
    assert rc != 0 and "[[pool]] extra removed" in out, out
    t.stop(t.cp)
    t.start_controlplane()


def test_zzz_demo_script(t):
    """scripts/demo.sh --clients 8 --duration 20, then one run interrupted by
    SIGINT: sessions up, traffic both ways, nothing left behind
    (tests/clientsim/demo_test.py). Runs last: it stops this topology's
    processes first (both dataplanes would poll the same core)."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clientsim"))
    import demo_test  # noqa: E402
    t.stop(t.cp)
    t.stop(t.dp)
    demo_test.check_bounded(t.build, clients=8, duration=20)
    demo_test.check_interrupted(t.build)

# RADIUS end to end with a real FreeRADIUS (tests/system/radius_system.py).
from radius_system import *  # noqa: E402,F401,F403
# vpnctl against the operator list (tests/system/vpnctl_system.py).
from vpnctl_system import *  # noqa: E402,F401,F403

TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]


def main():
    build, flt = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    t = Topology(build)
    passed = failed = 0
    try:
        t.up()
        t.start_dataplane()
        t.start_controlplane()
        for fn in TESTS:
            if flt and flt not in fn.__name__:
                continue
            t0 = time.time()
            try:
                if t.cp is None or t.cp.poll() is not None:
                    t.start_controlplane()
                fn(t)
                passed += 1
                print(f"PASS {fn.__name__} ({time.time() - t0:.2f}s)", flush=True)
            except Exception:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
                print("--- controlplane log ---\n" + t.log("cp"))
                print("--- dataplane log ---\n" + t.log("dp"))
    except Exception:  # noqa: BLE001
        failed += 1
        print("FAIL setup\n" + traceback.format_exc())
        print("--- dataplane log ---\n" + t.log("dp"))
    finally:
        t.close()
    print(f"system: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
