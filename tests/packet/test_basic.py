"""Foundation: ABI mirror, ARP, IKE punt, inject, counted drops."""
import struct

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

import harness as H
from harness import Delta
from shm_mirror import LAYOUT, ip_n, n_ip, n_port, port_n, verify_against

DATAPLANE = dict(workers=1, require_ipsec=True)


def test_abi_mirror_matches_print_abi(e):
    abi = e.dp.abi()
    errors = verify_against(abi)
    assert not errors, errors
    assert abi["abi_version"] == e.shm.h.abi_version
    assert e.shm.h.dp_pid == e.dp.proc.pid or e.shm.h.dp_pid > 0
    assert e.shm.h.dp_tsc_hz > 0
    assert len(abi["reasons"]) >= 40 and abi["reasons"][0] == "rx_unknown_ethertype"


def test_arp_request_for_wan_address_answered(e):
    with Delta(e.dp) as d:
        e.wan.send(Ether(src=e.wan.mac, dst="ff:ff:ff:ff:ff:ff") /
                   ARP(op=1, hwsrc=e.wan.mac, psrc=H.WAN_GW, pdst=H.WAN_ADDR))
        rep = e.wan.recv_one(lambda f: f[12:14] == b"\x08\x06")
    assert rep, "no ARP reply"
    a = Ether(rep)[ARP]
    assert a.op == 2 and a.psrc == H.WAN_ADDR and a.hwsrc == e.dp_wan_mac
    assert a.pdst == H.WAN_GW and a.hwdst == e.wan.mac
    assert Ether(rep).dst == e.wan.mac
    assert d["arp_request_answered"] == 1


def test_arp_for_other_address_ignored_and_proxy_arp_on_lan(e):
    with Delta(e.dp) as d:
        e.wan.send(Ether(src=e.wan.mac, dst="ff:ff:ff:ff:ff:ff") /
                   ARP(op=1, hwsrc=e.wan.mac, psrc=H.WAN_GW, pdst="198.18.0.77"))
        assert not e.wan.recv_all(0.3, lambda f: f[12:14] == b"\x08\x06")
        assert d["arp_ignored"] == 1
        # Pool address on the LAN (proxy_arp): answered with the LAN MAC.
        e.lan.send(Ether(src=e.lan.mac, dst="ff:ff:ff:ff:ff:ff") /
                   ARP(op=1, hwsrc=e.lan.mac, psrc=H.LAN_HOST, pdst="100.64.0.7"))
        rep = e.lan.recv_one(lambda f: f[12:14] == b"\x08\x06")
        assert rep and Ether(rep)[ARP].psrc == "100.64.0.7"
        assert Ether(rep)[ARP].hwsrc == e.dp_lan_mac
        # Not a pool address: ignored.
        e.lan.send(Ether(src=e.lan.mac, dst="ff:ff:ff:ff:ff:ff") /
                   ARP(op=1, hwsrc=e.lan.mac, psrc=H.LAN_HOST, pdst="10.10.0.99"))
        assert not e.lan.recv_all(0.3, lambda f: f[12:14] == b"\x08\x06")
    assert d["arp_request_answered"] == 1 and d["arp_ignored"] == 2


def test_ike_udp500_punted_with_meta(e):
    payload = bytes(range(40)) * 3
    with Delta(e.dp) as d:
        e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=500, dport=500) / payload)
        punts = e.dp.wait_punts(1)
    assert len(punts) == 1, punts
    meta, data = punts[0]
    assert meta["kind"] == 1 and data == payload
    assert n_ip(meta["outer_src_ip"]) == H.CLIENT_IP and n_ip(meta["outer_dst_ip"]) == H.WAN_ADDR
    assert n_port(meta["outer_src_port"]) == 500 and n_port(meta["outer_dst_port"]) == 500
    assert meta["flags"] & 1 == 0 and meta["port"] == 0 and meta["length"] == len(payload)
    assert d["punt_ike"] == 1


def test_ike_udp4500_marker_stripped_and_keepalive(e):
    payload = b"\x11" * 64
    with Delta(e.dp) as d:
        e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=34567, dport=4500) /
                 (b"\0\0\0\0" + payload))
        punts = e.dp.wait_punts(1)
        e.to_wan(IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=34567, dport=4500) / b"\xff")
        assert e.dp.wait_count("natt_keepalive", d.before["natt_keepalive"] + 1)
    assert len(punts) == 1
    meta, data = punts[0]
    assert data == payload and meta["flags"] & 1 == 1  # kMetaNatT
    assert n_port(meta["outer_src_port"]) == 34567
    assert d["punt_ike"] == 1 and d["natt_keepalive"] == 1


def _checksums_ok(frame):
    p = Ether(frame)
    ip_ck, udp_ck = p[IP].chksum, p[UDP].chksum
    del p[IP].chksum
    del p[UDP].chksum
    q = Ether(bytes(p))
    return ip_ck == q[IP].chksum and (udp_ck == 0 or udp_ck == q[UDP].chksum)


def test_inject_udp_raw_500_and_4500(e):
    payload = b"IKE-reply" * 10
    with Delta(e.dp) as d:
        assert e.shm.inject(payload, kind=1, outer_src_ip=ip_n(H.WAN_ADDR),
                            outer_dst_ip=ip_n(H.CLIENT_IP), outer_src_port=port_n(500),
                            outer_dst_port=port_n(500))
        f = e.wan.recv_one(e.is_udp_to(500))
        assert f, "no injected frame"
        p = Ether(f)
        assert p.dst == e.wan.mac and p.src == e.dp_wan_mac  # via the gateway
        assert p[IP].src == H.WAN_ADDR and p[IP].dst == H.CLIENT_IP
        assert p[UDP].sport == 500 and bytes(p[UDP].payload) == payload
        assert _checksums_ok(f)
        assert e.shm.inject(payload, kind=1, outer_src_ip=ip_n(H.WAN_ADDR),
                            outer_dst_ip=ip_n(H.CLIENT_IP), outer_src_port=port_n(4500),
                            outer_dst_port=port_n(41000))
        f = e.wan.recv_one(e.is_udp_to(41000))
        assert f
        p = Ether(f)
        assert bytes(p[UDP].payload) == b"\0\0\0\0" + payload  # RFC 3948 2.2
        assert _checksums_ok(f)
        # RFC 3948 2.3: a NAT-keepalive from 4500 is the one octet 0xFF,
        # without the non-ESP marker.
        assert e.shm.inject(b"\xff", kind=1, outer_src_ip=ip_n(H.WAN_ADDR),
                            outer_dst_ip=ip_n(H.CLIENT_IP), outer_src_port=port_n(4500),
                            outer_dst_port=port_n(41001))
        f = e.wan.recv_one(e.is_udp_to(41001))
        assert f, "no NAT-keepalive"
        p = Ether(f)
        assert bytes(p[UDP].payload) == b"\xff" and p[UDP].len == 9
        assert _checksums_ok(f)
        # One octet that is not 0xFF is still IKE-on-4500: marker added.
        assert e.shm.inject(b"\xfe", kind=1, outer_src_ip=ip_n(H.WAN_ADDR),
                            outer_dst_ip=ip_n(H.CLIENT_IP), outer_src_port=port_n(4500),
                            outer_dst_port=port_n(41002))
        f = e.wan.recv_one(e.is_udp_to(41002))
        assert f and bytes(Ether(f)[UDP].payload) == b"\0\0\0\0\xfe"
        # Garbage inject: counted, nothing sent.
        assert e.shm.inject(b"x", kind=99)
        assert e.dp.wait_count("inject_bad", d.before["inject_bad"] + 1)
    assert d["inject_sent"] == 4 and d["inject_bad"] == 1


def test_drops_counted_by_name(e):
    cases = [
        (IP(src=H.CLIENT_IP, dst="198.18.0.77") / UDP(sport=1, dport=500), "rx_not_for_us"),
        (IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1, dport=9999), "rx_unhandled_protocol"),
        (IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / ICMP(), "rx_unhandled_protocol"),
        (IP(src=H.CLIENT_IP, dst=H.WAN_ADDR, proto=50) / struct.pack(">II", 0x12300005, 1) / (b"\0" * 40),
         "esp_unknown_spi"),
        (IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1701, dport=1701) / (b"\x00\x02" + b"\0" * 10),
         "l2tp_cleartext"),
        (IP(src=H.CLIENT_IP, dst=H.WAN_ADDR, proto=50) / b"\1\2\3", "esp_truncated"),
        # (IPv4 fragments never reach us on af_packet: the PMD's fanout
        # group asks the kernel to reassemble, PACKET_FANOUT_FLAG_DEFRAG.)
    ]
    for pkt, reason in cases:
        with Delta(e.dp) as d:
            e.to_wan(pkt)
            assert e.dp.wait_count(reason, d.before[reason] + 1), (reason, d.changed())
            assert d[reason] == 1, (reason, d.changed())
    # Bad IPv4 header checksum.
    raw = bytearray(bytes(Ether(src=e.wan.mac, dst=e.dp_wan_mac) /
                          IP(src=H.CLIENT_IP, dst=H.WAN_ADDR) / UDP(sport=1, dport=500)))
    raw[24] ^= 0xFF
    with Delta(e.dp) as d:
        e.wan.send(raw)
        assert e.dp.wait_count("rx_bad_ipv4", d.before["rx_bad_ipv4"] + 1)
    # LAN: unknown destination, our own address, pool address without session.
    for dst, reason in (("8.8.8.8", "rx_not_for_us"), (H.LAN_ADDR, "rx_not_for_us"),
                        ("100.64.0.9", "lan_no_session")):
        with Delta(e.dp) as d:
            e.to_lan(IP(src=H.LAN_HOST, dst=dst) / UDP(sport=1, dport=2))
            assert e.dp.wait_count(reason, d.before[reason] + 1), (dst, d.changed())
    assert not e.wan.recv_all(0.2, e.is_ipv4)


def test_heartbeat_and_ready(e):
    import time
    hb = e.shm.h.dp_heartbeat
    time.sleep(1.2)
    assert e.shm.h.dp_heartbeat > hb
    assert e.shm.h.dp_ready == 1
