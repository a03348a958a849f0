"""Many images in one request: ``{"inputs": [{...}, {...}, ...], "parameters": {...}}``.

Each element of the list is a main-API ``inputs`` object (its own image, prompts and options); ``parameters``,
when given, applies to every element as in the single form (an element's own fields win). The answer is a list
of the single form's responses, in order. A bad element fails the whole request before any model work, with
its index in the field name (``inputs[2].image: is not valid base64``): nothing else in it is answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from sam3_core.api.request import SegmentRequest, parse_payload, payload_parts
from sam3_core.errors import PayloadTooLarge, RequestError
from sam3_core.settings import RequestSettings

PARSE_THREADS = 8  # elements parsed at once (image headers read, base64 decoded)


def is_batch_payload(data: object) -> bool:
    """Whether ``data`` is the many-images form (``inputs`` is a list)."""
    return isinstance(data, Mapping) and isinstance(data.get("inputs"), list)


def batch_size(data: Mapping, settings: RequestSettings) -> int:
    """How many images a many-images payload holds, checked before anything in it is read: ``RequestError`` for
    an empty list, ``PayloadTooLarge`` (413) beyond ``SAM3_MAX_BATCH_IMAGES``."""
    count, limit = len(data["inputs"]), settings.limits.max_batch_images
    if count == 0:
        raise RequestError("inputs", "is an empty list: send at least one object of fields")
    if count > limit:
        raise PayloadTooLarge("inputs", f"has {count} images, at most {limit} per request (SAM3_MAX_BATCH_IMAGES)")
    return count


def parse_batch_payload(data: Mapping, settings: RequestSettings) -> list[SegmentRequest]:
    """Validate every element (in parallel) as a single ``{"inputs": element, "parameters": ...}`` payload; the
    lowest-index error is raised, its field prefixed ``inputs[i].``, its class (and HTTP status) kept."""
    batch_size(data, settings)
    elements, parameters = payload_parts(data)
    for index, element in enumerate(elements):
        if not isinstance(element, Mapping):
            raise RequestError(f"inputs[{index}]", f"expected an object of fields, got {type(element).__name__}")

    def parse(element: Mapping) -> SegmentRequest | RequestError:
        payload = {"inputs": element, "parameters": parameters}
        try:
            return parse_payload(payload, settings)
        except RequestError as error:
            return error

    if len(elements) == 1:
        parsed = [parse(elements[0])]
    else:
        with ThreadPoolExecutor(min(len(elements), PARSE_THREADS)) as pool:
            parsed = list(pool.map(parse, elements))
    for index, item in enumerate(parsed):
        if isinstance(item, RequestError):
            raise element_error(index, item)
    return parsed


def element_error(index: int, error: RequestError) -> RequestError:
    """``error`` of element ``index``, its field named ``inputs[index].field``, same class, ``element`` set."""
    located = type(error)(f"inputs[{index}].{error.field}", error.problem)
    located.element = index
    located.__cause__ = error.__cause__
    return located
