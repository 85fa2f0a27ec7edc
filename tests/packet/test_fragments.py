"""IPv4 fragments of ESP, raw and NAT-T, reassembled by the dataplane
(librte_ip_frag, dataplane/pipeline/reassembly.cc); scapy builds the ESP
(the oracle) and fragments it. Negative cases with their named counters:
overlapping/duplicate/malformed fragments, too large, incomplete datagrams
timing out, a garbage flood that must not crash or leak.

The WAN port is DPDK's pcap PMD here: the af_packet PMD joins a fanout
group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel would reassemble (or
swallow) fragments before the dataplane ever saw one.

Two workers, one RX queue (pcap): worker 0 reassembles everything and hands
datagrams of SAs owned by worker 1 over, as RSS on the IPv4 addresses
would (every fragment of a datagram hashes alike)."""
import random
import struct
import time

from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import harness as H
from harness import Delta
from l2tp import l2tp_data, ppp
from test_esp import connect, expected_forwarded

WAN_PCAP = "net_pcap0,rx_iface_in=dp_wan,tx_iface=dp_wan,phy_mac=1"
DATAPLANE = dict(workers=2, require_ipsec=True, wan_device=WAN_PCAP)

TIMEOUT_S = 1.0  # DataplaneShared::frag_timeout_ms default (docs/config.md)
FRAG_COUNTERS = ("rx_ip_fragment_bad", "rx_ip_fragment_timeout", "rx_ip_fragment_table_full",
                 "rx_ip_fragment_too_large", "rx_ip_fragment")


def owner(sa_index, workers=2):
    """esp_path.cc: the worker that owns an inbound SA's replay window."""
    return ((sa_index * 0x9E3779B1) & 0xFFFFFFFF) * workers >> 32


def big_inner(c, n=1200, tag=b"F"):
    return IP(src=c.assigned, dst=H.LAN_HOST, ttl=64) / UDP(sport=4444, dport=53) / (tag * n)


def esp_frags(c, inner, fragsize=512):
    pkt = c.encrypt_l2tp(l2tp_data(c.tid, c.sid, ppp(0x21, bytes(inner))))
    frags = fragment(IP(bytes(pkt)), fragsize=fragsize)
    assert len(frags) >= 3, len(frags)
    return frags


def send_and_expect(e, c, frags, inner):
    with Delta(e.dp) as d:
        for f in frags:
            e.to_wan(f)
        out = e.lan.recv_one(e.is_ipv4)
        assert out, f"nothing on the LAN; {d.changed()}"
        assert out[14:] == expected_forwarded(inner)
        assert d["rx_ip_fragment_reassembled"] == 1, d.changed()
        for k in FRAG_COUNTERS:
            assert d[k] == 0, (k, d.changed())


def test_raw_esp_in_order_and_reversed(e):
    c = connect(e, "aes128-sha1", 1)
    for order in (lambda f: f, lambda f: f[::-1]):
        inner = big_inner(c)
        send_and_expect(e, c, order(esp_frags(c, inner)), inner)


def test_natt_esp_shuffled_both_owner_workers(e):
    # Slots whose inbound SA belongs to worker 0 and to worker 1.
    slots = {}
    for s in range(2, 14):
        slots.setdefault(owner(2 * s), s)
    assert set(slots) == {0, 1}, slots
    for w, slot in sorted(slots.items()):
        c = connect(e, "aes256gcm16", slot, natt_port=41000 + slot)
        for k in range(3):
            inner = big_inner(c, 900 + 100 * k, tag=bytes([65 + k]))
            frags = esp_frags(c, inner, fragsize=256)
            random.Random(k).shuffle(frags)
            send_and_expect(e, c, frags, inner)


def test_incomplete_datagram_times_out(e):
    c = connect(e, "aes128-sha1", 3)
    frags = esp_frags(c, big_inner(c))
    with Delta(e.dp) as d:
        for f in frags[:-1]:
            e.to_wan(f)
        assert not e.lan.recv_all(0.3, e.is_ipv4)
        assert d["rx_ip_fragment_timeout"] == 0
        assert e.dp.wait_count("rx_ip_fragment_timeout",
                               d.before["rx_ip_fragment_timeout"] + len(frags) - 1,
                               timeout=TIMEOUT_S * 3), d.changed()
        assert d["rx_ip_fragment_timeout"] == len(frags) - 1
        # The late last fragment opens a new datagram that never completes.
        e.to_wan(frags[-1])
        assert not e.lan.recv_all(0.3, e.is_ipv4)
        assert e.dp.wait_count("rx_ip_fragment_timeout",
                               d.before["rx_ip_fragment_timeout"] + len(frags),
                               timeout=TIMEOUT_S * 3), d.changed()
        assert d["rx_ip_fragment_reassembled"] == 0


def frag(c, ident, off8, mf, payload, proto=50, src=None):
    flags = "MF" if mf else 0
    return IP(src=src or c.public_ip, dst=H.WAN_ADDR, id=ident, proto=proto, flags=flags,
              frag=off8) / payload


def test_overlapping_and_duplicate_fragments_dropped(e):
    c = connect(e, "aes128-sha1", 4)
    # Overlap: 0..512, 256..768, last 768..800; the sizes add up past the total.
    with Delta(e.dp) as d:
        e.to_wan(frag(c, 901, 0, True, b"a" * 512))
        e.to_wan(frag(c, 901, 32, True, b"b" * 512))
        e.to_wan(frag(c, 901, 96, False, b"c" * 32))
        assert e.dp.wait_count("rx_ip_fragment_bad", d.before["rx_ip_fragment_bad"] + 3)
        assert d["rx_ip_fragment_bad"] == 3, d.changed()
    # Duplicate first fragment: the datagram so far and the duplicate go.
    with Delta(e.dp) as d:
        e.to_wan(frag(c, 902, 0, True, b"a" * 64))
        e.to_wan(frag(c, 902, 0, True, b"a" * 64))
        assert e.dp.wait_count("rx_ip_fragment_bad", d.before["rx_ip_fragment_bad"] + 2)
        assert d["rx_ip_fragment_bad"] == 2, d.changed()
    # A hole filled by a same-sized wrong piece: 0..64, 128..192 (twice), last 192..200.
    with Delta(e.dp) as d:
        e.to_wan(frag(c, 903, 0, True, b"a" * 64))
        e.to_wan(frag(c, 903, 16, True, b"b" * 64))
        e.to_wan(frag(c, 903, 16, True, b"b" * 64))
        e.to_wan(frag(c, 903, 24, False, b"c" * 8))
        assert e.dp.wait_count("rx_ip_fragment_bad", d.before["rx_ip_fragment_bad"] + 4)
        assert d["rx_ip_fragment_bad"] == 4, d.changed()
    assert not e.lan.recv_all(0.2, e.is_ipv4)
    # The SA still works with honest fragments.
    inner = big_inner(c)
    send_and_expect(e, c, esp_frags(c, inner), inner)


def test_malformed_fragments_counted(e):
    c = connect(e, "aes128-sha1", 5)
    cases = [
        (frag(c, 911, 0, True, b""), "rx_ip_fragment_bad"),             # no data
        (frag(c, 912, 8, True, b"x" * 13), "rx_ip_fragment_bad"),       # middle, not 8n
        (frag(c, 913, 8189, False, b"x" * 64), "rx_ip_fragment_bad"),   # past 65535
        (frag(c, 914, 500, False, b"x" * 64), "rx_ip_fragment_too_large"),  # > one mbuf
        (frag(c, 915, 1, True, b"x" * 8, proto=1), "rx_unhandled_protocol"),  # ICMP
    ]
    for pkt, reason in cases:
        with Delta(e.dp) as d:
            e.to_wan(pkt)
            assert e.dp.wait_count(reason, d.before[reason] + 1), (reason, d.changed())
            assert d[reason] == 1, (reason, d.changed())


def test_garbage_flood_never_crashes_or_leaks(e):
    """6000 random fragments (libpcap delivers a share of them at this rate):
    no crash, every one counted by name, and whatever the table kept or
    dropped came back, or honest traffic would starve afterwards. (The exact
    buffer accounting is dp_pipeline_unit's FuzzedFragmentsNeitherCrashNorLeak.)"""
    c = connect(e, "aes128-sha1", 6)
    rng = random.Random(1234)
    with Delta(e.dp) as d:
        for i in range(6000):
            mf = rng.random() < 0.7
            off8 = rng.choice([0, 0, 1, 2, 8, 64, 185, 250, 8000, rng.randrange(8192)])
            n = rng.choice([0, 1, 7, 8, 16, 64, 256, 1024, 1400])
            proto = rng.choice([50, 17, 17, 6])
            ident = rng.randrange(64) if rng.random() < 0.5 else rng.randrange(65536)
            raw = bytearray(bytes(frag(c, ident, off8, mf, bytes(rng.randrange(256)
                                                                 for _ in range(n)),
                                       proto=proto,
                                       src=rng.choice([c.public_ip, H.CLIENT2_IP]))))
            if rng.random() < 0.1:  # a corrupted header now and then
                raw[rng.randrange(20)] ^= 1 << rng.randrange(8)
            e.wan.send(Ether(src=e.wan.mac, dst=e.dp_wan_mac, type=0x0800) / Raw(bytes(raw)))
            if i % 100 == 0:  # libpcap's buffer is not a NIC ring
                time.sleep(0.005)
        time.sleep(TIMEOUT_S * 1.5)
        assert e.dp.proc.poll() is None, e.dp.read_log()
        changed = d.changed()
    print("garbage flood counters:", changed)
    # How many arrive depends on the machine's load (libpcap drops the rest);
    # of those, about 3 in 4 are fragments and must be counted as such.
    arrived = sum(changed.values())
    fragments = sum(changed.get(k, 0) for k in FRAG_COUNTERS)
    assert arrived >= 300, changed
    assert fragments >= arrived // 2, changed
    # Nothing leaked: honest fragmented traffic still gets through, many times.
    for k in range(5):
        inner = big_inner(c, tag=bytes([97 + k]))
        send_and_expect(e, c, esp_frags(c, inner), inner)
