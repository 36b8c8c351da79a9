#!/usr/bin/env python3
"""py-to-py proof of peer.py: relay + listen + dial on 127.0.0.1.

Runs one relay, one listener (--count = number of sizes) and one dialer per
size, cross-checks the SHA-256 values each side prints, and samples
`ss -tunap` while they run to prove that every socket of these processes is
on 127.0.0.1.  Prints a JSON summary; exit status 0 only if all passed.

    /tmp/pyvenv/bin/python Tests/Interop/selftest.py [--sizes 1M,4M] [--no-reserve]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")
SEEDS = {"relay": "11" * 32, "listen": "22" * 32, "dial": "33" * 32}


def start(args: list[str], stdin=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    # Long-lived peers log to a file: a full stderr pipe would stall them.
    return subprocess.Popen(
        [sys.executable, PEER, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def read_json_line(proc: subprocess.Popen, what: str, timeout: float) -> dict:
    box: dict = {}

    def reader() -> None:
        box["line"] = proc.stdout.readline()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    line = box.get("line")
    if not line:
        proc.kill()
        raise SystemExit(f"{what}: no JSON line within {timeout}s (see its stderr)")
    return json.loads(line)


class SocketWatch:
    """Samples `ss` for the given pids; records any non-loopback endpoint."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self.bad: list[str] = []
        self.samples = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.05)

    def sample(self) -> None:
        out = subprocess.run(["ss", "-tunapH"], capture_output=True, text=True).stdout
        self.samples += 1
        for line in out.splitlines():
            pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if not pids & self.pids:
                continue
            fields = line.split()
            # proto state recv-q send-q local peer users
            local, peer = fields[4], fields[5]
            self.seen.add(f"{fields[0]} {fields[1]} {local} {peer}")
            lhost = local.rsplit(":", 1)[0]
            phost = peer.rsplit(":", 1)[0]
            listening = fields[1] in ("LISTEN", "UNCONN") and phost in ("0.0.0.0", "*", "[::]")
            if lhost != "127.0.0.1" or (phost != "127.0.0.1" and not listening):
                self.bad.append(line)

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1M,4M")
    ap.add_argument("--no-reserve", action="store_true", help="pass --no-reserve to the dialer")
    args = ap.parse_args()
    sizes = args.sizes.split(",")
    watch = SocketWatch()
    watch.start()
    summary: dict = {"transfers": []}
    ok = True

    logdir = os.environ.get("INTEROP_LOGDIR", "/tmp")
    relay_log = open(os.path.join(logdir, "interop-relay.log"), "w")
    listen_log = open(os.path.join(logdir, "interop-listen.log"), "w")
    relay = start(["relay", "--seed", SEEDS["relay"], "--timeout", "300"], stderr=relay_log)
    watch.pids.add(relay.pid)
    ready = read_json_line(relay, "relay", 30)
    relay_addr = ready["addrs"][0]
    summary["relay"] = ready

    listen = start(["listen", "--relay", relay_addr, "--seed", SEEDS["listen"], "--count", str(len(sizes)), "--timeout", "300"], stderr=listen_log)
    watch.pids.add(listen.pid)
    lready = read_json_line(listen, "listen", 30)
    summary["listen"] = lready

    for size in sizes:
        dial_args = ["dial", "--relay", relay_addr, "--target", lready["peer_id"], "--bytes", size, "--seed", SEEDS["dial"], "--timeout", "120"]
        if args.no_reserve:
            dial_args.append("--no-reserve")
        dial = start(dial_args, stdin=subprocess.DEVNULL)
        watch.pids.add(dial.pid)
        out, err = dial.communicate(timeout=150)
        d = json.loads(out.splitlines()[-1]) if out.strip() else {}
        lx = read_json_line(listen, "listen xfer", 30)
        cross = (
            dial.returncode == 0
            and d.get("ok") is True
            and lx.get("ok") is True
            and d["sent_sha256"] == lx["received_sha256"]
            and d["received_sha256"] == lx["sent_sha256"]
            and d["sent"] == lx["received"]
            and d["received"] == lx["sent"]
        )
        ok &= cross
        summary["transfers"].append({"size": size, "dial_rc": dial.returncode, "dial": d, "listen": lx, "cross_checked": cross})
        if not cross:
            sys.stderr.write(f"dial stderr:\n{err}\n")

    listen.stdin.close()
    lrc = listen.wait(timeout=30)
    relay.stdin.close()  # stdin EOF is how the Swift tests end the relay
    rrc = relay.wait(timeout=30)
    watch.stop()
    summary["exit_codes"] = {"listen": lrc, "relay": rrc}
    summary["sockets_seen"] = sorted(watch.seen)
    summary["ss_samples"] = watch.samples
    summary["non_loopback"] = watch.bad
    ok &= lrc == 0 and rrc == 0 and not watch.bad and watch.samples > 0
    summary["ok"] = ok
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
