"""Escape attempts, run inside an agent namespace as the agent user by the escape tests
(Tests/AirlockCLITests/EscapeTests.swift). Each attempt is described by one JSON object in the
list given as argv[1]; each prints one JSON line {"name": ..., "result": ...} where result is
"ok" when the attempt succeeded, else the errno name (or "timeout", or the command's stderr).
It never retries and never sends more than one small datagram per attempt."""
import errno
import json
import os
import socket
import subprocess
import sys


def err(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def tcp(a):
    family = socket.AF_INET6 if a.get("family") == 6 else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(a.get("timeout", 3))
    try:
        address = (a["host"], a["port"], 0, socket.if_nametoindex(a["scope"])) if a.get("scope") else (a["host"], a["port"])
        s.connect(address)
        return "ok"
    finally:
        s.close()


def udp(a):
    family = socket.AF_INET6 if a.get("family") == 6 else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(a.get("timeout", 1))
    try:
        s.connect((a["host"], a["port"]))
        s.send(b"airlock-escape-probe")
        s.recv(64)
        return "ok"
    finally:
        s.close()


def make_socket(a):
    s = socket.socket(getattr(socket, a["family"]), getattr(socket, a["type"]), a.get("proto", 0))
    s.close()
    return "ok"


def unix(a):
    s = socket.socket(socket.AF_UNIX, getattr(socket, a.get("type", "SOCK_STREAM")))
    try:
        s.connect(("\0" + a["abstract"]) if "abstract" in a else a["path"])
        return "ok"
    finally:
        s.close()


def fds(_a):
    """Descriptors above 2 that this process holds (it opens none itself before this check)."""
    extra = []
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
            extra.append(fd)
        except OSError:
            pass
    return "none" if not extra else "open: " + ",".join(map(str, extra))


def command(a):
    p = subprocess.run(a["argv"], capture_output=True, text=True, timeout=10)
    return "ok" if p.returncode == 0 else (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]


def read_file(a):
    with open(a["path"], "rb") as f:
        f.read(1)
    return "ok"


def write_file(a):
    with open(a["path"], "ab" if a.get("append") else "wb") as f:
        f.write(b"written by the escape probe\n")
    return "ok"


def list_dir(a):
    """The directory's entries, sorted, comma-separated (only numeric ones with "numeric")."""
    names = sorted(os.listdir(a["path"]))
    if a.get("numeric"):
        names = sorted((n for n in names if n.isdigit()), key=int)
    return ",".join(names)


def text(a):
    with open(a["path"]) as f:
        return f.read()


def cwd(_a):
    return os.getcwd()


def signal0(a):
    os.kill(a["pid"], 0)
    return "ok"


def vm_read(a):
    """process_vm_readv of one byte at the target's stack pointer-ish address 0x1000."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    class IOVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(1)
    local = IOVec(ctypes.cast(buf, ctypes.c_void_p), 1)
    remote = IOVec(0x1000, 1)
    n = libc.process_vm_readv(a["pid"], ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if n < 0:
        raise OSError(ctypes.get_errno(), "process_vm_readv")
    return "ok"


KINDS = {"tcp": tcp, "udp": udp, "socket": make_socket, "unix": unix, "fds": fds, "command": command, "read": read_file,
         "write": write_file, "listdir": list_dir, "text": text, "cwd": cwd, "signal0": signal0, "vm_read": vm_read}

for attempt in json.loads(sys.argv[1]):
    try:
        result = KINDS[attempt["kind"]](attempt)
    except Exception as e:  # every failure is the answer, not a crash
        result = err(e)
    print(json.dumps({"name": attempt["name"], "result": result}), flush=True)
