#!/bin/bash
# vpn-clientsim end to end over real UDP sockets on the loopback address:
# clientsim-fakeserver (our responder/LNS/PPP server libraries and a fake ESP
# dataplane) on unprivileged ports, N clients pinging its LAN echo host.
#
#   tests/clientsim/loopback-test.sh BUILD_DIR [CLIENTS] [RATE]
#
# Passes when every client connected and got every reply, the server saw
# the same number of PPP sessions come up and go down again, and no IKE SA or
# tunnel is left. Prints vpn-clientsim's summary (connects/s, RSS/session).
set -uo pipefail
B="${1:?build dir}"; N="${2:-20}"; RATE="${3:-50}"
SIM="$B/tests/clientsim/vpn-clientsim"; SRV="$B/tests/clientsim/clientsim-fakeserver"
base=$(( 20000 + ($$ % 2000) * 2 ))
IKE=$base; NATT=$((base + 1))
out=$(mktemp -d /tmp/clientsim-loop.XXXXXX)
timeout 120 "$SRV" --listen 127.0.0.1 --ike-port "$IKE" --natt-port "$NATT" \
  --lan-host 100.64.255.10 --max-time 100 > "$out/server.out" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 1 50); do grep -q ready "$out/server.out" && break; sleep 0.1; done
grep -q ready "$out/server.out" || { cat "$out/server.out"; echo "clientsim-loopback: 0 passed, 1 failed"; exit 1; }
timeout 100 "$SIM" --server 127.0.0.1 --ike-port "$IKE" --natt-port "$NATT" --clients "$N" \
  --rate "$RATE" --ping 100.64.255.10 --count 2 --interval 50 --quiet --json "$out/sim.json" \
  > "$out/sim.out" 2>&1
rc=$?
sleep 0.5
kill -TERM $spid; wait $spid
cat "$out/sim.out" "$out/server.out"
errs=()
[ "$rc" = 0 ] || errs+=("vpn-clientsim exit $rc")
tail -1 "$out/sim.out" | grep -qx "clientsim: $N connected, 0 failed" || errs+=("last line: $(tail -1 "$out/sim.out")")
grep -q "network_up=$N sessions_down=$N echo_answered=$((2 * N)) " "$out/server.out" || errs+=("server counters")
grep -q "esp_drops=0 " "$out/server.out" || errs+=("server dropped ESP")
grep -q "ike_sas_left=0 tunnels_left=0" "$out/server.out" || errs+=("server state left after teardown")
grep -q '"peak_concurrent_sessions"' "$out/sim.json" || errs+=("no JSON summary")
if [ ${#errs[@]} = 0 ]; then echo "clientsim-loopback: 1 passed, 0 failed"; exit 0; fi
printf 'FAIL: %s\n' "${errs[@]}"; echo "clientsim-loopback: 0 passed, 1 failed"; exit 1
