# Scenario 7's stall check on the wire (the WAN capture), see README.md
# "Scenario 7: what counts as a stall".
#
# Input: one line per ESP frame of the session, "EPOCH up|down LENGTH"
# (up = client to us), in capture order. Variables:
#   t0    host time the host let the client's traffic start (SYNC barrier)
#   thr   a direction is quiet in a 1-second window with fewer frames than this
#   flow  the other direction flows with at least this many frames per second
#   bz    iperf3 intervals empty in both directions, "a:b,a:b" (seconds since
#         the iperf3 start, the client's clock)
#   slack seconds of tolerance when placing those intervals on the capture
# The iperf3 run on the wire is [W0, W1]: the first and last frame of
# iperf3's size (>= 1000 bytes) after t0. Every 1-second window (s, s+1]
# inside it that starts at W0 or at a frame of that direction is counted, so
# a gap between two frames shows as a window with 0 frames.
# Output: "run W0 W1", "min DIR COUNT AT", "quiet DIR FROM TO MIN" per merged
# range of quiet windows, then the verdicts:
#   "FAIL stall A-B ..."   an iperf3 interval empty both ways that lies on
#                          quiet wire (either direction)
#   "FAIL swallowed ..."   the client sent >= flow frames in a second in
#                          which we sent fewer than thr: lost inside us
# Frames of direction d in (s, s+1]. Cursor k keeps its own two pointers;
# each cursor is asked with s never decreasing, so a pass is linear.
function cnt(k, d, s) {
  if (!(k in LO)) { LO[k] = 1; HI[k] = 1 }
  while (LO[k] <= N[d] && T[d, LO[k]] <= s) LO[k]++
  if (HI[k] < LO[k]) HI[k] = LO[k]
  while (HI[k] <= N[d] && T[d, HI[k]] <= s + 1) HI[k]++
  return HI[k] - LO[k]
}
{
  if ($1 < t0) next
  d = $2; N[d]++; T[d, N[d]] = $1 + 0
  if ($3 >= 1000) { if (W0 == "") W0 = $1 + 0; W1 = $1 + 0 }
}
END {
  if (W0 == "" || W1 - W0 < 5) { print "FAIL norun no iperf3-sized ESP frames after the traffic start"; exit }
  printf "run %.3f %.3f\n", W0, W1
  nq = 0
  for (di = 1; di <= 2; di++) {
    d = (di == 1) ? "up" : "down"; o = (di == 1) ? "down" : "up"
    min = -1; qs = ""; qe = ""; qm = 0
    for (i = 0; i <= N[d]; i++) {
      s = (i == 0) ? W0 : T[d, i]
      if (s < W0 || s + 1 > W1) continue
      c = cnt(d, d, s)
      if (min < 0 || c < min) { min = c; at = s }
      if (c < thr) {
        # An empty window is quiet up to the direction's next frame.
        e = (c == 0 && HI[d] <= N[d]) ? T[d, HI[d]] : s + 1
        if (e > W1) e = W1
        if (qs != "" && s <= qe) { if (e > qe) qe = e; if (c < qm) qm = c }
        else {
          if (qs != "") { nq++; QD[nq] = d; QS[nq] = qs; QE[nq] = qe; QM[nq] = qm }
          qs = s; qe = e; qm = c
        }
        if (d == "down" && (oc = cnt("x", o, s)) >= flow && !sw++)
          printf "FAIL swallowed %.3f: the client sent %d ESP frames in the second after it, we sent %d\n", s, oc, c
      }
    }
    if (qs != "") { nq++; QD[nq] = d; QS[nq] = qs; QE[nq] = qe; QM[nq] = qm }
    printf "min %s %d %.3f\n", d, (min < 0 ? 0 : min), at
  }
  for (q = 1; q <= nq; q++) printf "quiet %s %.3f %.3f %d\n", QD[q], QS[q], QE[q], QM[q]
  n = split(bz, iv, ",")
  for (k = 1; k <= n; k++) {
    split(iv[k], ab, ":"); a = W0 + ab[1] - slack; b = W0 + ab[2] + slack
    for (q = 1; q <= nq; q++)
      if (QS[q] < b && QE[q] > a)
        printf "FAIL stall %s-%s s: iperf3 empty both ways while the wire carried < %d ESP frames/s %s (%.3f-%.3f)\n", ab[1], ab[2], thr, QD[q], QS[q], QE[q]
  }
}
