"""Client addresses outside the pools (proxy ARP, forwarding both ways) and
counters of reused SA/session slots (each worker zeroes its own row when it
first counts for a new generation)."""
import time

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

import harness as H
from harness import Delta
from l2tp import install_session, l2tp_data, ppp, remove_session

DATAPLANE = dict(workers=1, require_ipsec=False)

# Outside POOL_FIRST..POOL_LAST (100.64.0.1-31): a RADIUS Framed-IP-Address.
FRAMED_IP = "100.64.9.9"
POOL_IP = "100.64.0.9"


def is_arp_reply(frame):
    return frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x02"


def ask_arp(e, ip):
    e.lan.send(Ether(src=e.lan.mac, dst="ff:ff:ff:ff:ff:ff") /
               ARP(op=1, hwsrc=e.lan.mac, psrc=H.LAN_HOST, pdst=ip))
    return e.lan.recv_one(is_arp_reply, timeout=0.5)


def from_client(e, inner, tid=300, sid=400):
    e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1701, dport=1701) /
             l2tp_data(tid, sid, ppp(0x21, bytes(inner))))


def test_proxy_arp_and_forwarding_for_session_outside_pools(e):
    with Delta(e.dp) as d:
        # No session yet, not a pool address: ignored (as before).
        assert ask_arp(e, FRAMED_IP) is None
        assert d["arp_ignored"] == 1
    install_session(e.shm, 3, tid=300, sid=400, ptid=30, psid=40, assigned=FRAMED_IP,
                    peer_ip=H.CLIENT_IP)
    e.dp.settle()
    try:
        with Delta(e.dp) as d:
            rep = ask_arp(e, FRAMED_IP)
            assert rep, "no proxy ARP reply for an installed client outside the pools"
            a = Ether(rep)[ARP]
            assert a.psrc == FRAMED_IP and a.hwsrc == e.dp_lan_mac and a.pdst == H.LAN_HOST
            assert d["arp_request_answered"] == 1
            # A pool address without a session is still answered.
            rep = ask_arp(e, POOL_IP)
            assert rep and Ether(rep)[ARP].psrc == POOL_IP
            # LAN -> client outside the pools: encapsulated toward the client.
            e.to_lan(IP(src=H.LAN_HOST, dst=FRAMED_IP, ttl=64) / UDP(sport=53, dport=99) /
                     (b"x" * 40))
            out = e.wan.recv_one(e.is_udp_to(1701))
            assert out, ("nothing toward the client", d.changed())
            assert Ether(out)[IP].dst == H.CLIENT_IP
            inner = IP(bytes(Ether(out)[UDP].payload)[10:])
            assert inner.dst == FRAMED_IP and inner.ttl == 63
            # Client outside the pools -> client in the pool: hairpin.
            install_session(e.shm, 4, tid=301, sid=401, ptid=31, psid=41, assigned=POOL_IP,
                            peer_ip=H.CLIENT2_IP)
            e.dp.settle()
            from_client(e, IP(src=FRAMED_IP, dst=POOL_IP) / UDP(sport=1, dport=2) / b"h")
            out = e.wan.recv_one(lambda f: e.is_udp_to(1701)(f) and
                                 Ether(f)[IP].dst == H.CLIENT2_IP)
            assert out, ("no hairpin", d.changed())
            # ... and the pool client back to the one outside (hairpin too).
            from_client(e, IP(src=POOL_IP, dst=FRAMED_IP) / UDP(sport=2, dport=1) / b"i",
                        tid=301, sid=401)
            out = e.wan.recv_one(lambda f: e.is_udp_to(1701)(f) and
                                 Ether(f)[IP].dst == H.CLIENT_IP)
            assert out, ("no hairpin back", d.changed())
            assert d["hairpin"] == 2
    finally:
        remove_session(e.shm, 3)
        remove_session(e.shm, 4)
        e.dp.settle()
    with Delta(e.dp) as d:
        assert ask_arp(e, FRAMED_IP) is None, "still answering after the session is gone"
        e.to_lan(IP(src=H.LAN_HOST, dst=FRAMED_IP) / UDP(sport=53, dport=99) / b"y")
        assert not e.wan.recv_all(0.3, e.is_udp_to(1701))
        assert d["arp_ignored"] == 1 and d.wait("rx_not_for_us", 1) == 1, d.changed()


def ike(responder_cookie, k):
    return (k.to_bytes(8, "big") + responder_cookie + bytes([1, 0x10, 2, 0]) +
            b"\0\0\0\0" + (28).to_bytes(4, "big"))


def send_until(e, name, target, frames, timeout=5.0):
    for f in frames:
        e.to_wan(f)
    return e.dp.wait_count(name, target, timeout=timeout)


def test_punt_ring_admission_sheds_new_ike_first_and_counts_overflow(e):
    slots = e.shm.ring(e.shm.punt_ring(0)).slot_count
    mark = slots - slots // 4  # worker.h kPuntReservedDivisor
    new = [IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=500, dport=500) / ike(b"\0" * 8, k + 1)
           for k in range(mark + 10)]
    est = [IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=500, dport=500) /
           ike(b"\x11" * 8, k + 1) for k in range(slots - mark + 4)]
    try:
        with Delta(e.dp) as d:
            # Nobody drains the ring: new exchanges fill it up to the mark...
            for i in range(0, mark, 64):
                assert send_until(e, "punt_ike", d.before["punt_ike"] + min(i + 64, mark),
                                  new[i:min(i + 64, mark)]), d.changed()
            # ... beyond it they are shed, named, while the ring still has room.
            assert send_until(e, "punt_ike_new_shed", d.before["punt_ike_new_shed"] + 10,
                              new[mark:]), d.changed()
            assert d["punt_ike"] == mark
            # Established exchanges (responder cookie set) still get the rest.
            assert send_until(e, "punt_ike", d.before["punt_ike"] + slots, est[:slots - mark]), \
                d.changed()
            # Now the ring is full: every kind of loss has its own name.
            assert send_until(e, "punt_ring_full_ike", d.before["punt_ring_full_ike"] + 4,
                              est[slots - mark:]), d.changed()
            install_session(e.shm, 5, tid=305, sid=405, ptid=35, psid=45, assigned=POOL_IP,
                            peer_ip=H.CLIENT_IP)
            e.dp.settle()
            ctl = (b"\xc8\x02" + (20).to_bytes(2, "big") + (305).to_bytes(2, "big") +
                   b"\0\0\0\0\0\0" + b"\x80\x08\x00\x00\x00\x00\x00\x06")
            e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1701, dport=1701) / ctl)
            e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1701, dport=1701) /
                     l2tp_data(305, 405, ppp(0xC021, b"\x09\x01\x00\x08\0\0\0\0")))
            assert e.dp.wait_count("punt_ring_full_ppp_control",
                                   d.before["punt_ring_full_ppp_control"] + 1), d.changed()
            assert d["punt_ring_full_l2tp_control"] == 1, d.changed()
            assert d["punt_ring_full"] == 0
        punts = e.dp.wait_punts(slots + 1, timeout=0.5)
        assert len(punts) == slots
        # Drained: a new exchange is punted again.
        with Delta(e.dp) as d:
            assert send_until(e, "punt_ike", d.before["punt_ike"] + 1, new[:1]), d.changed()
            assert d["punt_ike_new_shed"] == 0
    finally:
        e.shm.pop_punts()
        remove_session(e.shm, 5)
        e.dp.settle()


def test_reused_session_slot_counts_from_zero_in_the_dataplane(e):
    """The real binary: a new generation in a slot restarts the worker's row
    at its first packet; until then the mirror (summing only rows of the
    record's generation) reads zero although the raw row holds old counts."""
    inner = IP(src=H.LAN_HOST, dst=POOL_IP, ttl=64) / UDP(sport=53, dport=99) / (b"c" * 60)

    def lan_to_client(n):
        for _ in range(n):
            e.to_lan(inner)
        got = e.wan.recv_all(1.0, e.is_udp_to(1701), count=n)
        assert len(got) == n, (len(got), e.dp.counts())

    install_session(e.shm, 6, tid=306, sid=406, ptid=36, psid=46, assigned=POOL_IP,
                    peer_ip=H.CLIENT_IP)
    e.shm.write_session(6, generation=7)
    e.dp.settle()
    try:
        lan_to_client(3)
        c = e.shm.session_counters(6)
        assert c["tx_packets"] == 3 and c["tx_bytes"] == 3 * len(inner), c
        # Same generation (an update): counting goes on.
        e.shm.write_session(6, mru=1300)
        e.dp.settle()
        lan_to_client(1)
        assert e.shm.session_counters(6)["tx_packets"] == 4
        remove_session(e.shm, 6)
        e.dp.settle()
        # Reused by a new session (generation 8).
        install_session(e.shm, 6, tid=307, sid=407, ptid=37, psid=47, assigned=POOL_IP,
                        peer_ip=H.CLIENT_IP)
        e.shm.write_session(6, generation=8)
        e.dp.settle()
        assert e.shm.session_counters(6)["tx_packets"] == 0
        assert e.shm.session_counters(6, raw=True)["tx_packets"] == 4  # not reset yet
        lan_to_client(2)
        assert e.shm.session_counters(6)["tx_packets"] == 2
        assert e.shm.session_counters(6, raw=True)["tx_packets"] == 2  # the row restarted
        assert e.shm.session_counters(6)["tx_bytes"] == 2 * len(inner)
    finally:
        remove_session(e.shm, 6)
        e.dp.settle()
