"""Escape attempts, run inside an agent namespace as the agent user by the escape tests
(Tests/AirlockCLITests/EscapeTests.swift). Each attempt is described by one JSON object in the
list given as argv[1]; each prints one JSON line {"name": ..., "result": ...} where result is
"ok" when the attempt succeeded, else the errno name (or "timeout", or the command's stderr).
It never retries and never sends more than one small datagram per attempt. The syscall filter
tests (SeccompTests.swift, SandboxSyscallTests.swift) use it too, for raw system calls."""
import ctypes
import errno
import fcntl
import json
import os
import platform
import socket
import subprocess
import sys
import termios
import threading


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


# Syscall numbers by machine: (x86_64, aarch64). 424 and up are the same everywhere.
NUMBERS = {
    "getpid": (39, 172), "socket": (41, 198), "socketpair": (53, 199), "ioctl": (16, 29),
    "clone": (56, 220), "clone3": (435, 435), "unshare": (272, 97), "setns": (308, 268),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "ptrace": (101, 117),
}
X32_SYSCALL_BIT = 0x40000000


def descriptor(kind):
    """A descriptor to pass as an argument: "null" (/dev/null), "pipe" (a pipe's read end),
    "pty" (a pty's follower end) or "ctty" (the same, made this process's controlling terminal
    in a new session, so that TIOCSTI on it would work without the filter)."""
    if kind == "null":
        return os.open("/dev/null", os.O_RDWR)
    if kind == "pipe":
        return os.pipe()[0]
    leader, follower = os.openpty()
    if kind == "ctty":
        os.setsid()
        fcntl.ioctl(follower, termios.TIOCSCTTY, 0)
    return follower


def argument(a):
    """An int as it is (a C long, so the upper 32 bits reach the kernel); {"str": s} a C string;
    {"buf": n} n zero bytes; {"fd": kind} a descriptor (see `descriptor`)."""
    if isinstance(a, int):
        return ctypes.c_long(a)
    if "str" in a:
        return ctypes.c_char_p(a["str"].encode())
    if "buf" in a:
        return ctypes.create_string_buffer(a["buf"])
    return ctypes.c_long(descriptor(a["fd"]))


def raw_syscall(a):
    """syscall(2) of {"call": name, "args": [...]} (or the x32 number with "x32": true) in a
    child process, so a call that succeeds (a new namespace, a session) changes nothing here.
    The child's exit code is 0 or the errno; a clone that succeeds ends its new process at once."""
    machine = platform.machine()
    if machine not in ("x86_64", "aarch64"):
        return "unsupported machine " + machine
    number = NUMBERS[a["call"]][0 if machine == "x86_64" else 1]
    if a.get("x32"):
        if machine != "x86_64":
            return "unsupported machine " + machine
        number |= X32_SYSCALL_BIT
    pid = os.fork()
    if pid == 0:
        code = 100
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            r = libc.syscall(ctypes.c_long(number), *[argument(x) for x in a.get("args", [])])
            if r == 0 and a["call"] == "clone":
                os._exit(0)
            code = 0 if r >= 0 else ctypes.get_errno()
            if r > 0 and a["call"] == "clone":
                os.waitpid(r, 0)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "signal %d" % os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else errno.errorcode.get(code, "exit %d" % code)


def make_socketpair(a):
    for s in socket.socketpair(getattr(socket, a["family"]), getattr(socket, a["type"])):
        s.close()
    return "ok"


def fork(_a):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return "ok" if status == 0 else "status %d" % status


def thread(_a):
    """A thread (glibc's pthread_create tries clone3 first, then clone)."""
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    return "ok"


KINDS = {"tcp": tcp, "udp": udp, "socket": make_socket, "unix": unix, "fds": fds, "command": command, "read": read_file,
         "write": write_file, "listdir": list_dir, "text": text, "cwd": cwd, "signal0": signal0, "vm_read": vm_read,
         "syscall": raw_syscall, "socketpair": make_socketpair, "fork": fork, "thread": thread}

for attempt in json.loads(sys.argv[1]):
    try:
        result = KINDS[attempt["kind"]](attempt)
    except Exception as e:  # every failure is the answer, not a crash
        result = err(e)
    print(json.dumps({"name": attempt["name"], "result": result}), flush=True)
