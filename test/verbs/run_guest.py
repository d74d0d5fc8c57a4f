#!/usr/bin/env python3
"""test/verbs/run_guest.py -- run a command inside a Soft-RoCE QEMU guest.

  run_guest.py --cache DIR [--bin PATH]... [--timeout S] -- COMMAND [ARG]...

Builds (or reuses from DIR) the initramfs described in guest_image.py with
the --bin programs in it, boots the host's kernel under QEMU TCG, runs
COMMAND in the guest after it created rxe0 on dummy0 (10.0.2.15), and
exits with COMMAND's exit status, read from the guest's
"MLOS-VERBS-RESULT rc=N" line on the serial console.

Exit 77 (meson: skipped) when a prerequisite is missing on the host (QEMU,
a kernel with rdma_rxe, busybox-static, rdma tool, rxe provider). QEMU is
killed and temporary files removed on every path: normal end, guest hang
(--timeout), or this script being terminated (meson's own timeout).
"""
import argparse
import base64
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_image  # noqa: E402

SKIP = 77
MARK = "MLOS-VERBS-RESULT rc="


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--bin", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--smp", default="2")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("SKIP: qemu-system-x86_64 not found")
        return SKIP
    here = os.path.dirname(os.path.abspath(__file__))
    t0 = time.monotonic()
    try:
        vmlinuz, initrd = guest_image.build(a.bin, os.path.join(here, "init.sh"), a.cache)
    except guest_image.Missing as e:
        print(f"SKIP: {e}")
        return SKIP
    t_img = time.monotonic() - t0
    print(f"guest: kernel {vmlinuz}, initramfs {initrd} ({os.path.getsize(initrd) >> 20} MiB, {t_img:.1f} s)")

    line = " ".join(shlex.quote(c) for c in cmd)
    append = "console=ttyS0 quiet loglevel=3 panic=-1 mlos_cmd=" + base64.b64encode(line.encode()).decode()
    tmp = tempfile.mkdtemp(prefix="mlos-verbs-")
    log_path = os.path.join(tmp, "serial.log")
    argv = [qemu, "-M", "q35", "-accel", "tcg", "-cpu", "max", "-smp", a.smp, "-m", a.mem,
            "-kernel", vmlinuz, "-initrd", initrd, "-append", append,
            "-nodefaults", "-display", "none", "-serial", "file:" + log_path, "-no-reboot"]
    proc = None
    rc = None

    def stop(*_):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        t_boot = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        pos = 0
        pending = ""
        deadline = t_boot + a.timeout
        while True:
            done = proc.poll() is not None
            if os.path.exists(log_path):
                with open(log_path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                pos += len(chunk)
                pending += chunk.decode("utf-8", "replace").replace("\r", "")
                *lines, pending = pending.split("\n")
                for ln in lines:
                    now = time.monotonic() - t_boot
                    if ln.startswith("MLOS-VERBS-BOOTED"):
                        print(f"[host {now:6.1f} s] guest userspace up")
                    elif ln.startswith("MLOS-VERBS-READY"):
                        print(f"[host {now:6.1f} s] rxe0 ready")
                    print(ln, flush=True)
                    if ln.startswith(MARK):
                        rc = int(ln[len(MARK):].split()[0])
            if done:
                if pending:
                    print(pending)
                break
            if time.monotonic() > deadline:
                print(f"FAIL: guest did not finish within {a.timeout:.0f} s")
                break
            time.sleep(0.2)
        print(f"guest: {time.monotonic() - t_boot:.1f} s from QEMU start to exit")
    except KeyboardInterrupt:
        print("interrupted: stopping the guest")
    finally:
        if proc and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        for s, h in old.items():
            signal.signal(s, h)
    if rc is None:
        print("FAIL: no result line from the guest")
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
