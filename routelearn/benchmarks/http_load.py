"""The load generator of ``routelearn bench api``: HTTP/1.1 keep-alive requests from asyncio
streams, run in a process of its own so its CPU is counted apart from the server's.

A general client (httpx) spends more CPU per request than the API does to answer it; on a
2-core machine it would measure itself. This one sends pre-encoded requests and reads each
response by its ``Content-Length``, nothing more (uvloop when installed). It reports the CPU
time it used, so the benchmark can say what the measurement cost.

Two ways to drive the server:
- ``closed``: ``connections`` clients each send the next request as soon as the last is
  answered, for ``seconds``: the saturated throughput (latency then includes queueing);
- ``paced``: requests due at ``rate`` per second, spread over ``connections``; a request's
  latency runs from when it was due, not when it was sent, so a server that falls behind is
  charged for the wait (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    started_at: float = 0.0  # time.monotonic() when the first request was due
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    first_error: str | None = None


def request_bytes(path: str, token: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _drive(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    seconds: float,
    rate: float | None,
    total: int | None,
    result: LoadResult,
) -> None:
    loop = asyncio.get_running_loop()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    result.started_at = time.monotonic()
    start = loop.time()
    stop = start + seconds
    counter = 0

    async def client(k: int) -> None:
        nonlocal counter
        reader, writer = streams[k]
        j = 0
        try:
            while True:
                if rate is None:
                    due = loop.time()
                else:
                    due = start + (k + j * connections) / rate
                    j += 1
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if due >= stop or (total is not None and counter >= total):
                    return
                request = requests[counter % len(requests)]
                counter += 1
                status, body = await _exchange(reader, writer, request)
                done = loop.time()
                result.latencies_ms.append((done - due) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status >= 300 and result.first_error is None:
                    result.first_error = f"{status}: {body[:300].decode(errors='replace')}"
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    await asyncio.gather(*(client(k) for k in range(connections)))
    result.seconds = loop.time() - start
    result.requests = len(result.latencies_ms)


def run(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    seconds: float,
    rate: float | None = None,
    total: int | None = None,
) -> LoadResult:
    """Drive the server (see the module doc) for ``seconds`` or ``total`` requests, whichever
    ends first; called in the load generator's own process."""
    result = LoadResult()
    cpu = _cpu()
    drive = _drive(port, requests, connections, seconds, rate, total, result)
    try:
        import uvloop
    except ImportError:
        asyncio.run(drive)
    else:
        uvloop.run(drive)
    result.client_cpu_s = _cpu() - cpu
    return result


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes (0 for one that is gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def machine_busy() -> tuple[int, int, int]:
    """(busy, stolen, total) jiffies of every core since boot, from /proc/stat: stolen is the
    time a virtual machine's hypervisor gave the cores to someone else (counted in busy)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])  # guest time is counted in user already
    return total - idle, values[7], total


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]
