"""Namespaces, veths and the two processes for the system tests.

  ns WAN (clients, 198.18.0.2/24) --veth-- ns DP (dp-wan: af_packet) vpn-dataplane
  ns LAN (host 100.64.0.10/24)    --veth-- ns DP (dp-lan: af_packet)
Everything is created with a per-run suffix and removed by close().
"""
import json
import os
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(*args, check=True, ns=None, timeout=30, **kw):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


# Polls fn until it returns something true or timeout seconds pass; returns
# its last value (the system tests' one waiting helper).
def wait_for(fn, timeout, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


class Topology:
    def __init__(self, build, tag=None):
        self.build = build
        self.tag = tag or f"s{os.getpid()}"
        self.ns_dp, self.ns_wan, self.ns_lan = (f"{self.tag}-dp", f"{self.tag}-wan",
                                                f"{self.tag}-lan")
        self.shm = f"vsys{self.tag}"
        self.sock = f"/tmp/{self.tag}-ctl.sock"
        self.cfg_path = f"/tmp/{self.tag}.toml"
        self.dp = self.cp = None
        self.logs = {}
        self.cp_bin = os.path.join(build, "controlplane/app/vpn-controlplane")
        self.dp_bin = os.path.join(build, "dataplane/core/vpn-dataplane")
        self.vpnctl_bin = os.path.join(build, "controlplane/ctl/vpnctl")

    # --- network -----------------------------------------------------------
    def up(self, extra_config=""):
        for ns in (self.ns_dp, self.ns_wan, self.ns_lan):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        # veth pairs created inside the DP namespace, one end moved out.
        sh("ip", "link", "add", "dp-wan", "type", "veth", "peer", "name", "wan0", ns=self.ns_dp)
        sh("ip", "link", "add", "dp-lan", "type", "veth", "peer", "name", "lan0", ns=self.ns_dp)
        sh("ip", "link", "set", "wan0", "netns", self.ns_wan, ns=self.ns_dp)
        sh("ip", "link", "set", "lan0", "netns", self.ns_lan, ns=self.ns_dp)
        for dev in ("dp-wan", "dp-lan"):
            sh("ip", "link", "set", dev, "up", ns=self.ns_dp)
            # af_packet sees frames before the kernel; keep the kernel quiet.
            sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=self.ns_dp, check=False)
        sh("ip", "addr", "add", "198.18.0.2/24", "dev", "wan0", ns=self.ns_wan)
        sh("ip", "link", "set", "wan0", "up", ns=self.ns_wan)
        # A prefix behind the concentrator that it does not serve: traffic to
        # it must be dropped and counted (rx_not_for_us).
        sh("ip", "route", "add", "198.19.0.0/24", "via", "198.18.0.1", ns=self.ns_wan)
        sh("ip", "addr", "add", "100.64.0.10/24", "dev", "lan0", ns=self.ns_lan)
        sh("ip", "link", "set", "lan0", "up", ns=self.ns_lan)
        # veth leaves TCP/UDP checksums to "offload"; af_packet would read
        # them unfinished. Real checksums on the wire, as from a NIC.
        for ns, dev in ((self.ns_wan, "wan0"), (self.ns_lan, "lan0")):
            sh("ethtool", "-K", dev, "tx", "off", ns=ns, check=False)
        # The LAN host reaches client pool addresses on its own subnet (proxy
        # ARP, seed 004); the WAN side needs nothing else.
        self.write_config(extra_config)

    def write_config(self, extra=""):
        cfg = subprocess.run([self.cp_bin, "--print-default-config"], check=True,
                             capture_output=True, text=True).stdout
        cfg = cfg.replace('shm_name = "vpnconc"', f'shm_name = "{self.shm}"')
        cfg = cfg.replace('control_socket = "/run/vpnconc/control.sock"',
                          f'control_socket = "{self.sock}"')
        cfg = cfg.replace("[dataplane]\n", "[dataplane]\nworker_lcores = [1]\nmain_lcore = 0\n")
        cfg += extra
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        os.chmod(self.cfg_path, 0o600)

    # --- processes ---------------------------------------------------------
    def _spawn(self, name, argv):
        log = open(f"/tmp/{self.tag}-{name}.log", "w")
        self.logs[name] = log.name
        return subprocess.Popen(["ip", "netns", "exec", self.ns_dp] + argv, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def wait_log(self, name, text, proc, timeout):
        end = time.time() + timeout
        while time.time() < end:
            with open(self.logs[name]) as f:
                if text in f.read():
                    return True
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def start_dataplane(self):
        self.dp = self._spawn("dp", [self.dp_bin, "--config", self.cfg_path])
        if not self.wait_log("dp", "dataplane ready", self.dp, 60):
            raise RuntimeError("dataplane did not start:\n" + self.log("dp"))

    def start_controlplane(self, binary=None):
        self.cp = self._spawn("cp", [binary or self.cp_bin, "--config", self.cfg_path])
        if not self.wait_log("cp", "vpn-controlplane ready", self.cp, 30):
            raise RuntimeError("control plane did not start:\n" + self.log("cp"))

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def log(self, name):
        try:
            with open(self.logs[name]) as f:
                return f.read()[-4000:]
        except (KeyError, OSError):
            return ""

    def vpnctl(self, *words, json_out=True):
        args = [self.vpnctl_bin, "--socket", self.sock, "--shm", self.shm]
        if json_out:
            args.append("--json")
        r = subprocess.run(args + list(words), capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError(f"vpnctl {' '.join(words)}: {r.stdout}{r.stderr}")
        return json.loads(r.stdout) if json_out else r.stdout

    def counters(self):
        return self.vpnctl("show", "counters")["reasons"]

    def close(self):
        self.stop(self.cp)
        self.stop(self.dp)
        for ns in (self.ns_dp, self.ns_wan, self.ns_lan):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{self.shm}", f"/var/run/dpdk/vpn-{self.shm}", f"/dev/shm/{self.shm}",
                        self.cfg_path, self.sock], capture_output=True)
