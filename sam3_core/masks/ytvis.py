"""Video tracking responses to YouTube-VIS (YTVIS 2019/2021) instance segmentation, the format VIS tools read.

One document per run::

    {"info": {...},
     "videos": [{"id", "file_name", "width", "height", "length", "fps", "frame_indices", "timestamps"}],
     "categories": [{"id", "name", "supercategory"}],          # one per prompt, ids from 1 in prompt order
     "annotations": [{"id", "video_id", "category_id", "object_id", "score", "iscrowd": 0, "length": 1,
                      "width", "height", "segmentations", "bboxes", "areas"}]}

Frames. The per-frame lists of an annotation (``segmentations``, ``bboxes``, ``areas``) have one entry per
*sampled* frame - the frames the request tracked (``frame_stride``, ``fps``, ``max_frames``) - in order, and
``length`` is their number, as in YTVIS where a video's ``file_names`` lists only its annotated frames (every 5th
frame of the source there). Entry ``i`` is source frame ``frame_indices[i]`` (0-based position in the video file)
at ``timestamps[i]`` seconds (index / the container's ``fps``; ``null`` when the container states no frame rate).
The video is named by ``file_name`` (the video file) rather than YTVIS's ``file_names`` (one JPEG per frame), as no
frame images are written: a loader that needs ``file_names`` can extract ``frame_indices`` from the file.

Per frame and object: ``null`` in all three lists where the object is not visible on that frame (YTVIS loaders skip
those entries); otherwise ``segmentations[i]`` is COCO RLE with compressed ``counts`` as a string
(``{"size": [height, width], "counts": "..."}``, column-major, what ``pycocotools.mask.decode`` reads),
``bboxes[i]`` is ``[x, y, width, height]`` in pixels from the frame's top-left corner (the tracker's box: the
object's extent before the masks of one prompt are made not to overlap, so a hidden object keeps its box while its
mask is empty) and ``areas[i]`` the mask's pixel count (0 for such an empty mask). ``score`` is the object's best
score over the frames, ``object_id`` the tracker's id within its video, ``length: 1`` and ``iscrowd: 0`` as in the
YTVIS files. Masks are never decoded here: areas come from the run lengths.
"""

from __future__ import annotations

from typing import Any

from sam3_core.masks import rle


def rle_area(encoded: dict[str, Any]) -> int:
    """Pixel count of a compressed COCO RLE mask (the sum of its runs of 1s), without decoding it."""
    counts = encoded["counts"]
    runs = rle.decompress_counts(counts) if isinstance(counts, str) else list(counts)
    return int(sum(runs[1::2]))


def video_entry(response: dict[str, Any]) -> dict[str, Any]:
    """The ``videos`` entry of a tracking response, without ``id`` and ``file_name``."""
    video = response["video"]
    return {
        "width": video["width"],
        "height": video["height"],
        "length": len(video["frame_indices"]),
        "fps": video["fps"],
        "frame_indices": list(video["frame_indices"]),
        "timestamps": None if video["timestamps"] is None else list(video["timestamps"]),
    }


def annotations_from_video_response(response: dict[str, Any], category_ids: dict[str, int]) -> list[dict]:
    """One YTVIS annotation (without ``id``/``video_id``) per tracked object of a video response, in
    ``object_id`` order; the per-frame lists follow ``response["video"]["frame_indices"]``."""
    video = response["video"]
    position = {index: number for number, index in enumerate(video["frame_indices"])}
    length = len(position)
    annotations = []
    for obj in sorted(response["objects"], key=lambda o: o["object_id"]):
        segmentations: list[dict | None] = [None] * length
        bboxes: list[list[float] | None] = [None] * length
        areas: list[int | None] = [None] * length
        for entry in obj["frames"]:
            number = position[entry["frame_index"]]
            x1, y1, x2, y2 = entry["box"]
            segmentations[number] = {"size": list(entry["rle"]["size"]), "counts": entry["rle"]["counts"]}
            bboxes[number] = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
            areas[number] = rle_area(entry["rle"])
        annotations.append(
            {
                "category_id": category_ids[obj["label"]],
                "object_id": obj["object_id"],
                "score": round(float(obj["score"]), 6),
                "iscrowd": 0,
                "length": 1,
                "width": video["width"],
                "height": video["height"],
                "segmentations": segmentations,
                "bboxes": bboxes,
                "areas": areas,
            }
        )
    return annotations


def build_ytvis(videos: list[tuple[str, dict[str, Any]]], prompts: list[str]) -> dict[str, Any]:
    """The YTVIS document of ``videos``: ``(file_name, record)`` pairs in the order of their ids (``video_id`` is
    the 1-based position in that list; ``None`` records, videos that failed, are left out but keep their id), each
    record ``{"video": video_entry(...), "annotations": annotations_from_video_response(...)}``. Annotation ids
    follow video then object order."""
    entries, annotations = [], []
    for video_id, (file_name, record) in enumerate(videos, start=1):
        if record is None:
            continue
        entries.append({"id": video_id, "file_name": file_name, **record["video"]})
        for annotation in record["annotations"]:
            annotations.append({"id": len(annotations) + 1, "video_id": video_id, **annotation})
    return {
        "info": {
            "description": "SAM3 concept tracking (YouTube-VIS format; per-frame lists cover the sampled frames)",
            "prompts": prompts,
        },
        "videos": entries,
        "categories": [
            {"id": index, "name": name, "supercategory": "object"} for index, name in enumerate(prompts, start=1)
        ],
        "annotations": annotations,
    }
