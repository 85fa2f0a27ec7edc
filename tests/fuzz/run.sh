#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]
# BUILD_DIR is a clang build configured with -Dfuzz=true (see meson.build
# here). Seeds are generated fresh by fuzz_seedgen into BUILD_DIR/fuzz-seeds;
# what the fuzzer finds accumulates in BUILD_DIR/fuzz-corpus; committed
# reproducers of fixed bugs (tests/fuzz/regressions/<target>/) run first.
# A target passes when it ran its time without a crash, leak, failed check
# or timeout. Env: FUZZ_SECONDS (default 15), FUZZ_JOBS (parallel targets,
# default 2), FUZZ_TARGETS (space-separated subset), VPN_TEST_LOGDIR,
# FUZZ_SEED (default 1: every run mutates in the same order, so a CI run
# explores what a run on the developer's machine explored and a red CI is a
# regression, not a lucky find; 0 = a random seed, for exploring:
# FUZZ_SEED=0 FUZZ_SECONDS=600 tests/fuzz/run.sh build-san).
# Ends with "fuzz: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD=${1:?usage: $0 BUILD_DIR [SECONDS]}
BUILD=$(cd "$BUILD" && pwd)
SECONDS_PER=${2:-${FUZZ_SECONDS:-15}}
SEED=${FUZZ_SEED:-1}
JOBS=${FUZZ_JOBS:-2}
LOGDIR=${VPN_TEST_LOGDIR:-$BUILD/test-logs}/fuzz
mkdir -p "$LOGDIR"

ALL=(ike_payloads ike_responder ike_fragments l2tp_messages l2tp_lns l2tp_data ppp_packet ppp_auth
     ppp_session ppp_over_l2tp config esp_decrypt dp_pipeline)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-${ALL[*]}}"

SEEDS=$BUILD/fuzz-seeds
rm -rf "$SEEDS"
if ! "$BUILD/tests/fuzz/fuzz_seedgen" "$SEEDS" "$ROOT/docs/configs" >"$LOGDIR/seedgen.log" 2>&1; then
  cat "$LOGDIR/seedgen.log"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

run_one() {  # target -> writes $LOGDIR/<target>.result
  local t=$1 exe=$BUILD/tests/fuzz/${1}_fuzz log=$LOGDIR/$1.log
  local corpus=$BUILD/fuzz-corpus/$t
  mkdir -p "$corpus" "$SEEDS/$t"
  if [[ ! -x $exe ]]; then
    echo "FAIL (not built: $exe)" >"$LOGDIR/$t.result"
    return
  fi
  # libFuzzer 14's entropic schedule spends most of its time bookkeeping on
  # targets with many features; the stateful engines run 3-4x faster without.
  local extra=()
  case $t in ike_responder | ppp_session | ppp_over_l2tp) extra=(-entropic=0) ;; esac
  local dirs=("$corpus" "$SEEDS/$t")
  [[ -d $ROOT/tests/fuzz/regressions/$t ]] && dirs+=("$ROOT/tests/fuzz/regressions/$t")
  # -timeout: one input running longer is a failure (a hang); the outer
  # timeout bounds the whole run whatever happens.
  timeout -k 5 $((SECONDS_PER + 60)) "$exe" -max_total_time="$SECONDS_PER" -timeout=20 \
    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -seed="$SEED" "${extra[@]}" \
    -artifact_prefix="$LOGDIR/$t-" "${dirs[@]}" >"$log" 2>&1
  local rc=$?
  local execs cov
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  if [[ $rc -eq 0 ]]; then
    echo "PASS (${execs:-?} runs, coverage ${cov:-?})" >"$LOGDIR/$t.result"
  else
    echo "FAIL (rc $rc; log $log)" >"$LOGDIR/$t.result"
  fi
}

running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [[ $running -ge $JOBS ]]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

PASSED=0 FAILED=0
for t in "${TARGETS[@]}"; do
  r=$(cat "$LOGDIR/$t.result" 2>/dev/null || echo "FAIL (no result)")
  printf '  %-14s %s\n' "$t" "$r"
  if [[ $r == PASS* ]]; then
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
    grep -E "ERROR: |FUZZ_CHECK|SUMMARY|runtime error|Test unit written" "$LOGDIR/$t.log" 2>/dev/null | head -8
  fi
done
echo "fuzz: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
