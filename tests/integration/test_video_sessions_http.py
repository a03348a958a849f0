"""Video sessions over real HTTP (the app in a uvicorn thread around the session's handler): the streamed
propagation (one JSON line per frame, as soon as it is known) says what the JSON answer says; an unknown session
is a 404 naming ``session_id``; a client that goes away, streamed or not, stops the work at the next frame."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
from PIL import Image

from sam3_core.server.http_api import create_app
from sam3_core.testing.support import serve_in_thread

from clips import disc_frames
from helpers import b64, encode

STREAMED = {"Accept": "application/x-ndjson"}


@pytest.fixture(scope="module")
def url(handler):
    address, server = serve_in_thread(create_app(lambda: handler))
    yield address
    server.should_exit = True


def start(url: str, count: int) -> str:
    frames = [b64(encode(Image.fromarray(frame))) for frame in disc_frames(count, (64, 48))]
    started = requests.post(url + "/", json={"inputs": {"type": "start_session", "video": frames}}, timeout=120)
    assert started.status_code == 200, started.text
    session_id = started.json()["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id, "frame_index": 0, "text": "disc"}
    added = requests.post(url + "/", json={"inputs": {**prompt, "confidence_threshold": 0.1}}, timeout=120)
    assert added.status_code == 200, added.text
    return session_id


def propagate(session_id: str, **fields) -> dict:
    return {"inputs": {"type": "propagate_in_video", "session_id": session_id, **fields}}


def test_the_streamed_propagation_says_what_the_answer_says(url):
    session_id = start(url, 20)
    whole = requests.post(url + "/", json=propagate(session_id), timeout=300).json()
    with requests.post(url + "/", json=propagate(session_id), headers=STREAMED, stream=True, timeout=300) as answer:
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    header, *frames, summary = lines
    assert header == {"session_id": session_id, "propagation_direction": "both", "video_frames": 20}
    assert summary["done"] is True and summary["frame_indices"] == whole["video"]["frame_indices"]
    assert [frame["frame_index"] for frame in frames] == whole["video"]["frame_indices"]
    for obj in whole["objects"]:
        for entry in obj["frames"]:
            [line] = [frame for frame in frames if frame["frame_index"] == entry["frame_index"]]
            [same] = [found for found in line["objects"] if found["object_id"] == obj["object_id"]]
            assert same["rle"] == entry["rle"] and same["score"] == entry["score"] and same["label"] == obj["label"]
    assert sum(len(frame["objects"]) for frame in frames) == sum(len(obj["frames"]) for obj in whole["objects"])


def test_sam3_serve_streams_a_propagation(server):
    """The same through the ``sam3-serve`` process itself, whose handler is the service (no ``EndpointHandler``)."""
    session_id = start(server, 3)
    with requests.post(server + "/", json=propagate(session_id), headers=STREAMED, stream=True, timeout=300) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert lines[0]["video_frames"] == 3 and lines[-1]["done"] is True
    assert [line["frame_index"] for line in lines[1:-1]] == lines[-1]["frame_indices"] == [0, 1, 2]


def test_an_unknown_session_is_a_404_naming_it(url):
    for headers in ({}, STREAMED):
        answer = requests.post(url + "/", json=propagate("no-such-session"), headers=headers, timeout=60)
        assert answer.status_code == 404 and answer.json()["error"].startswith("session_id: unknown"), answer.text


def cancelled_record(caplog, since: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = [json.loads(r.getMessage()) for r in caplog.records[since:] if r.name == "sam3_core.requests"]
        done = [record for record in records if record.get("session") == "propagate_in_video"]
        if done:
            return done[-1]
        time.sleep(0.1)
    raise AssertionError("no propagation was logged")


def test_a_client_that_goes_away_stops_the_propagation(url, caplog):
    caplog.set_level(logging.INFO, logger="sam3_core.requests")
    session_id = start(url, 120)  # tens of seconds of propagation here
    since = len(caplog.records)
    began = time.monotonic()
    with requests.post(url + "/", json=propagate(session_id), headers=STREAMED, stream=True, timeout=300) as answer:
        lines = (json.loads(line) for line in answer.iter_lines() if line)
        assert "video_frames" in next(lines) and next(lines)["frame_index"] == 0
    record = cancelled_record(caplog, since)
    # Stopped after the frame in progress: at its next frame, or at the stream's next line.
    assert record["outcome"] == "cancelled" and record["cancelled_before"] in ("video frame", "stream"), record
    assert time.monotonic() - began < 20
    since = len(caplog.records)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url + "/", json=propagate(session_id), timeout=2)  # the JSON answer's client gives up
    record = cancelled_record(caplog, since)
    assert record["outcome"] == "cancelled" and record["total_ms"] < 10_000, record
    done = requests.post(url + "/", json=propagate(session_id, max_frame_num_to_track=2), timeout=120)
    assert done.status_code == 200 and done.json()["video"]["num_frames"] == 3  # the session still works
