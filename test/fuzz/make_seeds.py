#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (test/fuzz/corpus/<target>/).

Seeds are small valid encodings of what each decoder reads, built here
from the formats' documentation (rpc/*.h, multipart.h, the NIfTI-1
header layout), so a fuzzer starts from inputs that pass the first checks
instead of searching for magics. Deterministic: running it again gives the
same files. Usage: make_seeds.py [OUTDIR]  (default: corpus/ beside it).
"""
import gzip
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- frame + ring (fuzz_ring.c's op language) ----
def frame(ftype, rid, payload):
    return struct.pack(">IBBHII", 0x4D4C4F53, 1, ftype, 0, rid, len(payload)) + payload


def op_peer(off, data):
    return bytes([0]) + struct.pack("<H", off) + bytes([len(data)]) + data


def op_drain():
    return bytes([1])


def op_reserve(length, ftype, rid, fill, shrink=0):
    return bytes([3]) + struct.pack("<H", length) + bytes([ftype - 1, rid, fill, shrink])


def op_push(length, ftype, rid, fill):
    return bytes([4]) + struct.pack("<H", length) + bytes([ftype - 1, rid, fill])


CTL = 192  # sizeof(struct mlos_ring_ctl)
write("ring", "frame-call", frame(2, 7, b"\x0a\x04echo\x12\x02hi"))
write("ring", "push-drain", bytes([0]) + bytes(8) + op_push(10, 2, 1, 0x41) + op_drain())
write("ring", "wrap", bytes([0]) + bytes(8) + b"".join(op_push(1000, 3, i, i) + op_drain() for i in range(6)))
write("ring", "reserve-shrink", bytes([2]) + bytes(8) + op_reserve(300, 6, 9, 1, 100) + op_drain() + bytes([5, 0, 0]))
write("ring", "full", bytes([1]) + bytes(8) + b"".join(op_push(2000, 2, i, i) for i in range(6)) + op_drain())
# a peer writing a frame into the data area and moving the head over it
f = frame(5, 3, b"log line")
write("ring", "peer-frame", bytes([0]) + bytes(8) + op_peer(CTL, f[:32]) + op_peer(CTL + 32, f[32:]) +
      op_peer(0, struct.pack("<I", 32)) + op_drain())
write("ring", "peer-rewind", bytes([2]) + bytes(8) + op_push(64, 2, 1, 0) + op_peer(64, struct.pack("<I", 0)) +
      op_drain() + op_push(64, 2, 2, 0) + bytes([6]) + op_drain())
write("ring", "indices", bytes([0]) + struct.pack("<II", 4080, 4080) + op_push(40, 2, 1, 0) + op_drain() + bytes([7]))

# ---- TaskCall / TaskReply (protobuf wire format) ----
def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def ld(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


write("taskmsg", "echo", ld(1, b"echo") + ld(2, b"hello"))
write("taskmsg", "empty", b"")
write("taskmsg", "task-only", ld(1, b"neuro_smooth"))
write("taskmsg", "arg-200", ld(1, b"sum_u64") + ld(2, bytes(range(200))))
write("taskmsg", "unknown-fields", ld(1, b"a") + varint(3 << 3) + varint(150) + varint(4 << 3 | 1) + bytes(8) +
      varint(5 << 3 | 5) + bytes(4) + ld(6, b"zz") + ld(2, b"X") + ld(1, b"ok") + varint(16 << 3) + b"\x00")
write("taskmsg", "reply-fields", struct.pack("<iQB", -5, 123456789, 3) + b"abcdef error text")

# ---- tcp wire (version 2: 36-byte frame headers with a key secret) ----
HELLO = struct.pack(">IHHII", 0x4D4C5450, 2, 0, 64, 1 << 20)


def tcp(op, credit=0, arg=0, rid=0, off=0, length=0, key=0):
    return struct.pack(">BBHIQQIQ", op, 0, credit, arg & 0xFFFFFFFF, rid, off, length, key)


write("tcp_wire", "hello", HELLO)
write("tcp_wire", "send", HELLO + tcp(1, 0, 42, 0, 0, 5) + b"hello" + tcp(2, 3))
write("tcp_wire", "put-get", HELLO + tcp(3, 1, 0xABCD, 1, 4096, 4, 0x0123456789ABCDEF) + b"data" +
      tcp(5, 0, 0xABCD, 2, 0, 100, 0xFEDCBA9876543210))
write("tcp_wire", "replies", HELLO + tcp(4, 0, 0, 1) + tcp(6, 2, 0, 2, 0, 3) + b"xyz" + tcp(6, 0, -7 & 0xFFFFFFFF, 3))
write("tcp_wire", "credit", HELLO + tcp(2, 64))
write("tcp_wire", "abort", HELLO + tcp(7, 0, -20 & 0xFFFFFFFF))  # ABORT(MLOS_EKEY)

# ---- verbs wire ----
def setup(kind, mtu=0, qpn=0, psn=0, lid=0, slots=0, slot_size=0, gid=bytes(16), status=0, rd=0, epoch=0, consumed=0):
    return struct.pack(">IHBBIIHHI16sIB3xII8x", 0x4D4C5642, 2, kind, mtu, qpn, psn, lid, slots, slot_size, gid,
                       status & 0xFFFFFFFF, rd, epoch, consumed)


def chunk(sel, data):
    return bytes([sel]) + struct.pack("<H", len(data)) + data


def vhdr(kind, flags, mtype, total, consumed):
    return struct.pack("<BBHIII", kind, flags, 0, mtype, total, consumed)


GID = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 1])
write("verbs_wire", "hello", chunk(0, setup(1, 5, 0x123, 0x456, 0, 68, 16384, GID, 0, 16)))
write("verbs_wire", "accept-ready-reject", chunk(0, setup(2, 3, 7, 9, 1, 68, 16384, GID, 0, 1)) +
      chunk(0, setup(3)) + chunk(0, setup(4, status=-22)))
write("verbs_wire", "reset-resume", chunk(0 | 0 << 2, setup(5, qpn=5, psn=6, epoch=1, consumed=10)) +
      chunk(0 | 2 << 2, setup(6, epoch=1)))
write("verbs_wire", "fragments", chunk(1, vhdr(1, 1, 9, 30, 0) + bytes(10)) + chunk(1, vhdr(1, 0, 9, 30, 1) + bytes(10)) +
      chunk(1, vhdr(1, 2, 9, 30, 2) + bytes(10)) + chunk(2, vhdr(1, 3, 4, 5, 3) + b"whole") + chunk(2, vhdr(2, 0, 0, 0, 9)))
write("verbs_wire", "addresses", chunk(3, b"10.0.0.1:7471") + chunk(3, b"127.0.0.1:0") + chunk(3, b"192.168.1.20:65535"))

# ---- neuro-cgi multipart + form ----
def mp(boundary, parts, eol=b"\r\n"):
    out = b"preamble" + eol
    for name, filename, ctype, data in parts:
        out += b"--" + boundary + eol
        disp = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            disp += b'; filename="' + filename + b'"'
        out += disp + eol
        if ctype:
            out += b"Content-Type: " + ctype + eol
        out += eol + data + eol
    return out + b"--" + boundary + b"--" + eol + b"epilogue"


CT = b"multipart/form-data; boundary="
write("cgi_form", "upload", b"\x00" + CT + b"XyZ123\n" + mp(b"XyZ123", [
    (b"image", b"t1.nii.gz", b"application/gzip", b"\x1f\x8b\x08\x00binary\r\n--XyZ12 not a delimiter\x00"),
    (b"sigma", None, None, b"2.5"), (b"atlas", None, None, b"AAL"), (b"slaves", None, None, b"3"),
    (b"kind", None, None, b"process")]))
write("cgi_form", "quoted-boundary-lf", b"\x00" + b'multipart/form-data; charset=utf-8; BOUNDARY="a b:c"\n' +
      mp(b"a b:c", [(b"image", b'C:\\dir\\x.nii', None, b"data"), (b"slaves", None, None, b"auto")], eol=b"\n"))
write("cgi_form", "folded-headers", b"\x00" + CT + b"zz\n" + b"--zz\r\nContent-Disposition: form-data;\r\n name=\"image\";"
      b" filename=\"a\\\"b.nii\"\r\nContent-Type: application/octet-stream\r\n\r\nxx\r\n--zz \t\r\n"
      b"Content-Disposition: form-data; name=\"sigma\"\r\n\r\n\r\n--zz--")
write("cgi_form", "truncated", b"\x00" + CT + b"q\n" + b"--q\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc")
write("cgi_form", "body-read", b"\xc1" + b"12345\n" + b"0123456789abcdef")
write("cgi_form", "body-read-eof", b"\xc0" + b"\n" + bytes(range(256)))
write("cgi_form", "body-short", b"\xc2" + b"x\n" + b"short")


# ---- NIfTI-1 ----
def nifti(nx, ny, nz, datatype, bitpix, voxels, endian="<", slope=0.0, inter=0.0, dim0=3, offset=352.0):
    h = bytearray(348)
    struct.pack_into(endian + "i", h, 0, 348)
    struct.pack_into(endian + "8h", h, 40, dim0, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into(endian + "hh", h, 70, datatype, bitpix)
    struct.pack_into(endian + "8f", h, 76, 1.0, 1.0, 1.5, 2.0, 1, 1, 1, 1)
    struct.pack_into(endian + "fff", h, 108, offset, slope, inter)
    h[344:348] = b"n+1\x00"
    return bytes(h) + bytes(max(0, int(offset) - 348)) + voxels


def vox(fmt, endian, values):
    return struct.pack(endian + str(len(values)) + fmt, *values)


vals = [(i * 37) % 251 for i in range(4 * 3 * 2)]
plain = {
    "u8": nifti(4, 3, 2, 2, 8, vox("B", "<", vals)),
    "i16-be": nifti(4, 3, 2, 4, 16, vox("h", ">", [v - 100 for v in vals]), endian=">"),
    "u16-scaled": nifti(4, 3, 2, 512, 16, vox("H", "<", vals), slope=0.5, inter=-3.0),
    "i8": nifti(4, 3, 2, 256, 8, vox("b", "<", [v - 128 for v in vals])),
    "i32": nifti(4, 3, 2, 8, 32, vox("i", "<", [v * 1000 - 5 for v in vals])),
    "u32-be": nifti(4, 3, 2, 768, 32, vox("I", ">", vals), endian=">"),
    "f32": nifti(4, 3, 2, 16, 32, vox("f", "<", [v / 7.0 for v in vals])),
    "f64-4d": nifti(4, 3, 2, 64, 64, vox("d", "<", [v / 3.0 for v in vals]), dim0=4),
    "offset-400": nifti(2, 2, 2, 2, 8, bytes(range(8)), offset=400.0),
}
for name, data in plain.items():
    write("nifti", name + ".nii", data)
for name in ("u8", "i16-be", "f32"):
    # mtime 0: the same bytes every run
    write("nifti", name + ".nii.gz", gzip.compress(plain[name], compresslevel=6, mtime=0))
# two gzip members: the reader reads the first
write("nifti", "two-members.nii.gz", gzip.compress(plain["u8"], mtime=0) + gzip.compress(b"trailer", mtime=0))
