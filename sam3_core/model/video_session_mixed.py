"""A video session that takes every kind of prompt, as Meta's SAM3 video predictor with instance interactivity
(facebookresearch/sam3, ``Sam3VideoInferenceWithInstanceInteractivity``) mixes them: text finds every instance
(the detector and its tracker, ``ConceptSession``); clicks and boxes add one object each, or refine one whatever
prompt made it (the memory tracker, ``VisualSession``).

- ``add_text`` starts over with the concepts, text and/or exemplar boxes (Meta: a semantic prompt starts the
  session over), clicked and boxed objects included; it answers the prompt frame's objects. What follows says
  "text-found" of every object the concepts found, exemplar boxes included.
- ``add_visual`` prompts objects on one frame: a new id adds an object, a clicked object's id refines it, and a
  text-found object's id hands that object from the detector to the tracker. transformers has no API for that
  step (its ``Sam3VideoModel`` takes text only), so it is built from its tracker's public session API:

  - the tracker is conditioned on the object's mask on the first frame the detector's answers list it on (a mask
    input, as ``Sam3VideoModel`` conditions its tracker on a new detection), unless that frame is within
    ``REFINE_WINDOW`` frames of the click's: Meta clears detector conditioning frames that near a refinement
    (``refinement_detector_cond_frame_removal_window``);
  - on the click's frame it gets the clicks with the box of the object's mask there (SAM2's box and points).
    Meta's tracker feeds the previous mask itself with the clicks (``iter_use_prev_mask_pred``);
    transformers' tracker takes a mask or clicks on a frame, not both, so the box stands for the mask.

  From then on that object's masks come from the tracker on every frame; the detector's other objects are
  unchanged. A text-found object can be refined on a frame the detector's answers reach (the prompt frame, or a
  propagated one), as Meta's needs its cached outputs there; a new object on any frame the text prompt's objects
  are known on, or on any frame without text.
- ``propagate`` lists on each frame the detector's objects and the tracker's, a tracker object replacing the
  detector's of the same id. The detector's objects come from the last concept propagation when it covered every
  frame asked and nothing changed since (Meta's "fetch": detection does not run again, and object ids cannot
  change); otherwise the concept propagation runs (``ConceptSession.propagate``) and its answers are kept.
  A detection run after objects were clicked or boxed in may give one of their ids to a new detection: that
  detection is reported as ``RENAMED`` + its id.
- ``remove_object`` hides an object until a prompt names it again; ``reset`` forgets every prompt.

Kept between requests besides the frames: the detector's answers (object ids, labels, scores, boxes and COCO RLE
masks: bytes per object per frame, not pixels) and the tracker's state (on the host, ``VisualSession``).
Positions are 0-based among the session's frames; coordinates are pixels of the frame, boxes xyxy, x2/y2
exclusive (``FrameObjects``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from sam3_core.errors import RequestError
from sam3_core.masks import rle
from sam3_core.masks.postprocess import mask_box
from sam3_core.media.video_io import Frame
from sam3_core.model.video import FrameObjects, SessionOptions, VideoTracker
from sam3_core.model.video_session import DIRECTIONS, ConceptSession, Exemplars, SessionFrames
from sam3_core.model.video_session_visual import VisualSession
from sam3_core.model.work import VisualObject

REFINE_WINDOW = 16  # Meta's refinement_detector_cond_frame_removal_window
RENAMED = 1_000_000  # added to a detector id that a clicked or boxed object took first


@dataclass(frozen=True)
class KeptObjects:
    """One frame's objects as the detector answered them, kept compactly: masks as COCO RLE (``masks.rle``)."""

    frame: Frame
    object_ids: tuple[int, ...]
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    boxes: torch.Tensor
    masks: tuple[dict, ...]

    @classmethod
    def of(cls, objects: FrameObjects) -> KeptObjects:
        masks = tuple(rle.encode(mask) for mask in objects.masks.numpy())
        ids, labels, scores = tuple(objects.object_ids), tuple(objects.labels), tuple(objects.scores)
        return cls(objects.frame, ids, labels, scores, objects.boxes.clone(), masks)

    @property
    def nbytes(self) -> int:
        return sum(len(mask["counts"]) for mask in self.masks) + self.boxes.nbytes

    def mask(self, object_id: int) -> torch.Tensor:
        """Object ``object_id``'s mask, ``(height, width)`` bool."""
        return torch.from_numpy(rle.decode(self.masks[self.object_ids.index(object_id)]))

    def objects(self, leaving: set[int], size: tuple[int, int]) -> FrameObjects:
        """The frame's objects but those in ``leaving``; masks ``(n, height, width)`` at ``size``."""
        rows = [row for row, object_id in enumerate(self.object_ids) if object_id not in leaving]
        masks = [torch.from_numpy(rle.decode(self.masks[row])) for row in rows]
        return FrameObjects(
            frame=self.frame,
            object_ids=[self.object_ids[row] for row in rows],
            labels=[self.labels[row] for row in rows],
            scores=[self.scores[row] for row in rows],
            masks=torch.stack(masks) if masks else torch.zeros((0, *size), dtype=torch.bool),
            boxes=self.boxes[rows].reshape(-1, 4),
        )


class VideoSession:
    """One video's session for every kind of prompt (see the module docstring); one operation at a time."""

    def __init__(self, tracker: VideoTracker, frames: SessionFrames) -> None:
        self.video = frames
        self.frames, self.height, self.width = frames.frames, frames.height, frames.width
        self.positions = {frame.index: position for position, frame in enumerate(self.frames)}
        self.concepts = ConceptSession(tracker, frames)
        self.tracked = VisualSession(tracker, frames)
        self.reset()

    def reset(self) -> None:
        """Back to no prompt (Meta's ``reset_session``)."""
        self.concepts.reset()
        self.tracked.reset()
        self.detected: dict[int, KeptObjects] = {}  # position -> the detector's objects there
        self.detected_with: SessionOptions | None = None
        self.first_seen: dict[int, int] = {}  # object id -> the first position the detector's answers list it on
        self.labels: dict[int, str] = {}  # tracker object id -> its label, where not "visual" (a concept's)
        self.renamed: dict[int, int] = {}  # detector id -> the id it is reported as
        self.hidden: set[int] = set()

    @property
    def nbytes(self) -> int:
        """Bytes kept: the frames (lossless PNG), the detector's answers (RLE) and the tracker's state."""
        return self.video.nbytes + sum(kept.nbytes for kept in self.detected.values()) + self.tracked.state_bytes

    @property
    def prompt_types(self) -> list[str]:
        visual = self.tracked.object_ids or self.concepts.exemplars is not None
        return (["text"] if self.concepts.texts else []) + (["visual"] if visual else [])

    @property
    def object_ids(self) -> set[int]:
        return set(self.first_seen) | self.tracked.object_ids

    def _keep(self, objects: FrameObjects, options: SessionOptions) -> None:
        added = self.tracked.object_ids - self.labels.keys()  # clicked or boxed in, not handed over
        for object_id in added.intersection(objects.object_ids) - self.first_seen.keys():
            self.renamed[object_id] = RENAMED + object_id
        if self.renamed:
            ids = [self.renamed.get(object_id, object_id) for object_id in objects.object_ids]
            objects = FrameObjects(objects.frame, ids, objects.labels, objects.scores, objects.masks, objects.boxes)
        position = self.positions[objects.frame.index]
        self.detected[position] = KeptObjects.of(objects)
        self.detected_with = options
        for object_id in objects.object_ids:
            self.first_seen.setdefault(object_id, position)

    def _listed(self, position: int, tracked: FrameObjects | None) -> FrameObjects:
        """Frame ``position``'s objects: the detector's there (but those the tracker holds) and ``tracked``'s, in
        increasing id order, hidden ones left out."""
        size, frame = (self.height, self.width), self.frames[position]
        if tracked is not None and tracked.frame.index != frame.index:
            raise RuntimeError(f"the tracker answered frame {tracked.frame.index} for {frame.index}")
        parts = [] if tracked is None else [_relabelled(tracked, self.labels)]
        if position in self.detected:
            parts.append(self.detected[position].objects(self.tracked.object_ids, size))
        return _merged(frame, parts, self.hidden, size)

    def add_text(
        self,
        position: int,
        texts: Sequence[str],
        options: SessionOptions,
        cancel: threading.Event | None = None,
        exemplars: Exemplars | None = None,
    ) -> FrameObjects:
        """Start over with concepts ``texts`` and/or ``exemplars`` (boxes on that frame) prompted on frame
        ``position``; that frame's objects."""
        self.reset()
        objects = self.concepts.add_text(position, texts, options, cancel, exemplars)
        self._keep(objects, options)
        return self._listed(position, None)

    def add_visual(
        self,
        position: int,
        prompts: Sequence[tuple[int, VisualObject]],
        options: SessionOptions,
        cancel: threading.Event | None = None,
    ) -> FrameObjects:
        """Prompt objects on frame ``position``: ``(object id, its points and/or box)`` each (see the module
        docstring); that frame's objects. ``RequestError`` naming ``frame_index`` where a text prompt's objects
        are not known on that frame yet."""
        if self.concepts.prompted and position not in self.detected:
            raise RequestError(
                "frame_index",
                f"the text prompt's objects are not known on frame {self.frames[position].index} yet: "
                "propagate_in_video there first",
            )
        ready = []
        for object_id, obj in prompts:
            if object_id in self.first_seen and object_id not in self.tracked.object_ids:
                obj = self._hand_over(position, object_id, obj, cancel)
            self.hidden.discard(object_id)
            ready.append((object_id, obj))
        tracked = self.tracked.add(position, ready, options.confidence_threshold, cancel)
        return self._listed(position, tracked)

    def _hand_over(
        self, position: int, object_id: int, obj: VisualObject, cancel: threading.Event | None
    ) -> VisualObject:
        """Make text-found ``object_id`` the tracker's (see the module docstring): the prompt ``obj`` gets the
        box of its mask on frame ``position``."""
        here = self.detected[position]
        if object_id not in here.object_ids:
            raise RequestError(
                "obj_id",
                f"object {object_id} is not on frame {self.frames[position].index}: "
                "refine it on a frame it is found on, or give a new id to add an object",
            )
        found = self.first_seen[object_id]
        if abs(found - position) > REFINE_WINDOW:
            self.tracked.seed(found, object_id, self.detected[found].mask(object_id), cancel)
        self.labels[object_id] = here.labels[here.object_ids.index(object_id)]
        box = obj.box if obj.box is not None else mask_box(here.mask(object_id).numpy())
        return VisualObject(obj.points, obj.point_labels, box)

    def propagate(
        self,
        direction: str,
        start: int | None,
        count: int | None,
        options: SessionOptions,
        cancel: threading.Event | None = None,
    ) -> Iterator[FrameObjects]:
        """The objects of each frame propagation reaches, in the order they are known. ``start``: the first frame
        (default: the text prompt's, else the earliest clicked or boxed); ``count``: frames past it at most."""
        concepts, tracked = self.concepts.prompted, self.tracked.object_ids
        if not concepts and not tracked:
            raise RequestError("session_id", "the session has no prompt yet: add_prompt first")
        if start is None:
            start = self.concepts.prompt_position if concepts else min(self.tracked.prompt_positions)
        threshold = options.confidence_threshold
        by_tracker = self.tracked.propagate(direction, start, count, threshold, cancel) if tracked else None
        if not concepts:
            for objects in by_tracker:
                yield self._listed(self.positions[objects.frame.index], objects)
            return
        order = self._order(direction, start, count)
        fetch = options == self.detected_with and all(position in self.detected for position in order)
        detected = iter(order) if fetch else self._detect(direction, start, count, options, cancel)
        for position in detected:
            yield self._listed(position, next(by_tracker) if by_tracker is not None else None)

    def _detect(self, direction, start, count, options, cancel) -> Iterator[int]:
        """Run the concept propagation, keeping each frame's answer; the positions, in order."""
        for objects in self.concepts.propagate(direction, start, count, options, cancel):
            self._keep(objects, options)
            yield self.positions[objects.frame.index]

    def _order(self, direction: str, start: int, count: int | None) -> list[int]:
        """The positions a propagation visits, in order (as ``VisualSession.propagate`` and transformers)."""
        last = len(self.frames) - 1
        count = len(self.frames) if count is None else count
        passes, order = DIRECTIONS[direction], []
        for reverse in passes:
            if reverse:
                visited = list(range(start, max(start - count, 0) - 1, -1)) if start > 0 else []
                order += visited[1:] if len(passes) > 1 else visited
            else:
                order += list(range(start, min(start + count, last) + 1))
        return order

    def remove_object(self, object_id: int) -> None:
        self.hidden.add(object_id)


def _relabelled(objects: FrameObjects, labels: dict[int, str]) -> FrameObjects:
    if not labels:
        return objects
    relabelled = [
        labels.get(object_id, label) for object_id, label in zip(objects.object_ids, objects.labels, strict=True)
    ]
    return FrameObjects(objects.frame, objects.object_ids, relabelled, objects.scores, objects.masks, objects.boxes)


def _merged(frame: Frame, parts: list[FrameObjects], hidden: set[int], size: tuple[int, int]) -> FrameObjects:
    """One frame's objects from several listings, in increasing id order, those in ``hidden`` left out."""
    rows = sorted(
        ((object_id, part, row) for part in parts for row, object_id in enumerate(part.object_ids)),
        key=lambda found: found[0],
    )
    rows = [found for found in rows if found[0] not in hidden]
    masks = [part.masks[row] for _, part, row in rows]
    return FrameObjects(
        frame=frame,
        object_ids=[object_id for object_id, _, _ in rows],
        labels=[part.labels[row] for _, part, row in rows],
        scores=[part.scores[row] for _, part, row in rows],
        masks=torch.stack(masks) if masks else torch.zeros((0, *size), dtype=torch.bool),
        boxes=torch.stack([part.boxes[row] for _, part, row in rows]) if rows else torch.zeros((0, 4)),
    )
