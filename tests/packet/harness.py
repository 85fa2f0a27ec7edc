"""Packet-test harness: veth pairs in the test's network namespace, the real
vpn-dataplane on af_packet ports, raw-socket I/O on the peer ends, and the
shm mirror acting as the control plane.

Addresses follow the brief's network rule: 198.18.0.0/15 for the "public"
WAN, 100.64.0.0/10 for the client pool, 10.x for the LAN -- all inside a
namespace run.sh creates (nothing is routed in the root namespace).
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

from shm_mirror import Shm, verify_against

ETH_P_ALL = 3
PACKET_OUTGOING = 4

WAN_ADDR = "198.18.0.1"
WAN_GW = "198.18.0.254"
CLIENT_IP = "198.18.1.10"      # a client's public address, behind the gateway
CLIENT2_IP = "198.18.1.20"
LAN_ADDR = "10.10.0.1"
LAN_HOST = "10.10.0.2"
POOL_FIRST, POOL_LAST = "100.64.0.1", "100.64.0.31"


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def setup_links():
    """Two veth pairs; the dataplane takes dp_*, the test the t_* ends."""
    for name in ("wan", "lan"):
        if not os.path.exists(f"/sys/class/net/dp_{name}"):
            sh(f"ip link add dp_{name} type veth peer name t_{name}")
        for side in ("dp", "t"):
            # No IPv6 (router solicitations would be noise), no addresses.
            sh(f"sysctl -qw net.ipv6.conf.{side}_{name}.disable_ipv6=1")
            sh(f"ip link set {side}_{name} up")


def mac_of(iface):
    with open(f"/sys/class/net/{iface}/address") as f:
        return f.read().strip()


class Port:
    """Raw AF_PACKET socket on the test end of a veth."""

    def __init__(self, iface):
        self.iface = iface
        self.mac = mac_of(iface)
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((iface, 0))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

    def send(self, frame):
        self.s.send(bytes(frame))

    def drain(self):
        while select.select([self.s], [], [], 0)[0]:
            self.s.recvfrom(65535)

    def recv_all(self, timeout=0.5, want=None, count=None):
        """Frames received within timeout (not our own), filtered by want(frame)."""
        out = []
        end = time.time() + timeout
        while time.time() < end:
            r = select.select([self.s], [], [], max(0, end - time.time()))[0]
            if not r:
                break
            data, addr = self.s.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            if want is None or want(data):
                out.append(data)
                if count and len(out) >= count:
                    break
        return out

    def recv_one(self, want=None, timeout=2.0):
        got = self.recv_all(timeout=timeout, want=want, count=1)
        return got[0] if got else None


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


class Dataplane:
    """One vpn-dataplane process with a generated config."""

    def __init__(self, build_dir, tag, workers=1, require_ipsec=True, extra="",
                 wan_device="net_af_packet0,iface=dp_wan", dataplane_extra=""):
        self.binary = os.path.join(build_dir, "dataplane", "core", "vpn-dataplane")
        self.tag = tag
        self.shm_name = f"vpnpkt{os.getpid()}{tag}"
        self.prefix = f"vpnpkt{os.getpid()}{tag}"
        self.workers = workers
        self.require_ipsec = require_ipsec
        self.extra = extra
        self.wan_device = wan_device
        self.dataplane_extra = dataplane_extra
        self.proc = None
        self.shm = None
        self.reasons = None
        self.cfg_path = f"/tmp/{self.shm_name}.toml"
        self.log_path = f"/tmp/{self.shm_name}.log"

    def config_text(self):
        lcores = ", ".join(str(i + 1) for i in range(self.workers))
        return f"""
shm_name = "{self.shm_name}"
[dataplane]
workers = {self.workers}
worker_lcores = [{lcores}]
main_lcore = 0
no_huge = true
memory_mb = 256
mbufs = 4096
max_sas = 64
max_sessions = 64
require_ipsec = {"true" if self.require_ipsec else "false"}
file_prefix = "{self.prefix}"
{self.dataplane_extra}
[[port]]
name = "wan"
role = "wan"
device = "{self.wan_device}"
address = "{WAN_ADDR}/24"
gateway = "{WAN_GW}"
[[port]]
name = "lan"
role = "lan"
device = "net_af_packet1,iface=dp_lan"
address = "{LAN_ADDR}/24"
proxy_arp = true
[[pool]]
name = "clients"
range = "{POOL_FIRST}-{POOL_LAST}"
[ike]
psk = "packet-test"
{self.extra}
"""

    def start(self, fresh=True):
        if fresh:
            self.cleanup_files()
        # The config holds a PSK: the parser insists on mode 0600.
        fd = os.open(self.cfg_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.config_text())
        os.chmod(self.cfg_path, 0o600)  # it holds a PSK
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["timeout", "-s", "TERM", "600", self.binary, "--config", self.cfg_path,
             "--idle-sleep-us", "200"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dataplane exited: " + self.read_log())
            if os.path.exists("/dev/shm/" + self.shm_name):
                try:
                    if self.shm is None:
                        self.shm = Shm(self.shm_name)
                    if self.shm.h.dp_ready == 1:
                        break
                except (RuntimeError, ValueError):
                    self.shm = None
            time.sleep(0.05)
        else:
            raise RuntimeError("dataplane not ready: " + self.read_log())
        self.reasons = self.abi()["reasons"]

    def abi(self):
        out = subprocess.run([self.binary, "--print-abi"], check=True, capture_output=True)
        return json.loads(out.stdout)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        if self.shm:
            self.shm.close()
            self.shm = None
        self.proc = None
        return rc

    def cleanup_files(self):
        for p in ("/dev/shm/" + self.shm_name,):
            if os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)

    def close(self):
        self.stop()
        self.cleanup_files()
        for p in (self.cfg_path,):
            if os.path.exists(p):
                os.unlink(p)

    # --- counters ---
    def counts(self):
        return self.shm.reason_counts(self.reasons)

    def wait_count(self, name, at_least, timeout=2.0):
        end = time.time() + timeout
        while time.time() < end:
            if self.counts()[name] >= at_least:
                return True
            time.sleep(0.01)
        return False

    def wait_punts(self, n=1, timeout=2.0):
        got = []
        end = time.time() + timeout
        while time.time() < end and len(got) < n:
            got += self.shm.pop_punts()
            if len(got) < n:
                time.sleep(0.01)
        return got

    def settle(self, timeout=2.0):
        """Waits until housekeeping consumed every update notice."""
        r = self.shm.ring(self.shm.h.update_ring_offset)
        end = time.time() + timeout
        while time.time() < end and r.tail != r.head:
            time.sleep(0.005)
        time.sleep(0.02)


class Delta:
    """Counter changes across a block: with Delta(dp) as d: ...; d['name']."""

    def __init__(self, dp):
        self.dp = dp

    def __enter__(self):
        self.before = self.dp.counts()
        return self

    def __exit__(self, *exc):
        return False

    def __getitem__(self, name):
        return self.dp.counts()[name] - self.before[name]

    def wait(self, name, want, timeout=2.0):
        """The change of counter `name` once it reaches `want` (or at the
        timeout): a loaded machine may run the dataplane's poll late."""
        deadline = time.time() + timeout
        while self[name] < want and time.time() < deadline:
            time.sleep(0.01)
        return self[name]

    def changed(self):
        now = self.dp.counts()
        return {k: now[k] - self.before[k] for k in now if now[k] != self.before[k]}
