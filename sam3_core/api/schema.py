"""How clients send the fields of a request, declared once on its dataclass with the constructors here.

``SegmentRequest`` (``sam3_core.api.request``) declares each field a client may send as, e.g.,
``confidence_threshold: float = number(0.5, 0.0, 1.0)``: its check, default and bounds. From that follow the
accepted names (and "did you mean"), the defaults, the checks (``parse_sent``), which fields a query string
carries as comma-separated lists (``ClientField.query_list``) and docs/API.md's table of fields
(tests/unit/test_schema.py holds them together).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sam3_core.api.values import parse_boolean, parse_coordinate_list, parse_labels, parse_number, parse_text_prompts
from sam3_core.settings import Limits

SENT = "sent"  # the metadata key that marks a dataclass field clients send; its value is a ClientField


class Check(IntEnum):
    """How a field's value is checked. Fields are checked in this order, then in their declaration order, so a
    request with several bad fields is refused for the same one every time."""

    TEXT = 1  # text prompts (``parse_text_prompts``)
    COORDINATES = 2  # a list of items of ``width`` numbers, at most ``Limits.<limit>`` of them
    LABELS = 3  # one 0/1 label per item of the field ``of``
    BOOLEAN = 4
    NUMBER = 5  # a number in [low, high]
    LIMITED = 6  # an integer in [1, ``Limits.<limit>``]; absent: that limit (the deployment's)
    OPTIONS = 7  # passed as sent (``None``: absent): the request parser checks it with the rest of the request


@dataclass(frozen=True)
class ClientField:
    """One field as clients send it: its check, the value an absent (or null) field has, and the check's bounds."""

    check: Check
    default: Any = None
    low: float = -math.inf
    high: float = math.inf
    width: int = 1  # COORDINATES: numbers per item
    limit: str = ""  # COORDINATES, LIMITED: the ``Limits`` attribute bounding the count or the value
    of: str = ""  # LABELS: the field labelled

    def parse(self, name: str, value: object, limits: Limits, parsed: Mapping[str, Any]) -> Any:
        """Field ``name``'s ``value`` checked (``None``: the default); ``parsed`` holds the fields checked before it
        (the labelled field of a LABELS one). Raises ``RequestError`` naming the field."""
        if value is None:
            if self.check is Check.LIMITED:
                return getattr(limits, self.limit)
            if self.check is Check.LABELS:  # absent labels: every item positive, as SAM2 clients send them
                return (1,) * len(parsed[self.of])
            value = self.default
        match self.check:
            case Check.TEXT:
                return parse_text_prompts(value, limits)
            case Check.COORDINATES:
                return parse_coordinate_list(value, name, self.width, getattr(limits, self.limit))
            case Check.LABELS:
                return parse_labels(value, name, len(parsed[self.of]), self.of)
            case Check.BOOLEAN:
                return parse_boolean(value, name)
            case Check.NUMBER:
                return parse_number(value, name, self.low, self.high)
            case Check.LIMITED:
                return int(parse_number(value, name, 1, getattr(limits, self.limit), integer=True))
        return value  # OPTIONS: the request parser checks it with the rest of the request

    @property
    def query_list(self) -> tuple[type, int] | None:
        """``(item type, numbers per item)`` when a query string carries the field as a comma-separated list."""
        shapes = {Check.TEXT: (str, 1), Check.LABELS: (int, 1), Check.COORDINATES: (float, self.width)}
        return shapes.get(self.check)


def _sent(spec: ClientField, default: Any) -> Any:
    return dataclasses.field(default=default, metadata={SENT: spec})


def text() -> Any:
    """Text prompts: a list of strings (or one string), none by default."""
    return _sent(ClientField(Check.TEXT, ()), ())


def coordinates(width: int, limit: str) -> Any:
    """A list of ``width``-number items (points 2, boxes 4), at most ``Limits.<limit>``; none by default."""
    return _sent(ClientField(Check.COORDINATES, (), width=width, limit=limit), ())


def labels(of: str) -> Any:
    """One 0/1 label per item of field ``of``; absent, every item is positive (1), as transformers' SAM processors
    and SAM2 clients take points and boxes without labels."""
    return _sent(ClientField(Check.LABELS, (), of=of), ())


def boolean() -> Any:
    """``true`` or ``false``, false by default."""
    return _sent(ClientField(Check.BOOLEAN, False), False)


def number(default: float, low: float, high: float) -> Any:
    """A number in ``[low, high]``."""
    return _sent(ClientField(Check.NUMBER, default, low, high), default)


def limited(limit: str) -> Any:
    """An integer from 1 to the deployment's ``Limits.<limit>``, which is also its default."""
    return _sent(ClientField(Check.LIMITED, limit=limit), getattr(Limits, limit))


def options() -> Any:
    """An object (or ``true``/``false``) the request parser reads itself; absent by default."""
    return _sent(ClientField(Check.OPTIONS), None)


def client_fields(cls: type) -> dict[str, ClientField]:
    """The fields of dataclass ``cls`` that clients send, by name, in declaration order."""
    return {spec.name: spec.metadata[SENT] for spec in dataclasses.fields(cls) if SENT in spec.metadata}


def parse_sent(specs: Mapping[str, ClientField], fields: Mapping, limits: Limits) -> dict[str, Any]:
    """Every field of ``specs`` checked from ``fields`` (absent or null: its default), in ``Check`` order."""
    parsed: dict[str, Any] = {}
    for name, spec in sorted(specs.items(), key=lambda item: item[1].check):
        parsed[name] = spec.parse(name, fields.get(name), limits, parsed)
    return parsed
