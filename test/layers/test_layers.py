#!/usr/bin/env python3
"""The layers are enforced by the build: an upward #include does not compile.

usage: test_layers.py BUILD_DIR SOURCE_DIR

Reads the compile commands meson wrote (BUILD_DIR/compile_commands.json),
so it checks the include directories the build really uses: widen a
layer's include_directories in meson.build and this test fails.

1. Probes. For each layer, one of its objects' compile commands is rerun
   (-fsyntax-only) on a one-line file that includes a header. Headers of the
   layer and of layers below must compile; headers of layers above must fail
   with "not found". Every header expected to fail is one that compiles in
   some other layer, so a failure means "not visible here", not a typo.
2. Paths. A probe cannot see an include by relative path ("runtime/slave.h"
   from libos/, "../msg/msg.h" from rpc/wire/), which the compiler resolves
   from the including file's own directory. So every quoted include of every
   layer file is resolved the way the compiler does it; the header found
   must lie in a directory the layer may use (its -I directories, or a plain
   subdirectory of them such as libos/bpf that is no layer of its own).

Exit 0: all as expected; 1: a layer sees what it must not, or misses what
it needs (each line names the layer, the header and the command's target).
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# layer -> (output path fragment of one of its objects, headers it must
# see, headers of upper layers it must not see). Bare-metal layers are
# checked when the x86_64 kit is built.
HOST = {
    "rpc/abi": ("libmlos-abi.a.p/", ["mlos_error.h", "mlos_exit.h", "mlos_abi.h", "mlos_window_hdr.h"],
                ["hal.h", "frame.h", "ring.h", "mem.h", "slave.h", "msg.h", "mlos.h"]),
    "hal/linux": ("libmlos-hal-linux.a.p/", ["hal.h", "hal_linux.h", "mlos_exit.h", "mlos_error.h"],
                  ["window.h", "ring.h", "msg.h", "mem.h", "evloop.h", "slave.h", "mlos_task.h", "mlos.h"]),
    "rpc/wire": ("libmlos-rpc-wire.a.p/", ["frame.h", "ring.h", "window.h", "taskmsg.h", "mlos.pb-c.h", "mlos_endian.h"],
                 ["msg.h", "msg_transport.h", "mem.h", "evloop.h", "slave.h", "mlos.h", "hal_linux.h"]),
    "rpc/msg": ("libmlos-rpc-msg.a.p/", ["msg.h", "msg_transport.h", "ring.h", "frame.h"],
                ["mem.h", "evloop.h", "slave.h", "mlos_task.h", "mlos.h", "pool.h"]),
    "libos": ("libmlos-libos.a.p/", ["mem.h", "evloop.h", "event_delivery.h", "bpf/hooks.h", "ring.h", "hal.h"],
              ["slave.h", "mlos_task.h", "shard_msg.h", "msg.h", "mlos.h", "pool.h", "hal_linux.h", "x86_64.h"]),
    "libos/runtime": ("libmlos-runtime.a.p/", ["slave.h", "mlos_task.h", "shard_msg.h", "mem.h", "taskmsg.h"],
                      ["msg.h", "mlos.h", "pool.h", "hal_linux.h", "x86_64.h", "bootmem.h"]),
    "master": ("libmlos-master.a.p/", ["mlos.h", "pool.h", "msg.h", "slave.h", "hal_linux.h", "mlos_exit.h"],
               ["x86_64.h", "ppc440.h", "bootmem.h", "mlos_bootargs.h", "uart_16550.h"]),
}
BAREMETAL = {
    "hal/libc": ("libmlos-x86_64-libc.a.p/", ["hal.h", "string.h", "mlos_bootargs.h", "mlos_exit.h"],
                 ["mem.h", "evloop.h", "slave.h", "window.h", "ring.h", "x86_64.h"]),
    "hal/x86_64": ("libmlos-x86_64-hal.a.p/", ["hal.h", "x86_64.h", "bootmem.h", "uart_16550.h", "mlos_window_hdr.h", "string.h"],
                   ["window.h", "ring.h", "mem.h", "evloop.h", "slave.h", "mlos_task.h"]),
    "rpc/wire (x86_64)": ("libmlos-x86_64-wire.a.p/", ["ring.h", "mlos.pb-c.h", "string.h"],
                          ["mem.h", "slave.h", "bootmem.h", "x86_64.h", "mlos_bootargs.h"]),
    "libos (x86_64)": ("libmlos-x86_64-libos.a.p/", ["mem.h", "ring.h", "string.h"],
                       ["slave.h", "mlos_task.h", "bootmem.h", "x86_64.h", "uart_16550.h"]),
    "libos/runtime (x86_64)": ("libmlos-x86_64-runtime.a.p/", ["slave.h", "mlos.pb-c.h", "string.h"],
                               ["bootmem.h", "x86_64.h", "msg.h"]),
}
# Directories that are layers of their own (a subdirectory of a layer that
# is one of these is not part of the layer above it).
LAYER_DIRS = ["rpc/abi", "rpc/wire", "rpc/msg", "hal", "hal/libc", "hal/libc/include", "hal/linux",
              "hal/x86_64", "hal/ppc", "libos", "libos/runtime", "master"]
# Which compile command stands for the files of a directory in check 2.
PATH_CHECK = {"rpc/abi": "rpc/abi", "rpc/wire": "rpc/wire", "rpc/msg": "rpc/msg", "hal/linux": "hal/linux",
              "libos": "libos", "libos/bpf": "libos", "libos/runtime": "libos/runtime", "master": "master",
              "hal/libc": "hal/libc", "hal/x86_64": "hal/x86_64"}

BUILD_ROOT = ""
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def find_command(entries, fragment):
    for e in entries:
        if fragment in e["output"]:
            return e
    return None


def probe_args(entry, probe):
    """The object's compile command, turned into a syntax check of probe."""
    args = shlex.split(entry["command"])
    out, skip = [], 0
    for i, a in enumerate(args):
        if skip:
            skip -= 1
            continue
        if a in ("-MQ", "-MF", "-MT", "-o"):
            skip = 1
            continue
        if a == "-c":
            skip = 1  # the source file
            continue
        if a in ("-MD", "-MMD") or a.startswith("-fdiagnostics-color"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", probe]


def compiles(entry, header, tmp):
    probe = os.path.join(tmp, "probe.c")
    with open(probe, "w", encoding="utf-8") as f:
        f.write('#include "%s"\nint mlos_layer_probe;\n' % header)
    r = subprocess.run(probe_args(entry, probe), cwd=entry["directory"], capture_output=True, text=True)
    # the probe's own include failed (gcc: "probe.c:1:10: fatal error: h: No
    # such file or directory", clang: "'h' file not found"), not one inside
    # a header that was found
    own = re.escape(header)
    missing = r.returncode != 0 and re.search(r"probe\.c:1:\d+: (?:fatal )?error: (?:%s: No such file|'%s' file not found)"
                                              % (own, own), r.stderr) is not None
    return r.returncode == 0, missing, r.stderr


def source_include_dirs(entry, src_root):
    """The -I directories of a command that lie in the source tree (not in the build tree), relative to it."""
    dirs = []
    args = shlex.split(entry["command"])
    for i, a in enumerate(args):
        d = a[2:] if a.startswith("-I") and len(a) > 2 else (args[i + 1] if a == "-I" else None)
        if d is None:
            continue
        full = os.path.realpath(os.path.join(entry["directory"], d))
        rel = os.path.relpath(full, src_root)
        in_build = full == BUILD_ROOT or full.startswith(BUILD_ROOT + "/")
        if not rel.startswith("..") and not in_build and os.path.isdir(full):
            dirs.append("" if rel == "." else rel)
    return dirs


def allowed(header_dir, dirs):
    if header_dir in dirs:
        return True
    for d in dirs:
        if d and header_dir.startswith(d + "/"):
            # a plain subdirectory (libos/bpf) belongs to d; a layer
            # directory below d (libos/runtime) does not
            sub = header_dir
            while sub != d:
                if sub in LAYER_DIRS:
                    return False
                sub = os.path.dirname(sub)
            return True
    return False


def in_tree(src_root, header):
    """True if some layer directory holds the header (one a probe did not reach, e.g. PowerPC's)."""
    return any(os.path.isfile(os.path.join(src_root, d, header)) for d in LAYER_DIRS)


def check_paths(entries, src_root, cases, problems):
    """Check 2: relative-path includes stay inside what the layer may use."""
    for dirname, layer in PATH_CHECK.items():
        if layer not in cases:
            continue
        entry = find_command(entries, cases[layer][0])
        if entry is None:
            continue
        inc = source_include_dirs(entry, src_root)
        full_dir = os.path.join(src_root, dirname)
        if not os.path.isdir(full_dir):
            continue
        for name in sorted(os.listdir(full_dir)):
            if not name.endswith((".c", ".h", ".S")):
                continue
            path = os.path.join(full_dir, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for h in INCLUDE.findall(text):
                # the compiler's order for "...": the file's directory, then -I
                found = None
                for d in [dirname] + inc:
                    cand = os.path.normpath(os.path.join(src_root, d, h))
                    if os.path.isfile(cand):
                        found = os.path.relpath(cand, src_root)
                        break
                if found is None:
                    continue  # generated (mlos.pb-c.h) or a system header
                hdir = os.path.dirname(found)
                if not allowed(hdir, [dirname] + inc):
                    problems.append("%s/%s includes \"%s\" = %s: outside layer %s (may use: %s)" %
                                    (dirname, name, h, found, layer, " ".join(d or "." for d in inc)))


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    global BUILD_ROOT
    build, src_root = sys.argv[1], os.path.realpath(sys.argv[2])
    BUILD_ROOT = os.path.realpath(build)
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    cases = dict(HOST)
    if find_command(entries, BAREMETAL["hal/libc"][0]):
        cases.update(BAREMETAL)
    else:
        print("bare-metal x86_64 kit not built: checking the host layers only")
    problems, checked = [], 0
    seen_ok = set()
    with tempfile.TemporaryDirectory(prefix="mlos-layers-%d-" % os.getpid()) as tmp:
        for layer, (fragment, ok, bad) in cases.items():
            entry = find_command(entries, fragment)
            if entry is None:
                problems.append("%s: no compile command with output %s* (was the layer's library renamed?)" %
                                (layer, fragment))
                continue
            for h in ok:
                good, _, err = compiles(entry, h, tmp)
                checked += 1
                if good:
                    seen_ok.add(h)
                else:
                    problems.append("%s must see \"%s\" but does not (%s):\n%s" % (layer, h, entry["output"], err))
            for h in bad:
                good, missing, err = compiles(entry, h, tmp)
                checked += 1
                if good:
                    problems.append("%s sees \"%s\" of a layer above it (%s)" % (layer, h, entry["output"]))
                elif not missing:
                    problems.append("%s: \"%s\" failed for another reason than not being found:\n%s" %
                                    (layer, h, err))
        for layer, (_, _, bad) in cases.items():
            for h in bad:
                if h not in seen_ok and not in_tree(src_root, h):
                    problems.append("%s: \"%s\" is expected to be invisible, but no layer sees it and "
                                    "no layer directory has it (renamed? then this test proves nothing for it)" %
                                    (layer, h))
    check_paths(entries, src_root, cases, problems)
    for p in problems:
        print("FAIL: " + p)
    print("%d include probes over %d layers, %d problems" % (checked, len(cases), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
