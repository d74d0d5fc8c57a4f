#!/usr/bin/env python3
"""Stage the slave SDK inside the build tree, laid out as `meson install`
lays it out under a prefix, so that the tree's own examples build their
slave images through the same kits (and `mlos build --sdk`) as an outside
project, before anything is installed.

usage: sdk_stage.py STAMP ROOT DEST SRC [DEST SRC ...]

Each SRC is copied to ROOT/DEST (DEST relative, a file name); a file whose
bytes are already there is left alone, so dependants do not rebuild. STAMP
is touched last.
"""
import os
import shutil
import sys


def main():
    if len(sys.argv) < 3 or len(sys.argv) % 2 != 1:
        sys.exit(__doc__)
    stamp, root, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    for dest, src in zip(pairs[0::2], pairs[1::2]):
        if os.path.isabs(dest) or ".." in dest.split("/"):
            sys.exit("sdk_stage.py: destination %r is not inside the stage" % dest)
        out = os.path.join(root, dest)
        with open(src, "rb") as f:
            data = f.read()
        try:
            with open(out, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        shutil.copymode(src, tmp)
        os.replace(tmp, out)
    with open(stamp, "w") as f:
        f.write("staged\n")


if __name__ == "__main__":
    main()
