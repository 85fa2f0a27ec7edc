"""Two workers (af_packet fanout spreads flows over both queues): every
inbound SA is decrypted only by its owner worker (its replay window is
single-writer), whichever worker received the packet; nothing is lost or
counted as a replay; outbound sequence numbers stay unique across workers."""
import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import harness as H
from shm_mirror import LAYOUT
from test_esp import connect
from l2tp import l2tp_data, ppp

DATAPLANE = dict(workers=2, require_ipsec=True)


def per_worker_sa_packets(shm, idx):
    size = LAYOUT["SaCounters"][1]
    out = []
    for w in range(shm.h.n_workers):
        off = shm.h.sa_counters_offset + (w * shm.h.max_sas + idx) * size
        out.append(struct.unpack_from("<Q", shm.buf, off)[0])
    return out


def test_inbound_sa_owned_by_one_worker_and_nothing_lost(e):
    assert e.shm.h.n_workers == 3  # two workers + housekeeping's block
    clients = []
    for k in range(6):
        ip = f"198.18.1.{30 + k}"
        clients.append(connect(e, "aes128-sha1", 1 + k, public_ip=ip,
                               natt_port=(41000 + k) if k % 2 else None))
    frames = []
    per = 40
    for n in range(per):
        for c in clients:
            inner = IP(src=c.assigned, dst=H.LAN_HOST, id=n) / UDP(sport=7, dport=7) / b"m"
            frames.append(bytes(Ether(src=e.wan.mac, dst=e.dp_wan_mac) /
                                c.encrypt_l2tp(l2tp_data(c.tid, c.sid, ppp(0x21, bytes(inner))))))
    before = e.dp.counts()
    for f in frames:
        e.wan.send(f)
    got = e.lan.recv_all(5.0, e.is_ipv4, count=len(frames))
    after = e.dp.counts()
    assert len(got) == len(frames), (len(got), {k: after[k] - before[k] for k in after
                                                if after[k] != before[k]})
    assert after["esp_replayed"] == before["esp_replayed"]
    for c in clients:
        pw = per_worker_sa_packets(e.shm, c.in_idx)
        owner = ((c.in_idx * 0x9E3779B1) % (1 << 32) * 2) >> 32  # dataplane's owner hash
        assert pw[owner] == per and sum(pw) == per, (c.in_idx, pw)
    # Both workers received WAN traffic (fanout) -- otherwise the hand-off
    # path was not exercised and this test would prove less.
    rx = [e.shm.worker_counters(w).rx_packets for w in range(2)]
    assert all(r > 0 for r in rx), rx


def test_outbound_sequence_unique_across_workers(e):
    c = connect(e, "aes128-sha1", 10)
    n = 60
    for i in range(n):
        # Different source ports spread flows over both RX queues.
        e.lan.send(Ether(src=e.lan.mac, dst=e.dp_lan_mac) /
                   IP(src=H.LAN_HOST, dst=c.assigned) / UDP(sport=1000 + i, dport=9) / b"x")
    out = e.wan.recv_all(5.0, e.is_esp, count=n)
    assert len(out) == n
    seqs = sorted(struct.unpack(">I", bytes(Ether(f)[IP].payload)[4:8])[0] for f in out)
    assert seqs == list(range(1, n + 1)), seqs[:10]
    for f in out:
        assert c.decrypt(Ether(f)[IP])[UDP].dport == 1701


def test_inject_through_tx_proxy(e):
    # af_packet has one TX queue per worker: housekeeping sends via worker 0.
    payload = b"proxy" * 5
    assert e.shm.inject(payload, kind=1, outer_src_ip=0, outer_dst_ip=int.from_bytes(
        bytes([198, 18, 1, 10]), "little"), outer_src_port=struct.unpack("<H", b"\x01\xf4")[0],
        outer_dst_port=struct.unpack("<H", b"\x01\xf4")[0])
    f = e.wan.recv_one(e.is_udp_to(500))
    assert f and bytes(Ether(f)[UDP].payload) == payload
