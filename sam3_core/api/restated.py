"""Fields that only restate what the answer gives or what the request already says.

Request code written for other SAM3 endpoints sends them: a prompt's type next to the prompt (``prompt_type``,
or the answer's own ``prompt_types``), the model's version (``sam_version``), the polygons' convention
(``polygon_format``), and asking for what every answer carries (``return_masks``, ``return_scores``,
``return_boxes``). Each is honoured when it agrees with the request, and refused, naming it, when it contradicts
the request or asks for something this endpoint does not do. Any other unknown field stays refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sam3_core.errors import RequestError

SAM_VERSION = "3.0"
POLYGON_FORMAT = "pixel_coordinates"
ALWAYS_RETURNED = {"return_masks": "masks", "return_scores": "scores", "return_boxes": "boxes"}
# ``prompt_type``'s values, each with the kinds of prompt (``prompt_types``) that agree with it.
PROMPT_TYPES = {
    "text": {"text"},
    "visual": {"visual"},
    "point": {"visual"},
    "points": {"visual"},
    "box": {"visual"},
    "boxes": {"visual"},
}
RESTATED = ("prompt_types", "prompt_type", "sam_version", "polygon_format", *ALWAYS_RETURNED)


def check_restated(fields: Mapping, prompt_types: Sequence[str], given: Mapping[str, bool]) -> None:
    """Refuse a restating field of ``fields`` that contradicts the request; those that agree are read and dropped.

    ``prompt_types``: the kinds of prompt the request carries (``["text"]``, ``["visual"]`` or both); ``given``:
    whether it carries ``points`` and ``boxes`` (``prompt_type: "points"`` needs points).
    """
    kinds = set(prompt_types)
    if (value := fields.get("prompt_types")) is not None:
        if not isinstance(value, (list, tuple)) or not all(isinstance(kind, str) for kind in value):
            raise RequestError("prompt_types", 'expected a list such as ["text"] or ["text", "visual"]')
        if set(value) != kinds:
            raise RequestError(
                "prompt_types", f"says {sorted(set(value))}, but the request's prompts are {sorted(kinds)}"
            )
    if (value := fields.get("prompt_type")) is not None:
        wanted = PROMPT_TYPES.get(value) if isinstance(value, str) else None
        if wanted is None:
            raise RequestError("prompt_type", f"expected one of {', '.join(PROMPT_TYPES)}")
        needs = {"point": "points", "points": "points", "box": "boxes", "boxes": "boxes"}.get(value)
        if wanted != kinds or (needs and not given.get(needs)):
            raise RequestError("prompt_type", f"says {value!r}, but the request's prompts are {sorted(kinds)}")
    value = fields.get("sam_version")
    if value is not None and (isinstance(value, bool) or str(value)[:10] not in ("3", "3.0")):
        raise RequestError("sam_version", f"this endpoint runs SAM {SAM_VERSION}")
    if (value := fields.get("polygon_format")) is not None and value != POLYGON_FORMAT:
        raise RequestError("polygon_format", f"polygons are given in pixels only: '{POLYGON_FORMAT}'")
    for name, what in ALWAYS_RETURNED.items():
        value = fields.get(name)
        if value is not None and value is not True:
            raise RequestError(name, f"every answer carries the {what}; send true or leave it out")
