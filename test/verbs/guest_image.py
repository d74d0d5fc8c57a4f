"""test/verbs/guest_image.py -- build the Soft-RoCE guest's initramfs.

The guest is the host distribution's own kernel (Debian: linux-image-amd64,
which ships rdma_rxe.ko) booted under QEMU with an initramfs holding:
  /init                     test/verbs/init.sh (busybox sh)
  /bin/busybox              busybox-static; applets linked at boot
  /usr/bin/rdma             iproute2's rdma tool ("rdma link add ... type rxe")
  /lib/modules/VER/...      rdma_rxe and what modules.dep says it needs,
                            dummy (the netdev rxe sits on), crc32_generic
                            (rxe's ICRC); load order in /etc/mlos/modules
  libibverbs' rxe provider  and /etc/libibverbs.d/rxe.driver
  the test binaries         at their host paths, with every shared library
                            ldd reports, also at its host path, so RUNPATHs
                            (e.g. into the build dir) resolve unchanged.
The archive is a gzip'd "newc" cpio written here (no cpio tool needed).
Building is cached by a key over the inputs (paths, sizes, mtimes).
"""
import glob
import gzip
import hashlib
import io
import lzma
import os
import re
import stat
import subprocess

PROVIDER_GLOBS = ["/usr/lib/*/libibverbs/librxe-rdmav*.so", "/usr/lib64/libibverbs/librxe-rdmav*.so"]
DRIVER_FILE = "/etc/libibverbs.d/rxe.driver"
BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"]
RDMA_TOOL = ["/usr/bin/rdma", "/sbin/rdma", "/usr/sbin/rdma", "/bin/rdma"]
MODULES = ["dummy", "crc32_generic", "rdma_rxe"]


class Missing(Exception):
    """A prerequisite is not installed: the test is skipped, not failed."""


def first(paths):
    for p in paths:
        for q in sorted(glob.glob(p)):
            if os.path.exists(q):
                return q
    return None


def find_kernel():
    """(vmlinuz, version) of the newest installed kernel that has rdma_rxe."""
    best = None
    for vmlinuz in glob.glob("/boot/vmlinuz-*"):
        ver = vmlinuz[len("/boot/vmlinuz-"):]
        if glob.glob(f"/lib/modules/{ver}/kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko*"):
            key = [int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", ver)]
            if best is None or key > best[0]:
                best = (key, vmlinuz, ver)
    if not best:
        raise Missing("no /boot/vmlinuz-* with a matching rdma_rxe module (install linux-image-amd64)")
    if not os.access(best[1], os.R_OK):
        raise Missing(f"{best[1]} is not readable")
    return best[1], best[2]


def module_order(ver):
    """Module files (relative to /lib/modules/VER) in load order."""
    base = f"/lib/modules/{ver}"
    deps, byname = {}, {}
    with open(f"{base}/modules.dep") as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            name = os.path.basename(path).split(".ko")[0].replace("-", "_")
            byname[name] = path
    order = []

    def visit(path):
        if path in order:
            return
        for d in reversed(deps.get(path, [])):  # modules.dep lists the deepest last
            visit(d)
        order.append(path)

    for m in MODULES:
        if m not in byname:
            # built into the kernel (e.g. crc32) is fine; rxe itself must exist
            if m == "rdma_rxe":
                raise Missing("rdma_rxe is not in modules.dep")
            continue
        visit(byname[m])
    return order


def ldd(path):
    """Absolute paths of the shared libraries path needs (with the loader)."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    return libs


class Cpio:
    """Minimal newc writer: directories, files, symlinks."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, data=b""):
        name = name.lstrip("/")
        hdr = "070701" + "".join(
            "%08X" % v
            for v in (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
        self.ino += 1
        b = self.buf
        b.write(hdr.encode() + name.encode() + b"\0")
        b.write(b"\0" * (-b.tell() % 4))
        b.write(data)
        b.write(b"\0" * (-b.tell() % 4))

    def dir(self, name):
        name = name.rstrip("/")
        if not name or name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o755):
        if name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        if name in self.seen:
            return
        self.dir(os.path.dirname(name))
        self.seen.add(name)
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def plan(binaries, init_script):
    """Everything that goes into the image: {guest path: host path or bytes}."""
    vmlinuz, ver = find_kernel()
    busybox = first(BUSYBOX)
    rdma = first(RDMA_TOOL)
    provider = first(PROVIDER_GLOBS)
    if not busybox:
        raise Missing("busybox not found (install busybox-static)")
    if subprocess.run(["ldd", busybox], capture_output=True, text=True).returncode == 0 and ldd(busybox):
        raise Missing(f"{busybox} is not static (install busybox-static)")
    if not rdma:
        raise Missing("rdma tool not found (install iproute2)")
    if not provider or not os.path.exists(DRIVER_FILE):
        raise Missing("libibverbs rxe provider not found (install ibverbs-providers)")
    files = {"/init": init_script, "/bin/busybox": busybox, "/usr/bin/rdma": rdma,
             provider: provider, DRIVER_FILE: DRIVER_FILE}
    for b in [rdma, provider] + [os.path.abspath(x) for x in binaries]:
        if not os.path.exists(b):
            raise FileNotFoundError(b)
        files[b] = b
        for lib in ldd(b):
            files[lib] = lib
    mods = module_order(ver)
    for m in mods:
        files[f"/lib/modules/{ver}/{m}"] = f"/lib/modules/{ver}/{m}"
    files["/etc/mlos/modules"] = "".join(
        f"/lib/modules/{ver}/{re.sub(r'[.]ko[.](xz|gz)$', '.ko', m)}\n" for m in mods).encode()
    return vmlinuz, ver, files


def key_of(vmlinuz, files):
    h = hashlib.sha256(open(__file__, "rb").read())
    for g, src in sorted(files.items()):
        h.update(g.encode())
        if isinstance(src, bytes):
            h.update(src)
        else:
            st = os.stat(src)
            h.update(f"{src}:{st.st_size}:{st.st_mtime_ns}".encode())
    st = os.stat(vmlinuz)
    h.update(f"{vmlinuz}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def read_module(path):
    data = open(path, "rb").read()
    if path.endswith(".xz"):
        return lzma.decompress(data)  # busybox insmod wants plain ELF
    if path.endswith(".gz"):
        return gzip.decompress(data)
    return data


def build(binaries, init_path, cache_dir):
    """Return (vmlinuz, initramfs path), building the image unless cached."""
    init_script = open(init_path, "rb").read()
    vmlinuz, ver, files = plan(binaries, init_script)
    os.makedirs(cache_dir, exist_ok=True)
    out = os.path.join(cache_dir, f"initramfs-{key_of(vmlinuz, files)}.cpio.gz")
    if os.path.exists(out):
        return vmlinuz, out
    c = Cpio()
    for d in ("/proc", "/sys", "/dev", "/tmp", "/sbin", "/usr/sbin", "/lib64"):
        c.dir(d)
    for g, src in sorted(files.items()):
        if isinstance(src, bytes):
            c.file(g, src)
        elif g.startswith("/lib/modules/"):
            c.file(re.sub(r"[.]ko[.](xz|gz)$", ".ko", g), read_module(src), 0o644)
        else:
            c.file(g, open(os.path.realpath(src), "rb").read())
    tmp = out + f".tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(gzip.compress(c.finish(), 6))
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for old in glob.glob(os.path.join(cache_dir, "initramfs-*.cpio.gz")):
        if old != out:
            os.unlink(old)  # one image per build dir is enough
    return vmlinuz, out
