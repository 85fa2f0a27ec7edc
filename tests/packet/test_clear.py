"""Clear-text L2TP (require_ipsec = false): client<->LAN forwarding, PPP
compression, punts, injects, hairpin, MTU/MSS, deletion epochs, restart."""
import struct
import time

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

import harness as H
from harness import Delta
from l2tp import (INVALID, install_session, l2tp_control, l2tp_data, ppp, remove_session)
from shm_mirror import n_ip, port_n

DATAPLANE = dict(workers=1, require_ipsec=False)

A_IP, B_IP = "100.64.0.5", "100.64.0.6"
SA_NONE = INVALID


def setup_sessions(e, flags_a=0, mru=1400):
    install_session(e.shm, 1, tid=100, sid=200, ptid=7, psid=8, assigned=A_IP,
                    peer_ip=H.CLIENT_IP, flags=flags_a, mru=mru)
    install_session(e.shm, 2, tid=101, sid=201, ptid=17, psid=18, assigned=B_IP,
                    peer_ip=H.CLIENT2_IP, peer_port=1702)
    e.dp.settle()


def from_client(e, l2tp_bytes, src=H.CLIENT_IP, sport=1701):
    e.to_wan(IP(src=src, dst=H.WAN_ADDR) / UDP(sport=sport, dport=1701) / l2tp_bytes)


def expected_forwarded(inner):
    p = IP(bytes(inner))
    p.ttl -= 1
    del p.chksum
    return bytes(IP(bytes(p)))


def test_client_to_lan_exact_inner_packet_all_header_forms(e):
    setup_sessions(e)
    inner = IP(src=A_IP, dst=H.LAN_HOST, ttl=64, id=77) / UDP(sport=1234, dport=80) / (b"q" * 100)
    forms = [
        l2tp_data(100, 200, ppp(0x21, bytes(inner))),
        l2tp_data(100, 200, ppp(0x21, bytes(inner), acfc=True, pfc=True), length=True),
        l2tp_data(100, 200, ppp(0x21, bytes(inner), pfc=True), seq=5),
        l2tp_data(100, 200, ppp(0x21, bytes(inner), acfc=True), offset=3, length=True),
    ]
    before = e.shm.session_counters(1)
    for f in forms:
        from_client(e, f)
        out = e.lan.recv_one(e.is_ipv4)
        assert out, "nothing on the LAN"
        eth = Ether(out)
        assert eth.dst == e.lan.mac and eth.src == e.dp_lan_mac
        assert out[14:] == expected_forwarded(inner), (out[14:].hex(), expected_forwarded(inner).hex())
    after = e.shm.session_counters(1)
    assert after["rx_packets"] - before["rx_packets"] == 4
    assert after["rx_bytes"] - before["rx_bytes"] == 4 * len(inner)


def e_is_udp(frame, port):
    return (len(frame) > 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17 and
            int.from_bytes(frame[36:38], "big") == port)


def test_lan_to_client_encapsulation_and_ppp_flags(e):
    setup_sessions(e)
    inner = IP(src=H.LAN_HOST, dst=A_IP, ttl=64) / UDP(sport=53, dport=5353) / (b"r" * 200)
    e.to_lan(inner)
    out = e.wan.recv_one(lambda f: e_is_udp(f, 1701))
    assert out, "nothing towards the client"
    p = Ether(out)
    assert p.dst == e.wan.mac and p[IP].src == H.WAN_ADDR and p[IP].dst == H.CLIENT_IP
    assert p[UDP].sport == 1701 and p[UDP].dport == 1701
    payload = bytes(p[UDP].payload)
    assert payload[:6] == struct.pack(">HHH", 0x0002, 7, 8)
    assert payload[6:10] == b"\xff\x03\x00\x21"
    assert payload[10:] == expected_forwarded(inner)
    assert e.shm.session_counters(1)["tx_packets"] >= 1
    # ACFC + PFC + sequencing: no FF03, one-byte protocol, Ns counting up.
    install_session(e.shm, 1, tid=100, sid=200, ptid=7, psid=8, assigned=A_IP,
                    peer_ip=H.CLIENT_IP, flags=0x01 | 0x02 | 0x04)
    e.dp.settle()
    for ns in (0, 1):
        e.to_lan(inner)
        out = e.wan.recv_one(lambda f: e_is_udp(f, 1701))
        payload = bytes(Ether(out)[UDP].payload)
        assert payload[:10] == struct.pack(">HHHHH", 0x0802, 7, 8, ns, 0), payload[:10].hex()
        assert payload[10:11] == b"\x21" and payload[11:] == expected_forwarded(inner)


def test_control_and_ppp_punts(e):
    setup_sessions(e)
    ctl = l2tp_control(100, 0)
    lcp = bytes([1, 1, 0, 8, 1, 4, 5, 0x78])  # Configure-Request MRU 1400
    with Delta(e.dp) as d:
        from_client(e, ctl)
        from_client(e, l2tp_data(555, 666, ppp(0xC021, lcp)))       # unknown session
        from_client(e, l2tp_data(100, 200, ppp(0xC021, lcp)))       # known session
        from_client(e, l2tp_data(100, 200, ppp(0x8021, lcp, pfc=False, acfc=True)))  # IPCP
        punts = e.dp.wait_punts(4)
    assert len(punts) == 4, punts
    (m0, d0), (m1, d1), (m2, d2), (m3, d3) = punts
    assert m0["kind"] == 2 and d0 == ctl and m0["tunnel_id"] == 100
    assert m0["flags"] & 4 and m0["sa_index"] == INVALID
    assert n_ip(m0["outer_src_ip"]) == H.CLIENT_IP
    assert m1["kind"] == 3 and m1["session_index"] == INVALID
    assert (m1["tunnel_id"], m1["l2tp_session_id"]) == (555, 666) and d1 == b"\xc0\x21" + lcp
    assert m2["kind"] == 3 and m2["session_index"] == 1 and d2 == b"\xc0\x21" + lcp
    assert m3["kind"] == 3 and d3 == b"\x80\x21" + lcp
    assert d["punt_l2tp_control"] == 1 and d["punt_ppp_control"] == 3


def test_negative_clear_cases_counted(e):
    setup_sessions(e)
    install_session(e.shm, 3, tid=102, sid=202, ptid=1, psid=1, assigned="100.64.0.9",
                    peer_ip=H.CLIENT_IP, inbound_sa=4)  # an IPsec session
    e.dp.settle()
    good = IP(src=A_IP, dst=H.LAN_HOST) / UDP(sport=1, dport=2)
    cases = [
        (l2tp_data(100, 200, ppp(0x21, bytes(IP(src="100.64.0.6", dst=H.LAN_HOST) / UDP()))),
         "inner_spoofed_source"),
        (l2tp_data(100, 999, ppp(0x21, bytes(good))), "l2tp_unknown_session"),
        (b"\x00\x03" + l2tp_data(100, 200, ppp(0x21, bytes(good)))[2:], "l2tp_bad_header"),
        (b"\x00\x02\x00", "l2tp_bad_header"),
        (l2tp_data(102, 202, ppp(0x21, bytes(IP(src="100.64.0.9", dst=H.LAN_HOST) / UDP()))),
         "l2tp_wrong_sa"),
        (l2tp_data(100, 200, ppp(0x21, bytes(good)[:15])), "inner_bad_ipv4"),
        (l2tp_data(100, 200, b"\xff\x03\x00\x20"), "ppp_bad_frame"),
        (l2tp_data(100, 200, ppp(0x21, bytes(IP(src=A_IP, dst=H.LAN_HOST, ttl=1) / UDP()))),
         "rx_ttl_expired"),
    ]
    for frame, reason in cases:
        with Delta(e.dp) as d:
            from_client(e, frame)
            assert e.dp.wait_count(reason, d.before[reason] + 1), (reason, d.changed())
    assert not e.lan.recv_all(0.2, e.is_ipv4)


def test_hairpin_between_clients(e):
    setup_sessions(e)
    inner = IP(src=A_IP, dst=B_IP, ttl=30) / UDP(sport=9, dport=9) / b"hello B"
    with Delta(e.dp) as d:
        from_client(e, l2tp_data(100, 200, ppp(0x21, bytes(inner))))
        out = e.wan.recv_one(lambda f: e_is_udp(f, 1702))
    assert out
    p = Ether(out)
    assert p[IP].dst == H.CLIENT2_IP
    payload = bytes(p[UDP].payload)
    assert payload[:6] == struct.pack(">HHH", 2, 17, 18)
    assert payload[10:] == expected_forwarded(inner)
    assert d["hairpin"] == 1


def test_inject_ppp_via_session_and_l2tp_clear(e):
    setup_sessions(e)
    lcp = bytes([9, 3, 0, 8, 0, 0, 0, 0])  # Echo-Request
    with Delta(e.dp) as d:
        assert e.shm.inject(b"\xc0\x21" + lcp, kind=3, session_index=1)
        out = e.wan.recv_one(lambda f: e_is_udp(f, 1701))
        assert out
        payload = bytes(Ether(out)[UDP].payload)
        assert payload == struct.pack(">HHH", 2, 7, 8) + b"\xff\x03\xc0\x21" + lcp
        ctl = l2tp_control(7, 0)
        assert e.shm.inject(ctl, kind=2, outer_dst_ip=int.from_bytes(bytes(
            int(x) for x in H.CLIENT2_IP.split(".")), "little"), inner_dst_port=port_n(1702))
        out = e.wan.recv_one(lambda f: e_is_udp(f, 1702))
        assert out and bytes(Ether(out)[UDP].payload) == ctl
        assert Ether(out)[IP].dst == H.CLIENT2_IP
        assert e.shm.inject(b"\xc0\x21" + lcp, kind=3, session_index=50)  # no such session
        assert e.dp.wait_count("inject_bad", d.before["inject_bad"] + 1)
    assert d["inject_sent"] == 2


def test_mtu_icmp_fragments_and_mss_clamp(e):
    setup_sessions(e, mru=1400)
    big = IP(src=H.LAN_HOST, dst=A_IP, flags="DF", ttl=64) / UDP(sport=1, dport=2) / (b"x" * 1450)
    with Delta(e.dp) as d:
        e.to_lan(big)
        icmp = e.lan.recv_one(lambda f: e.is_ipv4(f) and f[23] == 1)
        assert icmp, "no ICMP"
        p = Ether(icmp)
        assert p[IP].src == H.LAN_ADDR and p[IP].dst == H.LAN_HOST
        assert p[ICMP].type == 3 and p[ICMP].code == 4 and p[ICMP].nexthopmtu == 1400
        assert d["mtu_exceeded"] == 1
    nodf = IP(src=H.LAN_HOST, dst=A_IP, ttl=64, id=4242) / UDP(sport=1, dport=2) / (bytes(range(256)) * 6)[:1450]
    with Delta(e.dp) as d:
        e.to_lan(nodf)
        frames = e.wan.recv_all(1.0, lambda f: e_is_udp(f, 1701), count=2)
        assert len(frames) == 2 and d["mtu_fragmented"] == 2
    frags = [IP(bytes(Ether(f)[UDP].payload)[10:]) for f in frames]
    assert all(len(f) <= 1400 for f in frags)
    assert frags[0].flags.MF and not frags[1].flags.MF and frags[1].frag * 8 == 1376  # (1400 - 20) rounded down to 8
    data = bytes(frags[0].payload) + bytes(frags[1].payload)
    assert data == bytes(nodf.payload)
    syn = IP(src=H.LAN_HOST, dst=A_IP, ttl=64) / TCP(sport=80, dport=4000, flags="S",
                                                      options=[("MSS", 1460), ("NOP", None)])
    with Delta(e.dp) as d:
        e.to_lan(syn)
        out = e.wan.recv_one(lambda f: e_is_udp(f, 1701))
        inner = IP(bytes(Ether(out)[UDP].payload)[10:])
        assert dict(inner[TCP].options)["MSS"] == 1360
        ck = inner[TCP].chksum
        del inner[TCP].chksum
        assert IP(bytes(inner))[TCP].chksum == ck, "TCP checksum not updated"
        assert d["tcp_mss_clamped"] == 1


def test_session_delete_epoch_then_drop(e):
    setup_sessions(e)
    inner = IP(src=H.LAN_HOST, dst=A_IP) / UDP(sport=1, dport=2)
    e.to_lan(inner)
    assert e.wan.recv_one(lambda f: e_is_udp(f, 1701))
    epoch = remove_session(e.shm, 1)
    end = time.time() + 3
    while time.time() < end and e.shm.h.dp_quiesced_epoch < epoch:
        time.sleep(0.01)
    assert e.shm.h.dp_quiesced_epoch >= epoch
    with Delta(e.dp) as d:
        e.to_lan(inner)
        assert e.dp.wait_count("lan_no_session", d.before["lan_no_session"] + 1)
    assert not e.wan.recv_all(0.2, lambda f: e_is_udp(f, 1701))


def test_zz_restart_keeps_sessions(e):
    setup_sessions(e)
    assert e.dp.stop() == 0
    e.dp.start(fresh=False)
    e.shm = e.dp.shm
    e.prime()
    inner = IP(src=H.LAN_HOST, dst=B_IP) / UDP(sport=1, dport=2)
    e.to_lan(inner)
    out = e.wan.recv_one(lambda f: e_is_udp(f, 1702))
    assert out and Ether(out)[IP].dst == H.CLIENT2_IP
