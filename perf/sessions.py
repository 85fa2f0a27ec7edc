#!/usr/bin/env python3
"""Session scale and connect rate (perf/sessions.sh; docs/perf.md).

Both real binaries (vpn-dataplane on af_packet ports, vpn-controlplane) in
namespaces built by tests/system/topo.py, driven by one vpn-clientsim
process in the WAN namespace: N simulated Windows-style clients (IKEv1 Main
Mode PSK MODP2048 + Quick Mode, NAT-T, ESP AES-128/SHA1 in UDP 4500, L2TP,
PPP MS-CHAPv2, IPCP), started at an offered rate from a few source
addresses with many UDP source ports each, so the concentrator has to tell
clients apart by SA and port, not by address.

Reported:
  connects/s     clients that reached IPCP up / connect window (first start
                 to last IPCP up), end to end; connect time p50/p99
  sessions held  PPP sessions up at once at the end of the ramp (from the
                 control plane's `show status`, cross-checked with the
                 simulator and the dataplane session table)
  memory         RSS delta (at ramp end minus before the first client) /
                 sessions, for vpn-controlplane and vpn-dataplane (anon and
                 shared-memory parts) and the simulator; the shared-memory
                 tables' bytes per session slot (from the segment header)
  traffic        every K-th session pings the LAN host after the ramp
                 (--traffic-after-ramp): sessions answered / sampled
Bounded: the simulator has --max-time, every step a timeout; cleanup
removes namespaces, processes (by PID), shm and DPDK files.
"""
import argparse
import json
import os
import platform
import re
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
import topo  # noqa: E402

LAN_HOST = "100.64.0.10"
# Pool outside the LAN's /24 (100.64.0.0/10 is the pool range): the LAN host
# routes it to the concentrator's LAN address, inside its own namespace.
POOL_NET = "100.64.64.0/18"
POOL_RANGE = "100.64.64.1-100.64.127.254"


def log(msg):
    print("[sessions] " + msg, flush=True)


def proc_status(pid):
    """VmRSS, RssAnon, RssFile, RssShmem in KiB; CPU seconds (user+sys)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    out[k] = int(v.split()[0])
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        hz = os.sysconf("SC_CLK_TCK")
        out["cpu_s"] = (int(fields[11]) + int(fields[12])) / hz
    except (OSError, IndexError, ValueError):
        pass
    return out


def shm_layout(name):
    """Reads the segment header (shared/include/vpn/shm_abi.h Header)."""
    path = "/dev/shm/" + name.lstrip("/")
    with open(path, "rb") as f:
        raw = f.read(320)
    (magic, abi, hdr_size, seg_size, max_sas, max_sessions, n_workers, _r0, sa_off, sess_off,
     wc_off, sac_off, sessc_off, punt_off, punt_stride, inject_off,
     update_off) = struct.unpack_from("<QIIQIIIIQQQQQQQQQ", raw, 0)
    return {
        "abi": abi, "segment_bytes": seg_size, "file_bytes": os.path.getsize(path),
        "max_sas": max_sas, "max_sessions": max_sessions,
        # Per slot, the record plus its per-worker counters (regions are
        # laid out in this order; see shared/src/shm_segment.cc).
        "sa_table_bytes": sess_off - sa_off,
        "session_table_bytes": wc_off - sess_off,
        "sa_counter_bytes": sessc_off - sac_off,
        "session_counter_bytes": punt_off - sessc_off,
        "rings_bytes": seg_size - punt_off,
    }


def raise_caps(cfg, n, log_level="warn"):
    """The embedded default config with the limits a scale run needs."""
    sessions = min(65535, max(2048, int(n * 1.1) + 64))
    sas = min((1 << 20) - 1, 2 * sessions + 256)
    subs = [
        (r"(?m)^max_sas = .*$", f"max_sas = {sas}"),
        (r"(?m)^max_sessions = .*$", f"max_sessions = {sessions}"),
        (r"(?m)^mbufs = .*$", "mbufs = 32768"),
        (r'(?m)^range = "100\.64\.0\.100-100\.64\.0\.199"$', f'range = "{POOL_RANGE}"'),
        # Quieter logs: info logs a few lines per connect.
        (r'(?m)^(ike|l2tp|ppp|auth) = "info"$', r'\1 = "%s"' % log_level),
    ]
    for pat, rep in subs:
        cfg, k = re.subn(pat, rep, cfg)
        if k == 0:
            raise RuntimeError(f"config: no match for {pat}")
    # Many clients share each source address (ports differ): the per-source
    # half-open Main Mode limit (default 16) is meant for one address = one
    # client; raise it with the offered rate.
    cfg = cfg.replace("[ike]\n", "[ike]\nhalf_open_per_source = 4096\nhalf_open_total = 8192\n", 1)
    return cfg, sessions, sas


class Bench:
    def __init__(self, args):
        self.a = args
        self.t = topo.Topology(args.build, tag=f"pfs{os.getpid() % 100000}")
        self.sim = None

    def setup(self):
        t = self.t
        t.up()
        with open(t.cfg_path) as f:
            cfg, self.max_sessions, self.max_sas = raise_caps(f.read(), self.a.clients, self.a.log_level)
        with open(t.cfg_path, "w") as f:
            f.write(cfg)
        for i in range(self.a.sources):
            topo.sh("ip", "addr", "add", f"198.18.0.{10 + i}/24", "dev", "wan0", ns=t.ns_wan)
        topo.sh("ip", "route", "add", POOL_NET, "via", "100.64.0.254", ns=t.ns_lan)
        # The dataplane polls; a short sleep when idle leaves the shared
        # machine's second core to the control plane and the simulator.
        t.dp = t._spawn("dp", ["timeout", str(self.a.max_time + 120), t.dp_bin, "--config",
                               t.cfg_path, "--idle-sleep-us", str(self.a.idle_sleep_us)])
        if not t.wait_log("dp", "dataplane ready", t.dp, 60):
            raise RuntimeError("dataplane did not start:\n" + t.log("dp"))
        t.cp = t._spawn("cp", ["timeout", str(self.a.max_time + 120), t.cp_bin, "--config",
                               t.cfg_path])
        if not t.wait_log("cp", "vpn-controlplane ready", t.cp, 30):
            raise RuntimeError("control plane did not start:\n" + t.log("cp"))
        # A LAN that has carried traffic before: the dataplane knows the LAN
        # host's MAC (it holds only 4 packets per unresolved next hop, so a
        # first burst of sample pings would otherwise lose some; see
        # dataplane/core/housekeeping.h kMaxHeldPerAddress).
        topo.sh("ping", "-c", "2", "-i", "0.2", "-W", "1", "100.64.0.254", ns=t.ns_lan, check=False)
        # `timeout` forks: the binaries are its children.
        self.dp_pid = self.child_pid(t.dp.pid)
        self.cp_pid = self.child_pid(t.cp.pid)

    @staticmethod
    def child_pid(pid):
        for _ in range(50):
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    return int(kids[0])
            except OSError:
                pass
            time.sleep(0.1)
        return pid

    def status(self):
        try:
            return self.t.vpnctl("show", "status")
        except Exception as e:  # noqa: BLE001 (reported, not fatal)
            return {"error": str(e)}

    def counters(self):
        try:
            return {k: v for k, v in self.t.counters().items() if v}
        except Exception as e:  # noqa: BLE001
            return {"error": str(e)}

    def snapshot(self):
        return {"counters": self.counters(), "cp": proc_status(self.cp_pid), "dp": proc_status(self.dp_pid),
                "sim": proc_status(self.sim.pid) if self.sim else {}, "status": self.status(),
                "t": time.time()}

    def run(self):
        a = self.a
        sources = ",".join(f"198.18.0.{10 + i}" for i in range(a.sources))
        json_path = f"/tmp/{self.t.tag}-sim.json"
        argv = ["ip", "netns", "exec", self.t.ns_wan, "timeout", str(a.max_time + 60),
                os.path.join(a.build, "tests/clientsim/vpn-clientsim"),
                "--server", "198.18.0.1", "--clients", str(a.clients), "--rate", str(a.rate),
                "--source", sources, "--user", "demo", "--password", "demo-password",
                "--psk", "secret123", "--ping", LAN_HOST, "--count", "3", "--interval", "300",
                "--sample", str(a.sample), "--traffic-after-ramp", "--hold", str(a.hold),
                "--timeout", str(a.connect_timeout), "--max-time", str(a.max_time),
                "--progress", "5", "--json", json_path]
        if not a.verbose:
            argv.append("--quiet")
        argv += a.sim_arg
        if a.max_connecting:
            argv += ["--max-connecting", str(a.max_connecting)]
        if a.ike_proposals:
            argv += ["--ike-proposals", a.ike_proposals]
        time.sleep(1)
        base = self.snapshot()
        log(f"{a.clients} clients at <= {a.rate}/s, <= {a.max_connecting} connecting, from {a.sources} addresses, ping sample every "
            f"{a.sample}th; caps max_sessions={self.max_sessions} max_sas={self.max_sas}")
        self.sim = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
        at_ramp = after_sample = None
        lines = []
        for line in self.sim.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if line.startswith("clientsim: progress"):
                st = self.status()
                log(line[11:] + f" | server ppp={st.get('ppp_sessions')} "
                    f"dp_sessions={st.get('sessions')} ike={st.get('ike_sas')}")
            elif line.startswith("clientsim: ramp done"):
                at_ramp = self.snapshot()
                log(line[11:])
            elif line.startswith("clientsim: sample traffic"):
                after_sample = self.snapshot()
                log(line[11:])
            elif (line.startswith("summary:") or line.startswith("clientsim: stopping") or
                  a.verbose):
                log(line)
        rc = self.sim.wait(30)
        try:
            with open(json_path) as f:
                simj = json.load(f)
            os.unlink(json_path)
        except (OSError, ValueError):
            simj = {}
        per = simj.pop("per_client", [])
        ups = sorted(x["start_s"] + x["connect_s"] for x in per if x.get("connected"))
        if len(ups) >= 20:
            # The ramp's middle 80 %: the rate the server sustained, without
            # the first clients' latency or the tail.
            i10, i90 = len(ups) // 10, len(ups) * 9 // 10
            simj["steady_connects_per_s"] = round((i90 - i10) / max(ups[i90] - ups[i10], 1e-6), 2)
        if ups:
            simj["first_up_s"], simj["last_up_s"] = round(ups[0], 3), round(ups[-1], 3)
        after = self.snapshot()
        return self.result(rc, base, at_ramp, after_sample, after, simj, lines)

    def result(self, rc, base, at_ramp, after_sample, after, simj, lines):
        a = self.a
        r = {"clients": a.clients, "offered_rate": a.rate, "max_connecting": a.max_connecting, "sources": a.sources,
             "sample_every": a.sample, "sim_rc": rc, "sim": simj,
             "cpu_model": cpu_model(), "nproc": os.cpu_count(),
             "loadavg_start": self.load0, "loadavg_end": os.getloadavg(),
             "max_sessions_cap": self.max_sessions, "max_sas_cap": self.max_sas,
             "ike_proposals": a.ike_proposals or "Windows 11 list (aes256-sha1-modp2048 first)"}
        if at_ramp:
            st = at_ramp["status"]
            held = int(st.get("ppp_sessions", 0) or 0)
            r["held"] = {"ppp_sessions": held, "dataplane_sessions": st.get("sessions"),
                         "sa_slots": st.get("sas"), "ike_sas": st.get("ike_sas"),
                         "tunnels": st.get("tunnels"), "sim_up": simj.get("up_after_ramp")}
            mem = {}
            for who in ("cp", "dp", "sim"):
                b, e = base.get(who, {}), at_ramp.get(who, {})
                if not b or not e or held == 0:
                    continue
                mem[who] = {k + "_kib_per_session": round((e[k] - b[k]) / held, 2)
                            for k in ("VmRSS", "RssAnon", "RssShmem") if k in b and k in e}
                mem[who]["rss_base_mib"] = round(b["VmRSS"] / 1024, 1)
                mem[who]["rss_at_ramp_mib"] = round(e["VmRSS"] / 1024, 1)
                mem[who]["cpu_s_during_ramp"] = round(e["cpu_s"] - b["cpu_s"], 2)
            r["memory"] = mem
            if simj.get("connected"):
                r["cpu_ms_per_connect"] = {
                    who: round(1000 * v["cpu_s_during_ramp"] / simj["connected"], 3)
                    for who, v in mem.items()}
        try:
            lay = shm_layout(self.t.shm)
            lay["sa_slot_bytes"] = (lay["sa_table_bytes"] + lay["sa_counter_bytes"]) // lay["max_sas"]
            lay["session_slot_bytes"] = ((lay["session_table_bytes"] + lay["session_counter_bytes"])
                                         // lay["max_sessions"])
            sas_per_session = 2
            if at_ramp and r["held"]["ppp_sessions"]:
                sas_per_session = round(int(at_ramp["status"].get("sas", 0)) /
                                        r["held"]["ppp_sessions"], 2)
            lay["sas_per_session"] = sas_per_session
            lay["table_bytes_per_session"] = round(lay["session_slot_bytes"] +
                                                   sas_per_session * lay["sa_slot_bytes"])
            lay["segment_bytes_per_session_slot"] = round(lay["segment_bytes"] /
                                                          lay["max_sessions"])
            r["shm"] = lay
        except (OSError, struct.error, ZeroDivisionError) as e:
            r["shm"] = {"error": str(e)}
        if after_sample:
            r["after_sample_status"] = after_sample["status"]
            r["dataplane_counters_after_sample"] = after_sample["counters"]
        if at_ramp:
            r["dataplane_counters_at_ramp"] = at_ramp["counters"]
        r["after_teardown_status"] = after["status"]
        r["dataplane_counters_end"] = after["counters"]
        r["tail"] = lines[-12:]
        return r

    def close(self):
        if self.sim and self.sim.poll() is None:
            os.killpg(self.sim.pid, 15)
            try:
                self.sim.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.sim.pid, 9)
        self.t.close()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def verdict(r, a):
    """Checks that make the run a pass: sessions held, the ping sample."""
    errs = []
    sim = r.get("sim", {})
    held = r.get("held", {}).get("ppp_sessions", 0)
    if held < a.min_held:
        errs.append(f"held {held} sessions < {a.min_held}")
    if sim.get("sample_clients", 0) == 0 or sim.get("sample_ok") != sim.get("sample_clients"):
        errs.append(f"ping sample {sim.get('sample_ok')}/{sim.get('sample_clients')}")
    return errs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--clients", type=int, default=4000)
    p.add_argument("--rate", type=float, default=300, help="upper bound on client starts/s")
    p.add_argument("--max-connecting", type=int, default=400,
                   help="closed loop: at most this many clients connecting at once (0: open loop)")
    p.add_argument("--sources", type=int, default=4)
    p.add_argument("--sample", type=int, default=50, help="every K-th session pings")
    p.add_argument("--hold", type=float, default=5)
    p.add_argument("--connect-timeout", type=int, default=90)
    p.add_argument("--max-time", type=int, default=400)
    p.add_argument("--idle-sleep-us", type=int, default=20)
    p.add_argument("--min-held", type=int, default=0, help="fail below this many sessions")
    p.add_argument("--ike-proposals", default="")
    p.add_argument("--json", default="")
    p.add_argument("--log-level", default="warn", help="control plane log level")
    p.add_argument("--verbose", action="store_true", help="per-client lines")
    p.add_argument("--sim-arg", action="append", default=[],
                   help="extra vpn-clientsim argument (repeat)")
    a = p.parse_args()
    if os.geteuid() != 0:
        print("sessions: needs root (namespaces, DPDK)", file=sys.stderr)
        return 77
    b = Bench(a)
    b.load0 = os.getloadavg()
    try:
        b.setup()
        r = b.run()
    finally:
        b.close()
    errs = verdict(r, a)
    r["errors"] = errs
    text = json.dumps(r, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)
    log("PASS" if not errs else "FAIL: " + "; ".join(errs))
    return 0 if not errs else 1


if __name__ == "__main__":
    sys.exit(main())
