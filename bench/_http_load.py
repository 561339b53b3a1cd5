"""The serving benchmark's load generator and process measurements (not a benchmark of its own).

A closed loop of ``concurrency`` HTTP/1.1 keep-alive connections, each sending one prepared request and reading
its whole answer before the next (asyncio streams on uvloop), for a warm-up and then ``seconds``. The server's
CPU time is read from ``/proc`` for its whole process tree, so a server with worker processes is counted whole.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Load", "cpu_seconds", "drive", "free_port", "pin", "split_cpus", "wait_http"]


@dataclass
class Load:
    """What one run of the load generator saw."""

    latencies: list[float] = field(default_factory=list)
    """Seconds per answered request after the warm-up, in completion order."""
    errors: int = 0
    """Answers other than 200, and broken connections."""
    sent: int = 0
    """Requests answered, the warm-up's included."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """``(the server's CPU, the load generator's CPUs)``: one core for the server, the rest for the client;
    ``(None, None)`` where affinity cannot be set or only one core is usable."""
    try:
        usable = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(usable) < 2:
        return None, None
    return {usable[0]}, set(usable[1:])


def pin(cpus: set[int] | None) -> None:
    """Restrict this process (and what it starts later) to ``cpus``."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def wait_http(port: int, path: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path}")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of ``pid`` and its descendants so far; None without ``/proc``."""
    try:
        tick = os.sysconf("SC_CLK_TCK")
        tree = _children()
    except (OSError, ValueError):
        return None
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        todo.extend(tree.get(current, []))
    return total / tick


async def _connection(port: int, payload: bytes, stop_at: float, record_from: float, out: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                return
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            end = time.perf_counter()
            out.sent += 1
            if start >= record_from:
                if head[9:12] == b"200":
                    out.latencies.append(end - start)
                else:
                    out.errors += 1
    except (OSError, asyncio.IncompleteReadError):
        out.errors += 1
    finally:
        writer.close()


async def _drive(port: int, payload: bytes, concurrency: int, warmup: float, seconds: float) -> Load:
    record_from = time.perf_counter() + warmup
    out = Load()
    stop_at = record_from + seconds
    await asyncio.gather(*(_connection(port, payload, stop_at, record_from, out) for _ in range(concurrency)))
    return out


def drive(port: int, payload: bytes, concurrency: int, warmup: float, seconds: float) -> Load:
    """Run the closed loop against ``127.0.0.1:port`` with the raw HTTP request ``payload``."""
    coroutine: Any = _drive(port, payload, concurrency, warmup, seconds)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
