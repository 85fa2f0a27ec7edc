#!/usr/bin/env bash
# The whole test suite (README's second command; .ci/run calls it).
#   scripts/test.sh            everything, in this order: release build;
#                              unit + exchange, packet tests on the real
#                              dataplane binary, system, interop with QEMU
#                              guests (all on the release build); then unit +
#                              exchange under ASan/UBSan and the libFuzzer
#                              targets, both from one clang build (build-san)
#                              that compiles in the background meanwhile
#   scripts/test.sh --quick    skip the sanitizer build, fuzzing and interop
# Installs what it needs (apt-get, as root), builds, runs every tier that
# exists, and ends with one line "test: N passed, M failed[, K skipped]".
# Tiers and their wall times: docs/testing.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1

scripts/install-deps.sh all || { echo "test: dependency installation failed"; exit 1; }

PASSED=0 FAILED=0 SKIPPED=0
LOGDIR=${VPN_TEST_LOGDIR:-$ROOT/build/test-logs}
mkdir -p "$LOGDIR"

# Each heading carries the suite's elapsed wall time so slow tiers show up in CI logs.
note() { printf '\n=== %s === [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

# Builds a meson tree (every target, or with NINJA_TARGETS set only those);
# a build failure counts as one failed test.
build_tree() {  # dir, meson args...
  local dir=$1; shift
  if [[ ! -f $dir/build.ninja ]]; then
    meson setup "$dir" "$@" >"$LOGDIR/$(basename "$dir")-setup.log" 2>&1 || {
      cat "$LOGDIR/$(basename "$dir")-setup.log"; return 1; }
  fi
  local targets=()
  [[ -n ${NINJA_TARGETS_CMD:-} ]] && mapfile -t targets < <($NINJA_TARGETS_CMD "$dir")
  ninja -C "$dir" -j"$(nproc)" "${targets[@]}" >"$LOGDIR/$(basename "$dir")-build.log" 2>&1 || {
    grep -E "error|FAILED" -A3 "$LOGDIR/$(basename "$dir")-build.log" | head -60; return 1; }
}

# The executables the unit and exchange suites (minus dpdk) run, as ninja
# targets: the sanitizer tier builds only these (no dataplane binary, benches
# or the second-ABI control plane), which saves a third of its build time.
sanitizer_test_targets() {  # dir
  meson introspect --tests --targets "$1" | python3 -c '
import json, os, sys
info = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in info["targets"]}
for t in info["tests"]:
    suites = {s.split(":")[-1] for s in t["suite"]}
    if "dpdk" in suites or not suites & {"unit", "exchange"}:
        continue
    for d in t.get("depends", []):
        for f in files.get(d, []):
            print(os.path.relpath(f, os.path.abspath(sys.argv[1])))
' "$1" | sort -u
}

# Runs meson's test runner for some suites and adds its counts.
meson_tier() {  # name, dir, suites... (a suite "!x" excludes x)
  local name=$1 dir=$2; shift 2
  local args=() s
  for s in "$@"; do
    if [[ $s == !* ]]; then args+=(--no-suite "${s#!}"); else args+=(--suite "$s"); fi
  done
  local log="$LOGDIR/$name.log"
  [[ -n ${MESON_TEST_NO_REBUILD:-} ]] && args+=(--no-rebuild)
  meson test -C "$dir" "${args[@]}" --print-errorlogs --num-processes 2 >"$log" 2>&1
  local rc=$?
  grep -E "^ *[0-9]+/[0-9]+ " "$log"
  local ok fail
  ok=$(awk '/^Ok:/{print $2}' "$log"); fail=$(awk '/^Fail:/{print $2}' "$log")
  local to; to=$(awk '/^Timeout:/{print $2}' "$log")
  local skip; skip=$(awk '/^Skipped:/{print $2}' "$log")
  ok=${ok:-0}; fail=$(( ${fail:-0} + ${to:-0} )); skip=${skip:-0}
  if [[ $rc -ne 0 && $fail -eq 0 ]]; then fail=1; tail -40 "$log"; fi
  [[ $fail -ne 0 ]] && grep -E "FAILED|Failure|error" -A5 "$log" | head -80
  if [[ $skip -gt 0 ]]; then
    grep -E "SKIP" "$log" | head -5
    echo "$name: $ok passed, $fail failed, $skip skipped"
  else
    echo "$name: $ok passed, $fail failed"
  fi
  PASSED=$((PASSED + ok)); FAILED=$((FAILED + fail)); SKIPPED=$((SKIPPED + skip))
}

# Runs a script tier that prints "<tier>: N passed, M failed[, K skipped]".
script_tier() {  # name, command...
  local name=$1; shift
  local log="$LOGDIR/$name.log"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E "^[a-z_-]+: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
  local p f k
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  k=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1)
  [[ -z $line ]] && { p=0; f=1; echo "$name: printed no result line (rc $rc)"; }
  [[ $rc -ne 0 && ${f:-0} -eq 0 ]] && f=1
  PASSED=$((PASSED + ${p:-0})); FAILED=$((FAILED + ${f:-0})); SKIPPED=$((SKIPPED + ${k:-0}))
}

# The clang-14 ASan+UBSan tree. One build serves two tiers: unit-asan (the
# gtest unit and exchange suites) and fuzz (the libFuzzer targets need clang,
# and -Dfuzz=true adds libFuzzer's coverage instrumentation to every object,
# which the gtest binaries simply carry). -O1 -gline-tables-only, as OSS-Fuzz
# builds: ASan's recommended level, reports keep function, file and line, and
# it compiles faster than -O2 -g; the sanitized tests run several times faster
# than at -O0.
SAN_DIR=build-san
san_targets() {  # dir: what the two sanitizer tiers run, nothing else
  sanitizer_test_targets "$1"
  echo fuzz  # alias: every fuzz target + fuzz_seedgen (tests/fuzz/meson.build)
}
san_build() {
  CC=clang-14 CXX=clang++-14 NINJA_TARGETS_CMD=san_targets build_tree "$SAN_DIR" \
    --buildtype=debugoptimized -Doptimization=1 -Ddebug=false -Dcpp_args=-gline-tables-only \
    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
}

# The sanitizer build starts now, in the background, at the lowest CPU
# priority: it only gets CPU that nothing else wants (the gaps in the release
# build, and the mostly sleeping packet, system and interop tiers), so it does
# not slow them. Lowest takes two settings: the SCHED_IDLE class (a normal
# task that wakes up preempts it), and, because the kernel first shares CPU
# between sessions (autogroups) and our test harnesses start their daemons in
# sessions of their own, a session of its own with autogroup nice 19. Once the
# release-binary tiers are done it is raised to normal priority and we wait
# for what is left. Its output goes to $LOGDIR/build-san-errors.log.
SAN_PID=
descendants() {  # pid: every live descendant
  local c
  for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}
raise_san_priority() {  # back to normal: session nice 0, SCHED_OTHER
  [[ -n $SAN_PID ]] || return 0
  local p
  echo 0 >"/proc/$SAN_PID/autogroup" 2>/dev/null
  for p in $SAN_PID $(descendants "$SAN_PID"); do
    chrt --other -p 0 "$p" >/dev/null 2>&1; renice -n 0 -p "$p" >/dev/null 2>&1
  done
}
stop_san_build() {
  [[ -n $SAN_PID ]] || return 0
  local p
  for p in $SAN_PID $(descendants "$SAN_PID"); do kill "$p" 2>/dev/null; done
}
if [[ $QUICK -eq 0 ]]; then
  # setsid -w: a new session (and autogroup) that stays our child; the shell
  # in it lowers its own priority before it starts anything.
  setsid -w bash -c "$(declare -f build_tree sanitizer_test_targets san_targets san_build)
    LOGDIR='$LOGDIR' SAN_DIR='$SAN_DIR'
    echo 19 >/proc/self/autogroup 2>/dev/null
    chrt --idle -p 0 \$\$ >/dev/null 2>&1 || renice -n 19 -p \$\$ >/dev/null
    san_build" >"$LOGDIR/build-san-errors.log" 2>&1 &
  SAN_PID=$!
  trap stop_san_build EXIT
fi

note "release build"
# -O2: GCC 12 raises false stringop/array-bounds warnings at -O3.
if build_tree build --buildtype=release -Doptimization=2; then
  note "unit and exchange tests"
  meson_tier unit build unit exchange
  if [[ -x tests/packet/run.sh ]]; then
    note "packet tests (real vpn-dataplane on virtual ports)"
    script_tier packet tests/packet/run.sh "$ROOT/build"
  fi
  if [[ -x tests/system/run.sh ]]; then
    note "system tests (both processes)"
    script_tier system tests/system/run.sh "$ROOT/build"
  fi
  if [[ $QUICK -eq 0 && -x tests/interop/run.sh ]]; then
    note "interop tests (stock clients in QEMU guests)"
    # Stock strongSwan/libreswan + xl2tpd + pppd guests against our binaries.
    # Scenario 2 (nat) is not in the default list: 3 (two-clients) checks
    # everything it does for two clients behind the same plain MASQUERADE.
    VPNCONC_BUILD="$ROOT/build" script_tier interop tests/interop/run.sh \
      --target concentrator ${VPN_INTEROP_SCENARIOS:-direct nat-ports two-clients libreswan failures cleartext rekey}
  fi
else
  echo "release build FAILED"; FAILED=$((FAILED + 1))
fi

if [[ $QUICK -eq 0 ]]; then
  note "sanitizer build (clang-14 ASan/UBSan + libFuzzer), finishing"
  # Normal priority from here on: nothing else of ours runs, and on a shared
  # machine an idle-priority build would wait behind everybody else's work.
  raise_san_priority
  wait "$SAN_PID"; san_rc=$?
  SAN_PID=
  if [[ $san_rc -eq 0 ]]; then
    note "unit and exchange tests under ASan/UBSan"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 MESON_TEST_NO_REBUILD=1 \
      meson_tier unit-asan "$SAN_DIR" unit exchange '!dpdk'  # EAL in-process under ASan: see docs/testing.md
    # libFuzzer targets (tests/fuzz): every target for a bounded time (~2 min
    # on 2 cores). After the build, alone: the budget is wall time, so a
    # loaded machine would mean fewer inputs tried.
    if [[ -x tests/fuzz/run.sh ]]; then
      note "fuzz targets (clang, libFuzzer, ${FUZZ_SECONDS:-15} s each)"
      VPN_TEST_LOGDIR=$LOGDIR script_tier fuzz tests/fuzz/run.sh "$ROOT/$SAN_DIR" "${FUZZ_SECONDS:-15}"
    fi
  else
    cat "$LOGDIR/build-san-errors.log"
    echo "sanitizer build FAILED"; FAILED=$((FAILED + 1))
  fi
fi

echo
echo "test: wall time $((SECONDS / 60))m$((SECONDS % 60))s"
if [[ $SKIPPED -gt 0 ]]; then
  echo "test: $PASSED passed, $FAILED failed, $SKIPPED skipped"
else
  echo "test: $PASSED passed, $FAILED failed"
fi
[[ $FAILED -eq 0 ]]
