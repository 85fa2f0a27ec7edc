#!/usr/bin/env python3
"""System tests: the real vpn-dataplane and vpn-controlplane together.
Usage: system_test.py BUILD_DIR [name-filter]. Prints 'system: N passed, M failed'."""
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from topo import Topology, sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def helper(t, ns, *args, timeout=20):
    r = sh("/usr/bin/python3", os.path.join(HERE, "nshelper.py"), *map(str, args), ns=ns,
           timeout=timeout, check=False)
    if r.returncode != 0:
        raise AssertionError(f"nshelper {args}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def wait_until(fn, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


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
    assert "ABI mismatch" in r.stderr and "version 1" in r.stderr and "99" in r.stderr, r.stderr
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
