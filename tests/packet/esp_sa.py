"""ESP SAs on both sides: the dataplane's (SaRecords written through the shm
mirror) and the independent oracle's (scapy SecurityAssociation with
python3-cryptography), transport mode, raw or UDP-encapsulated (RFC 3948)."""
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hmac import HMAC
from scapy.layers import ipsec
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation

import harness as H
from shm_mirror import ip_n, port_n

# Old Linux/Android HMAC-SHA-256 truncated to 96 bits
# (draft-ietf-ipsec-ciph-sha-256-00); scapy lacks it, so declare it.
if "SHA2-256-96" not in ipsec.AUTH_ALGOS:
    ipsec.AUTH_ALGOS["SHA2-256-96"] = ipsec.AuthAlgo(
        "SHA2-256-96", mac=HMAC, digestmod=hashes.SHA256, icv_size=12, key_size=(32,))

# name: (shm Cipher, key len, shm Integ, integ key len, scapy crypt, scapy auth, weak)
ALGS = {
    "aes128-sha1": (1, 16, 1, 20, "AES-CBC", "HMAC-SHA1-96", False),
    "aes192-sha1": (1, 24, 1, 20, "AES-CBC", "HMAC-SHA1-96", False),
    "aes256-sha256": (1, 32, 2, 32, "AES-CBC", "SHA2-256-128", False),
    "aes128-sha384": (1, 16, 3, 48, "AES-CBC", "SHA2-384-192", False),
    "aes256-sha512": (1, 32, 4, 64, "AES-CBC", "SHA2-512-256", False),
    "aes128-sha256_96": (1, 16, 5, 32, "AES-CBC", "SHA2-256-96", False),
    "aes128gcm16": (4, 16, 0, 0, "AES-GCM", None, False),
    "aes256gcm16": (4, 32, 0, 0, "AES-GCM", None, False),
    "3des-sha1": (2, 24, 1, 20, "3DES", "HMAC-SHA1-96", True),
    "des-sha1": (3, 8, 1, 20, "DES", "HMAC-SHA1-96", True),
}


def make_spi(index, check):
    return (check << 20) | index


class Client:
    """One remote-access client: an inbound SA (client -> us) in slot
    in_idx, an outbound SA (us -> client) in slot out_idx."""

    def __init__(self, shm, alg, in_idx, out_idx, public_ip=H.CLIENT_IP, natt_port=None,
                 replay_window=1024, hard_packets=0, seed=0):
        cipher, klen, integ, ilen, s_crypt, s_auth, weak = ALGS[alg]
        rnd = hashlib.sha256(f"{alg}{in_idx}{seed}".encode()).digest() * 4
        self.ckey_in, self.ikey_in = rnd[:klen], rnd[32:32 + ilen]
        self.ckey_out, self.ikey_out = rnd[64:64 + klen], rnd[96:96 + ilen]
        self.salt_in, self.salt_out = rnd[5:9], rnd[9:13]
        self.in_idx, self.out_idx = in_idx, out_idx
        self.in_spi = make_spi(in_idx, 0x5A0 + in_idx)
        self.out_spi = 0xC0DE0000 | out_idx
        self.public_ip = public_ip
        self.natt_port = natt_port
        encap = 1 if natt_port else 0
        common = dict(state=1, cipher=cipher, integ=integ, cipher_key_len=klen,
                      integ_key_len=ilen, encap=encap, flags=2 if weak else 0,
                      local_ip=ip_n(H.WAN_ADDR), peer_ip=ip_n(public_ip),
                      local_port=port_n(4500) if natt_port else 0,
                      peer_port=port_n(natt_port) if natt_port else 0)
        shm.write_sa(in_idx, dir=0, spi=self.in_spi, cipher_key=self.ckey_in,
                     integ_key=self.ikey_in, salt=self.salt_in, replay_window=replay_window,
                     paired_index=out_idx, hard_packets=hard_packets, **common)
        shm.write_sa(out_idx, dir=1, spi=self.out_spi, cipher_key=self.ckey_out,
                     integ_key=self.ikey_out, salt=self.salt_out, replay_window=0,
                     paired_index=in_idx, **common)
        gcm = s_crypt == "AES-GCM"
        nat = UDP(sport=natt_port, dport=4500) if natt_port else None
        self.tx = SecurityAssociation(
            ESP, spi=self.in_spi, crypt_algo=s_crypt,
            crypt_key=self.ckey_in + (self.salt_in if gcm else b""),
            auth_algo=s_auth, auth_key=self.ikey_in if s_auth else None, nat_t_header=nat)
        nat_rx = UDP(sport=4500, dport=natt_port) if natt_port else None
        self.rx = SecurityAssociation(
            ESP, spi=self.out_spi, crypt_algo=s_crypt,
            crypt_key=self.ckey_out + (self.salt_out if gcm else b""),
            auth_algo=s_auth, auth_key=self.ikey_out if s_auth else None, nat_t_header=nat_rx)
        self.alg = alg

    def encrypt_l2tp(self, l2tp_bytes, seq=None, sport=1701, dport=1701):
        """The client's IPv4/[UDP 4500]/ESP frame body carrying UDP 1701."""
        inner = IP(src=self.public_ip, dst=H.WAN_ADDR) / UDP(sport=sport, dport=dport) / l2tp_bytes
        if seq is None:
            p = self.tx.encrypt(inner)
        else:
            p = self.tx.encrypt(inner, seq_num=seq)
        if self.natt_port:
            # scapy 2.5 leaves the NAT-T UDP length at 8 (header only); the
            # dataplane rightly drops that as esp_truncated. Fix the length.
            b = bytearray(bytes(p))
            ihl = (b[0] & 15) * 4
            b[ihl + 4:ihl + 6] = struct.pack(">H", len(b) - ihl)
            p = IP(bytes(b))
        return p

    def decrypt(self, frame_ip):
        """Decrypts what the dataplane sent (an scapy IP packet)."""
        return self.rx.decrypt(frame_ip)


def esp_cbc_sha1_raw(spi, seq, ckey, ikey, payload, next_header=17, pad=None):
    """A hand-built AES-CBC/HMAC-SHA1-96 ESP payload (for malformed cases
    scapy will not build): SPI | seq | IV | E(payload | pad | padlen | nh) | ICV."""
    padlen = (-(len(payload) + 2)) % 16
    if pad is None:
        pad = bytes(range(1, padlen + 1))  # RFC 4303 2.4 default pad
    assert len(pad) == padlen
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(ckey), modes.CBC(iv)).encryptor()
    ct = enc.update(payload + pad + bytes([padlen, next_header])) + enc.finalize()
    body = struct.pack(">II", spi, seq) + iv + ct
    return body + hmac.new(ikey, body, hashlib.sha1).digest()[:12]
