"""esp_fragments = "drop": every IPv4 fragment to the WAN address is a
counted policy drop (rx_ip_fragment), the table is never used, and whole
packets of the same SA still pass. pcap WAN port: see test_fragments.py."""
from harness import Delta
from test_esp import client_to_lan, connect
from test_fragments import FRAG_COUNTERS, WAN_PCAP, big_inner, esp_frags

DATAPLANE = dict(workers=1, require_ipsec=True, wan_device=WAN_PCAP,
                 dataplane_extra='esp_fragments = "drop"')


def test_fragments_dropped_by_policy_and_counted(e):
    c = connect(e, "aes128-sha1", 1, natt_port=4500)
    frags = esp_frags(c, big_inner(c))
    with Delta(e.dp) as d:
        for f in frags:
            e.to_wan(f)
        assert e.dp.wait_count("rx_ip_fragment", d.before["rx_ip_fragment"] + len(frags))
        assert not e.lan.recv_all(0.3, e.is_ipv4)
        assert d["rx_ip_fragment"] == len(frags), d.changed()
        assert d["rx_ip_fragment_reassembled"] == 0
        for k in FRAG_COUNTERS[:-1]:
            assert d[k] == 0, (k, d.changed())
    client_to_lan(e, c)  # unfragmented ESP of the same SA is fine
