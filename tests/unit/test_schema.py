"""The request schema, declared once on ``SegmentRequest`` (``sam3_core.api.schema``): docs/API.md's table of
request fields lists exactly the declared fields with their declared defaults; fields are checked in ``Check``
order; a query string's lists follow the declaration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sam3_core.api.request import CLIENT_FIELDS, FIELDS, parse_payload, parse_query_value
from sam3_core.api.schema import Check, ClientField
from sam3_core.errors import RequestError
from sam3_core.settings import Limits, RequestSettings

ROOT = Path(__file__).resolve().parents[2]
TYPE_WORDS = {Check.BOOLEAN: "bool", Check.NUMBER: "number", Check.LIMITED: "integer >= 1"}


def documented_fields() -> dict[str, tuple[str, str]]:
    """docs/API.md's table of request fields: name -> (type, default), as written."""
    request = (ROOT / "docs" / "API.md").read_text().split("\n## Request\n", 1)[1].split("\n## ", 1)[0]
    table = request.split("| field | type | default | meaning |\n", 1)[1].split("\n\n", 1)[0]
    rows = [row.split("|", 4)[1:4] for row in table.splitlines() if row.startswith("| `")]
    return {name.strip().strip("`"): (kind.strip(), default.strip()) for name, kind, default in rows}


def documented_default(spec: ClientField) -> str:
    """How the table writes ``spec``'s default."""
    if spec.check is Check.LABELS:
        return "all 1"
    if spec.check is Check.LIMITED:
        variable = next(f.metadata["env"] for f in dataclasses.fields(Limits) if f.name == spec.limit)
        return f"`{variable}` ({getattr(Limits, spec.limit)})"
    return "absent" if spec.default is None else f"`{json.dumps(spec.default)}`"


def test_the_api_reference_table_lists_every_field_with_its_default():
    documented = documented_fields()
    assert set(documented) == set(FIELDS)
    assert documented["image"][1] == "required"
    for name, spec in CLIENT_FIELDS.items():
        kind, default = documented[name]
        assert default == documented_default(spec), name
        assert kind.startswith(TYPE_WORDS.get(spec.check, "")), name


def test_several_bad_fields_are_refused_for_the_first_checked():
    # (field, a bad value, a good one), in the order the fields are checked (``Check``, then declaration order)
    fixes = [
        ("text_prompts", [""], ["cat"]),
        ("points", [[1]], [[1, 1]]),
        ("boxes", [[0, 0, 1]], [[0, 0, 1, 1]]),
        ("point_labels", [5], [1]),
        ("box_labels", [3], [1]),
        ("multimask_output", 1, None),
        ("vectorize", "yes", None),
        ("return_timings", 0, None),
        ("confidence_threshold", 2, None),
        ("simplify_epsilon", -1, None),
        ("max_objects", 0, None),
        ("automatic", True, None),
        ("image", "%%%", None),
    ]
    fields = {name: bad for name, bad, _ in fixes}
    for name, _, good in fixes:
        with pytest.raises(RequestError) as raised:
            parse_payload({"inputs": fields}, RequestSettings())
        assert raised.value.field.split("[")[0] == name
        fields[name] = good


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("boxes", "1,2,3,4, 5,6,7,8", [[1, 2, 3, 4], [5, 6, 7, 8]]),
        ("points", "10,20", [[10, 20]]),
        ("point_labels", "1,0", [1, 0]),
        ("text_prompts", "cat, dog", ["cat", "dog"]),
        ("prompts", "cat,dog", ["cat", "dog"]),
        ("candidate_labels", "cat", ["cat"]),
        ("prompt", "cat,dog", "cat,dog"),
        ("max_objects", "3", 3),
        ("vectorize", "True", True),
    ],
)
def test_query_values_follow_the_declaration(name, text, expected):
    assert parse_query_value(name, text) == expected


def test_a_query_list_of_coordinates_comes_in_whole_items():
    with pytest.raises(RequestError, match="expected a multiple of 4 comma-separated numbers"):
        parse_query_value("boxes", "1,2,3")
