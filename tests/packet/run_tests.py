#!/usr/bin/python3
"""Runs the packet tests: `run_tests.py BUILD_DIR [name-substring]`.

Each test_*.py module declares DATAPLANE (keyword arguments for
harness.Dataplane); the runner starts one dataplane per module, runs its
test_* functions with an Env, and prints `packet: N passed, M failed`.
"""
import importlib
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Dataplane, Port, setup_links  # noqa: E402
import env as envmod  # noqa: E402

MODULES = ["test_basic", "test_clear", "test_esp", "test_esp_negative", "test_multicore",
           "test_fragments", "test_fragments_drop", "test_icmp", "test_slots",
           "test_limits"]


def main():
    build = os.path.abspath(sys.argv[1])
    flt = sys.argv[2] if len(sys.argv) > 2 else ""
    setup_links()
    wan, lan = Port("t_wan"), Port("t_lan")
    passed, failed = 0, []
    for i, modname in enumerate(MODULES):
        mod = importlib.import_module(modname)
        tests = [(n, getattr(mod, n)) for n in sorted(dir(mod)) if n.startswith("test_")]
        tests = [(n, f) for n, f in tests if flt in f"{modname}.{n}"]
        if not tests:
            continue
        if getattr(mod, "SKIP", None):
            print(f"SKIP {modname}: {mod.SKIP}")
            continue
        dp = Dataplane(build, tag=str(i), **getattr(mod, "DATAPLANE", {}))
        try:
            dp.start()
            e = envmod.Env(dp, wan, lan)
            e.prime()
            for name, fn in tests:
                t0 = time.time()
                try:
                    wan.drain()
                    lan.drain()
                    dp.shm.pop_punts()
                    fn(e)
                    passed += 1
                    print(f"PASS {modname}.{name} ({time.time() - t0:.2f}s)")
                except Exception:  # noqa: BLE001 - report every failure
                    failed.append(f"{modname}.{name}")
                    print(f"FAIL {modname}.{name}")
                    traceback.print_exc()
                    if dp.proc is None or dp.proc.poll() is not None:
                        print(dp.read_log())
                        break
        except Exception:  # noqa: BLE001
            failed.append(f"{modname} (start)")
            traceback.print_exc()
            print(dp.read_log())
        finally:
            rc = dp.stop()
            if rc not in (0, None):
                failed.append(f"{modname} (dataplane exit status {rc})")
                print(dp.read_log())
            dp.close()
    for f in failed:
        print("failed:", f)
    print(f"packet: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
