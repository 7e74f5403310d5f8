"""A TCP proxy on loopback in front of a server that counts what passes through it, for tests that
must see the traffic itself: bytes each way, and the most requests awaiting their answers at once.

A request is the client's bytes on a connection that is not already waiting; its answer starts
with the server's next bytes, which the tap holds ``latency`` seconds (so that requests sent at
once overlap even on loopback, where answers are otherwise too quick to catch in flight)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


@dataclass
class Traffic:
    sent: int = 0  # client to server
    received: int = 0  # server to client
    requests: int = 0
    waiting: int = 0
    most_waiting: int = 0


@contextmanager
def tap(endpoint: str, latency: float = 0.05) -> Iterator[tuple[str, Traffic]]:
    """``endpoint`` (``http://host:port/path``) behind a tap: yields the tap's endpoint (with the
    same path) and the traffic it counts, updated as it passes."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    traffic = Traffic()
    loop = asyncio.new_event_loop()
    started: list[str] = []
    ready = threading.Event()
    stop = asyncio.Event()

    async def connection(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        waiting = asyncio.Event()

        async def upstream() -> None:
            while data := await client_r.read(1 << 16):
                traffic.sent += len(data)
                if not waiting.is_set():
                    waiting.set()
                    traffic.requests += 1
                    traffic.waiting += 1
                    traffic.most_waiting = max(traffic.most_waiting, traffic.waiting)
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(1 << 16):
                if waiting.is_set():
                    await asyncio.sleep(latency)
                    waiting.clear()
                    traffic.waiting -= 1
                traffic.received += len(data)
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (ConnectionError, OSError):
            pass
        finally:
            if waiting.is_set():
                traffic.waiting -= 1
            client_w.close()
            server_w.close()

    async def serve() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        tapped = parts._replace(netloc=f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        started.append(urlunsplit(tapped))
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise TimeoutError("the tap did not start within 10 s")
    try:
        yield started[0], traffic
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
