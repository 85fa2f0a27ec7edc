#!/usr/bin/python3
"""Independent oracle for wire_test.cc: a Windows-style Main Mode message 1
(two transforms, TV and TLV life duration, vendor IDs) built by scapy."""
from scapy.layers.isakmp import *
from scapy.all import raw

t1 = ISAKMP_payload_Transform(num=1, id=1, transforms=[
    ('Encryption', 'AES-CBC'), ('KeyLength', 256), ('Hash', 'SHA'),
    ('GroupDesc', '2048MODPgr'), ('Authentication', 'PSK'),
    ('LifeType', 'Seconds'), ('LifeDuration', 28800)])
t2 = ISAKMP_payload_Transform(num=2, id=1, transforms=[
    ('Encryption', '3DES-CBC'), ('Hash', 'SHA'), ('GroupDesc', '1024MODPgr'),
    ('Authentication', 'PSK'), ('LifeType', 'Seconds'), ('LifeDuration', 100000)])
sa = ISAKMP_payload_SA(DOI=1, situation=1,
                       prop=ISAKMP_payload_Proposal(proposal=1, proto=1, trans_nb=2, trans=t1/t2))
m = ISAKMP(init_cookie=bytes.fromhex('0102030405060708'), resp_cookie=b'\0' * 8,
           next_payload=1, exch_type=2, flags=0, id=0) / sa / \
    ISAKMP_payload_VendorID(load=bytes.fromhex('4a131c81070358455c5728f20e95452f')) / \
    ISAKMP_payload_VendorID(load=bytes.fromhex('1e2b516905991c7d7c96fcbfb587e46100000009'))
print(raw(m).hex())
