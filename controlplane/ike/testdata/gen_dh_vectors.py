#!/usr/bin/env python3
"""Independent oracle for crypto_test.cc: DH/ECDH public values and shared
secrets from fixed private values, computed with Python's pow() (RFC 2409 /
RFC 3526 primes typed from the RFCs) and the cryptography package for ECP
(RFC 5903: KE = x|y, shared secret = x)."""
import hashlib
from cryptography.hazmat.primitives.asymmetric import ec

MODP1024 = int('FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1'
               '29024E088A67CC74020BBEA63B139B22514A08798E3404DD'
               'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245'
               'E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
               'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381'
               'FFFFFFFFFFFFFFFF', 16)
MODP2048 = int('FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1'
               '29024E088A67CC74020BBEA63B139B22514A08798E3404DD'
               'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245'
               'E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED'
               'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D'
               'C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F'
               '83655D23DCA3AD961C62F356208552BB9ED529077096966D'
               '670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B'
               'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9'
               'DE2BCBF6955817183995497CEA956AE515D2261898FA0510'
               '15728E5A8AACAA68FFFFFFFFFFFFFFFF', 16)

def h(seed, n): return hashlib.sha512(seed).digest()[:n]

def modp(name, p, size, nbytes):
    x = int.from_bytes(h(b'x' + name.encode(), nbytes), 'big')
    y = int.from_bytes(h(b'y' + name.encode(), nbytes), 'big')
    gx = pow(2, x, p); gy = pow(2, y, p); s = pow(gy, x, p)
    print('{DhGroup::k%s, "%s", "%s", "%s", "%s"},' % (name, x.to_bytes(nbytes, 'big').hex(),
          gx.to_bytes(size, 'big').hex(), gy.to_bytes(size, 'big').hex(), s.to_bytes(size, 'big').hex()))

def ecp(name, curve, size):
    x = int.from_bytes(h(b'x' + name.encode(), size), 'big') % (2**(8*size-8))
    y = int.from_bytes(h(b'y' + name.encode(), size), 'big') % (2**(8*size-8))
    kx = ec.derive_private_key(x, curve); ky = ec.derive_private_key(y, curve)
    def pub(k):
        n = k.public_key().public_numbers()
        return n.x.to_bytes(size, 'big') + n.y.to_bytes(size, 'big')
    s = kx.exchange(ec.ECDH(), ky.public_key())
    print('{DhGroup::k%s, "%s", "%s", "%s", "%s"},' % (name, x.to_bytes(size, 'big').hex(),
          pub(kx).hex(), pub(ky).hex(), s.hex()))

modp('Modp1024', MODP1024, 128, 20)
modp('Modp2048', MODP2048, 256, 28)
ecp('Ecp256', ec.SECP256R1(), 32)
ecp('Ecp384', ec.SECP384R1(), 48)
