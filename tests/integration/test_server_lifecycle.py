"""Connections and abandoned work over real HTTP: a ``sam3-serve`` subprocess on loopback (the custom container's
command) with a short read timeout and a small connection cap, driven by raw sockets; its log is read back.

- A client that goes away: work not yet started never reaches the model, running work stops at the next stage
  (a video: at the next frame).
- A request whose headers or body never finish: 408 and closed within bounds.
- Connections beyond the cap: 503.
- The log: one quiet line for a client that goes away mid-body, no prompts beyond their 12-character prefix.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from clips import disc_frames, write_clip
from helpers import b64, encode, free_port, scene, wait_until_healthy

READ_TIMEOUT_S = 3
MAX_CONNECTIONS = 4
BOUND_S = 20  # generous: only detects a connection held for ever
# Prompts run one per detector call (SAM3_PROMPT_BATCH=1): about 4.5 s on the engine with the tiny checkpoint on
# this 2-core CPU (35 ms a prompt), long enough for a second client to arrive and leave while it runs.
MANY_PROMPTS = [f"object number {index}" for index in range(128)]


@dataclass
class Server:
    url: str
    address: tuple[str, int]
    log_path: Path

    def log_mark(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, mark: int) -> str:
        return self.log_path.read_bytes()[mark:].decode("utf-8", "replace")

    def request_records(self, mark: int) -> list[dict]:
        """The request log's JSON records written since ``mark``, in order."""
        marker = "sam3_core.requests: "
        return [json.loads(line.split(marker, 1)[1]) for line in self.log_since(mark).splitlines() if marker in line]

    def wait_for_records(self, mark: int, count: int) -> list[dict]:
        deadline = time.monotonic() + 60
        while len(records := self.request_records(mark)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(records) >= count, f"expected {count} request log lines, got:\n{self.log_since(mark)[-3000:]}"
        return records

    def wait_for_log(self, mark: int, text: str) -> str:
        deadline = time.monotonic() + BOUND_S
        while text not in (log := self.log_since(mark)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert text in log, f"{text!r} not logged:\n{log[-3000:]}"
        return log


@pytest.fixture(scope="module")
def served(tiny_checkpoint, tmp_path_factory) -> Server:
    port = free_port()
    log_path = tmp_path_factory.mktemp("lifecycle") / "server.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SAM3_DEVICE": "cpu",
        "SAM3_PROMPT_BATCH": "1",
        "SAM3_MAX_TEXT_PROMPTS": str(len(MANY_PROMPTS)),
        "SAM3_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
        "SAM3_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    command = [sys.executable, "-m", "sam3_core.cli.serve", "--model", str(tiny_checkpoint), "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, 180, output=lambda: log_path.read_text(errors="replace"))
    except RuntimeError as error:
        process.kill()
        pytest.fail(str(error))
    yield Server(url, ("127.0.0.1", port), log_path)
    process.terminate()
    process.wait(timeout=20)


def http_post(path: str, body: bytes, content_type: str = "application/json", length: int | None = None) -> bytes:
    """A raw HTTP/1.1 POST (``length`` may claim more bytes than ``body`` has)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode("ascii") + body


def payload(image, prompts) -> bytes:
    return json.dumps({"inputs": {"image": b64(encode(image)), "text_prompts": prompts}}).encode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (``socket.timeout`` after ``BOUND_S``)."""
    sock.settimeout(BOUND_S)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def next_request_works(served: Server) -> None:
    answer = requests.post(served.url + "/", data=payload(scene(), ["cat"]), timeout=120)
    assert answer.status_code == 200 and answer.json()["success"] is True


def test_abandoned_request_never_reaches_the_model(served):
    busy_body = payload(scene(300, 200), MANY_PROMPTS)
    large = http_post("/", payload(scene(4000, 3000), ["dog"]))  # a large picture, made before the clock starts
    mark = served.log_mark()
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(requests.post, served.url + "/", data=busy_body, timeout=300)
        time.sleep(1.5)  # the busy request is on the engine
        with socket.create_connection(served.address) as abandoned:
            # Sent whole; the client gives up while it waits behind the busy request.
            abandoned.sendall(large)
            time.sleep(1.0)
        assert busy.result().status_code == 200
    records = served.wait_for_records(mark, 2)
    assert [record["outcome"] for record in records] == ["cancelled", "ok"], "given up before the busy one ended"
    gone = records[0]
    assert gone["status"] == 499 and gone["cancelled_before"] in ("decode", "engine")
    assert "backbone_ms" not in gone, "the model never ran for it"
    next_request_works(served)


def test_running_work_stops_when_its_client_goes(served):
    request = http_post("/", payload(scene(310, 200), [f"thing {index}" for index in range(len(MANY_PROMPTS))]))
    mark = served.log_mark()
    with socket.create_connection(served.address) as client:
        client.sendall(request)
        time.sleep(2.0)  # running now (several seconds of work in all)
    [record] = served.wait_for_records(mark, 1)
    assert record["outcome"] == "cancelled" and record["status"] == 499, record
    assert "Traceback" not in served.log_since(mark)
    next_request_works(served)


def test_a_video_stops_at_the_next_frame_when_its_client_times_out(served, tmp_path):
    """A one-shot video of 120 frames (tens of seconds of tracking here) whose client gives up after 3 s, as
    ``requests`` does with ``timeout=``: the work stops at the next frame, logged as cancelled, not "ok"."""
    video = write_clip(tmp_path / "long.mp4", disc_frames(120, (320, 240)))
    body = {"inputs": {"video": b64(video), "text_prompts": ["disc"], "max_objects": 10}}
    mark = served.log_mark()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(served.url + "/", json=body, timeout=3)
    [record] = served.wait_for_records(mark, 1)
    assert record["outcome"] == "cancelled" and record["cancelled_before"] == "video frame", record
    assert time.monotonic() - started < 10 and record["total_ms"] < 8000, record
    next_request_works(served)


def test_stalled_headers_get_408_and_the_connection_closes(served):
    with socket.create_connection(served.address) as silent, socket.create_connection(served.address) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
        assert read_until_closed(silent) == b"", "a connection that sends nothing is closed"
        assert read_until_closed(slow).startswith(b"HTTP/1.1 408 ")
    next_request_works(served)


def test_stalled_body_gets_408_and_one_quiet_line(served):
    mark = served.log_mark()
    with socket.create_connection(served.address) as client:
        client.sendall(http_post("/", b'{"inputs": {"ima', length=1000))
        assert read_until_closed(client).startswith(b"HTTP/1.1 408 ")
    log = served.wait_for_log(mark, "went away")
    assert "Traceback" not in log and "ERROR" not in log
    next_request_works(served)


def test_client_leaving_mid_body_logs_one_quiet_line(served):
    mark = served.log_mark()
    with socket.create_connection(served.address) as client:
        client.sendall(http_post("/predict", b"\xff\xd8\xff" + b"\0" * 5000, "image/jpeg", length=100_000))
        time.sleep(0.5)
    log = served.wait_for_log(mark, "went away")
    assert [line for line in log.splitlines() if "went away" in line] and "Traceback" not in log, log
    assert "ClientDisconnect" not in log and "ERROR" not in log
    next_request_works(served)


def test_connections_beyond_the_cap_get_503(served):
    idle = [socket.create_connection(served.address) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.5)  # accepted (well within the read timeout)
        refused = requests.get(served.url + "/health", timeout=BOUND_S)
        assert refused.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + BOUND_S
    while requests.get(served.url + "/health", timeout=BOUND_S).status_code != 200:
        assert time.monotonic() < deadline, "still refused after the idle connections closed"
        time.sleep(0.1)
    next_request_works(served)


def test_no_prompt_in_the_log_beyond_its_prefix(served):
    mark = served.log_mark()
    secret = "calico sofa velvet"  # within the tiny tokenizer's 32 tokens
    query = {"text_prompts": secret, "confidence_threshold": "0.3"}
    jpeg = encode(scene(), "JPEG")
    answer = requests.post(
        served.url + "/predict", params=query, data=jpeg, headers={"content-type": "image/jpeg"}, timeout=120
    )
    assert answer.status_code == 200
    log = served.wait_for_log(mark, "POST /predict")  # the access log line
    assert secret[:12] in log, "the request log keeps the prefix"
    assert "velvet" not in log, log


def test_the_start_says_where_the_endpoint_and_the_web_ui_are(served):
    log = served.log_path.read_text(errors="replace")
    assert f"SAM3 endpoint at {served.url}/" in log
    assert "web UI: not served here (sam3-serve --ui serves it at /ui" in log
    assert "can yield errors" not in log, "loading warns of nothing that is expected"
