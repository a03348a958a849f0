"""The web UI's downloads of a result: the overlay (PNG, the picture's size), the masks (a zip of PNGs, one per
object) and the result as a COCO instance-segmentation file (``sam3_core.masks.coco``: boxes ``[x, y, width,
height]`` in pixels, masks as compressed RLE)."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path

from sam3_core.ui.render import Picture, decode_mask, full_overlay


def stem(name: str) -> str:
    """A file-name-safe stem of an uploaded file's ``name`` (``"picture"`` when nothing usable is left)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._")
    return cleaned[:60] or "picture"


def overlay_png(picture: Picture, response: dict, shown: list[int] | None = None) -> bytes:
    """``render.full_overlay`` of the objects in ``shown`` (indices; default all) as PNG bytes."""
    buffer = io.BytesIO()
    full_overlay(picture.image, response, shown).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def masks_zip(response: dict) -> bytes:
    """A zip of one 8-bit PNG (0 background, 255 object, the picture's size) per object, named
    ``NN_label.png`` in response order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for index, (png, label) in enumerate(zip(response["masks"], response["labels"], strict=True)):
            decode_mask(png)  # a mask that is not a PNG fails here, not in the user's image viewer
            archive.writestr(f"{index:02d}_{stem(label)}.png", base64.b64decode(png))
    return buffer.getvalue()


def coco_document(response: dict, file_name: str, size: tuple[int, int]) -> dict:
    """The response as a COCO file: one image (``size`` is width, height), one category per label (in order
    of first appearance), one annotation per object (``sam3_core.masks.coco.annotations_from_response``, RLE)."""
    from sam3_core.masks.coco import annotations_from_response

    names = list(dict.fromkeys(response["labels"]))
    category_ids = {name: index for index, name in enumerate(names, start=1)}
    annotations = annotations_from_response(response, category_ids, "rle")
    for number, annotation in enumerate(annotations, start=1):
        annotation.update(id=number, image_id=1)
    width, height = size
    return {
        "info": {"description": "SAM3 segmentation"},
        "images": [{"id": 1, "file_name": file_name, "width": width, "height": height}],
        "categories": [{"id": i, "name": name, "supercategory": "object"} for name, i in category_ids.items()],
        "annotations": annotations,
    }


def write_downloads(folder: Path, picture: Picture, response: dict, shown: list[int] | None = None) -> list[Path]:
    """The three downloads of ``response`` on ``picture`` written into ``folder``: ``<stem>_overlay.png`` (the
    objects in ``shown``), ``<stem>_masks.zip`` and ``<stem>_coco.json`` (every object)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = stem(picture.name)
    overlay = folder / f"{name}_overlay.png"
    overlay.write_bytes(overlay_png(picture, response, shown))
    masks = folder / f"{name}_masks.zip"
    masks.write_bytes(masks_zip(response))
    coco = folder / f"{name}_coco.json"
    coco.write_text(json.dumps(coco_document(response, picture.name, picture.size)))
    return [overlay, masks, coco]


def video_coco_document(response: dict, file_name: str) -> dict:
    """A video response as a COCO file: one image per sampled frame (``file_name`` with the frame's source index,
    ``frame_index``), one category per label (in order of first appearance), one annotation per object and frame
    it is on, with ``track_id`` (the object's id: the same object on every frame), ``bbox`` ``[x, y, width,
    height]`` in pixels, the mask as compressed RLE and its ``area``."""
    from sam3_core.masks.ytvis import rle_area

    video = response["video"]
    image_ids = {index: number for number, index in enumerate(video["frame_indices"], start=1)}
    names = list(dict.fromkeys(obj["label"] for obj in response["objects"]))
    category_ids = {name: index for index, name in enumerate(names, start=1)}
    annotations = []
    for obj in response["objects"]:
        for entry in obj["frames"]:
            x1, y1, x2, y2 = entry["box"]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_ids[entry["frame_index"]],
                    "category_id": category_ids[obj["label"]],
                    "track_id": obj["object_id"],
                    "segmentation": entry["rle"],
                    "area": rle_area(entry["rle"]),
                    "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                    "score": entry["score"],
                    "iscrowd": 0,
                }
            )
    base = Path(file_name).stem or "video"
    images = [
        {"id": number, "file_name": f"{base}_{index:06d}.jpg", "frame_index": index, "width": video["width"],
         "height": video["height"]}
        for index, number in image_ids.items()
    ]  # fmt: skip
    return {
        "info": {"description": "SAM3 video segmentation (one image per sampled frame)", "video": file_name},
        "images": images,
        "categories": [{"id": i, "name": name, "supercategory": "object"} for name, i in category_ids.items()],
        "annotations": annotations,
    }


def write_video_downloads(folder: Path, file_name: str, response: dict) -> list[Path]:
    """A video session's result written into ``folder``: ``<stem>_tracks.json`` (the video response),
    ``<stem>_ytvis.json`` (YouTube-VIS, ``sam3_core.masks.ytvis``) and ``<stem>_coco.json``
    (``video_coco_document``)."""
    from sam3_core.masks.ytvis import annotations_from_video_response, build_ytvis, video_entry

    folder.mkdir(parents=True, exist_ok=True)
    name = stem(file_name)
    labels = list(dict.fromkeys(obj["label"] for obj in response["objects"]))
    category_ids = {label: index for index, label in enumerate(labels, start=1)}
    record = {"video": video_entry(response), "annotations": annotations_from_video_response(response, category_ids)}
    written = {
        folder / f"{name}_tracks.json": response,
        folder / f"{name}_ytvis.json": build_ytvis([(file_name, record)], labels),
        folder / f"{name}_coco.json": video_coco_document(response, file_name),
    }
    for path, document in written.items():
        path.write_text(json.dumps(document))
    return list(written)
