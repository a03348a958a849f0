"""A Label Studio labeling config (its XML) read for what this backend can fill.

What is read (tag names as Label Studio writes them, matched without regard to case):
- the first ``Image`` tag: its ``name`` (results' ``to_name``) and ``value`` (``$image``: the task data key);
- the output control on that image, the first of ``BrushLabels`` (masks), ``PolygonLabels`` (polygons) and
  ``RectangleLabels`` (boxes), in that order of preference; its ``Label`` children are the concepts a task is
  pre-annotated with. A label's prompt is its ``alias``, else its ``hint``, else its ``value`` (so a label shown
  as ``P`` can prompt for "person"); results carry the ``value``;
- the controls a user prompts with: ``KeyPointLabels`` (smart clicks), ``RectangleLabels`` (smart boxes),
  ``TextArea`` (typed concepts). Which of them the context of an interactive call holds is read from its results.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from sam3_core.errors import RequestError, brief, quote

OUTPUT_KINDS = ("brushlabels", "polygonlabels", "rectanglelabels")  # in order of preference
MAX_CONFIG_CHARS = 200_000


@dataclass(frozen=True)
class ProjectLabel:
    """One ``Label`` of the output control: the ``value`` results carry and the concept prompt it stands for."""

    value: str
    prompt: str


@dataclass(frozen=True)
class LabelingConfig:
    """What a labeling config gives this backend.

    ``output_kind``: the result type written (``brushlabels``, ``polygonlabels`` or ``rectanglelabels``) by the
    control ``output_name`` on the image ``image_name``, whose URL is the task's ``data[image_key]``.
    """

    image_name: str
    image_key: str
    output_kind: str
    output_name: str
    labels: tuple[ProjectLabel, ...]

    def label_for(self, text: str) -> str | None:
        """The label whose value or prompt is ``text`` (case and surrounding spaces ignored), if any."""
        wanted = text.strip().casefold()
        for label in self.labels:
            if wanted in (label.value.casefold(), label.prompt.casefold()):
                return label.value
        return None


def _tag(element: ElementTree.Element) -> str:
    return element.tag.lower() if isinstance(element.tag, str) else ""


def _label(element: ElementTree.Element) -> ProjectLabel | None:
    value = (element.get("value") or "").strip()
    if not value:
        return None
    prompt = next(
        (text.strip() for text in (element.get("alias"), element.get("hint")) if text and text.strip()), value
    )
    return ProjectLabel(value, prompt)


def parse_labeling_config(text: object, field: str = "label_config") -> LabelingConfig:
    """The backend's reading of a labeling config; ``RequestError`` naming ``field`` when the XML is not a
    config or holds nothing this backend can fill (no ``Image``, or no mask, polygon or rectangle control on it)."""
    if not isinstance(text, str) or not text.strip():
        raise RequestError(field, "is missing: send the project's labeling config (XML)")
    if len(text) > MAX_CONFIG_CHARS:
        raise RequestError(field, f"is over {MAX_CONFIG_CHARS} characters")
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise RequestError(field, f"is not valid XML ({brief(exc, 80)})") from None
    elements = list(root.iter())
    image = next((element for element in elements if _tag(element) == "image" and element.get("name")), None)
    if image is None:
        raise RequestError(field, "has no <Image> tag: this backend segments images")
    image_key = (image.get("value") or "").strip().lstrip("$")
    if not image_key:
        raise RequestError(field, f"<Image name={quote(image.get('name', ''))}> has no value such as $image")
    image_name = image.get("name", "")
    controls = [
        element
        for element in elements
        if image_name in [name.strip() for name in (element.get("toName") or "").split(",")]
    ]
    for kind in OUTPUT_KINDS:
        output = next((element for element in controls if _tag(element) == kind and element.get("name")), None)
        if output is not None:
            labels = tuple(label for child in output if _tag(child) == "label" and (label := _label(child)))
            return LabelingConfig(image_name, image_key, kind, output.get("name", ""), labels)
    raise RequestError(
        field,
        f"has no <BrushLabels>, <PolygonLabels> or <RectangleLabels> on <Image name={quote(image_name)}>: "
        "nothing this backend can fill",
    )
