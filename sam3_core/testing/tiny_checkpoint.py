#!/usr/bin/env python3
"""Write a tiny, randomly initialised SAM3 checkpoint in the file layout of ``facebook/sam3``.

    sam3-make-tiny OUT_DIR [--seed 41] [--full]

The layout matches the Hub repository as transformers' converter writes it: one ``config.json`` of model type
``sam3_video`` (``architectures`` ``["Sam3VideoModel"]``, a detector config and a tracker config), one
``model.safetensors`` whose keys are ``detector_model.*``, ``tracker_model.*`` and ``tracker_neck.*`` (the tracker
reads its ViT from ``detector_model.vision_encoder.backbone.*``), and the files of a ``Sam3VideoProcessor``: the
image processor, a video processor (mean and std 0.5, the model's input size) and a CLIP tokenizer whose
``model_max_length`` is the text encoder's 32 positions. ``Sam3VideoModel``, ``Sam3Model``, ``Sam3TrackerModel``,
``Sam3Processor`` and ``Sam3TrackerProcessor`` all load it with ``from_pretrained`` and nothing missing, and
``Sam3VideoModel`` tracks through a video with it (the neck is 128 wide, the least the video tracker's memory
works with).

The tiny model's input is 224x224 pixels (16x16 patches of 14, position embeddings of 8x8 patches tiled over
them, as the real model tiles 24x24 over 72x72): every size the code uses is read from the checkpoint's config
and processor files, and the test suite's requests cost a fraction of what they cost at 1008 (docs/DEVELOPMENT.md
has the suite's times before and after).

Runs offline in seconds. The weights are random: masks are meaningless, but shapes, code paths and
coordinate handling are those of the real model. ``--full`` keeps the default (real-size) architecture
(~840M parameters, ~3.4 GB, input 1008x1008, CLIP's 49,408-token vocabulary) for performance measurements.

Why the state dict is written by hand: ``Sam3VideoModel.save_pretrained`` applies the ``sam3_tracker``
weight-renaming rules in reverse to the nested tracker and writes ``tracker_model.tracker_model.*`` keys,
which ``Sam3TrackerModel.from_pretrained`` then reports as MISSING (mask decoder and prompt encoder left
random). Saving ``state_dict()`` as is gives the Hub checkpoint's key layout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import (
    CLIPTokenizer,
    Sam2VideoVideoProcessor,
    Sam3ImageProcessor,
    Sam3VideoConfig,
    Sam3VideoModel,
    Sam3VideoProcessor,
)

# CLIP's byte-level BPE alphabet: every byte maps to one printable unicode character.
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def _byte_alphabet() -> list[str]:
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


# The text encoder's positions, and so the tokenizer's ``model_max_length``, as in ``facebook/sam3``.
TEXT_POSITIONS = 32
# CLIP's vocabulary size: the full-size checkpoint's text embeddings are the real model's.
CLIP_VOCAB_SIZE = 49408


def tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer with no merges: every byte is a token (512 byte tokens + 2 specials)."""
    alphabet = _byte_alphabet()
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab.update({c + "</w>": i + 256 for i, c in enumerate(alphabet)})
    vocab[_BOS] = len(vocab)
    vocab[_EOS] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=TEXT_POSITIONS)


# Weight init std for the tiny model. The default (0.02) leaves every score at ~0.25 and every mask logit
# within 1e-3 of zero, so thresholds decide on noise; 0.15 (at the 128-wide neck) spreads scores over ~0.1-0.65
# and mask logits far from zero, which makes parity tests against the reference pipeline meaningful.
TINY_INIT_STD = 0.15
# The tiny model's input (pixels, square) and the input its position embeddings were "pretrained" at: 16x16
# patches of 14 and 8x8 position embeddings tiled twice over them (the real model: 72x72 and 24x24, 3 times).
TINY_IMAGE_SIZE = 224
TINY_PRETRAIN_IMAGE_SIZE = 112


def tiny_config(vocab_size: int, bos_token_id: int, eos_token_id: int) -> Sam3VideoConfig:
    """Every width, depth and query count shrunk, and the input (``TINY_IMAGE_SIZE``) with them; the feature maps
    keep the real model's ratios to the input (4x, 2x, 1x and 1/2x the patch grid)."""
    vit = {
        "model_type": "sam3_vit_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "window_size": 8,
        "global_attn_indexes": [1],
        "pretrain_image_size": TINY_PRETRAIN_IMAGE_SIZE,
    }
    # The neck width: 128, the least the video tracker works with. Its memory features have 64 channels (fixed in
    # the memory attention), and it splits each object pointer (neck width) into memory-width pieces, which
    # transformers only does when the neck is wider than 64.
    width = 128
    vision = {"model_type": "sam3_vision_model", "backbone_config": vit, "fpn_hidden_size": width}
    text = {
        "model_type": "clip_text_model",
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "projection_dim": width,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "pad_token_id": eos_token_id,
    }
    block = {"hidden_size": width, "intermediate_size": 2 * width, "num_attention_heads": 2, "num_layers": 1}
    detector = {
        "vision_config": vision,
        "text_config": text,
        "geometry_encoder_config": block,
        "detr_encoder_config": block,
        "detr_decoder_config": {**block, "num_queries": 20},
        "mask_decoder_config": {"hidden_size": width, "num_attention_heads": 2},
    }
    tracker = {
        "vision_config": vision,
        "prompt_encoder_config": {"hidden_size": width},
        "mask_decoder_config": {
            "hidden_size": width,
            "mlp_dim": 2 * width,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": width,
        },
        # The video tracker's memory (what Sam3VideoModel runs between frames).
        "memory_attention_hidden_size": width,
        "memory_attention_num_layers": 1,
        "memory_attention_num_attention_heads": 1,
        "memory_attention_feed_forward_hidden_size": 2 * width,
        "memory_encoder_hidden_size": width,
        "mask_downsampler_embed_dim": width,
        "memory_fuser_num_layers": 1,
        "memory_fuser_embed_dim": width,
        "memory_fuser_intermediate_dim": 2 * width,
    }
    config = Sam3VideoConfig(detector_config=detector, tracker_config=tracker)
    _set_input_size(config, TINY_IMAGE_SIZE)
    _set_init_std(config, TINY_INIT_STD)
    return config


def _set_input_size(config: Sam3VideoConfig, size: int) -> None:
    """The model's square input of ``size`` pixels, and every feature size that follows from it: transformers'
    ``image_size`` setter updates the tracker's; the detector's feature sizes and the video model's
    low-resolution masks (4x the patch grid) are set here."""
    config.image_size = size
    config.detector_config.vision_config.backbone_feature_sizes = (
        config.tracker_config.vision_config.backbone_feature_sizes
    )
    config.low_res_mask_size = config.tracker_config.vision_config.backbone_feature_sizes[0][0]


def hub_processor(tokenizer: CLIPTokenizer, image_size: int, mask_size: int) -> Sam3VideoProcessor:
    """The processor ``facebook/sam3`` ships (transformers' converter writes it): SAM3's image processor, a video
    processor with mean and std 0.5, and the tokenizer, for a model whose input is ``image_size`` pixels square and
    whose low-resolution masks are ``mask_size``."""
    square = {"height": image_size, "width": image_size}
    image_processor = Sam3ImageProcessor(size=square, mask_size={"height": mask_size, "width": mask_size})
    video_processor = Sam2VideoVideoProcessor(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], size=square)
    return Sam3VideoProcessor(image_processor=image_processor, video_processor=video_processor, tokenizer=tokenizer)


def _set_init_std(config, std: float) -> None:
    """Set ``initializer_range`` on a config and every nested sub-config."""
    if hasattr(config, "initializer_range"):
        config.initializer_range = std
    for value in vars(config).values():
        if hasattr(value, "to_dict") and hasattr(value, "initializer_range"):
            _set_init_std(value, std)


# The default seed: weights whose detector finds objects above the default threshold on the test scene for the
# prompts the tests use, with scores spread below and above it (threshold tests cut between them), and whose
# tracker scores the tests' clicks and boxes (the seed page's examples included) above it, and whose video tracker
# follows the test clips' shapes over several frames, so parity and contract tests compare objects rather than
# empty answers.
DEFAULT_SEED = 38


def checkpoint_config(tokenizer: CLIPTokenizer, full: bool) -> Sam3VideoConfig:
    """The config written: the real architecture (``full``: input 1008, CLIP's vocabulary, of which ``tokenizer``'s
    byte tokens are the first ids) or the tiny one; either names the Hub's architecture."""
    if full:
        config = Sam3VideoConfig()
        config.detector_config.text_config.vocab_size = CLIP_VOCAB_SIZE
    else:
        config = tiny_config(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    config.architectures = ["Sam3VideoModel"]
    return config


def make_checkpoint(out_dir: str | Path, seed: int = DEFAULT_SEED, full: bool = False) -> Path:
    """Write the checkpoint to ``out_dir`` (created if needed) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = tiny_tokenizer()
    config = checkpoint_config(tokenizer, full)
    torch.manual_seed(seed)
    model = Sam3VideoModel(config).eval()
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out)
    hub_processor(tokenizer, config.image_size, config.low_res_mask_size).save_pretrained(out)
    # The Hub repository also ships the slow-tokenizer files; write them for the same layout.
    vocab = tokenizer.get_vocab()
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, sort_keys=True))
    (out / "merges.txt").write_text("#version: 0.2\n")
    (out / "TINY_RANDOM_CHECKPOINT.json").write_text(
        json.dumps({"random_weights": True, "seed": seed, "full_size": full}) + "\n"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--full", action="store_true", help="real-size architecture (~3.4 GB), random weights")
    args = parser.parse_args(argv)
    out = make_checkpoint(args.out_dir, seed=args.seed, full=args.full)
    print(f"wrote {'full-size' if args.full else 'tiny'} random SAM3 checkpoint to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
