"""Runs inside a test namespace (ip netns exec NS python3 nshelper.py ...).
Prints one JSON object."""
import json
import socket
import sys
import time


def arp(iface, ip):
    from scapy.all import ARP, Ether, srp1, conf
    conf.verb = 0
    r = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, pdst=ip), iface=iface, timeout=3)
    return {"answered": r is not None, "mac": r[ARP].hwsrc if r else None,
            "psrc": r[ARP].psrc if r else None}


def ike_mm1(server, src_port=500):
    """Main Mode message 1 (RFC 2409 5) offering AES-256/SHA1/PSK/MODP2048,
    the first of seed 004's Windows 11 proposals; returns what came back."""
    from scapy.layers.isakmp import ISAKMP, ISAKMP_payload_SA, ISAKMP_payload_Proposal, \
        ISAKMP_payload_Transform
    import os
    icookie = os.urandom(8)
    tr = ISAKMP_payload_Transform(num=1, id=1, transforms=[
        ("Encryption", "AES-CBC"), ("KeyLength", 256), ("Hash", "SHA"),
        ("Authentication", "PSK"), ("GroupDesc", "2048MODPgr"), ("LifeType", "Seconds"),
        ("LifeDuration", 28800)])
    sa = ISAKMP_payload_SA(prop=ISAKMP_payload_Proposal(proto=1, trans_nb=1, trans=tr))
    msg = ISAKMP(init_cookie=icookie, next_payload=1, exch_type=2) / sa
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", src_port))
    s.settimeout(5)
    s.sendto(bytes(msg), (server, 500))
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        return {"answered": False}
    r = ISAKMP(data)
    return {"answered": True, "from": list(addr), "init_cookie_echoed": r.init_cookie == icookie,
            "resp_cookie": r.resp_cookie.hex(), "exch_type": r.exch_type,
            "next_payload": r.next_payload, "len": len(data)}


def udp_to(dst, port, count=1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(count):
        s.sendto(b"x" * 32, (dst, port))
        time.sleep(0.01)
    return {"sent": count}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"arp": arp, "ike-mm1": ike_mm1, "udp": udp_to}[cmd]
    conv = [int(a) if a.isdigit() else a for a in args]
    print(json.dumps(fn(*conv)))


if __name__ == "__main__":
    main()
