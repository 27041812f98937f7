"""Child: many SSE connections to ``bench._memory_proc``'s signal, held until stdin closes.

Usage: ``python -m bench._memory_clients <port> <mode> <clients> <cursor> <last> <timeout>``.
``idle``: subscribe (no cursor), read the snapshot, then keep reading (nothing comes).
``replay``: resume from ``cursor`` and read until the event with cursor ``last``.
``stuck``: resume from ``cursor`` with a 4 KiB receive buffer, and never read.
Prints ``{"ready": n}`` once every connection is where its mode says, then waits.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from ._memory_proc import NAME
from ._procs import TOKEN, raise_nofile, say


def _request(cursor: str) -> bytes:
    resume = f"Last-Event-ID: {cursor}\r\n" if cursor else ""
    return (
        f"GET /nb-sse-signals/events?signal={NAME} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {TOKEN}\r\n{resume}\r\n"
    ).encode()


async def _client(port: int, mode: str, cursor: str, last: str, held: list[socket.socket]) -> None:
    sock = socket.socket()
    if mode == "stuck":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    held.append(sock)
    if mode == "idle":
        await loop.sock_sendall(sock, _request(""))
        data = b""
        while b"\n\n" not in data:
            data += await loop.sock_recv(sock, 65536)
    elif mode == "replay":
        await loop.sock_sendall(sock, _request(cursor))
        marker, tail = f"id: {last}\n".encode(), b""
        while True:
            chunk = await loop.sock_recv(sock, 1 << 20)
            if not chunk:
                raise RuntimeError("the hub closed a replaying connection")
            if marker in tail[-64:] + chunk[:64] or marker in chunk:
                return
            tail = chunk[-64:]
    else:
        await loop.sock_sendall(sock, _request(cursor))


async def main() -> None:
    port, mode, clients = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    cursor, last, timeout = sys.argv[4], sys.argv[5], float(sys.argv[6])
    raise_nofile(clients + 256)
    held: list[socket.socket] = []
    batch = 100  # connect in waves, as a crowd of browsers would, within the backlog
    for start in range(0, clients, batch):
        wave = [_client(port, mode, cursor, last, held) for _ in range(min(batch, clients - start))]
        await asyncio.wait_for(asyncio.gather(*wave), timeout)
    say({"ready": len(held)})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: os.read(0, 1))  # until the parent says (or dies)
    for sock in held:
        sock.close()


if __name__ == "__main__":
    asyncio.run(main())
