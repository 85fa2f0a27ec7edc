"""ESP transport mode against scapy's SecurityAssociation as the oracle:
client -> LAN and LAN -> client for every algorithm, raw and NAT-T."""
import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import harness as H
from esp_sa import ALGS, Client
from harness import Delta
from l2tp import INVALID, install_session, l2tp_control, l2tp_data, ppp
from shm_mirror import n_ip, n_port

DATAPLANE = dict(workers=1, require_ipsec=True)


def expected_forwarded(inner):
    p = IP(bytes(inner))
    p.ttl -= 1
    del p.chksum
    return bytes(IP(bytes(p)))


def connect(e, alg, slot, natt_port=None, public_ip=H.CLIENT_IP, sess=None, **kw):
    """SA pair in slots 2*slot, 2*slot+1 and session `slot` with pool address
    100.64.0.(10+slot)."""
    c = Client(e.shm, alg, in_idx=2 * slot, out_idx=2 * slot + 1, public_ip=public_ip,
               natt_port=natt_port, **kw)
    c.assigned = f"100.64.0.{10 + slot}"
    c.tid, c.sid = 300 + slot, 400 + slot
    c.sess = slot if sess is None else sess
    install_session(e.shm, c.sess, tid=c.tid, sid=c.sid, ptid=50 + slot, psid=60 + slot,
                    assigned=c.assigned, peer_ip=public_ip, inbound_sa=c.in_idx,
                    outbound_sa=c.out_idx)
    e.dp.settle()
    return c


def send_from_client(e, c, l2tp_bytes, seq=None, **kw):
    e.to_wan(c.encrypt_l2tp(l2tp_bytes, seq=seq, **kw))


def client_to_lan(e, c, seq=None):
    inner = IP(src=c.assigned, dst=H.LAN_HOST, ttl=64) / UDP(sport=4444, dport=53) / (b"Q" * 77)
    send_from_client(e, c, l2tp_data(c.tid, c.sid, ppp(0x21, bytes(inner))), seq=seq)
    out = e.lan.recv_one(e.is_ipv4)
    assert out, f"{c.alg}: nothing on the LAN; {e.dp.counts()}"
    assert out[14:] == expected_forwarded(inner), c.alg


def lan_to_client(e, c):
    inner = IP(src=H.LAN_HOST, dst=c.assigned, ttl=64) / UDP(sport=53, dport=4444) / (b"A" * 333)
    e.to_lan(inner)
    out = e.wan.recv_one(e.is_esp)
    assert out, f"{c.alg}: nothing towards the client"
    p = Ether(out)
    assert p.dst == e.wan.mac and p[IP].src == H.WAN_ADDR and p[IP].dst == c.public_ip
    if c.natt_port:
        assert p[IP].proto == 17 and p[UDP].sport == 4500 and p[UDP].dport == c.natt_port
        assert bytes(p[UDP].payload)[:4] == struct.pack(">I", c.out_spi)
    else:
        assert p[IP].proto == 50
    clear = c.decrypt(Ether(out)[IP])
    udp = clear[UDP]
    assert udp.sport == 1701 and udp.dport == 1701
    l2 = bytes(udp.payload)
    assert l2[:6] == struct.pack(">HHH", 2, 50 + c.sess, 60 + c.sess)
    assert l2[6:10] == b"\xff\x03\x00\x21"
    assert l2[10:] == expected_forwarded(inner), c.alg
    return p


def test_seed004_aes128_sha1_both_directions(e):
    c = connect(e, "aes128-sha1", 1)
    before_in, before_out = e.shm.sa_counters(c.in_idx), e.shm.sa_counters(c.out_idx)
    for _ in range(3):
        client_to_lan(e, c)
        lan_to_client(e, c)
    assert e.shm.sa_counters(c.in_idx)["packets"] - before_in["packets"] == 3
    assert e.shm.sa_counters(c.out_idx)["packets"] - before_out["packets"] == 3
    assert e.shm.session_counters(c.sess)["rx_packets"] >= 3


def test_every_algorithm_raw_and_natt(e):
    for k, alg in enumerate(ALGS):
        natt = 40000 + k if k % 2 else None
        c = connect(e, alg, 2 + k, natt_port=natt)
        client_to_lan(e, c)
        p = lan_to_client(e, c)
        # Sequence numbers count from 1 per SA (RFC 4303 3.3.3).
        esp = bytes(p[UDP].payload) if natt else bytes(p[IP].payload)
        assert struct.unpack(">I", esp[4:8])[0] == 1, alg


def test_control_via_esp_punted_and_injected_back(e):
    c = connect(e, "aes128-sha1", 14, natt_port=4500)
    ctl = l2tp_control(c.tid, 0)
    lcp = bytes([1, 7, 0, 4])
    with Delta(e.dp) as d:
        send_from_client(e, c, ctl)
        send_from_client(e, c, l2tp_data(999, 998, ppp(0xC021, lcp)))  # not installed yet
        punts = e.dp.wait_punts(2)
    assert len(punts) == 2
    (m0, d0), (m1, d1) = punts
    assert m0["kind"] == 2 and d0 == ctl and m0["sa_index"] == c.in_idx
    assert m0["flags"] & 3 == 3  # kMetaNatT | kMetaViaEsp
    assert n_port(m0["outer_src_port"]) == 4500 and n_port(m0["inner_dst_port"]) == 1701
    assert n_ip(m0["inner_src_ip"]) == H.CLIENT_IP
    assert m1["kind"] == 3 and m1["session_index"] == INVALID and m1["sa_index"] == c.in_idx
    assert (m1["tunnel_id"], m1["l2tp_session_id"]) == (999, 998) and d1 == b"\xc0\x21" + lcp
    assert d["punt_l2tp_control"] == 1 and d["punt_ppp_control"] == 1
    # The control plane answers through the outbound SA.
    reply = l2tp_control(77, 0)
    assert e.shm.inject(reply, kind=2, sa_index=c.out_idx)
    out = e.wan.recv_one(e.is_esp)
    assert out
    clear = c.decrypt(Ether(out)[IP])
    assert clear[UDP].dport == 1701 and bytes(clear[UDP].payload) == reply
    # And PPP into the session.
    assert e.shm.inject(b"\xc0\x21" + lcp, kind=3, session_index=c.sess)
    out = e.wan.recv_one(e.is_esp)
    clear = c.decrypt(Ether(out)[IP])
    assert bytes(clear[UDP].payload) == struct.pack(">HHH", 2, 50 + 14, 60 + 14) + b"\xff\x03\xc0\x21" + lcp


def test_rekey_overlap_alt_inbound_sa(e):
    old = connect(e, "aes128-sha1", 15)
    new = Client(e.shm, "aes256-sha256", in_idx=32, out_idx=33, seed=9)
    install_session(e.shm, old.sess, tid=old.tid, sid=old.sid, ptid=65, psid=75,
                    assigned=old.assigned, peer_ip=H.CLIENT_IP, inbound_sa=new.in_idx,
                    outbound_sa=new.out_idx, alt=old.in_idx)
    e.dp.settle()
    new.assigned, new.tid, new.sid, new.sess, new.alg = old.assigned, old.tid, old.sid, old.sess, "new"
    client_to_lan(e, old)
    client_to_lan(e, new)
