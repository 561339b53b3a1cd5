"""Requests at the edges: chosen outputs, bodies shorter than their Content-Length, paths of unserved models."""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from serving_support import MODEL, LiveServer, rows, v2_request


def test_a_request_gets_the_outputs_it_names_and_400_for_others(shared_server: LiveServer) -> None:
    body = v2_request(rows(3))
    everything = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body).json()["outputs"]
    name = everything[0]["name"]
    chosen = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body | {"outputs": [{"name": name}]})
    assert chosen.status_code == 200 and chosen.json()["outputs"] == everything[:1]
    unknown = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body | {"outputs": [{"name": "logits"}]})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == f"outputs[0]: the model has no output 'logits'; it has {name}"
    malformed = httpx.post(f"{shared_server.url}/v2/models/{MODEL}/infer", json=body | {"outputs": ["label"]})
    assert malformed.status_code == 400 and "outputs[0]" in malformed.json()["error"]


def test_a_body_shorter_than_its_content_length_is_answered_408(serve: Callable[..., LiveServer]) -> None:
    live = serve(body_timeout_seconds=0.5)
    address = urlsplit(live.url)
    head = (
        f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: {address.netloc}\r\n"
        "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode() + b'{"inputs": [')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"408", answer
    assert b"connection: close" in rest.lower()
    assert b"stopped after 12 of 400 bytes" in answer
    assert httpx.get(f"{live.url}/v2/health/ready").status_code == 200, "the server still answers"


def test_metrics_label_only_the_served_model(shared_server: LiveServer) -> None:
    for name in ("not-served", "x" * 40):
        assert httpx.post(f"{shared_server.url}/v2/models/{name}/infer", json=v2_request(rows(1))).status_code == 404
    text = httpx.get(f"{shared_server.url}/metrics").text
    requests = [line for line in text.splitlines() if line.startswith("mlops_requests_total{")]
    models = {line.split('model="', 1)[1].split('"', 1)[0] for line in requests}
    assert models <= {MODEL, "_unknown"} and "_unknown" in models
