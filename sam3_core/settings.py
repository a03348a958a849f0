"""Every setting of the service: read once from the environment by ``Settings.from_env`` and passed explicitly.

Each field names its environment variable and how it is read; an unset or empty variable keeps the default. One
rule for a bad value: ``SettingsError`` (a ``ValueError``) naming the variable and what it accepts, and start-up
fails. The configuration table of docs/API.md lists the same variables.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """An environment variable with a value the service cannot use."""


def _number(kind: type, accept: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """A reader of ``kind`` (int or float) values that ``accept`` allows; ``expected`` goes into the error."""

    def parse(raw: str) -> Any:
        value = kind(raw)
        if not accept(value):
            raise ValueError
        return value

    parse.expected = expected  # type: ignore[attr-defined]
    return parse


_positive_int = _number(int, lambda value: value > 0, "a positive integer")
_non_negative_int = _number(int, lambda value: value >= 0, "a non-negative integer")
_port = _number(int, lambda value: 0 < value < 65536, "a port number (1-65535)")
_grid_side = _number(int, lambda value: 0 < value <= 64, "an integer from 1 to 64")
_positive_float = _number(float, lambda value: 0 < value < math.inf, "a positive number")
_fraction = _number(float, lambda value: 0 <= value <= 1, "a number from 0 to 1")


def _flag(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ValueError
    return raw == "1"


_flag.expected = "0 or 1"  # type: ignore[attr-defined]


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(host.strip().lower() for host in raw.split(",") if host.strip())


def _prompts(raw: str) -> tuple[str, ...]:
    return tuple(prompt.strip() for prompt in raw.split(",") if prompt.strip())


def _text(raw: str) -> str:
    return raw


DTYPE_NAMES = ("float32", "bfloat16", "float16")  # torch dtypes the models may run in


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices:
            raise ValueError
        return raw.lower()

    parse.expected = "one of " + ", ".join(choices)  # type: ignore[attr-defined]
    return parse


def env(name: str, parse: Callable[[str], Any], default: Any, secret: bool = False) -> Any:
    """A dataclass field read from environment variable ``name`` with ``parse`` (immutable defaults only); a
    ``secret`` one is left out of the settings' ``repr``."""
    return field(default=default, repr=not secret, metadata={"env": name, "parse": parse})


def _read(cls: type, environ: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if "env" not in spec.metadata:  # a nested settings group
            values[spec.name] = _read(spec.default_factory, environ)  # type: ignore[misc]
            continue
        name, parse = spec.metadata["env"], spec.metadata["parse"]
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            values[spec.name] = parse(raw)
        except (ValueError, OverflowError):
            raise SettingsError(f"{name}={raw[:40]!r}: expected {parse.expected}") from None
    return cls(**values)


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one request may ask for (positive integers)."""

    max_image_pixels: int = env("SAM3_MAX_IMAGE_PIXELS", _positive_int, 50_000_000)  # decoded width * height
    max_image_bytes: int = env("SAM3_MAX_IMAGE_BYTES", _positive_int, 50 * 1024 * 1024)  # encoded, after base64
    max_text_prompts: int = env("SAM3_MAX_TEXT_PROMPTS", _positive_int, 32)
    # Characters per text prompt; the model also reads at most 32 tokens (checked separately).
    max_prompt_chars: int = env("SAM3_MAX_PROMPT_CHARS", _positive_int, 256)
    max_points: int = env("SAM3_MAX_POINTS", _positive_int, 64)
    max_boxes: int = env("SAM3_MAX_BOXES", _positive_int, 64)
    max_objects: int = env("SAM3_MAX_OBJECTS", _positive_int, 100)  # returned per request; highest scores kept
    # Images in one request ({"inputs": [...]}), and the most images the engine runs as one batch (requests
    # waiting meanwhile run together up to it; 1: every image on its own).
    max_batch_images: int = env("SAM3_MAX_BATCH_IMAGES", _positive_int, 16)
    # Videos (``"video"`` requests): the encoded file (or all frames of a frame list) after base64, the length of
    # the source video in seconds (it is decoded up to its end or max_frames), the frames tracked after sampling,
    # and the pixels of one frame (4K UHD).
    max_video_bytes: int = env("SAM3_MAX_VIDEO_BYTES", _positive_int, 50 * 1024 * 1024)
    max_video_seconds: float = env("SAM3_MAX_VIDEO_SECONDS", _positive_float, 600.0)
    max_video_frames: int = env("SAM3_MAX_VIDEO_FRAMES", _positive_int, 300)
    max_video_frame_pixels: int = env("SAM3_MAX_VIDEO_FRAME_PIXELS", _positive_int, 3840 * 2160)


@dataclass(frozen=True)
class RequestSettings:
    """What the service needs per request: the limits, where image URLs may come from, task defaults, and how
    many requests it works on at once."""

    limits: Limits = field(default_factory=Limits)
    # Requests decoded and worked on at once (decode, model, response); later ones wait, holding only their body.
    # Bounds the working set: each holds its decoded image (3 bytes per pixel) and its masks until answered.
    max_active: int = env("SAM3_MAX_ACTIVE", _positive_int, 8)
    # Image URLs are refused unless the operator lists the hosts they may come from.
    url_hosts: tuple[str, ...] = env("SAM3_URL_HOSTS", _hosts, ())
    url_timeout_s: float = env("SAM3_URL_TIMEOUT_S", _positive_float, 10.0)  # for the whole download
    # Text prompts for image-segmentation task requests that bring none (unset: segment everything).
    default_prompts: tuple[str, ...] = env("SAM3_DEFAULT_PROMPTS", _prompts, ())
    # Segment-everything defaults (a request's "automatic" options override them).
    amg_points_per_side: int = env("SAM3_AMG_POINTS_PER_SIDE", _grid_side, 16)
    amg_min_stability: float = env("SAM3_AMG_MIN_STABILITY", _fraction, 0.9)
    # Video sessions open at once (each holds its frames as lossless PNG: at most SAM3_MAX_VIDEO_FRAMES), and the
    # seconds an idle one is kept; the least recently used idle one is closed for a new one.
    max_sessions: int = env("SAM3_MAX_SESSIONS", _positive_int, 4)
    session_ttl_s: float = env("SAM3_SESSION_TTL_S", _positive_float, 600.0)
    # Bytes one session may hold on the host (its frames, the detector's answers, the tracker's memories of clicked
    # and boxed objects: about 0.7 MB per object and frame with facebook/sam3); a propagation that passes it stops.
    session_max_bytes: int = env("SAM3_SESSION_MAX_BYTES", _positive_int, 2 * 1024**3)


@dataclass(frozen=True)
class ModelSettings:
    """Which weights, on which device and dtype (see ``sam3_core.model.checkpoint``)."""

    model_id: str | None = env("SAM3_MODEL_ID", _text, None)  # a Hub id or a directory; overrides the repository
    revision: str | None = env("SAM3_MODEL_REVISION", _text, None)  # a Hub commit or tag; unset: main
    hf_token: str | None = env("HF_TOKEN", _text, None, secret=True)  # for gated or private Hub weights
    device: str | None = env("SAM3_DEVICE", _text, None)  # e.g. cpu, cuda:1; default cuda when available
    dtype: str | None = env("SAM3_DTYPE", _choice(*DTYPE_NAMES), None)


@dataclass(frozen=True)
class EngineSettings:
    """Caches, batching and compilation of the inference engine."""

    feature_cache_mb: int = env("SAM3_FEATURE_CACHE_MB", _non_negative_int, 1024)  # 0 disables
    text_cache_mb: int = env("SAM3_TEXT_CACHE_MB", _non_negative_int, 64)
    # Text prompts per detector batch; unset: 8 on CPU (batching gains nothing there and costs memory), 32 on a
    # GPU (20 prompts in one batch: 1.44x faster than in batches of 8 on an H200, +2.5 GB peak).
    prompt_batch: int | None = env("SAM3_PROMPT_BATCH", _positive_int, None)
    # Images per ViT pass within a batch; unset: 8 on a GPU, 2 on CPU. Bounds the activations' memory.
    vit_batch: int | None = env("SAM3_VIT_BATCH", _positive_int, None)
    compile: bool = env("SAM3_COMPILE", _flag, False)  # torch.compile the ViT during warm-up


@dataclass(frozen=True)
class ServerSettings:
    """The standalone HTTP server (``sam3-serve``, the custom container, ``sam3-app``)."""

    port: int = env("PORT", _port, 8080)
    max_body_mb: int = env("SAM3_MAX_BODY_MB", _positive_int, 80)
    max_waiting: int = env("SAM3_MAX_WAITING", _positive_int, 64)
    # Seconds a connection has to deliver a whole request (headers and body) once it is ready for one.
    read_timeout_s: float = env("SAM3_READ_TIMEOUT_S", _positive_float, 30.0)
    max_connections: int = env("SAM3_MAX_CONNECTIONS", _positive_int, 128)  # open at once; requests beyond: 503
    # Every route but /health answers 401 without it (sam3_core.server.access); unset: open to whoever reaches it.
    api_token: str | None = env("SAM3_API_TOKEN", _text, None, secret=True)
    # The endpoint repository (the container sets /repository, where Inference Endpoints mounts it).
    model_dir: str | None = env("HF_MODEL_DIR", _text, None)
    # Where ``sam3-app`` listens: a Space sets these two (to 0.0.0.0 and 7860).
    space_host: str = env("GRADIO_SERVER_NAME", _text, "127.0.0.1")
    space_port: int = env("GRADIO_SERVER_PORT", _port, 7860)


@dataclass(frozen=True)
class LabelStudioSettings:
    """The Label Studio whose uploads and local-storage files ``sam3-serve``'s Label Studio backend may read (the
    variables label-studio-ml-backend reads): its base URL and an API key (a legacy token or a personal access
    token). The key is sent only to that host and never logged (``repr`` hides it)."""

    url: str | None = env("LABEL_STUDIO_URL", _text, None)  # e.g. http://localhost:8080
    api_key: str | None = env("LABEL_STUDIO_API_KEY", _text, None, secret=True)


@dataclass(frozen=True)
class Settings:
    """All settings, in groups, one per layer that reads them."""

    request: RequestSettings = field(default_factory=RequestSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    label_studio: LabelStudioSettings = field(default_factory=LabelStudioSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Defaults overridden by the environment; raises ``SettingsError`` for a malformed value."""
        return _read(cls, environ)
