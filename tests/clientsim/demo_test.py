#!/usr/bin/env python3
"""scripts/demo.sh end to end (needs root): a bounded run and an interrupted
run, each checked for sessions up, traffic both ways, the session table and
throughput printed while it ran, and nothing left behind afterwards
(namespaces, veths, the concentrator's and simulator's processes, the
shared-memory segment, DPDK's runtime directory, the work directory).

  demo_test.py BUILD_DIR     last line "demo-test: N passed, M failed"
Also called from tests/system/system_test.py (test_zzz_demo_script).
"""
import os
import re
import select
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "scripts", "demo.sh")


def _netns():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return r.stdout


def _pids(out):
    m = re.search(r"dataplane pid (\d+), controlplane pid (\d+)", out)
    return [int(m.group(1)), int(m.group(2))] if m else []


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _leftovers(out):
    """What the demo created and should have removed."""
    m = re.search(r"demo: tag (demo\d+)", out)
    assert m, "demo printed no tag:\n" + out[-3000:]
    tag = m.group(1)
    left = []
    if tag in _netns():
        left.append("namespace " + tag)
    for path in (f"/dev/shm/{tag}", f"/var/run/dpdk/{tag}", f"/var/run/dpdk/vpn-{tag}"):
        if os.path.exists(path):
            left.append(path)
    for w in re.findall(r"(/tmp/vpnconc-demo\.\w+)", out):
        if os.path.exists(w):
            left.append(w)
    for pid in _pids(out):
        if _alive(pid):
            left.append(f"process {pid}")
    marks = [tag] + re.findall(r"(/tmp/vpnconc-demo\.\w+)", out)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) != os.getpid() and any(m in cmd for m in marks):
            left.append(f"process {pid}: {cmd[:120]}")
    return tag, left


def _run(build, clients, duration, interrupt_after=None):
    argv = [DEMO, "--clients", str(clients), "--duration", str(duration), "--build", build,
            "--no-install"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    if interrupt_after is None:
        out, _ = p.communicate(timeout=duration + 240)
        return p.returncode, out
    # Interrupt (SIGINT to the script only, as `kill -INT`) once the session
    # table has been printed, i.e. clients are connected and passing traffic.
    buf = b""
    deadline = time.time() + interrupt_after + 240
    sent = False
    fd = p.stdout.fileno()
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # EOF: the demo exited
            buf += chunk
        if not sent and b"sessions up:" in buf:
            os.kill(p.pid, signal.SIGINT)
            sent = True
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
    return p.returncode, buf.decode(errors="replace")


def check_bounded(build, clients=8, duration=20):
    rc, out = _run(build, clients, duration)
    assert rc == 0, f"demo exited {rc}:\n{out[-4000:]}"
    assert f"clientsim: {clients} connected, 0 failed" in out, out[-4000:]
    # The session table printed while it ran: one row per client with a pool
    # address (100.64.0.100-199) and the demo user.
    rows = set(re.findall(r"^\d+\s+demo\s+(100\.64\.0\.1\d\d)\s+198\.18\.0\.2:\d+", out, re.M))
    assert len(rows) == clients, f"session table rows {sorted(rows)}:\n{out[-4000:]}"
    m = re.search(r"summary: traffic sent=(\d+) received=(\d+)", out)
    assert m and int(m.group(1)) >= clients * duration * 5 and m.group(1) == m.group(2), \
        out[-3000:]
    # Throughput lines show traffic both ways through the dataplane.
    tps = re.findall(r"throughput: WAN in ([\d.]+) Mbit/s .* out ([\d.]+) Mbit/s; LAN out "
                     r"([\d.]+) Mbit/s in ([\d.]+)", out)
    assert any(all(float(x) > 0.1 for x in t) for t in tps), f"throughput {tps}"
    assert "demo: sessions left on the concentrator after the clients' teardown: 0" in out, \
        out[-2000:]
    assert "demo: PASS" in out
    tag, left = _leftovers(out)
    assert not left, f"left behind by {tag}: {left}"


def check_interrupted(build):
    rc, out = _run(build, 4, 120, interrupt_after=60)
    assert "demo: interrupted" in out and "demo: cleaning up" in out, out[-3000:]
    assert rc == 130, f"rc {rc}:\n{out[-3000:]}"
    tag, left = _leftovers(out)
    assert not left, f"left behind by {tag} after SIGINT: {left}"


def main():
    build = os.path.realpath(sys.argv[1])
    if os.geteuid() != 0:
        print("demo-test: SKIP: needs root (namespaces, DPDK)")
        print("demo-test: 0 passed, 0 failed, 2 skipped")
        sys.exit(77)
    passed = failed = 0
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    for fn in (check_bounded, check_interrupted):
        if only and only not in fn.__name__:
            continue
        t0 = time.time()
        try:
            fn(build)
            passed += 1
            print(f"PASS {fn.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {fn.__name__}: {e}", flush=True)
    print(f"demo-test: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
