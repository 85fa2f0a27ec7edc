"""L2TPv2 / PPP byte builders (RFC 2661 section 3.1, RFC 1662) and the
session helper shared by the clear-text and ESP tests."""
import struct

from shm_mirror import ip_n, port_n

INVALID = 0xFFFFFFFF
T, L, S, O = 0x8000, 0x4000, 0x0800, 0x0200


def l2tp_data(tid, sid, ppp, length=False, seq=None, offset=None):
    flags = 0x0002 | (L if length else 0) | (S if seq is not None else 0) | \
        (O if offset is not None else 0)
    body = struct.pack(">HH", tid, sid)
    if seq is not None:
        body += struct.pack(">HH", seq, 0)
    if offset is not None:
        body += struct.pack(">H", offset) + b"\0" * offset
    body += ppp
    if length:
        return struct.pack(">HH", flags, 4 + len(body)) + body
    return struct.pack(">H", flags) + body


def l2tp_control(tid, sid, avps=b"\x80\x08\x00\x00\x00\x00\x00\x06", ns=0, nr=0):
    body = struct.pack(">HHHH", tid, sid, ns, nr) + avps
    return struct.pack(">HH", 0xC802, 4 + len(body)) + body


def ppp(proto, payload, acfc=False, pfc=False):
    head = b"" if acfc else b"\xff\x03"
    if pfc and proto < 0x100:
        head += bytes([proto])
    else:
        head += struct.pack(">H", proto)
    return head + payload


def install_session(shm, idx, tid, sid, ptid, psid, assigned, peer_ip, peer_port=1701,
                    inbound_sa=INVALID, outbound_sa=INVALID, flags=0, mru=1400, alt=INVALID):
    shm.write_session(idx, state=1, flags=flags, mru=mru, local_tunnel_id=tid,
                      local_session_id=sid, peer_tunnel_id=ptid, peer_session_id=psid,
                      inbound_sa=inbound_sa, outbound_sa=outbound_sa,
                      assigned_ip=ip_n(assigned), peer_ip=ip_n(peer_ip),
                      peer_port=port_n(peer_port), inbound_sa_alt=alt, ns_next=0)


def remove_session(shm, idx):
    """Control-plane deletion: epoch first, then the record, then the notice
    (the order controlplane/app/shm_tables.cc uses)."""
    epoch = shm.h.cp_epoch + 1
    shm.h.cp_epoch = epoch
    shm.write_session(idx, state=2, free_epoch=epoch)
    return epoch
