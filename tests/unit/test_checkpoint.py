"""The tiny checkpoint has the facebook/sam3 layout and loads completely; weight sources resolve as documented."""

from __future__ import annotations

import json
from fnmatch import fnmatch

import pytest
import torch
from huggingface_hub.errors import GatedRepoError
from safetensors.torch import load_file
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor

from sam3_core.model import checkpoint
from sam3_core.model.checkpoint import HUB_DEFAULT, resolve_source
from sam3_core.settings import ModelSettings, Settings
from sam3_core.testing.tiny_checkpoint import DEFAULT_SEED, make_checkpoint

from fake_hub import FakeHub


def test_layout_matches_the_hub_repository(tiny_checkpoint):
    names = {path.name for path in tiny_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= names
    assert {"tokenizer_config.json", "vocab.json", "merges.txt"} <= names
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["model_type"] == "sam3_video"
    prefixes = {key.split(".")[0] for key in load_file(tiny_checkpoint / "model.safetensors")}
    assert prefixes == {"detector_model", "tracker_model", "tracker_neck"}


@pytest.mark.parametrize("model_class", [Sam3Model, Sam3TrackerModel])
def test_every_weight_loads(tiny_checkpoint, model_class):
    _, report = model_class.from_pretrained(tiny_checkpoint, output_loading_info=True)
    assert not report["missing_keys"]
    assert list(report["mismatched_keys"]) == []
    assert list(report["error_msgs"]) == []


def test_processors_load(tiny_checkpoint):
    processor = Sam3Processor.from_pretrained(tiny_checkpoint)
    assert processor.tokenizer("a cat")["input_ids"][0] == processor.tokenizer.bos_token_id
    assert Sam3TrackerProcessor.from_pretrained(tiny_checkpoint).target_size == 1008


def test_deterministic_for_a_seed(tmp_path, tiny_checkpoint):
    again = load_file(make_checkpoint(tmp_path / "a", seed=DEFAULT_SEED) / "model.safetensors")
    other = load_file(make_checkpoint(tmp_path / "b", seed=DEFAULT_SEED + 1) / "model.safetensors")
    original = load_file(tiny_checkpoint / "model.safetensors")
    assert all(torch.equal(original[name], again[name]) for name in original)
    assert any(not torch.equal(original[name], other[name]) for name in original)


def test_source_precedence(tiny_checkpoint, tmp_path):
    assert resolve_source(str(tiny_checkpoint), ModelSettings(model_id="me/my-sam3")).location == "me/my-sam3"
    assert resolve_source(str(tiny_checkpoint), ModelSettings()).location == str(tiny_checkpoint)
    fallback = resolve_source(str(tmp_path), ModelSettings())
    assert fallback.location == HUB_DEFAULT and "SAM3_MODEL_ID" in fallback.reason


def test_loads_from_model_id_env_directory(tiny_checkpoint, tmp_path, monkeypatch, image_b64):
    monkeypatch.setenv("SAM3_MODEL_ID", str(tiny_checkpoint))
    monkeypatch.setenv("SAM3_DEVICE", "cpu")
    from handler import EndpointHandler

    handler = EndpointHandler(str(tmp_path))  # an endpoint repository with code only
    response = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 0.0}})
    assert response["success"] and response["num_objects"] > 0


def test_loads_from_hub_id(tiny_checkpoint, tmp_path, monkeypatch):
    """The real download code against the fake Hub (tests/fake_hub.py): gated, so the token is needed."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache"))
    hub = FakeHub(token="hf_test")
    hub.add_model(HUB_DEFAULT, tiny_checkpoint, gated=True)
    source = resolve_source(str(tmp_path / "repository"), ModelSettings())
    assert source.location == HUB_DEFAULT
    with hub.install():
        with pytest.raises(GatedRepoError):
            checkpoint.local_directory(source, token=None)
        directory = checkpoint.local_directory(source, token="hf_test")
    assert directory.is_relative_to(tmp_path / "cache")
    expected = {p.name for p in tiny_checkpoint.iterdir() if any(fnmatch(p.name, g) for g in checkpoint.HUB_FILES)}
    assert {p.name for p in directory.iterdir()} == expected
    assert (directory / "model.safetensors").read_bytes() == (tiny_checkpoint / "model.safetensors").read_bytes()


def test_directory_that_is_not_a_checkpoint_fails_loudly(tmp_path):
    with pytest.raises(RuntimeError, match="not a SAM3 checkpoint"):
        checkpoint.local_directory(checkpoint.CheckpointSource(str(tmp_path), "test"))


def test_device_and_dtype_selection():
    cpu = Settings.from_env({"SAM3_DEVICE": "cpu"}).model
    assert checkpoint.select_device(cpu) == (torch.device("cpu"), torch.float32)
    bf16 = Settings.from_env({"SAM3_DEVICE": "cpu", "SAM3_DTYPE": "BFloat16"}).model
    assert checkpoint.select_device(bf16)[1] == torch.bfloat16
    with pytest.raises(ValueError, match="SAM3_DTYPE='int8': expected one of float32, bfloat16, float16"):
        Settings.from_env({"SAM3_DEVICE": "cpu", "SAM3_DTYPE": "int8"})
