#!/usr/bin/env python3
"""Each component manifest says everything its code needs.

usage: test_components.py BUILD_DIR SOURCE_DIR

The build reads every component's sources from its *.component manifest
(top-level meson.build), so the sources cannot disagree; what a manifest
can still get wrong is `requires`. This test takes the objects the build
compiled from each component's sources (compile_commands.json), reads
their symbols with nm, and checks that every function or object a
component uses from another component is provided by a service it
requires itself (any provider of that service counting). Direct, not
transitive: that the HAL happens to pull in the heap does not excuse the
libc for not saying it needs one.
The C library is the one implicit requirement of all C code (the system
libc on Linux, hal/libc on bare metal), so symbols of the `freestanding`
component are only checked for the HALs, which must require `libc`.

Also: every source a manifest lists was compiled by the build (a listed
file nobody builds is a stale manifest), and every component is parsed
with the composer's syntax (key: value, lists over several lines).

Exit 0: consistent; 1: each problem on one line, naming the component,
the symbol and the component that defines it.
"""
import json
import os
import re
import subprocess
import sys

LIST_KEYS = {"provides", "requires", "conflicts", "sources", "generated", "arch"}
# Symbols the compiler emits or the C library provides on every platform.
IMPLICIT = {"__stack_chk_fail", "__stack_chk_guard", "_GLOBAL_OFFSET_TABLE_"}


def parse(path):
    comp = {k: [] for k in LIST_KEYS}
    comp["file"] = path
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, value = line.partition(":")
            key = key.strip()
            if key in LIST_KEYS:
                comp[key] += [v for v in re.split(r"[\s,]+", value.strip()) if v]
            else:
                comp[key] = value.strip()
    comp["dir"] = os.path.dirname(path)
    comp["provides"].append(comp["name"])
    return comp


def manifests(src):
    out = []
    for top in ("hal", "libos", "rpc", "shards", "examples"):
        for root, dirs, files in os.walk(os.path.join(src, top)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d != "fixtures"]
            out += [os.path.join(root, f) for f in files if f.endswith(".component")]
    return sorted(out)


def symbols(obj):
    r = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True, check=True)
    defined = {ln.split()[-1] for ln in r.stdout.splitlines() if len(ln.split()) >= 3}
    r = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True)
    undefined = {ln.split()[-1] for ln in r.stdout.splitlines() if ln.split()}
    return defined, undefined


def main():
    if len(sys.argv) != 3:
        print("usage: test_components.py BUILD_DIR SOURCE_DIR", file=sys.stderr)
        return 2
    build, src = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    objects = {}  # source (relative to src) -> [object paths]
    for e in entries:
        s = os.path.relpath(os.path.realpath(os.path.join(e["directory"], e["file"])), src)
        o = os.path.join(e["directory"], e["output"])
        if os.path.isfile(o):
            objects.setdefault(s, []).append(o)

    comps = [parse(m) for m in manifests(src)]
    by_name = {c["name"]: c for c in comps}
    providers = {}
    for c in comps:
        for p in c["provides"]:
            providers.setdefault(p, set()).add(c["name"])

    def closure(name):
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            for r in by_name[n]["requires"]:
                todo += sorted(providers.get(r, ()))
        return seen

    def compiled(c):
        """Some source of c's own (not shared with another component) is
        built: then all must be. (A component none of whose own sources is
        built is an alternative this build does not use, such as
        msg-verbs-stub beside msg-verbs, or is for PowerPC, whose objects
        are not in compile_commands.json.)"""
        shared = {os.path.join(o["dir"], s) for o in comps if o is not c for s in o["sources"]}
        return any(objects.get(os.path.relpath(os.path.join(src, c["dir"], s), src)) for s in c["sources"]
                   if not s.endswith(".S") and os.path.join(c["dir"], s) not in shared)

    def direct(name):
        """The component and every provider of a service it requires itself."""
        out = {name}
        for r in by_name[name]["requires"]:
            out |= providers.get(r, set())
        return out

    problems = []
    # flavour (host or x86_64, told by the object's path) -> symbol -> components defining it
    defs = {"host": {}, "x86_64": {}}
    uses = []  # (component, flavour, undefined symbols)
    for c in comps:
        for s in c["sources"]:
            rel = os.path.relpath(os.path.join(src, c["dir"], s), src)
            objs = objects.get(rel, [])
            if not objs:
                if not s.endswith(".S") and compiled(c):
                    problems.append("%s (%s): source %s is not compiled by the build" % (c["name"], c["file"], s))
                continue
            for o in objs:
                flavour = "x86_64" if "/shards/x86_64/" in o or "/shards/composed/" in o else "host"
                d, u = symbols(o)
                for sym in d:
                    defs[flavour].setdefault(sym, set()).add(c["name"])
                uses.append((c["name"], flavour, u))
    checked = 0
    for name, flavour, undefined in uses:
        reach = direct(name)
        is_hal = by_name[name].get("kind") == "hal"
        for sym in sorted(undefined - IMPLICIT):
            owners = defs[flavour].get(sym, set())
            if not owners or name in owners:  # defined by no component, or by its own (shared) source
                continue  # outside every component (system libraries, protobuf-c, generated code)
            if owners <= {"freestanding"} and not is_hal and name != "freestanding":
                continue  # the C library: implicit
            checked += 1
            if not owners & reach:
                msg = "%s uses %s of %s, but does not require it (requires: %s)" % (
                    name, sym, " or ".join(sorted(owners)), " ".join(by_name[name]["requires"]) or "nothing")
                if msg not in problems:
                    problems.append(msg)
    for p in problems:
        print("FAIL: " + p)
    print("%d components, %d cross-component symbol uses checked, %d problems" % (len(comps), checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
