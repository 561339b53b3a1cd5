"""uvicorn's httptools protocol with each response's head and body sent in one write.

uvicorn writes the status line and headers when the application sends ``http.response.start`` and the body when
it sends ``http.response.body``: two ``send`` system calls per response, two TCP segments on loopback. Here the
connection's transport holds the head back until the body's first write, the connection closes, or the response
completes without a body (HEAD, 204), so a response goes out in one write. Interim ``1xx`` responses
(``100 Continue``) are never held.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteHttpToolsProtocol"]


class _HeadHoldingTransport:
    """A transport that keeps a response head until the next write, and forwards everything else."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is None and data[:9] == b"HTTP/1.1 " and data[9:10] != b"1" and data[-4:] == b"\r\n\r\n":
            self._head = bytes(data)
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def release(self) -> None:
        """Write a held head now (the response ended without a body)."""
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.release()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose responses leave in one write (``uvicorn.Config(http=...)``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_HeadHoldingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        transport: Any = self.transport
        transport.release()
        super().on_response_complete()
