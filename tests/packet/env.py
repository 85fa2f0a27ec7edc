"""What a test function gets: the dataplane, both ports and frame helpers."""
import time

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

import harness as H
from harness import mac_of


class Env:
    def __init__(self, dp, wan, lan):
        self.dp = dp
        self.shm = dp.shm
        self.wan = wan
        self.lan = lan
        self.dp_wan_mac = mac_of("dp_wan")
        self.dp_lan_mac = mac_of("dp_lan")

    def prime(self):
        """Teach the dataplane the gateway's and the LAN host's MACs the way a
        neighbour would: an ARP reply addressed to it (RFC 826)."""
        # The WAN MAC is the one the dataplane answers ARP with: the pcap PMD
        # (test_fragments) has its own, not the veth's.
        self.wan.send(Ether(src=self.wan.mac, dst="ff:ff:ff:ff:ff:ff") /
                      ARP(op=1, hwsrc=self.wan.mac, psrc=H.WAN_GW, pdst=H.WAN_ADDR))
        rep = self.wan.recv_one(lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02")
        assert rep, "the dataplane does not answer ARP on the WAN port"
        self.dp_wan_mac = Ether(rep)[ARP].hwsrc
        self.wan.send(Ether(src=self.wan.mac, dst=self.dp_wan_mac) /
                      ARP(op=2, hwsrc=self.wan.mac, psrc=H.WAN_GW,
                          hwdst=self.dp_wan_mac, pdst=H.WAN_ADDR))
        self.lan.send(Ether(src=self.lan.mac, dst=self.dp_lan_mac) /
                      ARP(op=2, hwsrc=self.lan.mac, psrc=H.LAN_HOST,
                          hwdst=self.dp_lan_mac, pdst=H.LAN_ADDR))
        assert self.dp.wait_count("arp_reply_learned", 2), self.dp.counts()
        time.sleep(0.05)  # housekeeping applies the learn events

    def to_wan(self, ip_pkt):
        """Sends an IPv4 packet to the dataplane's WAN port from the gateway."""
        self.wan.send(Ether(src=self.wan.mac, dst=self.dp_wan_mac) / ip_pkt)

    def to_lan(self, ip_pkt):
        self.lan.send(Ether(src=self.lan.mac, dst=self.dp_lan_mac) / ip_pkt)

    @staticmethod
    def is_ipv4(frame):
        return len(frame) >= 34 and frame[12:14] == b"\x08\x00"

    @staticmethod
    def is_udp_to(port):
        def f(frame):
            return (len(frame) >= 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17 and
                    int.from_bytes(frame[36:38], "big") == port)
        return f

    @staticmethod
    def is_esp(frame):
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            return False
        if frame[23] == 50:
            return True
        return frame[23] == 17 and 4500 in (int.from_bytes(frame[34:36], "big"),
                                            int.from_bytes(frame[36:38], "big"))


__all__ = ["Env", "IP", "UDP", "Ether", "ARP"]
