"""Python mirror of shared/include/vpn/shm_abi.h.

The layout is computed here from field lists with the C alignment rules
(independently of the C++ compiler) and verified against
`vpn-dataplane --print-abi` by verify_against(); a mismatch fails the tests.
The test acts as the control plane through it: seqlocked record writes,
update notices, punt ring reads, inject ring writes, counter reads.
"""
import mmap
import os
import struct

# (name, struct format char, count, alignas override or 0)
FIELDS = {
    "SaRecord": (64, [
        ("seq", "I", 1, 0), ("state", "B", 1, 0), ("dir", "B", 1, 0),
        ("cipher", "B", 1, 0), ("integ", "B", 1, 0), ("spi", "I", 1, 0),
        ("cipher_key_len", "B", 1, 0), ("integ_key_len", "B", 1, 0),
        ("encap", "B", 1, 0), ("flags", "B", 1, 0),
        ("local_ip", "I", 1, 0), ("peer_ip", "I", 1, 0),
        ("local_port", "H", 1, 0), ("peer_port", "H", 1, 0),
        ("replay_window", "I", 1, 0), ("paired_index", "I", 1, 0),
        ("free_epoch", "I", 1, 0), ("owner_cookie", "Q", 1, 0),
        ("soft_bytes", "Q", 1, 0), ("hard_bytes", "Q", 1, 0),
        ("soft_packets", "Q", 1, 0), ("hard_packets", "Q", 1, 0),
        ("cipher_key", "B", 32, 0), ("salt", "B", 4, 0), ("generation", "I", 1, 0),
        ("reserved0", "B", 8, 0),
        ("integ_key", "B", 64, 0), ("reserved1", "B", 32, 0)]),
    "SessionRecord": (64, [
        ("seq", "I", 1, 0), ("state", "B", 1, 0), ("flags", "B", 1, 0),
        ("mru", "H", 1, 0), ("local_tunnel_id", "H", 1, 0),
        ("local_session_id", "H", 1, 0), ("peer_tunnel_id", "H", 1, 0),
        ("peer_session_id", "H", 1, 0), ("inbound_sa", "I", 1, 0),
        ("outbound_sa", "I", 1, 0), ("assigned_ip", "I", 1, 0),
        ("peer_ip", "I", 1, 0), ("peer_port", "H", 1, 0), ("reserved0", "H", 1, 0),
        ("free_epoch", "I", 1, 0), ("owner_cookie", "Q", 1, 0),
        ("ns_next", "H", 1, 0), ("reserved1", "H", 1, 0), ("inbound_sa_alt", "I", 1, 0),
        ("generation", "I", 1, 0)]),
    "SaCounters": (64, [("packets", "Q", 1, 0), ("bytes", "Q", 1, 0),
                        ("drops", "Q", 1, 0), ("last_seen_tsc", "Q", 1, 0),
                        ("generation", "Q", 1, 0), ("reserved", "Q", 3, 0)]),
    "SessionCounters": (64, [("rx_packets", "Q", 1, 0), ("rx_bytes", "Q", 1, 0),
                             ("tx_packets", "Q", 1, 0), ("tx_bytes", "Q", 1, 0),
                             ("generation", "Q", 1, 0), ("reserved", "Q", 3, 0)]),
    "PortCounters": (0, [("rx_packets", "Q", 1, 0), ("rx_bytes", "Q", 1, 0),
                         ("tx_packets", "Q", 1, 0), ("tx_bytes", "Q", 1, 0),
                         ("tx_dropped", "Q", 1, 0), ("reserved", "Q", 3, 0)]),
    "WorkerCounters": (64, [("loops", "Q", 1, 0), ("rx_packets", "Q", 1, 0),
                            ("tx_packets", "Q", 1, 0), ("reserved", "Q", 5, 0),
                            ("reason", "Q", 128, 0),
                            # PortCounters[4]: 8 x uint64 each
                            ("ports", "Q", 4 * 8, 0)]),
    "RingHeader": (64, [("slot_size", "I", 1, 0), ("slot_count", "I", 1, 0),
                        ("pad0", "B", 56, 0), ("head", "Q", 1, 64), ("pad1", "B", 56, 0),
                        ("tail", "Q", 1, 64), ("pad2", "B", 56, 0),
                        ("dropped", "Q", 1, 64), ("pad3", "B", 56, 0)]),
    "PacketMeta": (64, [
        ("kind", "H", 1, 0), ("port", "B", 1, 0), ("worker", "B", 1, 0),
        ("length", "H", 1, 0), ("flags", "H", 1, 0), ("sa_index", "I", 1, 0),
        ("session_index", "I", 1, 0), ("outer_src_ip", "I", 1, 0),
        ("outer_dst_ip", "I", 1, 0), ("outer_src_port", "H", 1, 0),
        ("outer_dst_port", "H", 1, 0), ("tunnel_id", "H", 1, 0),
        ("l2tp_session_id", "H", 1, 0), ("inner_src_ip", "I", 1, 0),
        ("inner_dst_ip", "I", 1, 0), ("inner_src_port", "H", 1, 0),
        ("inner_dst_port", "H", 1, 0), ("tsc", "Q", 1, 0), ("reserved", "B", 8, 0)]),
    "UpdateNotice": (0, [("table", "I", 1, 0), ("index", "I", 1, 0)]),
    "Header": (64, [
        ("magic", "Q", 1, 0), ("abi_version", "I", 1, 0), ("header_size", "I", 1, 0),
        ("segment_size", "Q", 1, 0), ("max_sas", "I", 1, 0), ("max_sessions", "I", 1, 0),
        ("n_workers", "I", 1, 0), ("reserved0", "I", 1, 0),
        ("sa_table_offset", "Q", 1, 0), ("session_table_offset", "Q", 1, 0),
        ("worker_counters_offset", "Q", 1, 0), ("sa_counters_offset", "Q", 1, 0),
        ("session_counters_offset", "Q", 1, 0), ("punt_rings_offset", "Q", 1, 0),
        ("punt_ring_stride", "Q", 1, 0), ("inject_ring_offset", "Q", 1, 0),
        ("update_ring_offset", "Q", 1, 0), ("reserved1", "Q", 5, 0),
        ("cp_pid", "Q", 1, 64), ("cp_heartbeat", "Q", 1, 0), ("cp_epoch", "I", 1, 0),
        ("cp_update_overflow", "I", 1, 0), ("dp_pid", "Q", 1, 64),
        ("dp_heartbeat", "Q", 1, 0), ("dp_quiesced_epoch", "I", 1, 0),
        ("dp_ready", "I", 1, 0), ("dp_tsc_hz", "Q", 1, 0), ("pad", "B", 24, 0)]),
}


def _compute(name):
    rec_align, fields = FIELDS[name]
    off, max_align, out = 0, 1, {}
    for fname, fmt, count, align in fields:
        size = struct.calcsize(fmt)
        a = max(size, align)
        off = (off + a - 1) // a * a
        out[fname] = (off, fmt, size * count)
        off += size * count
        max_align = max(max_align, a)
    align = max(rec_align, max_align)
    total = (off + align - 1) // align * align
    return out, total, align


LAYOUT = {n: _compute(n) for n in FIELDS}


def verify_against(abi):
    """Returns a list of mismatches between our layout and --print-abi."""
    errors = []
    for rec, (fields, size, align) in LAYOUT.items():
        theirs = abi["records"].get(rec)
        if theirs is None:
            errors.append(f"{rec}: missing from --print-abi")
            continue
        if theirs["size"] != size:
            errors.append(f"{rec}: size {size} != {theirs['size']}")
        if theirs["align"] != align:
            errors.append(f"{rec}: align {align} != {theirs['align']}")
        if set(theirs["fields"]) != set(fields):
            errors.append(f"{rec}: fields differ: {sorted(set(theirs['fields']) ^ set(fields))}")
        for f, (off, _fmt, fsize) in fields.items():
            t = theirs["fields"].get(f)
            if t and (t["offset"] != off or t["size"] != fsize):
                errors.append(f"{rec}.{f}: ({off},{fsize}) != ({t['offset']},{t['size']})")
    return errors


class View:
    """Field access to one record at a byte offset of the mapping."""

    def __init__(self, buf, base, rec):
        object.__setattr__(self, "_buf", buf)
        object.__setattr__(self, "_base", base)
        object.__setattr__(self, "_fields", LAYOUT[rec][0])

    def __getattr__(self, name):
        off, fmt, size = self._fields[name]
        if size != struct.calcsize(fmt):
            return bytes(self._buf[self._base + off:self._base + off + size])
        return struct.unpack_from("<" + fmt, self._buf, self._base + off)[0]

    def __setattr__(self, name, value):
        off, fmt, size = self._fields[name]
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).ljust(size, b"\0")
            self._buf[self._base + off:self._base + off + size] = value
        else:
            struct.pack_into("<" + fmt, self._buf, self._base + off, value)

    def addr(self, name):
        return self._base + self._fields[name][0]


def ip_n(addr):
    """Dotted quad -> the uint32 as stored (network byte order in memory)."""
    return struct.unpack("<I", bytes(int(x) for x in addr.split(".")))[0]


def port_n(p):
    return struct.unpack("<H", struct.pack(">H", p))[0]


def n_ip(v):
    return ".".join(str(b) for b in struct.pack("<I", v))


def n_port(v):
    return struct.unpack(">H", struct.pack("<H", v))[0]


class Shm:
    SA_SIZE = LAYOUT["SaRecord"][1]
    SESS_SIZE = LAYOUT["SessionRecord"][1]
    META_SIZE = LAYOUT["PacketMeta"][1]
    RING_HDR = LAYOUT["RingHeader"][1]

    def __init__(self, name):
        fd = os.open("/dev/shm/" + name.lstrip("/"), os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            self.buf = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.h = View(self.buf, 0, "Header")
        if self.h.magic != 0x314E505650543256:
            raise RuntimeError("bad magic")

    def close(self):
        self.buf.close()

    # --- records ---
    def sa(self, i):
        return View(self.buf, self.h.sa_table_offset + i * self.SA_SIZE, "SaRecord")

    def session(self, i):
        return View(self.buf, self.h.session_table_offset + i * self.SESS_SIZE, "SessionRecord")

    def write_record(self, view, values, table, index, notify=True):
        """Seqlocked write (odd while writing) then an update notice."""
        view.seq = view.seq + 1
        for k, v in values.items():
            setattr(view, k, v)
        view.seq = view.seq + 1
        if notify:
            self.push_update(table, index)

    def write_sa(self, i, **values):
        self.write_record(self.sa(i), values, 1, i)

    def write_session(self, i, **values):
        self.write_record(self.session(i), values, 2, i)

    def clear_sa(self, i):
        self.write_record(self.sa(i), {k: 0 for k in ("state", "spi")}, 1, i)

    # --- rings ---
    def ring(self, off):
        return View(self.buf, off, "RingHeader")

    def punt_ring(self, w):
        return self.h.punt_rings_offset + w * self.h.punt_ring_stride

    def push_update(self, table, index):
        r = self.ring(self.h.update_ring_offset)
        head, tail = r.head, r.tail
        if head - tail >= r.slot_count:
            self.h.cp_update_overflow = 1
            return False
        slot = self.h.update_ring_offset + self.RING_HDR + (head & (r.slot_count - 1)) * r.slot_size
        struct.pack_into("<II", self.buf, slot, table, index)
        r.head = head + 1
        return True

    def pop_punts(self):
        """All pending punts over every block in use: [(meta View copy dict, data)]."""
        out = []
        for w in range(self.h.n_workers):
            off = self.punt_ring(w)
            r = self.ring(off)
            while r.tail != r.head:
                tail = r.tail
                slot = off + self.RING_HDR + (tail & (r.slot_count - 1)) * r.slot_size
                m = View(self.buf, slot, "PacketMeta")
                meta = {f: getattr(m, f) for f in LAYOUT["PacketMeta"][0] if f != "reserved"}
                data = bytes(self.buf[slot + self.META_SIZE:slot + self.META_SIZE + meta["length"]])
                out.append((meta, data))
                r.tail = tail + 1
        return out

    def inject(self, data, **meta):
        off = self.h.inject_ring_offset
        r = self.ring(off)
        head, tail = r.head, r.tail
        if head - tail >= r.slot_count:
            return False
        slot = off + self.RING_HDR + (head & (r.slot_count - 1)) * r.slot_size
        self.buf[slot:slot + self.META_SIZE] = b"\0" * self.META_SIZE
        m = View(self.buf, slot, "PacketMeta")
        meta.setdefault("sa_index", 0xFFFFFFFF)
        meta.setdefault("session_index", 0xFFFFFFFF)
        for k, v in meta.items():
            setattr(m, k, v)
        m.length = len(data)
        self.buf[slot + self.META_SIZE:slot + self.META_SIZE + len(data)] = data
        r.head = head + 1
        return True

    # --- counters ---
    def worker_counters(self, w):
        return View(self.buf, self.h.worker_counters_offset + w * LAYOUT["WorkerCounters"][1],
                    "WorkerCounters")

    def reason_counts(self, reasons):
        """{reason name: sum over every block in use}."""
        base_off = LAYOUT["WorkerCounters"][0]["reason"][0]
        totals = {}
        for w in range(self.h.n_workers):
            wc = self.h.worker_counters_offset + w * LAYOUT["WorkerCounters"][1] + base_off
            vals = struct.unpack_from("<%dQ" % len(reasons), self.buf, wc)
            for name, v in zip(reasons, vals):
                totals[name] = totals.get(name, 0) + v
        return totals

    # Sums over the rows that belong to the record now in the slot (its
    # generation, shm_abi.h CountersBelong); raw=True sums every row.
    def session_counters(self, i, raw=False):
        tot = [0, 0, 0, 0]
        size = LAYOUT["SessionCounters"][1]
        gen_off = LAYOUT["SessionCounters"][0]["generation"][0]
        gen = self.session(i).generation
        for w in range(self.h.n_workers):
            off = self.h.session_counters_offset + (w * self.h.max_sessions + i) * size
            if not raw and gen and struct.unpack_from("<Q", self.buf, off + gen_off)[0] != gen:
                continue
            for k, v in enumerate(struct.unpack_from("<4Q", self.buf, off)):
                tot[k] += v
        return dict(zip(("rx_packets", "rx_bytes", "tx_packets", "tx_bytes"), tot))

    def sa_counters(self, i, raw=False):
        tot = [0, 0, 0]
        size = LAYOUT["SaCounters"][1]
        gen_off = LAYOUT["SaCounters"][0]["generation"][0]
        gen = self.sa(i).generation
        for w in range(self.h.n_workers):
            off = self.h.sa_counters_offset + (w * self.h.max_sas + i) * size
            if not raw and gen and struct.unpack_from("<Q", self.buf, off + gen_off)[0] != gen:
                continue
            for k, v in enumerate(struct.unpack_from("<3Q", self.buf, off)):
                tot[k] += v
        return dict(zip(("packets", "bytes", "drops"), tot))
