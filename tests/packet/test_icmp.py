"""TTL expiry both ways: ICMP time exceeded (RFC 1812 5.3.1) into the
client's tunnel or back to the LAN sender, never about an ICMP error,
rate limited per worker; the expired packet itself is rx_ttl_expired."""
import time

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

import harness as H
from harness import Delta
from l2tp import l2tp_data, ppp
from test_esp import connect, send_from_client

DATAPLANE = dict(workers=1, require_ipsec=True)


def test_client_ttl1_gets_time_exceeded_inside_its_tunnel(e):
    c = connect(e, "aes128-sha1", 1, natt_port=4500)
    inner = IP(src=c.assigned, dst=H.LAN_HOST, ttl=1, id=4321) / UDP(sport=33434, dport=33435) / (b"t" * 40)
    with Delta(e.dp) as d:
        send_from_client(e, c, l2tp_data(c.tid, c.sid, ppp(0x21, bytes(inner))))
        out = e.wan.recv_one(e.is_esp)
        assert out, d.changed()
        assert not e.lan.recv_all(0.1, e.is_ipv4)
        assert d["rx_ttl_expired"] == 1 and d["icmp_time_exceeded_sent"] == 1, d.changed()
    clear = c.decrypt(Ether(out)[IP])
    l2 = bytes(clear[UDP].payload)
    assert l2[6:10] == b"\xff\x03\x00\x21"
    icmp_ip = IP(l2[10:])
    assert icmp_ip.src == H.LAN_ADDR and icmp_ip.dst == c.assigned  # ppp.local_ip default
    assert icmp_ip[ICMP].type == 11 and icmp_ip[ICMP].code == 0
    # The whole offending packet is quoted (it is under 548 bytes), as sent.
    assert bytes(icmp_ip[ICMP].payload) == bytes(inner)
    # Checksums verified by a second parse.
    chk = IP(bytes(icmp_ip))
    del chk.chksum
    del chk[ICMP].chksum
    chk = IP(bytes(chk))
    assert chk.chksum == icmp_ip.chksum and chk[ICMP].chksum == icmp_ip[ICMP].chksum


def test_lan_ttl1_gets_time_exceeded_on_the_lan(e):
    c = connect(e, "aes128-sha1", 2)
    pkt = IP(src=H.LAN_HOST, dst=c.assigned, ttl=1) / UDP(sport=1, dport=2) / (b"L" * 700)
    with Delta(e.dp) as d:
        e.to_lan(pkt)
        out = e.lan.recv_one(lambda f: e.is_ipv4(f) and f[23] == 1)
        assert out, d.changed()
        assert not e.wan.recv_all(0.1, e.is_esp)
        assert d["rx_ttl_expired"] == 1 and d["icmp_time_exceeded_sent"] == 1
    p = Ether(out)
    assert p.dst == e.lan.mac and p.src == e.dp_lan_mac
    assert p[IP].src == H.LAN_ADDR and p[IP].dst == H.LAN_HOST and p[IP].ttl == 64
    assert p[ICMP].type == 11 and p[ICMP].code == 0
    assert len(p[IP]) <= 576  # RFC 1812 4.3.2.3
    assert bytes(p[ICMP].payload) == bytes(pkt)[:548]


def test_no_error_about_an_icmp_error(e):
    c = connect(e, "aes128-sha1", 3)
    err = IP(src=c.assigned, dst=H.LAN_HOST, ttl=1) / ICMP(type=3, code=1) / (b"q" * 28)
    with Delta(e.dp) as d:
        send_from_client(e, c, l2tp_data(c.tid, c.sid, ppp(0x21, bytes(err))))
        assert e.dp.wait_count("rx_ttl_expired", d.before["rx_ttl_expired"] + 1)
        assert not e.wan.recv_all(0.2, e.is_esp)
        assert d["icmp_time_exceeded_sent"] == 0 and d["icmp_rate_limited"] == 0


def test_errors_are_rate_limited(e):
    c = connect(e, "aes128-sha1", 4)
    n = 80
    with Delta(e.dp) as d:
        t0 = time.time()
        for i in range(n):
            e.to_lan(IP(src=H.LAN_HOST, dst=c.assigned, ttl=1, id=i) / UDP(sport=1, dport=2))
        elapsed = time.time() - t0
        assert e.dp.wait_count("rx_ttl_expired", d.before["rx_ttl_expired"] + n)
        sent, limited = d["icmp_time_exceeded_sent"], d["icmp_rate_limited"]
    assert sent + limited == n, d.changed()
    # Burst 20, then 100 per second.
    assert 20 <= sent <= 20 + int(100 * (elapsed + 0.5)) + 1, (sent, elapsed)
    assert limited > 0
    got = e.lan.recv_all(0.5, lambda f: e.is_ipv4(f) and f[23] == 1)
    assert len(got) == sent
