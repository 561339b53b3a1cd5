"""One write per response: uvicorn's own protocol driven byte by byte over a recording transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from pulumi_mlops.runtime.serving.http import OneWriteHttpToolsProtocol
from uvicorn.server import ServerState

BODY = b'{"ok":true}'


class RecordingTransport:
    """What the protocol wrote, one entry per ``write`` call, and whether it closed the connection."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """``/chunks`` streams two body parts, ``/empty`` answers 204 without a body, ``/fail`` raises after the head;
    anything else answers :data:`BODY`."""
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    path = scope["path"]
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"application/json")]
    if path == "/chunks":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
        return
    headers.append((b"content-length", str(len(BODY)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/fail":
        raise RuntimeError("failed after the head")
    await send({"type": "http.response.body", "body": BODY})


async def exchange(*requests: bytes) -> RecordingTransport:
    config = uvicorn.Config(app, http=OneWriteHttpToolsProtocol, lifespan="off", access_log=False, log_level="critical")
    protocol = OneWriteHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for request in requests:
        protocol.data_received(request)
        for _ in range(20):
            await asyncio.sleep(0)
    return transport


def run(*requests: bytes) -> RecordingTransport:
    return asyncio.run(exchange(*requests))


def test_head_and_body_leave_in_one_write() -> None:
    transport = run(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
    assert len(transport.writes) == 2  # one per response
    for written in transport.writes:
        assert written.startswith(b"HTTP/1.1 200 OK\r\n")
        assert written.endswith(b"\r\n\r\n" + BODY)
    assert not transport.closed


def test_a_response_without_a_body_still_sends_its_head() -> None:
    for request in (b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n"):
        transport = run(request)
        assert len(transport.writes) == 1
        assert transport.writes[0].startswith((b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 204 No Content\r\n"))
        assert transport.writes[0].endswith(b"\r\n\r\n")


def test_a_streamed_body_carries_the_head_in_its_first_part() -> None:
    (first, *rest) = run(b"GET /chunks HTTP/1.1\r\nHost: a\r\n\r\n").writes
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in first
    assert first.endswith(b"\r\n\r\n3\r\none\r\n")
    assert b"".join(rest) == b"3\r\ntwo\r\n0\r\n\r\n"


def test_interim_continue_is_sent_before_the_body_arrives() -> None:
    head = b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    transport = run(head)  # the body never comes (the app is cancelled when the loop ends, answering 500)
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    transport = run(head, b"{}")
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert transport.writes[1].startswith(b"HTTP/1.1 200 OK\r\n") and transport.writes[1].endswith(BODY)


@pytest.mark.filterwarnings("ignore")
def test_a_held_head_is_written_before_the_connection_closes() -> None:
    transport = run(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n")
    assert transport.closed
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    closing = run(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert closing.closed
    assert len(closing.writes) == 1 and closing.writes[0].endswith(b"\r\n\r\n" + BODY)


def test_serve_runs_the_deployments_uvicorn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlops serve`` hands uvicorn the settings :func:`server_config` gives (which the live test servers use too)."""
    from pulumi_mlops.runtime.config import RuntimeSettings, ServingSpec
    from pulumi_mlops.runtime.serving import server

    started: list[uvicorn.Config] = []

    class Recording:
        def __init__(self, config: uvicorn.Config) -> None:
            started.append(config)

        def run(self) -> None:
            return None

    monkeypatch.setattr(uvicorn, "Server", Recording)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # what serve() sets, undone after the test
    spec = ServingSpec.model_validate({"model": {"name": "churn"}, "port": 9123})
    settings = RuntimeSettings.model_validate({"log_level": "WARNING"})
    server.serve(spec, host="127.0.0.1", settings=settings, source=object())  # type: ignore[arg-type]
    (config,) = started
    assert (config.host, config.port, config.loop) == ("127.0.0.1", 9123, "uvloop")
    assert config.http is OneWriteHttpToolsProtocol
    assert config.access_log is False and config.proxy_headers is False
    assert config.timeout_graceful_shutdown == server.GRACEFUL_SHUTDOWN_SECONDS
    assert config.log_level == "warning" and config.lifespan == "on"
    on_a_thread = server.server_config(config.app, host="127.0.0.1", port=1, log_level="INFO", loop="asyncio")
    same = ("http", "access_log", "proxy_headers", "timeout_graceful_shutdown", "lifespan")
    assert {k: getattr(on_a_thread, k) for k in same} == {k: getattr(config, k) for k in same}
