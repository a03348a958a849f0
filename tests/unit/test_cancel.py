"""Cancellation in process: a set event stops the work at the next stage boundary, and a wait for the engine gives
up (the server sets the event when its client disconnects: tests/integration/test_server_lifecycle.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading

import pytest

from sam3_core.cancel import Cancelled, FairLock, FairSlots
from sam3_core.service import SegmentationService
from sam3_core.testing.support import synthetic_image

from helpers import b64, encode, wait_until


class SetAtCheck(threading.Event):
    """An event that sets itself when it is looked at for the ``n``-th time: a client leaving mid-run, on cue."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.checks_left = n

    def is_set(self) -> bool:
        self.checks_left -= 1
        if self.checks_left <= 0:
            self.set()
        return super().is_set()


def test_a_wait_for_a_held_lock_gives_up_when_cancelled():
    lock, cancel, outcome = FairLock(), threading.Event(), []

    def wait() -> None:
        try:
            with lock.held(cancel, "engine"):
                outcome.append("ran")
        except Cancelled as stop:
            outcome.append(stop.stage)

    with lock.held(None, "engine"):
        waiter = threading.Thread(target=wait)
        waiter.start()
        cancel.set()
        waiter.join(timeout=10)
        assert outcome == ["engine"], "gave up while the lock was still held"
    assert not lock.locked()
    with lock.held(None, "engine"):  # the cancelled waiter left the queue: the lock is free to take
        pass


def test_a_set_event_stops_the_request_before_decoding(handler, image_b64, caplog):
    cancel = threading.Event()
    cancel.set()
    with caplog.at_level(logging.INFO, "sam3_core.requests"), pytest.raises(Cancelled) as stop:
        handler.service({"inputs": {"image": image_b64, "text_prompts": ["cat"]}}, cancel=cancel)
    assert stop.value.stage == "decode"
    [record] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sam3_core.requests"]
    assert record["outcome"] == "cancelled" and record["status"] == 499 and record["cancelled_before"] == "decode"
    assert "image" not in record, "nothing decoded"


@pytest.mark.parametrize("passed,stage", [(1, "backbone"), (3, "prompts"), (4, "postprocess")])
def test_running_work_stops_at_the_next_stage_boundary(handler, image_b64, passed, stage):
    # The checks, in order: decode, backbone, one per prompt chunk (10 prompts, 8 per batch: 2), postprocess.
    # (3, "prompts"): the first chunk ran, the second did not.
    prompts = [f"thing {index}" for index in range(10)]
    with pytest.raises(Cancelled) as stop:
        handler.service({"inputs": {"image": image_b64, "text_prompts": prompts}}, cancel=SetAtCheck(passed + 1))
    assert stop.value.stage == stage


def test_an_unset_event_changes_nothing(handler, image_b64):
    payload = {"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 0.3}}
    assert handler.service(payload, cancel=threading.Event()) == handler(payload)


def test_places_are_granted_in_arrival_order_up_to_the_capacity():
    slots, order, release = FairSlots(2), [], threading.Event()

    def take(name: str) -> None:
        with slots.held(None, "decode"):
            order.append(name)
            release.wait(10)

    first, second, third = (threading.Thread(target=take, args=(name,)) for name in "abc")
    first.start()
    second.start()
    wait_until(lambda: slots.in_use() == 2)
    third.start()
    wait_until(lambda: slots.waiting() == 1)
    assert order == ["a", "b"], "the third caller got a place beyond the capacity"
    release.set()
    for thread in (first, second, third):
        thread.join(timeout=10)
    assert order == ["a", "b", "c"] and slots.in_use() == 0 and slots.waiting() == 0


def test_requests_beyond_the_active_places_wait_undecoded(handler, caplog):
    """With the engine busy, only ``max_active`` requests decode their image and queue for the engine; the rest
    wait with nothing but their body (cancelled there, they never decoded)."""
    service = SegmentationService(handler.engine, dataclasses.replace(handler.service.settings, max_active=2))
    cancels = [threading.Event() for _ in range(5)]
    stages: list[str] = []

    def send(number: int) -> None:
        image = b64(encode(synthetic_image(200 + number, 150, seed=number)))
        try:
            service({"inputs": {"image": image, "text_prompts": ["cat"]}}, cancel=cancels[number])
        except Cancelled as stop:
            stages.append(stop.stage)

    threads = [threading.Thread(target=send, args=(number,)) for number in range(5)]
    with caplog.at_level(logging.INFO, "sam3_core.requests"), handler.engine._lock.held(None, "engine"):
        for thread in threads:
            thread.start()
        wait_until(lambda: service.active.waiting() == 3 and handler.engine._lock.waiting() == 2)
        for cancel in cancels:
            cancel.set()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(stages) == ["decode"] * 3 + ["engine"] * 2
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sam3_core.requests"]
    assert sorted("image" in record for record in records) == [False] * 3 + [True] * 2
    assert service.active.in_use() == 0
