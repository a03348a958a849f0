"""The tiny checkpoint has the facebook/sam3 layout and loads completely; weight sources resolve as documented."""

from __future__ import annotations

import json
import logging
import shutil
from fnmatch import fnmatch

import pytest
import torch
from huggingface_hub.errors import GatedRepoError, RevisionNotFoundError
from safetensors.torch import load_file, save_file
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor, Sam3VideoProcessor

from sam3_core.model import checkpoint
from sam3_core.model.checkpoint import HUB_DEFAULT, resolve_source
from sam3_core.model.checkpoint_tensors import IncompleteCheckpoint
from sam3_core.model.engine import Sam3Engine
from sam3_core.settings import ModelSettings, Settings
from sam3_core.testing.tiny_checkpoint import (
    CLIP_VOCAB_SIZE,
    DEFAULT_SEED,
    TINY_IMAGE_SIZE,
    checkpoint_config,
    make_checkpoint,
    tiny_tokenizer,
)

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


def test_config_and_processor_are_saved_as_the_hubs(tiny_checkpoint):
    """The Hub's files as transformers' converter writes them: the architecture, and a Sam3VideoProcessor (video
    processor with mean/std 0.5 at the model's input size, the tokenizer's 32 positions) that the image models'
    processors also load."""
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["architectures"] == ["Sam3VideoModel"]
    saved = json.loads((tiny_checkpoint / "processor_config.json").read_text())
    assert saved["processor_class"] == "Sam3VideoProcessor"
    video = Sam3VideoProcessor.from_pretrained(tiny_checkpoint)
    assert list(video.video_processor.image_mean) == list(video.video_processor.image_std) == [0.5, 0.5, 0.5]
    assert video.video_processor.size.height == video.image_processor.size.height == TINY_IMAGE_SIZE
    processor = Sam3Processor.from_pretrained(tiny_checkpoint)
    assert processor.tokenizer.model_max_length == 32
    assert processor.tokenizer("a cat")["input_ids"][0] == processor.tokenizer.bos_token_id
    assert Sam3TrackerProcessor.from_pretrained(tiny_checkpoint).target_size == TINY_IMAGE_SIZE


def test_the_full_size_checkpoint_is_the_real_architecture():
    """What ``sam3-make-tiny --full`` writes (built here as a config only: the weights are 3.4 GB): the real input,
    feature maps and CLIP's vocabulary, so its memory figures are the real model's."""
    config = checkpoint_config(tiny_tokenizer(), full=True)
    assert config.image_size == 1008 and config.low_res_mask_size == 288
    assert config.detector_config.text_config.vocab_size == CLIP_VOCAB_SIZE == 49408
    assert config.architectures == ["Sam3VideoModel"]
    tiny = checkpoint_config(tiny_tokenizer(), full=False)
    assert tiny.image_size == TINY_IMAGE_SIZE and tiny.low_res_mask_size == 4 * TINY_IMAGE_SIZE // 14


def _edited_copy(tiny_checkpoint, directory, drop: str | None = None, add: str | None = None, shrink: str = ""):
    """A copy of the tiny checkpoint without the tensor ``drop``, with an extra tensor ``add``, or with the tensor
    ``shrink`` one row shorter."""
    shutil.copytree(tiny_checkpoint, directory)
    tensors = load_file(directory / "model.safetensors")
    if drop:
        del tensors[drop]
    if add:
        tensors[add] = torch.zeros(3)
    if shrink:
        tensors[shrink] = tensors[shrink][1:].clone()
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


@pytest.mark.parametrize(
    ("part", "tensor"),
    [
        ("detector", "detector_model.detr_decoder.box_head.layer1.weight"),
        ("tracker", "tracker_model.mask_decoder.conv_s0.weight"),
        ("tracker", "tracker_neck.fpn_layers.0.proj1.weight"),
        ("video tracker", "tracker_model.memory_attention.layer_norm.weight"),
    ],
)
def test_a_checkpoint_missing_a_tensor_is_refused_at_start_naming_it(tiny_checkpoint, tmp_path, part, tensor):
    directory = _edited_copy(tiny_checkpoint, tmp_path / "sam3", drop=tensor)
    with pytest.raises(IncompleteCheckpoint) as refused:
        Sam3Engine.from_directory(directory, torch.device("cpu"), torch.float32)
    message = str(refused.value)
    assert f"{part}: 1 (" in message and tensor.split(".", 1)[1] in message
    assert len(message) < 600


def test_a_video_tracker_tensor_of_another_shape_is_refused_at_start(tiny_checkpoint, tmp_path):
    """The detector's and the tracker's shapes are transformers' to check when it loads them; the video tracker's,
    built only at the first video request, are checked at start against the files' headers."""
    tensor = "tracker_model.memory_attention.layer_norm.weight"
    directory = _edited_copy(tiny_checkpoint, tmp_path / "sam3", shrink=tensor)
    with pytest.raises(IncompleteCheckpoint, match=rf"video tracker, of another shape: 1 \({tensor}\)"):
        Sam3Engine.from_directory(directory, torch.device("cpu"), torch.float32)


def test_an_extra_tensor_is_named_in_a_warning_and_the_model_loads(tiny_checkpoint, tmp_path, caplog):
    directory = _edited_copy(tiny_checkpoint, tmp_path / "sam3", add="detector_model.left_over.weight")
    with caplog.at_level(logging.WARNING, logger="sam3_core"):
        engine = Sam3Engine.from_directory(directory, torch.device("cpu"), torch.float32)
    assert engine.detector is not None
    assert "tensors no model reads (ignored): 1 (detector_model.left_over.weight)" in caplog.text
    assert "can yield errors" not in caplog.text, "each model is given its part of the sam3_video config"


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


def test_a_pinned_revision_reaches_every_hub_call_and_only_the_loaded_weights_come_down(
    tiny_checkpoint, tmp_path, monkeypatch
):
    """SAM3_MODEL_REVISION is sent with every request; of the repository's safetensors only the model's come down
    (not another format's file beside them), nor its licence; a revision the repository lacks fails."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache"))
    repository = tmp_path / "hub-sam3"
    shutil.copytree(tiny_checkpoint, repository)
    (repository / "sam3_original.safetensors").write_bytes(b"not loaded")
    (repository / "LICENSE").write_text("the SAM licence")
    hub = FakeHub(token="hf_test")
    hub.add_model(HUB_DEFAULT, repository, gated=True, tags=("v1.0",))
    revision = Settings.from_env({"SAM3_MODEL_REVISION": "v1.0"}).model.revision
    source = checkpoint.CheckpointSource(HUB_DEFAULT, "test")
    with hub.install():
        directory = checkpoint.local_directory(source, token="hf_test", revision=revision)
        with pytest.raises(RevisionNotFoundError):
            checkpoint.local_directory(source, token="hf_test", revision="no-such-tag")
    reads = [rev for repo, rev in hub.revisions if repo == HUB_DEFAULT]
    assert reads[:-1] and set(reads[:-1]) == {"v1.0", hub.commits(HUB_DEFAULT)["v1.0"]}, "never main"
    assert reads[-1] == "no-such-tag"
    names = {path.name for path in directory.iterdir()}
    assert "model.safetensors" in names and not names & {"sam3_original.safetensors", "LICENSE"}


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
