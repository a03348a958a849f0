"""The validators every request parser shares: each checks one value and raises ``RequestError`` naming its field.

Coordinates are pixels of the upright image: points ``[x, y]``, boxes ``[x1, y1, x2, y2]`` (x right, y down).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence

from sam3_core.errors import QUOTE_CHARS, RequestError, quote
from sam3_core.model.work import Box, Point
from sam3_core.settings import Limits


def unknown_name(
    key: object,
    accepted: Iterable[str],
    problem: str,
    prefix: str = "",
    kind: str = "fields",
    also: Iterable[str] = (),
) -> RequestError:
    """The error for a key nobody reads: ``prefix + key: problem; did you mean 'x'?`` (among ``accepted`` and
    ``also``), else the ``accepted`` names listed; the key quoted short when it is not a plain identifier."""
    accepted = tuple(accepted)
    name = key if isinstance(key, str) else f"<{type(key).__name__}>"
    close = difflib.get_close_matches(name, (*accepted, *also), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"accepted {kind} are {', '.join(accepted)}"
    shown = name if name.isidentifier() and len(name) <= QUOTE_CHARS else quote(name)
    return RequestError(f"{prefix}{shown}", f"{problem}; {hint}")


def check_points_inside(points: Sequence[Point], width: int, height: int, what: str = "image") -> None:
    """Refuse a point outside ``[0, width] x [0, height]``, naming it (``points[i]``)."""
    for index, (x, y) in enumerate(points):
        if not (0.0 <= x <= width and 0.0 <= y <= height):
            raise RequestError(f"points[{index}]", f"({x:g}, {y:g}) is outside the {width}x{height} {what}")


def parse_text_prompts(value: object, limits: Limits) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise RequestError("text_prompts", f"expected a list of strings, got {type(value).__name__}")
    if len(value) > limits.max_text_prompts:
        raise RequestError("text_prompts", f"{len(value)} prompts, the limit is {limits.max_text_prompts}")
    prompts = []
    for index, prompt in enumerate(value):
        field = f"text_prompts[{index}]"
        if not isinstance(prompt, str):
            raise RequestError(field, f"expected a string, got {type(prompt).__name__}")
        prompt = " ".join(prompt.split())
        if not prompt:
            raise RequestError(field, "is empty")
        if len(prompt) > limits.max_prompt_chars:
            raise RequestError(field, f"is {len(prompt)} characters, the limit is {limits.max_prompt_chars}")
        if not prompt.isascii():
            try:
                prompt.encode("utf-8")  # JSON's "\ud800" escape parses into a lone surrogate; the tokenizer refuses it
            except UnicodeEncodeError:
                raise RequestError(field, "holds a lone surrogate (not valid Unicode text)") from None
        prompts.append(prompt)
    return tuple(prompts)


def parse_coordinate_list(value: object, field: str, width: int, limit: int) -> list[tuple[float, ...]]:
    shape = "[[x, y], ...]" if width == 2 else "[[x1, y1, x2, y2], ...]"
    if not isinstance(value, (list, tuple)):
        raise RequestError(field, f"expected a list {shape}, got {type(value).__name__}")
    if len(value) > limit:
        raise RequestError(field, f"{len(value)} given, the limit is {limit}")
    items = []
    for index, item in enumerate(value):
        if not isinstance(item, (list, tuple)) or len(item) != width:
            raise RequestError(f"{field}[{index}]", f"expected {width} numbers, as in {shape}")
        items.append(tuple(parse_number(v, f"{field}[{index}][{k}]") for k, v in enumerate(item)))
    return items


def parse_labels(value: object, field: str, expected: int, of: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise RequestError(field, f"expected a list of 0/1 labels, got {type(value).__name__}")
    if len(value) != expected:
        raise RequestError(field, f"has {len(value)} labels for {expected} {of}; give one 0/1 label per entry")
    labels = []
    for index, label in enumerate(value):
        if isinstance(label, bool) or not isinstance(label, (int, float)):
            raise RequestError(f"{field}[{index}]", f"expected 0 or 1, got {type(label).__name__}")
        if label not in (0, 1):
            shown = f"{label:g}" if isinstance(label, float) or abs(label) < 10**15 else "a larger integer"
            raise RequestError(f"{field}[{index}]", f"expected 0 or 1, got {shown}")
        labels.append(int(label))
    return tuple(labels)


def parse_number(
    value: object, field: str, low: float = -math.inf, high: float = math.inf, integer: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(field, f"expected {'an integer' if integer else 'a number'}, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a float's range (JSON allows integers of any length)
        raise RequestError(field, "is too large a number") from None
    if not math.isfinite(number):
        raise RequestError(field, "must be a finite number")
    if integer and not number.is_integer():
        raise RequestError(field, f"expected an integer, got {number:g}")
    if not low <= number <= high:
        raise RequestError(field, f"{number:g} is outside [{low:g}, {high:g}]")
    return number


def parse_object(value: object, field: str) -> Mapping:
    """``value`` when it is a JSON object."""
    if not isinstance(value, Mapping):
        raise RequestError(field, f"expected an object, got {type(value).__name__}")
    return value


def parse_list(value: object, field: str) -> list:
    """``value`` when it is a JSON list."""
    if not isinstance(value, list):
        raise RequestError(field, f"expected a list, got {type(value).__name__}")
    return value


def parse_boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(field, f"expected true or false, got {type(value).__name__}")
    return value


def clip_box(box: tuple[float, ...], index: int, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        raise RequestError(f"boxes[{index}]", "needs x2 > x1 and y2 > y1 (format [x1, y1, x2, y2] in pixels)")
    clipped = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise RequestError(f"boxes[{index}]", f"lies outside the {width}x{height} image")
    return clipped
