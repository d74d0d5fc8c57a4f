#!/usr/bin/env python3
"""Local users cannot steer another user's mlos through its runtime directory
or its control sockets.

    test_local_users.py MLOS LIBMLOS

MLOS is the mlos command, LIBMLOS the shared library (for the registry
API). The foreign-user cases need root (files and processes of another
user, "nobody"); without it only mode, symlink and the socket's own mode
are checked.

  foreign     a runtime directory pre-created by another user, world
              writable, with symlinks planted to a file of the victim and a
              planted shard record: `mlos spawn`, `mlos ps`, `mlos stop --all`
              and mlos_registry_dir refuse it with a clear message; the
              victim's file is intact
  mode        a directory of ours with mode 0777: refused (ours, 0700 only)
  symlink     the runtime directory is a symlink to a good directory: refused
  socket      a good directory: `mlos spawn` works, its control socket is
              0600; a connection from another uid (the modes loosened on
              purpose so that it can connect) is refused by the master
              (no "stop" obeyed); `mlos stop --all` then works
  peercred    a record naming a control socket served by another uid:
              `mlos stop` refuses it, first because the socket file is not
              ours, then (file chowned to us) because of the peer's uid; the
              foreign server never receives "stop"
"""
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

MLOS, PROBE = sys.argv[1], sys.argv[2]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)
    else:
        print("ok:", what)


def run(args, env):
    p = subprocess.run([MLOS] + args, env=env, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def env_with(rtdir):
    e = dict(os.environ)
    e["MLOS_RUNTIME_DIR"] = rtdir
    return e


def registry_dir(rtdir):
    out = subprocess.run([PROBE], env=env_with(rtdir), capture_output=True, text=True, check=True).stdout
    rc, why = out.split("\n", 1)
    return int(rc), why.rstrip("\n")


def proc_start(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[19])


def record(rtdir, pid, control):
    text = ("master_pid: %d\nmaster_start: %d\nshard_id: 1\narch: process\nhost_pid: 0\nstate: ready\n"
            "mem_bytes: 1048576\nstart_time: %d\ncontrol: %s\n" % (pid, proc_start(pid), int(time.time() * 1000),
                                                                    control))
    with open(os.path.join(rtdir, "%d-1.shard" % pid), "w") as f:
        f.write(text)


def refused(rc, out, words):
    return rc != 0 and all(w in out for w in words)


def case_foreign(base, nobody):
    victim = os.path.join(base, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    rt = os.path.join(base, "foreign")
    os.mkdir(rt)
    os.chown(rt, nobody, nobody)
    os.chmod(rt, 0o777)
    # symlinks for the pids the next masters will get, and a planted record
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    for pid in range(last + 1, last + 400):
        for name in ("master-%d.log" % pid, "master-%d.sock" % pid):
            os.symlink(victim, os.path.join(rt, name))
    record(rt, os.getpid(), os.path.join(rt, "planted.sock"))
    env = env_with(rt)
    rc, out = run(["spawn", "--arch", "process", "--mem", "16M"], env)
    print(out.strip())
    check(refused(rc, out, ["refusing runtime directory", "owned by uid %d" % nobody]), "spawn refuses a foreign dir")
    if rc == 0:  # it started a master: stop it
        run(["stop", "--all"], env)
    rc, out = run(["ps"], env)
    check(refused(rc, out, ["refusing runtime directory"]) and "%d.1" % os.getpid() not in out,
          "ps refuses it (no planted record listed)")
    rc, out = run(["stop", "--all"], env)
    check(refused(rc, out, ["refusing runtime directory"]), "stop --all refuses it")
    rc, why = registry_dir(rt)
    check(rc == -21 and "owned by uid" in why, "mlos_registry_dir refuses it: %s" % why)
    with open(victim) as f:
        check(f.read() == "precious\n", "the victim's file is intact")
    # the XDG default path (<XDG_RUNTIME_DIR>/mlos) is held to the same rules
    xdg = os.path.join(base, "xdg")
    os.mkdir(xdg, 0o700)
    shutil.copytree(rt, os.path.join(xdg, "mlos"), symlinks=True)
    os.chown(os.path.join(xdg, "mlos"), nobody, nobody)
    e = dict(os.environ)
    e.pop("MLOS_RUNTIME_DIR", None)
    e["XDG_RUNTIME_DIR"] = xdg
    rc, out = run(["ps"], e)
    check(refused(rc, out, ["refusing runtime directory", xdg]), "ps refuses a foreign XDG_RUNTIME_DIR/mlos")


def case_mode(base):
    rt = os.path.join(base, "open")
    os.mkdir(rt)
    os.chmod(rt, 0o777)
    rc, out = run(["ps"], env_with(rt))
    check(refused(rc, out, ["mode 0777", "must be 0700"]), "ps refuses a 0777 dir of ours")
    rc, out = run(["spawn", "--arch", "process", "--mem", "16M"], env_with(rt))
    check(refused(rc, out, ["mode 0777"]), "spawn refuses it")
    check(os.listdir(rt) == [], "nothing was created in it")


def case_symlink(base):
    good = os.path.join(base, "target")
    os.mkdir(good, 0o700)
    link = os.path.join(base, "link")
    os.symlink(good, link)
    rc, out = run(["ps"], env_with(link))
    check(refused(rc, out, ["symbolic link"]), "ps refuses a symlinked runtime dir")
    rc, out = run(["spawn", "--arch", "process", "--mem", "16M"], env_with(link))
    check(refused(rc, out, ["symbolic link"]), "spawn refuses it")
    check(os.listdir(good) == [], "nothing was created behind the link")


def as_nobody(nobody, fn):
    """Run fn() in a child with uid/gid nobody; returns its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)
            code = fn()
        except Exception as e:
            print("child:", e, file=sys.stderr)
        os._exit(code)
    return os.waitpid(pid, 0)[1] >> 8


def case_socket(base, nobody):
    rt = os.path.join(base, "good")
    os.mkdir(rt, 0o700)
    env = env_with(rt)
    rc, out = run(["spawn", "--arch", "process", "--mem", "16M"], env)
    print(out.strip())
    check(rc == 0 and " ready (" in out, "spawn works in a good dir")
    if rc != 0:
        return
    mpid = int(out.split(".")[0])
    sock = os.path.join(rt, "master-%d.sock" % mpid)
    st = os.lstat(sock)
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, "control socket is 0600")
    if nobody is None:
        print("not root: the master's peer-uid check is not exercised")
    else:
        intrude(rt, sock, mpid, nobody)
    rc, out = run(["ps"], env)
    check(rc == 0 and "%d.1" % mpid in out and "ready" in out, "its shard still runs")
    rc, out = run(["stop", "--all"], env)
    print(out.strip())
    check(rc == 0 and "stopped %d.1" % mpid in out, "stop --all by the owner works")


def intrude(rt, sock, mpid, nobody):
    # loosen the modes on purpose: only the master's own uid check is left
    os.chmod(rt, 0o711)
    os.chmod(sock, 0o666)

    def intruder():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock)
        try:
            s.sendall(b"stop\n")
            reply = s.recv(64)
        except OSError:
            reply = b""
        return 3 if reply.startswith(b"stopped") else 0

    code = as_nobody(nobody, intruder)
    check(code == 0, "the master refused a connection from uid %d (child exit %d)" % (nobody, code))
    os.chmod(sock, 0o600)
    os.chmod(rt, 0o700)


def case_peercred(base, nobody):
    rt = os.path.join(base, "rt-pc")
    os.mkdir(rt, 0o700)
    evil_dir = os.path.join(base, "evil")
    os.mkdir(evil_dir)
    os.chmod(evil_dir, 0o777)
    evil = os.path.join(evil_dir, "evil.sock")
    got = os.path.join(evil_dir, "got")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the foreign server: answers "stopped" to anything, notes what it got
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(evil)
            srv.listen(4)
            os.write(w, b"up")
            os.close(w)
            while True:
                c, _ = srv.accept()
                c.settimeout(2)
                try:
                    data = c.recv(64)
                except OSError:
                    data = b""
                if data:
                    with open(got, "ab") as f:
                        f.write(data)
                try:
                    c.sendall(b"stopped\n")
                except OSError:
                    pass
                c.close()
        except Exception as e:
            print("server:", e, file=sys.stderr)
        os._exit(1)
    os.close(w)
    os.read(r, 2)
    os.close(r)
    try:
        record(rt, pid, evil)
        env = env_with(rt)
        rc, out = run(["stop", str(pid)], env)
        print(out.strip())
        check(refused(rc, out, ["refusing its control socket", "uid %d" % nobody]),
              "stop refuses a control socket file owned by uid %d" % nobody)
        os.chown(evil, 0, 0)  # the file is ours now; the peer still is not
        rc, out = run(["stop", str(pid)], env)
        print(out.strip())
        check(refused(rc, out, ["refusing its control socket", "served by uid %d" % nobody]),
              "stop refuses a socket served by uid %d (SO_PEERCRED)" % nobody)
        time.sleep(0.2)
        check(not os.path.exists(got), "the foreign server never received a request")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def main():
    nobody = None
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody").pw_uid
        except KeyError:
            pass
    if nobody is None:
        print("not root or no user 'nobody': the cases with another user are skipped")
    base = tempfile.mkdtemp(prefix="mlos-local-users-")
    os.chmod(base, 0o755)  # nobody must reach the directories made for it
    try:
        if nobody is not None:
            case_foreign(base, nobody)
        case_mode(base)
        case_symlink(base)
        case_socket(base, nobody)
        if nobody is not None:
            case_peercred(base, nobody)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
