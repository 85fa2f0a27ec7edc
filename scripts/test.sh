#!/usr/bin/env bash
# The whole test suite (README's second command; .ci/run calls it).
#   scripts/test.sh            everything: unit + exchange (release and
#                              ASan/UBSan builds), packet tests on the real
#                              dataplane binary, libFuzzer targets (clang),
#                              interop with QEMU guests
#   scripts/test.sh --quick    skip the sanitizer build, fuzzing and interop
# Installs what it needs (apt-get, as root), builds, runs every tier that
# exists, and ends with one line "test: N passed, M failed[, K skipped]".
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
else
  echo "release build FAILED"; FAILED=$((FAILED + 1))
fi

if [[ $QUICK -eq 0 ]]; then
  note "ASan/UBSan build"
  if NINJA_TARGETS_CMD=sanitizer_test_targets build_tree build-asan --buildtype=debug \
      -Db_sanitize=address,undefined -Db_lundef=false; then
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 MESON_TEST_NO_REBUILD=1 \
      meson_tier unit-asan build-asan unit exchange '!dpdk'  # EAL in-process under ASan: see docs/testing.md
  else
    echo "sanitizer build FAILED"; FAILED=$((FAILED + 1))
  fi
  # libFuzzer targets (tests/fuzz): clang build of the libraries they need,
  # then every target for a bounded time (~2 min on 2 cores).
  if [[ -x tests/fuzz/run.sh ]]; then
    note "fuzz targets (clang, libFuzzer, ${FUZZ_SECONDS:-15} s each)"
    if [[ ! -f build-fuzz/build.ninja ]]; then
      CXX=clang++-14 CC=clang-14 meson setup build-fuzz -Dfuzz=true --buildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false >"$LOGDIR/build-fuzz-setup.log" 2>&1 ||
        cat "$LOGDIR/build-fuzz-setup.log"
    fi
    if ninja -C build-fuzz -j"$(nproc)" fuzz >"$LOGDIR/build-fuzz-build.log" 2>&1; then
      VPN_TEST_LOGDIR=$LOGDIR script_tier fuzz tests/fuzz/run.sh "$ROOT/build-fuzz" "${FUZZ_SECONDS:-15}"
    else
      grep -E "error|FAILED" -A3 "$LOGDIR/build-fuzz-build.log" | head -60
      echo "fuzz build FAILED"; FAILED=$((FAILED + 1))
    fi
  fi
  if [[ -x tests/interop/run.sh ]]; then
    note "interop tests (stock clients in QEMU guests)"
    # Stock strongSwan/libreswan + xl2tpd + pppd guests against our binaries.
    # Scenario 2 (nat) is not in the default list: 3 (two-clients) checks
    # everything it does for two clients behind the same plain MASQUERADE.
    VPNCONC_BUILD="$ROOT/build" script_tier interop tests/interop/run.sh \
      --target concentrator ${VPN_INTEROP_SCENARIOS:-direct nat-ports two-clients libreswan failures cleartext rekey}
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
