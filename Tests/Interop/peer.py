#!/usr/bin/env python3
"""py-libp2p 0.8.1 peers for airlock's wire-compatibility tests.

Subcommands (all bound to 127.0.0.1 only, noise + yamux only):

  relay   Circuit Relay v2 relay (hop), reservations granted to anyone.
  listen  Relay client: reserves a slot on --relay and serves the xfer protocol.
  dial    Relay client: dials --target through --relay and runs one xfer.

stdout carries JSON lines only (one object per line, flushed); everything
else goes to stderr.  Exit codes: 0 success, 1 failure, 2 usage,
124 the --timeout elapsed.  relay and listen also end with 0 when stdin
reaches EOF (unless --no-stdin) or on SIGTERM/SIGINT.

The xfer protocol (/airlock/test/xfer/1.0.0) is described in README.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import hashlib
import json
import logging
import os
import signal
import struct
import sys
import time
from typing import Any, NoReturn

# Loaded lazily so `--help` stays fast; see load_libp2p().
trio: Any = None
multiaddr: Any = None

XFER_PROTOCOL = "/airlock/test/xfer/1.0.0"
CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_TIMEOUT = 124

log = logging.getLogger("interop")


# --------------------------------------------------------------------------
# Output helpers


def emit(obj: dict[str, Any]) -> None:
    """Write one JSON line to stdout and flush it at once."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_FAIL) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


class Failure(Exception):
    """A test-visible failure: printed to stderr, exit status 1."""


# --------------------------------------------------------------------------
# Deterministic payload: 32-byte blocks SHA-256(tag || u64be(i)), i = 0, 1, ...
# truncated to the requested length.  Any implementation can regenerate it.


def payload_chunks(tag: bytes, total: int):
    """Yield the deterministic payload for `tag` in chunks of at most CHUNK."""
    block = 0
    remaining = total
    while remaining > 0:
        size = min(CHUNK, remaining)
        parts = []
        produced = 0
        while produced < size:
            parts.append(hashlib.sha256(tag + struct.pack(">Q", block)).digest())
            block += 1
            produced += 32
        # CHUNK is a multiple of 32, so only the final chunk is cut short.
        remaining -= size
        yield b"".join(parts)[:size]


# --------------------------------------------------------------------------
# libp2p setup


def load_libp2p() -> None:
    global trio, multiaddr
    import libp2p  # noqa: F401 - its import sets up its own logging
    import multiaddr as _multiaddr
    import trio as _trio

    # Route py-libp2p's logs through our stderr handler at our level,
    # instead of its LIBP2P_DEBUG-driven setup (which may write temp files).
    lg = logging.getLogger("libp2p")
    lg.handlers.clear()
    lg.propagate = True
    lg.setLevel(logging.getLogger().level)

    trio = _trio
    multiaddr = _multiaddr


def key_pair_from_seed(seed_hex: str | None):
    """Ed25519 identity from a 32-byte hex seed, or a fresh random one."""
    from libp2p.crypto.ed25519 import create_new_key_pair

    if seed_hex is None:
        return create_new_key_pair()
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        fail("--seed must be hex", 2)
    if len(seed) != 32:
        fail("--seed must be exactly 32 bytes (64 hex digits)", 2)
    return create_new_key_pair(seed)


def make_host(seed_hex: str | None):
    """A host that speaks only noise + yamux and contacts nobody by itself."""
    from libp2p import new_host
    from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
    from libp2p.custom_types import TProtocol
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
    from libp2p.security.noise.transport import Transport as NoiseTransport
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
    from libp2p.stream_muxer.yamux.yamux import Yamux

    key_pair = key_pair_from_seed(seed_hex)
    noise_static = new_x25519()
    host = new_host(
        key_pair=key_pair,
        # Only noise and only yamux, so the peer cannot fall back to
        # TLS/secio/plaintext or mplex.
        sec_opt={NOISE_ID: NoiseTransport(key_pair, noise_privkey=noise_static.private_key)},
        muxer_opt={TProtocol(YAMUX_ID): Yamux},
        enable_mDNS=False,
        enable_upnp=False,
        bootstrap=None,
        enable_quic=False,
        enable_metrics=False,
        disable_identify_address_discovery=True,
    )
    # The swarm's auto-connector dials peers it learnt about (e.g. from
    # identify) to reach a connection floor of 50; that could create direct
    # connections behind the test's back.  Switch it off.
    network = host.get_network()
    connector = getattr(network, "auto_connector", None)
    if connector is not None:

        async def _no_auto_connect(*_a: Any, **_k: Any) -> None:
            return None

        connector.maybe_connect = _no_auto_connect
    return host


def relay_limits(args: argparse.Namespace):
    from libp2p.relay.circuit_v2.resources import RelayLimits

    return RelayLimits(
        duration=args.limit_duration,
        data=args.limit_data,
        max_circuit_conns=args.max_circuits,
        max_reservations=args.max_reservations,
        reservation_ttl=args.reservation_ttl,
    )


def parse_relay_addr(text: str):
    """Full relay multiaddr -> PeerInfo, insisting on 127.0.0.1."""
    from libp2p.peer.peerinfo import info_from_p2p_addr

    try:
        maddr = multiaddr.Multiaddr(text)
        info = info_from_p2p_addr(maddr)
    except Exception as e:  # noqa: BLE001 - any parse error is a usage error
        fail(f"bad relay multiaddr {text!r}: {e}", 2)
    check_loopback(maddr)
    return maddr, info


def check_loopback(maddr: Any) -> None:
    """Tests reach only loopback and the link-local addresses of agent links they made."""
    try:
        ip = ipaddress.ip_address(maddr.value_for_protocol("ip4"))
    except Exception:
        ip = None
    link_local = ip is not None and ip in ipaddress.ip_network("169.254.0.0/16") and str(ip) != "169.254.169.254"
    if ip is None or not (ip.is_loopback or link_local):
        fail(f"refusing address {maddr}: only 127.0.0.0/8 and agent links in 169.254.0.0/16", 2)


# --------------------------------------------------------------------------
# Process lifetime: --timeout, stdin EOF, SIGTERM/SIGINT


async def run_until_done(args: argparse.Namespace, body, *, watch_stdin: bool) -> int:
    """Run `body(nursery)`; it returns an exit code or the process is ended
    by the timeout (124), stdin EOF (0) or a signal (0)."""
    result: dict[str, int] = {}

    async def stdin_watch(scope) -> None:
        def _drain() -> None:
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass

        await trio.to_thread.run_sync(_drain, abandon_on_cancel=True)
        log.info("stdin closed: shutting down")
        result.setdefault("code", EXIT_OK)
        scope.cancel()

    async def signal_watch(scope) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("signal %d: shutting down", signum)
                result.setdefault("code", EXIT_OK)
                scope.cancel()
                return

    async def main_task(scope) -> None:
        code = await body()
        result.setdefault("code", code)
        scope.cancel()

    with trio.move_on_after(args.timeout) as deadline:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(signal_watch, nursery.cancel_scope)
            if watch_stdin:
                nursery.start_soon(stdin_watch, nursery.cancel_scope)
            nursery.start_soon(main_task, nursery.cancel_scope)
    if deadline.cancelled_caught and "code" not in result:
        sys.stderr.write(f"error: timeout: {args.timeout}s elapsed\n")
        return EXIT_TIMEOUT
    return result.get("code", EXIT_OK)


# --------------------------------------------------------------------------
# Stream I/O


async def read_exact(stream: Any, n: int, sha: Any | None = None) -> bytes | int:
    """Read exactly n bytes.  With `sha`, feed the hash and return the count
    instead of keeping the bytes (for large payloads)."""
    from libp2p.network.stream.exceptions import StreamEOF

    parts: list[bytes] = []
    got = 0
    while got < n:
        try:
            data = await stream.read(min(CHUNK, n - got))
        except StreamEOF:
            data = b""
        if not data:
            raise Failure(f"stream ended after {got} of {n} bytes")
        got += len(data)
        if sha is not None:
            sha.update(data)
        else:
            parts.append(data)
    return got if sha is not None else b"".join(parts)


async def write_payload(stream: Any, tag: bytes, n: int) -> str:
    sha = hashlib.sha256()
    await stream.write(struct.pack(">Q", n))
    for chunk in payload_chunks(tag, n):
        sha.update(chunk)
        await stream.write(chunk)
    return sha.hexdigest()


async def expect_eof(stream: Any, wait: float) -> bool:
    """True if the peer half-closed (FIN) with no further bytes within `wait`."""
    from libp2p.network.stream.exceptions import StreamEOF, StreamReset

    with trio.move_on_after(wait):
        try:
            data = await stream.read(1)
        except StreamEOF:
            return True
        except StreamReset:
            log.warning("stream reset where a FIN was expected")
            return False
        if data == b"":
            return True
        log.warning("unexpected extra byte(s) after the protocol end")
        return False
    log.warning("no FIN within %.1fs", wait)
    return False


# --------------------------------------------------------------------------
# relay


def cmd_relay(args: argparse.Namespace) -> int:
    load_libp2p()
    from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
    from libp2p.tools.anyio_service import background_trio_service

    async def main() -> int:
        host = make_host(args.seed)
        protocol = CircuitV2Protocol(host, limits=relay_limits(args), allow_hop=True)
        listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{args.port}")
        async with host.run(listen_addrs=[listen]):
            async with background_trio_service(protocol):
                await protocol.event_started.wait()
                addrs = [str(a) for a in host.get_addrs()]
                emit({"event": "ready", "peer_id": str(host.get_id()), "addrs": addrs})

                async def body() -> int:
                    await trio.sleep_forever()
                    return EXIT_OK

                return await run_until_done(args, body, watch_stdin=not args.no_stdin)

    return trio.run(main)


# --------------------------------------------------------------------------
# listen


def cmd_listen(args: argparse.Namespace) -> int:
    load_libp2p()
    from libp2p.custom_types import TProtocol
    from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
    from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_ID
    from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
    from libp2p.relay.circuit_v2.transport import CircuitV2Transport
    from libp2p.tools.anyio_service import background_trio_service

    relay_maddr, relay_info = parse_relay_addr(args.relay)
    done = {"count": 0, "failed": 0}

    async def main() -> int:
        host = make_host(args.seed)
        all_done = trio.Event()

        async def handle_xfer(stream: Any) -> None:
            remote = str(stream.muxed_conn.peer_id)
            started = time.monotonic()
            try:
                with trio.fail_after(args.xfer_timeout):
                    result = await serve_xfer(stream, args)
                result.update(
                    event="xfer",
                    remote_peer=remote,
                    seconds=round(time.monotonic() - started, 3),
                )
                ok = result["ok"]
            except Exception as e:  # noqa: BLE001 - report every failure
                ok = False
                result = {"event": "xfer", "remote_peer": remote, "ok": False, "error": f"{type(e).__name__}: {e}"}
                sys.stderr.write(f"error: xfer from {remote}: {type(e).__name__}: {e}\n")
                try:
                    await stream.reset()
                except Exception:
                    pass
            emit(result)
            done["count"] += 1
            if not ok:
                done["failed"] += 1
            if args.count and done["count"] >= args.count:
                all_done.set()

        host.set_stream_handler(TProtocol(XFER_PROTOCOL), handle_xfer)
        # STOP role handles the relay's STOP CONNECT; CLIENT lets it reserve.
        config = RelayConfig(roles=RelayRole.STOP | RelayRole.CLIENT, limits=relay_limits(args))
        protocol = CircuitV2Protocol(host, limits=config.limits, allow_hop=False)

        async with host.run(listen_addrs=[]):
            async with background_trio_service(protocol):
                await protocol.event_started.wait()
                transport = CircuitV2Transport(host, protocol, config)

                async def body() -> int:
                    async with trio.open_nursery() as nursery:
                        with trio.fail_after(args.connect_timeout):
                            await host.connect(relay_info)
                            stream = await host.new_stream(relay_info.peer_id, [HOP_ID])
                            if args.no_refresh:
                                ok = await transport._make_reservation(stream, relay_info.peer_id)
                            else:
                                # Starts py-libp2p's own refresh loop too.
                                ok = await transport.reserve(stream, relay_info.peer_id, nursery)
                            await stream.close()
                        if not ok:
                            raise Failure("reservation refused or failed (see log above)")
                        expire = transport._reservations.get(relay_info.peer_id, 0)
                        me = str(host.get_id())
                        emit({
                            "event": "ready",
                            "peer_id": me,
                            "reserved": True,
                            "expire": int(expire),
                            "relay": str(relay_info.peer_id),
                            "circuit_addr": f"{relay_maddr}/p2p-circuit/p2p/{me}",
                        })
                        if args.count:
                            await all_done.wait()
                        else:
                            await trio.sleep_forever()
                        nursery.cancel_scope.cancel()
                    return EXIT_FAIL if done["failed"] else EXIT_OK

                return await guarded(args, body, watch_stdin=not args.no_stdin)

    return trio.run(main)


async def serve_xfer(stream: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Listener side of the xfer protocol (see README.md)."""
    header = await read_exact(stream, 8)
    (n,) = struct.unpack(">Q", header)
    if n > args.max_bytes:
        raise Failure(f"peer announced {n} bytes, cap is {args.max_bytes}")
    sha_in = hashlib.sha256()
    await read_exact(stream, n, sha_in)
    await stream.write(sha_in.digest())
    reply = n if args.reply_bytes is None else args.reply_bytes
    sent_sha = await write_payload(stream, b"airlock-xfer/listen", reply)
    peer_sha = (await read_exact(stream, 32)).hex()
    eof = await expect_eof(stream, args.eof_wait)
    await stream.close()
    ok = peer_sha == sent_sha and eof
    if peer_sha != sent_sha:
        sys.stderr.write(f"error: dialer got sha256 {peer_sha}, listener sent {sent_sha}\n")
    return {
        "received": n,
        "received_sha256": sha_in.hexdigest(),
        "sent": reply,
        "sent_sha256": sent_sha,
        "peer_received_sha256": peer_sha,
        "eof": eof,
        "ok": ok,
    }


# --------------------------------------------------------------------------
# dial


def cmd_dial(args: argparse.Namespace) -> int:
    load_libp2p()
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID
    from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
    from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
    from libp2p.relay.circuit_v2.transport import CircuitV2Transport
    from libp2p.tools.anyio_service import background_trio_service

    if args.target.startswith("/"):
        circuit = multiaddr.Multiaddr(args.target)
        text = str(circuit)
        if "/p2p-circuit/" not in text:
            fail("--target multiaddr must contain /p2p-circuit/p2p/<peer>", 2)
        relay_text = text.split("/p2p-circuit/")[0]
        if args.relay and args.relay != relay_text:
            fail("--relay and the relay part of --target differ", 2)
        relay_maddr, relay_info = parse_relay_addr(relay_text)
        target_id = ID.from_base58(circuit.get_peer_id())
    else:
        if not args.relay:
            fail("--relay is required when --target is a bare peer ID", 2)
        relay_maddr, relay_info = parse_relay_addr(args.relay)
        try:
            target_id = ID.from_base58(args.target)
        except Exception as e:  # noqa: BLE001
            fail(f"bad --target peer ID: {e}", 2)
        circuit = multiaddr.Multiaddr(f"{relay_maddr}/p2p-circuit/p2p/{target_id}")

    async def main() -> int:
        host = make_host(args.seed)
        # py-libp2p reserves before every relayed dial when the CLIENT role
        # is on (its default); --no-reserve turns that off.
        roles = RelayRole.STOP if args.no_reserve else RelayRole.STOP | RelayRole.CLIENT
        config = RelayConfig(roles=roles)
        protocol = CircuitV2Protocol(host, limits=config.limits, allow_hop=False)

        async with host.run(listen_addrs=[]):
            async with background_trio_service(protocol):
                await protocol.event_started.wait()
                transport = CircuitV2Transport(host, protocol, config)

                async def body() -> int:
                    started = time.monotonic()
                    with trio.fail_after(args.connect_timeout):
                        await host.connect(relay_info)
                        await transport.dial(circuit)
                        stream = await host.new_stream(target_id, [TProtocol(XFER_PROTOCOL)])
                    conn_addrs = [str(a) for a in stream.muxed_conn.get_transport_addresses()] if hasattr(stream.muxed_conn, "get_transport_addresses") else []
                    result = await run_xfer(stream, args)
                    result.update(
                        event="result",
                        peer_id=str(host.get_id()),
                        target=str(target_id),
                        via=conn_addrs,
                        seconds=round(time.monotonic() - started, 3),
                    )
                    emit(result)
                    return EXIT_OK if result["ok"] else EXIT_FAIL

                return await guarded(args, body, watch_stdin=False)

    return trio.run(main)


async def run_xfer(stream: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Dialer side of the xfer protocol (see README.md)."""
    sent_sha = await write_payload(stream, b"airlock-xfer/dial", args.bytes)
    peer_sha = (await read_exact(stream, 32)).hex()
    header = await read_exact(stream, 8)
    (m,) = struct.unpack(">Q", header)
    if m > args.max_bytes:
        raise Failure(f"peer announced {m} bytes, cap is {args.max_bytes}")
    sha_in = hashlib.sha256()
    await read_exact(stream, m, sha_in)
    await stream.write(sha_in.digest())
    await stream.close_write()
    eof = await expect_eof(stream, args.eof_wait)
    await stream.close()
    if peer_sha != sent_sha:
        sys.stderr.write(f"error: listener got sha256 {peer_sha}, dialer sent {sent_sha}\n")
    return {
        "sent": args.bytes,
        "sent_sha256": sent_sha,
        "peer_received_sha256": peer_sha,
        "received": m,
        "received_sha256": sha_in.hexdigest(),
        "eof": eof,
        "ok": peer_sha == sent_sha and eof,
    }


async def guarded(args: argparse.Namespace, body, *, watch_stdin: bool) -> int:
    """run_until_done plus turning errors into a clear stderr line."""

    async def wrapped() -> int:
        try:
            return await body()
        except trio.TooSlowError:
            sys.stderr.write(f"error: timed out (connect/xfer step exceeded its limit)\n")
            return EXIT_FAIL
        except Failure as e:
            sys.stderr.write(f"error: {e}\n")
            return EXIT_FAIL
        except Exception as e:  # noqa: BLE001
            sys.stderr.write(f"error: {type(e).__name__}: {e}\n")
            if args.verbose:
                import traceback

                traceback.print_exc()
            return EXIT_FAIL

    return await run_until_done(args, wrapped, watch_stdin=watch_stdin)


# --------------------------------------------------------------------------
# CLI


def size(text: str) -> int:
    """Byte count with optional K/M/G (binary) suffix."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    value = int(t) * mult
    if value < 0:
        raise argparse.ArgumentTypeError("size must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser, timeout: float) -> None:
        sp.add_argument("--seed", help="Ed25519 identity seed, 32 bytes as 64 hex digits")
        sp.add_argument("--timeout", type=float, default=timeout, help=f"whole-process limit in seconds (default {timeout:g})")
        sp.add_argument("--verbose", "-v", action="count", default=0, help="log to stderr (-v info, -vv debug)")

    def limits(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--reservation-ttl", type=int, default=3600, help="reservation lifetime granted, seconds (relay)")
        sp.add_argument("--limit-duration", type=int, default=3600, help="per-circuit duration limit, seconds (0 = none)")
        sp.add_argument("--limit-data", type=size, default=1 << 30, help="per-circuit data limit, bytes, both directions together (0 = none)")
        sp.add_argument("--max-reservations", type=int, default=64)
        sp.add_argument("--max-circuits", type=int, default=64, help="concurrent circuits per reservation")

    r = sub.add_parser("relay", help="run a Circuit Relay v2 relay")
    common(r, 600)
    limits(r)
    r.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any)")
    r.add_argument("--no-stdin", action="store_true", help="do not exit on stdin EOF")

    lst = sub.add_parser("listen", help="reserve on a relay and serve xfer")
    common(lst, 600)
    limits(lst)
    lst.add_argument("--relay", required=True, help="/ip4/127.0.0.1/tcp/P/p2p/RELAY")
    lst.add_argument("--reply-bytes", type=size, default=None, help="bytes to send back (default: as many as received)")
    lst.add_argument("--count", type=int, default=0, help="exit after this many transfers (0 = serve until stopped)")
    lst.add_argument("--max-bytes", type=size, default=DEFAULT_MAX_BYTES, help="largest accepted payload")
    lst.add_argument("--xfer-timeout", type=float, default=120, help="limit per transfer, seconds")
    lst.add_argument("--connect-timeout", type=float, default=30, help="limit for connecting and reserving, seconds")
    lst.add_argument("--eof-wait", type=float, default=10, help="how long to wait for the dialer's FIN")
    lst.add_argument("--no-refresh", action="store_true", help="reserve once; do not run py-libp2p's refresh loop")
    lst.add_argument("--no-stdin", action="store_true", help="do not exit on stdin EOF")

    d = sub.add_parser("dial", help="dial a peer through a relay and run one xfer")
    common(d, 60)
    d.add_argument("--relay", help="/ip4/127.0.0.1/tcp/P/p2p/RELAY")
    d.add_argument("--target", required=True, help="peer ID, or the full /…/p2p/RELAY/p2p-circuit/p2p/PEER")
    d.add_argument("--bytes", type=size, default=1 << 20, help="payload size to send (default 1 MiB)")
    d.add_argument("--max-bytes", type=size, default=DEFAULT_MAX_BYTES, help="largest accepted reply")
    d.add_argument("--connect-timeout", type=float, default=30, help="limit for reaching the target, seconds")
    d.add_argument("--eof-wait", type=float, default=10, help="how long to wait for the listener's FIN")
    d.add_argument("--no-reserve", action="store_true", help="do not RESERVE before CONNECT (py-libp2p does by default)")
    return p


def main() -> int:
    args = build_parser().parse_args()
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    handlers = {"relay": cmd_relay, "listen": cmd_listen, "dial": cmd_dial}
    try:
        return handlers[args.cmd](args)
    except KeyboardInterrupt:
        return EXIT_OK
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - setup errors (bind, imports, ...)
        fail(f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
