"""Many images per request and concurrent requests batched: the same answers as alone, each request its own."""

from __future__ import annotations

import json
import logging
import threading

import pytest
import torch

from sam3_core.cancel import Cancelled, FairSlots
from sam3_core.errors import PayloadTooLarge, RequestError, ServiceUnavailable
from sam3_core.testing.support import synthetic_image

from helpers import b64, encode, same_answer, scene, wait_until


def image(width: int, height: int, seed: int) -> str:
    return b64(encode(synthetic_image(width, height, seed=seed)))


MIXED = [
    {"image": image(320, 240, 1), "text_prompts": ["cat", "dog"], "confidence_threshold": 0.0},
    {"image": image(200, 300, 2), "text_prompts": ["ball"], "boxes": [[20, 30, 120, 200]], "box_labels": [1]},
    {"image": image(96, 64, 3), "points": [[40, 30], [10, 10]], "point_labels": [1, 0], "confidence_threshold": 0.0},
    {"image": image(320, 240, 4), "text_prompts": ["sky", "grass", "car"], "max_objects": 5, "vectorize": True},
    {
        "image": image(150, 150, 5),
        "text_prompts": ["tree"],
        "points": [[75, 75]],
        "point_labels": [1],
        "multimask_output": True,
    },
]


def test_many_images_in_one_request_answer_as_each_alone(handler):
    handler.engine.feature_cache.clear()
    cached = {**MIXED[0], "return_timings": True}
    handler({"inputs": cached})  # the first image is a cache hit in the batch, the others miss
    elements = [cached, *({**inputs, "return_timings": True} for inputs in MIXED[1:])]
    batched = handler({"inputs": elements})
    assert isinstance(batched, list) and len(batched) == len(MIXED)
    assert [answer["timings"]["cache_hit"] for answer in batched] == [True] + [False] * (len(MIXED) - 1)
    assert {answer["timings"]["batch_images"] for answer in batched} == {len(MIXED)}
    assert batched[3]["num_objects"] == 5 and "polygons" in batched[3]
    handler.engine.feature_cache.clear()
    for answer, inputs in zip(batched, elements, strict=True):
        same_answer(answer, handler({"inputs": inputs}))


def test_parameters_apply_to_every_element_and_its_own_fields_win(handler):
    elements = [{"image": MIXED[0]["image"]}, {"image": MIXED[4]["image"], "text_prompts": ["tree"]}]
    batched = handler({"inputs": elements, "parameters": {"text_prompts": ["cat"], "confidence_threshold": 0.0}})
    assert set(batched[0]["labels"]) == {"cat"} and set(batched[1]["labels"]) == {"tree"}


def test_a_request_alone_runs_in_a_batch_of_one(handler):
    answer = handler({"inputs": {**MIXED[0], "return_timings": True}})
    assert answer["timings"]["batch_images"] == 1


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        ([], RequestError, r"^inputs: is an empty list"),
        ([MIXED[0]] * 17, PayloadTooLarge, r"^inputs: has 17 images, at most 16 per request \(SAM3_MAX_BATCH_IMAGES\)"),
        ([MIXED[0], "kitten"], RequestError, r"^inputs\[1\]: expected an object of fields, got str"),
        ([MIXED[0], MIXED[1], {**MIXED[2], "image": "%%%"}], RequestError, r"^inputs\[2\]\.image: "),
        ([MIXED[0], {**MIXED[1], "points": [[1, "x"]]}], RequestError, r"^inputs\[1\]\.points\[0\]"),
        ([MIXED[0], {**MIXED[1], "text_prompts": ["a " * 40]}], RequestError, r"^inputs\[1\]\.text_prompts\[0\]: is "),
    ],
)
def test_a_bad_element_fails_the_request_before_any_model_work(handler, monkeypatch, inputs, error, message):
    ran = []
    compute = handler.engine.compute_features
    monkeypatch.setattr(handler.engine, "compute_features", lambda images: ran.append(1) or compute(images))
    with pytest.raises(error, match=message) as raised:
        handler({"inputs": inputs})
    assert type(raised.value) is error and ran == []
    assert len(str(raised.value)) < 200
    monkeypatch.undo()
    assert handler({"inputs": MIXED[0]})["success"] is True


def test_concurrent_requests_run_together_and_each_gets_its_own_objects(handler):
    """Four clients wait for a held engine; once it is free they run as one batch. Each answer carries only its
    own prompt's label and equals the same request sent alone."""
    engine = handler.engine
    engine.feature_cache.clear()
    requests = [
        {"image": image(160 + 8 * n, 120, 10 + n), "text_prompts": [f"thing {n}"], "confidence_threshold": 0.0}
        for n in range(4)
    ]
    answers: dict[int, dict] = {}

    def send(number: int) -> None:
        answers[number] = handler({"inputs": {**requests[number], "return_timings": True}})

    queued_then_run(engine, [lambda number=number: send(number) for number in range(4)])
    assert sorted(answers) == list(range(4))
    assert [answer["timings"]["batch_images"] for answer in answers.values()] == [4] * 4
    engine.feature_cache.clear()
    for number, answer in answers.items():
        assert set(answer["labels"]) <= {f"thing {number}"} and answer["num_objects"] > 0
        same_answer(answer, handler({"inputs": requests[number]}))


def test_a_cancelled_member_leaves_the_batch_and_the_others_are_answered(handler, monkeypatch):
    engine = handler.engine
    engine.feature_cache.clear()
    leaving, staying = threading.Event(), {**MIXED[3]}
    compute = engine.compute_features

    def encode_then_leave(images):
        features = compute(images)
        leaving.set()  # the client of the first request goes away while the batch is in the ViT
        return features

    outcome: dict[str, object] = {}

    def send(name: str, inputs: dict, cancel: threading.Event | None) -> None:
        try:
            outcome[name] = handler.service({"inputs": inputs}, cancel=cancel)
        except Cancelled as stop:
            outcome[name] = stop

    monkeypatch.setattr(engine, "compute_features", encode_then_leave)
    queued_then_run(engine, [lambda: send("left", MIXED[0], leaving), lambda: send("stayed", staying, None)])
    monkeypatch.undo()
    assert isinstance(outcome["left"], Cancelled)
    engine.feature_cache.clear()
    same_answer(outcome["stayed"], handler({"inputs": staying}))
    assert engine.batches.waiting() == 0 and not engine._lock.locked()


def test_out_of_memory_in_a_batch_retries_its_members_one_by_one(handler, monkeypatch, caplog):
    engine = handler.engine
    engine.feature_cache.clear()
    compute = engine.compute_features

    def small_only(images):
        if len(images) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return compute(images)

    monkeypatch.setattr(engine, "compute_features", small_only)
    with caplog.at_level(logging.WARNING, "sam3_core"):
        batched = handler({"inputs": MIXED[1:3]})
    assert "running them one by one" in caplog.text
    monkeypatch.undo()
    engine.feature_cache.clear()
    for answer, inputs in zip(batched, MIXED[1:3], strict=True):
        same_answer(answer, handler({"inputs": inputs}))


def test_one_requests_failure_never_fails_a_neighbour(handler, monkeypatch):
    engine = handler.engine
    engine.feature_cache.clear()
    poison = (123, 77)
    compute = engine.compute_features

    def fails_on_poison(images):
        if any(picture.size == poison for picture in images):
            raise torch.OutOfMemoryError("out of memory")
        return compute(images)

    outcome: dict[str, object] = {}

    def send(name: str, inputs: dict) -> None:
        try:
            outcome[name] = handler({"inputs": inputs})
        except ServiceUnavailable as error:
            outcome[name] = error

    monkeypatch.setattr(engine, "compute_features", fails_on_poison)
    poisoned = {"image": b64(encode(scene(*poison))), "text_prompts": ["a"]}
    queued_then_run(engine, [lambda: send("poison", poisoned), lambda: send("fine", MIXED[1])])
    monkeypatch.undo()
    assert isinstance(outcome["poison"], ServiceUnavailable)
    assert outcome["fine"]["success"] is True


def test_a_request_of_many_images_logs_one_line_with_its_batch(handler, caplog):
    with caplog.at_level(logging.INFO, logger="sam3_core.requests"):
        handler({"inputs": MIXED[:2]})
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sam3_core.requests"]
    assert line["outcome"] == "ok" and line["images"] == 2 and line["batch_images"] >= 2
    assert line["items"][0]["image"] == [320, 240] and line["items"][1]["boxes"] == 1


def test_a_request_of_many_images_takes_a_place_per_image():
    slots, entered, release = FairSlots(3), threading.Event(), threading.Event()

    def take_two() -> None:
        with slots.held(None, "decode", places=2):
            entered.set()
            release.wait(10)

    taker = threading.Thread(target=take_two)
    with slots.held(None, "decode", places=2):
        taker.start()
        wait_until(lambda: slots.waiting() == 1)
        assert slots.in_use() == 2 and not entered.is_set(), "2 + 2 places do not fit in 3"
    assert entered.wait(10) and slots.in_use() == 2
    release.set()
    taker.join(timeout=10)
    with slots.held(None, "decode", places=99):  # more places than there are: it takes them all
        assert slots.in_use() == 3
    assert slots.in_use() == 0


def test_a_waiter_whose_work_is_done_leaves_without_the_places():
    slots, done, granted = FairSlots(1), threading.Event(), []

    def wait() -> None:
        with slots.held(None, "engine", unless=done.is_set) as held:
            granted.append(held)

    with slots.held(None, "engine"):
        waiter = threading.Thread(target=wait)
        waiter.start()
        wait_until(lambda: slots.waiting() == 1)
        done.set()
    waiter.join(timeout=10)
    assert granted == [False] and slots.in_use() == 0 and slots.waiting() == 0


def queued_then_run(engine, calls: list) -> None:
    """Each call in its own thread, queued for the held engine in this order; then the engine is let go and they
    run as one batch."""
    threads = [threading.Thread(target=call) for call in calls]
    with engine.turns.turn(None, "engine"):
        for queued, thread in enumerate(threads, start=1):
            thread.start()
            wait_until(lambda queued=queued: engine.batches.waiting() == queued)
    for thread in threads:
        thread.join(timeout=120)
