"""Faults inside a request (out of memory, a failure while encoding one object) give clean errors, then service."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import sam3_core.api.response
from sam3_core.errors import InternalError, ServiceUnavailable

from helpers import b64, encode, scene

GOOD = {"text_prompts": ["cat"], "points": [[85, 95]], "point_labels": [1], "confidence_threshold": 0.0}


def test_out_of_memory_in_the_backbone_is_503_and_frees_the_caches(handler, image_b64, monkeypatch):
    handler({"inputs": {"image": image_b64, **GOOD}})
    assert len(handler.engine.feature_cache) > 0 and len(handler.engine.text_cache) > 0

    def exhausted(images):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(handler.engine, "compute_features", exhausted)
    with pytest.raises(ServiceUnavailable, match="out of memory"):
        handler({"inputs": {"image": b64(encode(scene(321, 240))), **GOOD}})  # not cached: reaches the backbone
    assert len(handler.engine.feature_cache) == 0 and len(handler.engine.text_cache) == 0
    monkeypatch.undo()
    assert handler({"inputs": {"image": image_b64, **GOOD}})["num_objects"] > 0


def test_out_of_memory_in_the_prompts_is_503(handler, image_b64, monkeypatch):
    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(handler.engine.concepts, "detect", exhausted)
    with pytest.raises(ServiceUnavailable):
        handler({"inputs": {"image": image_b64, **GOOD}})
    monkeypatch.undo()
    assert handler({"inputs": {"image": image_b64, **GOOD}})["success"] is True


def test_failure_encoding_one_object_is_a_clean_500_with_an_id(handler, image_b64, monkeypatch, caplog):
    real = sam3_core.api.response.png_base64
    calls = []

    def flaky(*changes_and_size):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("libpng exploded")
        return real(*changes_and_size)

    monkeypatch.setattr(sam3_core.api.response, "png_base64", flaky)
    with caplog.at_level(logging.INFO), pytest.raises(InternalError, match=r"internal error \(id [0-9a-f]{12}\)"):
        handler({"inputs": {"image": image_b64, **GOOD}})
    assert "libpng exploded" in caplog.text, "the details go to the log"
    monkeypatch.undo()
    assert handler({"inputs": {"image": image_b64, **GOOD}})["success"] is True


def test_one_structured_log_line_per_request_without_image_bytes(handler, image_b64, caplog):
    secret_prompt = "a very long and private prompt text"
    with caplog.at_level(logging.INFO, logger="sam3_core.requests"):
        handler({"inputs": {"image": image_b64, "text_prompts": [secret_prompt], "return_timings": True}})
        with pytest.raises(ValueError):
            handler({"inputs": {"image": image_b64, "points": [[1, 1]], "point_labels": [7]}})
    lines = [record.getMessage() for record in caplog.records if record.name == "sam3_core.requests"]
    assert len(lines) == 2
    ok, bad = map(json.loads, lines)
    assert ok["outcome"] == "ok" and ok["status"] == 200 and ok["image"] == [320, 240] and ok["text_prompts"] == 1
    assert {"id", "objects", "backbone_ms", "prompts_ms", "total_ms"} <= set(ok)
    assert ok["prompt_prefixes"] == [secret_prompt[:12]]
    assert bad["outcome"] == "bad_request" and bad["status"] == 400 and "point_labels[0]" in bad["error"]
    text = "\n".join(lines)
    assert secret_prompt not in text and image_b64[:40] not in text


def test_max_objects_keeps_the_highest_scores_in_order(handler, image_b64):
    inputs = {"image": image_b64, "text_prompts": ["cat", "dog"], "confidence_threshold": 0.0}
    everything = handler({"inputs": inputs})
    limited = handler({"inputs": {**inputs, "max_objects": 7}})
    best = sorted(everything["scores"], reverse=True)[:7]
    assert limited["num_objects"] == 7 and sorted(limited["scores"], reverse=True) == best
    assert limited["scores"] == [score for score in everything["scores"] if score in best]
    with pytest.raises(ValueError, match="max_objects"):
        handler({"inputs": {**inputs, "max_objects": 101}})
    with pytest.raises(ValueError, match="integer"):
        handler({"inputs": {**inputs, "max_objects": 2.5}})
