"""RADIUS end to end: Debian's FreeRADIUS (started here, inside the
dataplane namespace on 127.0.0.1), both our binaries and simulated clients
(vpn-clientsim, MS-CHAPv2 or EAP-MD5) through the real dataplane.

Imported by system_test.py (its test_* functions join the suite). Every
test stops the control plane, starts FreeRADIUS with its own users file,
restarts the control plane with [radius], and restores the plain config
afterwards, so the other tests see the topology as they expect it."""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from topo import wait_for  # noqa: E402

FREERADIUS = os.environ.get("VPN_FREERADIUS", "/usr/sbin/freeradius")
SECRET = "sys-radius-secret"
LAN_HOST = "100.64.0.10"

# Users FreeRADIUS knows (Cleartext-Password: MS-CHAPv2 and EAP-MD5 need it).
# Framed-IP-Address values lie inside the configured pool (100.64.0.100-199).
# (The dataplane also proxy-ARPs for installed addresses outside every pool,
# arp.cc; tests/packet/test_slots.py covers that.)
USERS = """
static-user Cleartext-Password := "static-pw"
        Framed-IP-Address = 100.64.0.177,
        Class = "sys-class-1"
pool-user Cleartext-Password := "pool-pw"
short-user Cleartext-Password := "short-pw"
        Session-Timeout = 6
idle-user Cleartext-Password := "idle-pw"
        Idle-Timeout = 4
acct-user Cleartext-Password := "acct-pw"
dae-user Cleartext-Password := "dae-pw"
eap-user Cleartext-Password := "eap-pw"
        Framed-IP-Address = 100.64.0.188
"""


def free_udp_port(ns_exec):
    """A UDP port free on 127.0.0.1 inside the namespace (asked there)."""
    r = subprocess.run(ns_exec + ["/usr/bin/python3", "-c",
                                  "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
                                  "s.bind(('127.0.0.1',0));print(s.getsockname()[1])"],
                       capture_output=True, text=True, timeout=10, check=True)
    return int(r.stdout.strip())


class Freeradius:
    """FreeRADIUS 3 in the foreground (-X) with a generated minimal config:
    pap, chap, mschap, eap (md5), files, detail."""

    def __init__(self, t, name, users=USERS):
        self.t = t
        self.ns_exec = ["ip", "netns", "exec", t.ns_dp]
        self.dir = tempfile.mkdtemp(prefix=f"{t.tag}-{name}-")
        self.auth_port = free_udp_port(self.ns_exec)
        self.acct_port = free_udp_port(self.ns_exec)
        while self.acct_port == self.auth_port:
            self.acct_port = free_udp_port(self.ns_exec)
        self.proc = None
        with open(os.path.join(self.dir, "dictionary"), "w") as f:
            f.write("$INCLUDE /usr/share/freeradius/dictionary\n")
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write(users)
        with open(os.path.join(self.dir, "radiusd.conf"), "w") as f:
            f.write(self._config())

    def _config(self):
        return f"""prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {self.dir}
sbindir = /usr/sbin
logdir = {self.dir}
raddbdir = {self.dir}
radacctdir = {self.dir}/acct
name = freeradius
confdir = ${{raddbdir}}
modconfdir = ${{confdir}}
run_dir = {self.dir}
db_dir = {self.dir}
libdir = /usr/lib/freeradius
pidfile = {self.dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
  auth = yes
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}}
client local {{
  ipaddr = 127.0.0.1
  secret = {SECRET}
}}
modules {{
  pap {{
  }}
  chap {{
  }}
  mschap {{
  }}
  eap {{
    default_eap_type = md5
    timer_expire = 60
    ignore_unknown_eap_types = no
    max_sessions = 1024
    md5 {{
    }}
  }}
  files {{
    filename = {self.dir}/users
  }}
  detail {{
    filename = {self.dir}/acct/detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
  }}
}}
server default {{
  listen {{
    type = auth
    ipaddr = 127.0.0.1
    port = {self.auth_port}
  }}
  listen {{
    type = acct
    ipaddr = 127.0.0.1
    port = {self.acct_port}
  }}
  authorize {{
    files
    chap
    mschap
    eap {{
      ok = return
    }}
    pap
  }}
  authenticate {{
    Auth-Type PAP {{
      pap
    }}
    Auth-Type CHAP {{
      chap
    }}
    Auth-Type MS-CHAP {{
      mschap
    }}
    Auth-Type EAP {{
      eap
    }}
  }}
  preacct {{
  }}
  accounting {{
    detail
  }}
  post-auth {{
  }}
}}
"""

    @property
    def log_path(self):
        return os.path.join(self.dir, "radiusd.log")

    def start(self):
        log = open(self.log_path, "a")
        before = self.log().count("Ready to process requests")
        self.proc = subprocess.Popen(self.ns_exec + [FREERADIUS, "-X", "-d", self.dir, "-n",
                                                     "radiusd"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.time() + 30
        while time.time() < end:
            if self.log().count("Ready to process requests") > before:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("freeradius did not start:\n" + self.log()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def close(self):
        self.stop()
        if not os.environ.get("KEEP_RADIUS_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def records(self):
        """The detail file as a list of {attribute: value} (values unquoted)."""
        try:
            with open(os.path.join(self.dir, "acct", "detail")) as f:
                text = f.read()
        except OSError:
            return []
        out = []
        for block in re.split(r"\n\s*\n", text):
            rec = {}
            for line in block.splitlines():
                m = re.match(r"\s+([A-Za-z0-9-]+) = (.*)$", line)
                if m:
                    rec[m.group(1)] = m.group(2).strip().strip('"')
            if rec:
                out.append(rec)
        return out

    def records_of(self, user, status=None):
        return [r for r in self.records() if r.get("User-Name") == user and
                (status is None or r.get("Acct-Status-Type") == status)]


class BlackHole:
    """A RADIUS server that never answers (a dead host): a UDP socket in the
    dataplane namespace that reads and drops, bounded in time."""

    def __init__(self, t, seconds=300):
        ns_exec = ["ip", "netns", "exec", t.ns_dp]
        self.port = free_udp_port(ns_exec)
        code = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                f"s.bind(('127.0.0.1',{self.port}))\ns.settimeout(1)\nn=0\n"
                f"end=time.time()+{seconds}\n"
                "while time.time()<end:\n"
                " try:\n  s.recvfrom(4096)\n  n+=1\n  print(n,flush=True)\n"
                " except socket.timeout:\n  pass\n")
        self.out = tempfile.NamedTemporaryFile(prefix=f"{t.tag}-blackhole-", delete=False)
        self.proc = subprocess.Popen(ns_exec + ["/usr/bin/python3", "-c", code], stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(0.5)

    def received(self):
        with open(self.out.name) as f:
            return len(f.read().split())

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(5)
        os.unlink(self.out.name)


def radius_section(servers, extra=""):
    text = (f"\n[radius]\nnas_identifier = \"sys-nas\"\ntimeout_ms = 400\nretries = 1\n"
            f"dead_time = 30\ndae_port = 3799\ndae_address = \"127.0.0.1\"\n{extra}")
    for auth_port, acct_port in servers:
        text += (f"[[radius.server]]\naddress = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n"
                 f"auth_port = {auth_port}\nacct_port = {acct_port}\n")
    return text


@contextlib.contextmanager
def radius_controlplane(t, servers, extra="", eap=False):
    """The control plane restarted with [radius] on `servers` [(auth, acct)];
    the plain config and control plane come back afterwards."""
    t.stop(t.cp)
    t.write_config(radius_section(servers, extra))
    if eap:
        with open(t.cfg_path) as f:
            text = f.read()
        assert 'auth = ["mschapv2"]' in text
        with open(t.cfg_path, "w") as f:
            f.write(text.replace('auth = ["mschapv2"]', 'auth = ["mschapv2", "eap-md5"]'))
    try:
        t.start_controlplane()
        yield
    finally:
        t.stop(t.cp)
        t.write_config()
        t.start_controlplane()


@contextlib.contextmanager
def freeradius(t, name="radius"):
    if not os.access(FREERADIUS, os.X_OK):
        raise AssertionError(f"{FREERADIUS} missing: scripts/install-deps.sh test installs "
                             "freeradius freeradius-utils")
    s = Freeradius(t, name)
    try:
        s.start()
        yield s
    except Exception:
        print(f"--- freeradius {name} log tail ---\n" + s.log()[-5000:])
        raise
    finally:
        s.close()


class Sim:
    """One vpn-clientsim run in the WAN namespace (per-client lines kept)."""

    def __init__(self, t, user, password, *args):
        sim = os.path.join(t.build, "tests/clientsim/vpn-clientsim")
        self.json_path = f"/tmp/{t.tag}-sim-{user}-{time.time_ns()}.json"
        argv = ["ip", "netns", "exec", t.ns_wan, sim, "--server", "198.18.0.1", "--psk",
                "secret123", "--user", user, "--password", password, "--json",
                self.json_path] + [str(a) for a in args]
        self.t0 = time.time()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        self.out = None

    def wait(self, timeout=150):
        try:
            self.out, _ = self.p.communicate(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait(5)
        self.t_end = time.time()
        try:
            with open(self.json_path) as f:
                self.result = json.load(f)
            os.unlink(self.json_path)
        except (OSError, ValueError):
            self.result = {}
        return self.out


def sessions(t, *filt):
    return [s for s in t.vpnctl("show", "sessions", *filt) if s["assigned_ip"] != "-"]



def disconnect(t, attrs, secret=SECRET):
    return subprocess.run(["ip", "netns", "exec", t.ns_dp, "radclient", "-x", "-r", "1", "-t",
                           "3", "127.0.0.1:3799", "disconnect", secret],
                          input=attrs, capture_output=True, text=True, timeout=20)


# --- Tests -------------------------------------------------------------------


def test_radius_e2e_mschapv2_framed_ip_pool_and_wrong_password(t):
    """MS-CHAPv2 through FreeRADIUS: the client only comes up when the
    server's MS-CHAP2-Success verifies (RFC 2759 5); Framed-IP-Address is
    the address the client gets; without it, a pool address; a wrong
    password is refused with the client seeing the failure; Access-Request
    and Access-Reject visible in FreeRADIUS's own log."""
    with freeradius(t) as rad, radius_controlplane(t, [(rad.auth_port, rad.acct_port)]):
        a = Sim(t, "static-user", "static-pw", "--ping", LAN_HOST, "--count", 3, "--hold", 3)
        b = Sim(t, "pool-user", "pool-pw", "--ping", LAN_HOST, "--count", 3, "--hold", 3)
        seen = wait_for(lambda: len(sessions(t)) == 2 and sessions(t), 60)
        out_a, out_b = a.wait(), b.wait()
        assert "1 connected, 0 failed" in out_a, out_a[-2000:] + t.log("cp")
        assert "1 connected, 0 failed" in out_b, out_b[-2000:] + t.log("cp")
        # The client's own IPCP address (clientsim line) and the server view.
        assert "addr=100.64.0.177" in out_a, out_a
        m = re.search(r"addr=(\d+\.\d+\.\d+\.\d+)", out_b)
        assert m, out_b
        pool_addr = m.group(1)
        last = int(pool_addr.rsplit(".", 1)[1])
        assert pool_addr.startswith("100.64.0.") and 100 <= last <= 199, pool_addr
        by_user = {s["user"]: s for s in seen}
        assert by_user["static-user"]["assigned_ip"] == "100.64.0.177", seen
        assert by_user["pool-user"]["assigned_ip"] == pool_addr, seen
        assert all(s["auth_mode"] == "MS-CHAPv2" for s in seen), seen
        log = rad.log()
        assert log.count("Sent Access-Accept") >= 2, log[-3000:]
        assert "MS-CHAP2-Response" in log and 'NAS-Identifier = "sys-nas"' in log
        # Wrong password: Access-Reject, the client fails in PPP, nothing left.
        c = Sim(t, "static-user", "not-the-password", "--timeout", 30)
        out_c = c.wait()
        assert "0 connected, 1 failed" in out_c, out_c[-2000:]
        assert re.search(r"FAIL in (ppp|up).*(auth|Auth|E=691)", out_c), out_c
        assert "Sent Access-Reject" in rad.log(), rad.log()[-3000:]
        assert "rejected by the RADIUS server" in t.log("cp"), t.log("cp")
        assert wait_for(lambda: sessions(t) == [], 20), sessions(t)
        m = t.vpnctl("show", "metrics")
        assert m['vpn_radius_auth_total{result="accept"}'] == 2, m
        assert m['vpn_radius_auth_total{result="reject"}'] == 1, m


def test_radius_e2e_session_timeout_and_idle_timeout(t):
    """Session-Timeout 6 s ends a session that is still busy 6 s after it
    came up; Idle-Timeout 4 s ends a session 4 s after its traffic stopped.
    Both show in Acct-Terminate-Cause and Acct-Session-Time at FreeRADIUS."""
    with freeradius(t) as rad, radius_controlplane(t, [(rad.auth_port, rad.acct_port)]):
        # Busy the whole time (a ping a second for 20 s): only the
        # Session-Timeout can end it.
        s = Sim(t, "short-user", "short-pw", "--ping", LAN_HOST, "--count", 20, "--interval",
                1000, "--timeout", 30)
        up = wait_for(lambda: sessions(t, "user", "short-user"), 40)
        assert up, t.log("cp")
        t_up = time.time()
        assert up[0]["session_timeout_s"] == 6 and 0 < up[0]["session_left_s"] <= 6, up
        assert wait_for(lambda: sessions(t, "user", "short-user") == [], 15), sessions(t)
        lasted = time.time() - t_up
        out = s.wait()
        assert "0 connected, 1 failed" in out and "PPP down" in out, out[-2000:]
        assert 4.0 <= lasted <= 9.5, lasted
        assert "session timeout" in t.log("cp")
        stop = wait_for(lambda: rad.records_of("short-user", "Stop"), 10)
        assert stop, rad.records()
        assert stop[0]["Acct-Terminate-Cause"] == "Session-Timeout", stop
        assert 5 <= int(stop[0]["Acct-Session-Time"]) <= 7, stop

        # Idle: pings for ~3 s, then silence while the client holds on.
        i = Sim(t, "idle-user", "idle-pw", "--ping", LAN_HOST, "--count", 3, "--interval",
                1000, "--reply-wait", 30, "--hold", 40, "--timeout", 30)
        up = wait_for(lambda: sessions(t, "user", "idle-user"), 40)
        assert up and up[0]["idle_timeout_s"] == 4, up
        t_up = time.time()
        assert wait_for(lambda: sessions(t, "user", "idle-user") == [], 25), sessions(t)
        lasted = time.time() - t_up
        out = i.wait()
        assert "PPP down" in out, out[-2000:]
        # 3 pings over ~2 s, then 4 s idle, polled every 1 s.
        assert 5.0 <= lasted <= 10.5, lasted
        assert "idle for" in t.log("cp")
        stop = wait_for(lambda: rad.records_of("idle-user", "Stop"), 10)
        assert stop and stop[0]["Acct-Terminate-Cause"] == "Idle-Timeout", rad.records()
        assert int(stop[0]["Acct-Input-Packets"]) == 3, stop


def test_radius_e2e_accounting_counts_what_the_dataplane_counted(t):
    """Accounting Start/Interim-Update/Stop reach FreeRADIUS's detail file
    with the octets and packets the dataplane counted: equal to
    `vpnctl show sessions detail` for the session, and to what the client
    sent (N echo requests of a known size, N replies)."""
    n, size = 5, 100
    with freeradius(t) as rad, radius_controlplane(t, [(rad.auth_port, rad.acct_port)],
                                                   "interim_interval = 10\n"):
        s = Sim(t, "acct-user", "acct-pw", "--ping", LAN_HOST, "--count", n, "--size", size,
                "--interval", 200, "--hold", 13)
        up = wait_for(lambda: sessions(t, "user", "acct-user"), 40)
        assert up, t.log("cp")
        # After the traffic, before the teardown: the operator's numbers.
        time.sleep(5)
        view = t.vpnctl("show", "sessions", "detail", "user", "acct-user")
        assert len(view) == 1, view
        v = view[0]
        out = s.wait()
        assert "1 connected, 0 failed" in out, out[-2000:]
        stop = wait_for(lambda: rad.records_of("acct-user", "Stop"), 15)
        assert stop, rad.records()
        start = rad.records_of("acct-user", "Start")
        interim = rad.records_of("acct-user", "Interim-Update")
        assert len(start) == 1 and len(stop) == 1 and interim, rad.records()
        st = stop[0]
        assert start[0]["Acct-Session-Id"] == st["Acct-Session-Id"] == v["acct_session_id"], \
            (start, st, v)
        assert start[0]["Framed-IP-Address"] == st["Framed-IP-Address"] == v["assigned_ip"]
        assert st["Calling-Station-Id"] == "198.18.0.2" and st["NAS-Identifier"] == "sys-nas"
        assert st["Acct-Terminate-Cause"] == "User-Request", st
        # Input = from the client (RFC 2866 5.3).
        assert int(st["Acct-Input-Octets"]) == v["rx_bytes"], (st, v)
        assert int(st["Acct-Output-Octets"]) == v["tx_bytes"], (st, v)
        assert int(st["Acct-Input-Packets"]) == v["rx_packets"] == n, (st, v)
        assert int(st["Acct-Output-Packets"]) == v["tx_packets"] == n, (st, v)
        # Independent of our counters: n IPv4 echo requests of 20+8+size octets.
        assert v["rx_bytes"] == n * (20 + 8 + size), v
        assert int(interim[-1]["Acct-Input-Octets"]) == v["rx_bytes"], (interim, v)
        assert 12 <= int(st["Acct-Session-Time"]) <= 22, st


def test_radius_e2e_disconnect_request_tears_session_down(t):
    """radclient's Disconnect-Request (RFC 5176) for the user: Disconnect-ACK,
    the client sees its PPP link closed, the session is gone from vpnctl and
    from the dataplane, and the Stop says Admin-Reset."""
    with freeradius(t) as rad, radius_controlplane(t, [(rad.auth_port, rad.acct_port)]):
        s = Sim(t, "dae-user", "dae-pw", "--hold", 60, "--timeout", 30)
        up = wait_for(lambda: sessions(t, "user", "dae-user"), 40)
        assert up, t.log("cp")
        dp_before = t.vpnctl("show", "status")["sessions"]
        r = disconnect(t, f'User-Name = "dae-user"\nFramed-IP-Address = {up[0]["assigned_ip"]}\n')
        assert "Disconnect-ACK" in r.stdout, r.stdout + r.stderr
        assert wait_for(lambda: sessions(t, "user", "dae-user") == [], 10), sessions(t)
        out = s.wait(timeout=60)
        assert "PPP down" in out and time.time() - s.t0 < 50, out[-2000:]
        assert t.vpnctl("show", "status")["sessions"] == dp_before - 1
        stop = wait_for(lambda: rad.records_of("dae-user", "Stop"), 10)
        assert stop and stop[0]["Acct-Terminate-Cause"] == "Admin-Reset", rad.records()
        # Nobody left to disconnect: NAK.
        r = disconnect(t, 'User-Name = "dae-user"\n')
        assert "Disconnect-NAK" in r.stdout, r.stdout


def test_radius_e2e_failover_from_dead_first_server(t):
    """First configured server dead (a host that never answers): the login
    still succeeds through the second one within the retry budget
    (2 x 400 ms), accounting goes there too, and the metrics show the
    failover; the dead server saw the retransmission."""
    hole = BlackHole(t)
    try:
        with freeradius(t) as rad, radius_controlplane(
                t, [(hole.port, hole.port), (rad.auth_port, rad.acct_port)]):
            s = Sim(t, "pool-user", "pool-pw", "--ping", LAN_HOST, "--count", 2, "--hold", 2)
            out = s.wait()
            assert "1 connected, 0 failed" in out, out[-2000:] + t.log("cp")
            assert wait_for(lambda: rad.records_of("pool-user", "Stop"), 15), rad.records()
            assert rad.records_of("pool-user", "Start"), rad.records()
            m = t.vpnctl("show", "metrics")
            ev = lambda e: m[f'vpn_radius_client_events_total{{event="{e}"}}']  # noqa: E731
            assert ev("failovers") >= 1 and ev("server_timeouts") >= 1, m
            assert ev("retransmissions") >= 1 and ev("failures") == 0, m
            # Access-Request sent and resent once; later requests skip the
            # dead server (dead_time), so at most one Start went there too.
            assert 2 <= hole.received() <= 4, hole.received()
    finally:
        hole.close()


def test_radius_e2e_eap_md5_passthrough(t):
    """EAP pass-through (RFC 3579): the client speaks PPP EAP, FreeRADIUS
    chooses EAP-MD5 and sends the challenge in an Access-Challenge; the
    answer goes back with State, Access-Accept brings the session up with the
    server's Framed-IP-Address. A wrong password ends in EAP Failure."""
    with freeradius(t) as rad, radius_controlplane(t, [(rad.auth_port, rad.acct_port)],
                                                   eap=True):
        s = Sim(t, "eap-user", "eap-pw", "--auth", "eap-md5", "--ping", LAN_HOST, "--count", 2,
                "--hold", 2)
        up = wait_for(lambda: sessions(t, "user", "eap-user"), 40)
        out = s.wait()
        assert "1 connected, 0 failed" in out and "addr=100.64.0.188" in out, \
            out[-2000:] + t.log("cp")
        assert up and up[0]["auth_mode"] == "EAP-MD5", up
        log = rad.log()
        assert "Sent Access-Challenge" in log and "eap_md5" in log, log[-4000:]
        assert "EAP-Message" in log and "State = 0x" in log, log[-4000:]
        m = t.vpnctl("show", "metrics")
        assert m['vpn_radius_auth_total{result="challenge"}'] == 1, m
        bad = Sim(t, "eap-user", "wrong", "--auth", "eap-md5", "--timeout", 30)
        out = bad.wait()
        assert "0 connected, 1 failed" in out and "EAP Failure" in out, out[-2000:]
        assert "Sent Access-Reject" in rad.log()


# Only the tests join system_test.py (its helpers keep their own names).
__all__ = [n for n in dir() if n.startswith("test_")]
