"""Framing between the validator and its sandbox server: a JSON header, then raw byte blobs."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_LEN = struct.Struct(">I")


def send_frame(sock: socket.socket, header: dict[str, Any], *blobs: bytes) -> None:
    head = json.dumps({**header, "sizes": [len(b) for b in blobs]}).encode()
    sock.sendall(_LEN.pack(len(head)) + head)
    for blob in blobs:
        sock.sendall(blob)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("connection closed mid-frame")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], list[bytes]]:
    (size,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
    header: dict[str, Any] = json.loads(_recv_exact(sock, size))
    blobs = [_recv_exact(sock, n) for n in header.pop("sizes")]
    return header, blobs
