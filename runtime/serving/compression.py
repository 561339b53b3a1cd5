"""Request bodies sent compressed: ``Content-Encoding: gzip`` or ``deflate``, as ``tritonclient`` sends them with
``request_compression_algorithm``, inflated up to ``max_payload_bytes``.

``Inference-Header-Content-Length`` gives the length of the JSON part of the inflated body, as in Triton.
"""

from __future__ import annotations

import zlib

from .errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

__all__ = ["ENCODINGS", "inflate"]

ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
"""Content codings accepted on requests, with the zlib window bits that read them (``deflate`` is the zlib format
of RFC 9110; a raw deflate stream, which some clients send, is read too)."""


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` decoded from ``encoding`` (a ``Content-Encoding`` value); at most ``limit`` bytes once inflated."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    wbits = ENCODINGS.get(coding)
    if wbits is None:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding!r} is not supported; send the body uncompressed, or with gzip or deflate"
        )
    try:
        inflater, data = _inflate(body, wbits, limit)
    except zlib.error as exc:
        if coding != "deflate":
            raise InvalidInput(f"the body is not {coding} data, as Content-Encoding says: {exc}") from None
        try:
            inflater, data = _inflate(body, -zlib.MAX_WBITS, limit)
        except zlib.error:
            raise InvalidInput(f"the body is not deflate data, as Content-Encoding says: {exc}") from None
    parts = [data]
    size = len(data)
    while True:
        if size > limit:
            raise PayloadTooLarge(f"the request body inflates to more than max_payload_bytes ({limit})")
        if not inflater.eof:
            raise InvalidInput(f"the {coding} body ends inside its compressed stream: it was cut short")
        rest = inflater.unused_data
        if not rest:
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if wbits != ENCODINGS["gzip"]:
            raise InvalidInput(f"the {coding} body holds {len(rest)} bytes after its compressed stream")
        try:  # a gzip file may hold several members, one after the other (RFC 1952)
            inflater, data = _inflate(rest, wbits, limit - size)
        except zlib.error as exc:
            raise InvalidInput(f"the {coding} body holds {len(rest)} bytes after its first member that are not gzip "
                               f"data: {exc}") from None  # fmt: skip
        parts.append(data)
        size += len(data)


def _inflate(body: bytes, wbits: int, limit: int) -> tuple[zlib._Decompress, bytes]:
    inflater = zlib.decompressobj(wbits)
    return inflater, inflater.decompress(body, limit + 1)
