"""Video sessions through the handler: the same answers as transformers' own session API on the same frames
(``Sam3VideoProcessor.init_video_session`` + ``add_text_prompt`` + ``Sam3VideoModel.propagate_in_video_iterator``,
hotstart included) forward, backward and both ways; the prompt frame's objects as transformers gives them for that
frame alone (24 frames: the tracker's memories older than its 16-frame horizon are dropped on the way); objects
removed, sessions reset, closed, expired, bounded; every bad request a short error naming its field."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import Sam3TrackerVideoModel, Sam3TrackerVideoProcessor, Sam3VideoModel, Sam3VideoProcessor

from sam3_core.errors import PayloadTooLarge, RequestError, ServiceUnavailable
from sam3_core.masks import rle
from sam3_core.masks.postprocess import mask_box
from sam3_core.model.transformers_internals import use_video_postprocessing
from sam3_core.model.video import SessionOptions
from sam3_core.model.video_postprocess import CvUtils, mask_iou
from sam3_core.video_sessions import OpenSession, SessionNotFound, SessionStore

from clips import disc_frames
from helpers import b64, encode, iou

PROMPTS = ["disc", "square"]
OPTIONS = {"confidence_threshold": 0.2, "new_object_threshold": 0.3, "max_objects": 5}
FRAMES = disc_frames(24, (64, 48))
MIN_IOU, SCORE_TOLERANCE = 0.99, 1e-3


def png_frames(frames) -> list[str]:
    """Frames as a frame list of PNGs: lossless, so the session and the reference read the same pixels."""
    from PIL import Image

    return [b64(encode(Image.fromarray(frame))) for frame in frames]


@pytest.fixture(scope="module")
def reference_model(tiny_checkpoint):
    use_video_postprocessing(CvUtils(), mask_iou)  # as the service does before its first video (the same clean-up)
    model = Sam3VideoModel.from_pretrained(tiny_checkpoint).eval()
    model.score_threshold_detection = OPTIONS["confidence_threshold"]
    model.new_det_thresh = OPTIONS["new_object_threshold"]
    model.max_num_objects = OPTIONS["max_objects"]
    return model, Sam3VideoProcessor.from_pretrained(tiny_checkpoint)


def reference_session(reference_model, frames=FRAMES):
    model, processor = reference_model
    session = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(session, PROMPTS)
    return model, processor, session


def reference_propagation(reference_model, direction: str, start: int, frames=FRAMES) -> list[tuple[int, dict]]:
    model, processor, session = reference_session(reference_model, frames)
    passes = {"forward": (False,), "backward": (True,), "both": (False, True)}[direction]
    found = []
    with torch.inference_mode():
        for reverse in passes:  # "both": transformers' two passes in a row on one session, as Meta orders them
            for output in model.propagate_in_video_iterator(session, start_frame_idx=start, reverse=reverse):
                found.append((output.frame_idx, processor.postprocess_outputs(session, output)))
    return found


def start(handler, frames=FRAMES, **extra) -> dict:
    return handler({"inputs": {"type": "start_session", "video": png_frames(frames), **OPTIONS, **extra}})


def assert_frame_matches(entries: dict[int, dict], expected: dict, where: str) -> int:
    """``entries``: object id -> its entry on the frame (``score``, ``rle``); ``expected``: transformers' frame."""
    ids = expected["object_ids"].tolist()
    assert sorted(entries) == ids, f"{where}: objects {sorted(entries)}, reference {ids}"
    for row, object_id in enumerate(ids):
        entry = entries[object_id]
        assert abs(entry["score"] - float(expected["scores"][row])) <= SCORE_TOLERANCE, where
        assert iou(rle.decode(entry["rle"]), expected["masks"][row].numpy()) >= MIN_IOU, where
    return len(ids)


@pytest.mark.slow  # 9 s each on 2 cores: the reference runs too
@pytest.mark.parametrize(
    ("direction", "start_frame", "size"),
    [
        ("forward", 0, (64, 48)),
        ("backward", 23, (64, 48)),
        ("both", 10, (64, 48)),
        ("forward", 5, (320, 240)),  # larger than the tiny model's 224 px input
    ],
)
def test_propagation_matches_transformers_session_api(handler, reference_model, direction, start_frame, size):
    frames = FRAMES if size == (64, 48) else disc_frames(24, size)
    session_id = start(handler, frames)["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id, "frame_index": start_frame, "text_prompts": PROMPTS}
    handler({"inputs": prompt})
    answer = handler(
        {"inputs": {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": direction}}
    )
    expected = reference_propagation(reference_model, direction, start_frame, frames)
    assert answer["video"]["frame_indices"] == [frame for frame, _ in expected]
    assert answer["propagation_direction"] == direction and answer["prompt_types"] == ["text"]
    compared = 0
    for frame, reference in expected:
        entries = {
            obj["object_id"]: entry
            for obj in answer["objects"]
            for entry in obj["frames"]
            if entry["frame_index"] == frame
        }
        compared += assert_frame_matches(entries, reference, f"{direction} frame {frame}")
    assert compared > 0, "the clip must give objects for the comparison to mean anything"
    for obj in answer["objects"]:
        assert obj["label"] in PROMPTS
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


def test_the_prompt_frame_answers_what_transformers_finds_on_it(handler, reference_model):
    session_id = start(handler)["session_id"]
    answer = handler({"inputs": {"type": "add_prompt", "session_id": session_id, "frame_index": 3, "text": "disc"}})
    model, processor = reference_model
    session = processor.init_video_session(video=FRAMES, inference_device="cpu", dtype=torch.float32)
    processor.add_text_prompt(session, ["disc"])
    with torch.inference_mode():
        expected = processor.postprocess_outputs(session, model(inference_session=session, frame_idx=3))
    assert answer["frame_index"] == 3 and answer["num_objects"] == len(answer["objects"])
    assert_frame_matches({obj["object_id"]: obj for obj in answer["objects"]}, expected, "prompt frame")
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


def test_start_describes_the_video_and_sampling_applies(handler):
    started = start(handler, frame_stride=2, max_frames=5)
    video = started["video"]
    assert video["num_frames"] == 5 and video["frame_indices"] == [0, 2, 4, 6, 8]
    assert (video["width"], video["height"], video["fps"], video["timestamps"]) == (64, 48, None, None)
    assert len(started["session_id"]) >= 40  # 32 random bytes, URL-safe
    with pytest.raises(RequestError, match=r"^frame_index: frame 3 is not one of the session's frames \(0\.\.8\)"):
        handler({"inputs": {"type": "add_prompt", "session_id": started["session_id"], "frame_index": 3, "text": "x"}})
    handler({"inputs": {"type": "close_session", "session_id": started["session_id"]}})


def test_removed_objects_are_not_reported_and_reset_and_close_end_them(handler):
    session_id = start(handler)["session_id"]
    handler({"inputs": {"type": "add_prompt", "session_id": session_id, "frame_index": 0, "text_prompts": PROMPTS}})
    propagate = {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": "forward"}
    propagate["max_frame_num_to_track"] = 6
    first = handler({"inputs": propagate})
    ids = [obj["object_id"] for obj in first["objects"]]
    assert ids, "the clip must give objects"
    again = handler({"inputs": propagate})
    assert again["objects"] == first["objects"]  # each propagation recomputes the same tracks
    removed = handler({"inputs": {"type": "remove_object", "session_id": session_id, "obj_id": ids[0]}})
    assert removed == {"session_id": session_id, "is_success": True, "success": True}
    after = handler({"inputs": propagate})
    assert [obj["object_id"] for obj in after["objects"]] == ids[1:]
    handler({"inputs": {"type": "reset_session", "session_id": session_id}})
    with pytest.raises(RequestError, match="no prompt yet"):
        handler({"inputs": propagate})
    handler({"inputs": {"type": "close_session", "session_id": session_id}})
    with pytest.raises(SessionNotFound, match="^session_id: unknown, expired or closed session.*replicas"):
        handler({"inputs": propagate})


def test_sessions_are_bounded_and_expire_oldest_idle_first():
    clock = [0.0]
    store = SessionStore(max_sessions=2, ttl_s=60, clock=lambda: clock[0])

    def Held(size: int) -> OpenSession:  # noqa: N802 - reads as the thing it makes
        """An open session whose session is only its size: the store's rules do not look further."""
        return OpenSession(SimpleNamespace(nbytes=size), {}, SessionOptions())

    first = store.add(Held(10))
    clock[0] = 1.0
    second = store.add(Held(20))
    assert len(store) == 2 and store.nbytes == 30 and first != second
    clock[0] = 2.0
    with store.using(first):
        pass  # first is now the most recently used
    third = store.add(Held(5))  # full: the least recently used idle one (second) is closed
    with pytest.raises(SessionNotFound), store.using(second):
        pass
    clock[0] = 100.0  # past the time-out: both left expire
    assert len(store) == 0
    with pytest.raises(SessionNotFound):
        store.close(third)
    busy = SessionStore(max_sessions=1, ttl_s=60)
    held = busy.add(Held(1))
    with busy.using(held), pytest.raises(ServiceUnavailable, match="SAM3_MAX_SESSIONS"):
        busy.add(Held(1))  # the only session is in use: never closed under a request


BOX_0, BOX_1 = [6.0, 7.0, 24.0, 25.0], [30.0, 18.0, 62.0, 46.0]
CLICKS = [[15.0, 16.0], [40.0, 30.0]]


def reference_visual(checkpoint, frames) -> dict:
    """transformers' tracker session API on the same steps: two boxes on frame 2, propagate forward, two clicks
    refining object 0 on frame 6, propagate both ways (its forward pass, then its backward pass less the start
    frame, which the forward pass gave)."""
    model = Sam3TrackerVideoModel.from_pretrained(checkpoint).eval()
    processor = Sam3TrackerVideoProcessor.from_pretrained(checkpoint)
    session = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    size = frames[0].shape[:2]

    def listed(output) -> dict[int, tuple[np.ndarray, float]]:
        masks = processor.post_process_masks([output.pred_masks], original_sizes=[list(size)])[0][:, 0]
        scores = output.object_score_logits.float().sigmoid().flatten()
        return {
            obj: (masks[row].numpy(), float(scores[row]))
            for row, obj in enumerate(output.object_ids)
            if masks[row].any()
        }

    found = {}
    with torch.inference_mode():
        for object_id, box in ((0, BOX_0), (1, BOX_1)):
            processor.add_inputs_to_inference_session(
                session, frame_idx=2, obj_ids=object_id, input_boxes=[[box]], original_size=size
            )
            found["boxes"] = listed(model(inference_session=session, frame_idx=2))
        found["forward"] = [(out.frame_idx, listed(out)) for out in model.propagate_in_video_iterator(session)]
        processor.add_inputs_to_inference_session(
            session, frame_idx=6, obj_ids=0, input_points=[[CLICKS]], input_labels=[[[1, 0]]], original_size=size
        )
        found["click"] = listed(model(inference_session=session, frame_idx=6))
        both = [(out.frame_idx, listed(out)) for out in model.propagate_in_video_iterator(session)]
        both += [(out.frame_idx, listed(out)) for out in model.propagate_in_video_iterator(session, reverse=True)][1:]
        found["both"] = both
    return found


def assert_visual_matches(objects: list[dict], expected: dict, where: str) -> None:
    ours = {obj["object_id"]: obj for obj in objects}
    assert sorted(ours) == sorted(expected), f"{where}: {sorted(ours)} vs {sorted(expected)}"
    for object_id, (mask, score) in expected.items():
        assert abs(ours[object_id]["score"] - score) <= SCORE_TOLERANCE, where
        assert iou(rle.decode(ours[object_id]["rle"]), mask) >= MIN_IOU, where


@pytest.mark.slow  # the reference runs too
def test_boxes_and_a_refining_click_match_transformers_tracker_session_api(handler, tiny_checkpoint):
    frames = disc_frames(12, (64, 48))
    session_id = start(handler, frames, confidence_threshold=0.0)["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id}
    boxes = handler({"inputs": {**prompt, "frame_index": 2, "boxes": [BOX_0, BOX_1]}})
    propagate = {"type": "propagate_in_video", "session_id": session_id}
    forward = handler({"inputs": {**propagate, "propagation_direction": "forward"}})
    normalized = [[x / 64, y / 48] for x, y in CLICKS]  # Meta's convention: fractions of the frame
    click = {**prompt, "frame_index": 6, "points": normalized, "point_labels": [1, 0], "obj_id": 0}
    clicked = handler({"inputs": click})
    both = handler({"inputs": {**propagate, "propagation_direction": "both"}})
    expected = reference_visual(tiny_checkpoint, frames)
    assert_visual_matches(boxes["objects"], expected["boxes"], "the boxes' frame")
    assert_visual_matches(clicked["objects"], expected["click"], "the click's frame")
    for answer, name in ((forward, "forward"), (both, "both")):
        assert answer["video"]["frame_indices"] == [frame for frame, _ in expected[name]], name
        assert answer["prompt_types"] == ["visual"]
        for frame, reference in expected[name]:
            on_frame = [
                {"object_id": obj["object_id"], **entry}
                for obj in answer["objects"]
                for entry in obj["frames"]
                if entry["frame_index"] == frame
            ]
            assert_visual_matches(on_frame, reference, f"{name} frame {frame}")
    # What the session keeps per tracked frame and object is what the tracker reads back: its memory (no full-size
    # mask, no logits of a frame that is not a conditioning one; one position encoding for every frame).
    with handler.service.sessions.using(session_id) as found:
        tracked = found.session.tracked
        outputs = [o for by_object in tracked.session.output_dict_per_obj.values() for o in by_object.values()]
        kept = sum(len(by_frame) for by_frame in outputs)
        memory = next(iter(outputs[1].values()))["maskmem_features"]
        assert tracked.state_bytes < 2 * kept * memory.numel() * memory.element_size(), tracked.state_bytes
    # The same steps with the click in pixels give the same answer; a text prompt restarts a session with concepts.
    again = start(handler, frames, confidence_threshold=0.0)["session_id"]
    handler({"inputs": {**prompt, "session_id": again, "frame_index": 2, "boxes": [BOX_0, BOX_1]}})
    handler({"inputs": {**propagate, "session_id": again, "propagation_direction": "forward"}})
    pixels = {**click, "session_id": again, "points": CLICKS, "coordinates": "pixels"}
    assert handler({"inputs": pixels})["objects"] == clicked["objects"]
    handler({"inputs": {"type": "close_session", "session_id": again}})
    texted = handler({"inputs": {**prompt, "frame_index": 0, "text": "disc"}})
    assert all(obj["label"] == "disc" for obj in texted["objects"])
    with pytest.raises(RequestError, match="^frame_index: the text prompt's objects are not known on frame 6 yet"):
        handler({"inputs": click})
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


def reference_hand_over(checkpoint, frames, object_id: int, frame: int, seed: tuple | None, prompt: dict):
    """transformers' tracker session API on the steps a hand-over takes: ``seed`` (the frame where the object was
    detected, its mask there) as a mask input when given, then the clicks and box on ``frame``; that frame's
    output, then a forward propagation from frame 0."""
    model = Sam3TrackerVideoModel.from_pretrained(checkpoint).eval()
    processor = Sam3TrackerVideoProcessor.from_pretrained(checkpoint)
    session = processor.init_video_session(video=frames, inference_device="cpu", dtype=torch.float32)
    size = list(frames[0].shape[:2])

    def listed(output) -> dict[int, tuple[np.ndarray, float]]:
        masks = processor.post_process_masks([output.pred_masks], original_sizes=[size])[0][:, 0]
        scores = output.object_score_logits.float().sigmoid().flatten()
        return {obj: (masks[row].numpy(), float(scores[row])) for row, obj in enumerate(output.object_ids)}

    with torch.inference_mode():
        if seed is not None:
            seed_frame, seed_mask = seed
            processor.add_inputs_to_inference_session(
                session, frame_idx=seed_frame, obj_ids=[object_id], input_masks=[torch.from_numpy(seed_mask)]
            )
            model(inference_session=session, frame_idx=seed_frame)
        processor.add_inputs_to_inference_session(
            session, frame_idx=frame, obj_ids=object_id, original_size=size, **prompt
        )
        clicked = listed(model(inference_session=session, frame_idx=frame))
        forward = [
            (out.frame_idx, listed(out)) for out in model.propagate_in_video_iterator(session, start_frame_idx=0)
        ]
    return clicked, forward


def on_frame(answer: dict, frame: int) -> dict[int, dict]:
    return {
        obj["object_id"]: entry for obj in answer["objects"] for entry in obj["frames"] if entry["frame_index"] == frame
    }


@pytest.mark.slow  # the reference runs too
@pytest.mark.parametrize("seeded", [False, True], ids=["click only", "detection as mask input too"])
def test_a_click_hands_a_text_found_object_to_the_tracker(handler, tiny_checkpoint, monkeypatch, seeded):
    """Clicks with a text-found object's id: that object follows transformers' tracker given the same steps (its
    detected mask as a mask input where it was found, when that is more than the window from the click; the
    clicks with the box of its mask there), the detector's other objects are unchanged on every frame."""
    frames = disc_frames(12, (320, 240))  # where the random tiny model tracks an object over more than one frame
    monkeypatch.setattr("sam3_core.model.video_session_mixed.REFINE_WINDOW", 4 if seeded else 16)
    session_id = start(handler, frames, confidence_threshold=0.0)["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id}
    propagate = {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": "forward"}
    handler({"inputs": {**prompt, "frame_index": 0, "text_prompts": PROMPTS}})
    before = handler({"inputs": propagate})
    lasting = [
        obj for obj in before["objects"] if obj["frames"][-1]["frame_index"] - obj["frames"][0]["frame_index"] > 4
    ]
    assert lasting, "the clip must give an object over frames more than the window apart for the test to mean anything"
    chosen = lasting[0]
    object_id, first, found = chosen["object_id"], chosen["frames"][0], chosen["frames"][-1]
    frame = found["frame_index"]
    x1, y1, x2, y2 = found["box"]
    clicks, labels = [[(x1 + x2) / 2, (y1 + y2) / 2], [x1 + 1, y1 + 1]], [1, 0]
    click = {"frame_index": frame, "points": clicks, "point_labels": labels, "obj_id": object_id}
    clicked = handler({"inputs": {**prompt, **click, "coordinates": "pixels"}})
    after = handler({"inputs": propagate})

    box = list(mask_box(rle.decode(found["rle"])))
    tracker_prompt = {"input_points": [[clicks]], "input_labels": [[labels]], "input_boxes": [[box]]}
    seed = (first["frame_index"], rle.decode(first["rle"])) if seeded else None
    expected_click, expected_forward = reference_hand_over(
        tiny_checkpoint, frames, object_id, frame, seed, tracker_prompt
    )
    ours = {obj["object_id"]: obj for obj in clicked["objects"]}
    others = {key: value["rle"] for key, value in on_frame(before, frame).items() if key != object_id}
    assert {key: ours[key]["rle"] for key in ours if key != object_id} == others
    assert_visual_matches([ours[object_id]], {object_id: expected_click[object_id]}, "the click's frame")
    assert ours[object_id]["label"] == chosen["label"]
    assert after["prompt_types"] == ["text", "visual"]
    assert after["video"]["frame_indices"] == before["video"]["frame_indices"]
    for index, reference in expected_forward:
        entries = on_frame(after, index)
        detector = {key: value["rle"] for key, value in on_frame(before, index).items() if key != object_id}
        assert {key: entries[key]["rle"] for key in entries if key != object_id} == detector, f"frame {index}"
        mask, score = reference[object_id]
        if mask.any() and score > 0.0:
            assert_visual_matches(
                [{"object_id": object_id, **entries[object_id]}], {object_id: (mask, score)}, f"{index}"
            )
        else:
            assert object_id not in entries, f"frame {index}"
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


@pytest.mark.slow  # three propagations of the clip
def test_a_box_in_a_text_session_adds_an_object_that_keeps_its_id(handler):
    """A box on a frame the text prompt's objects are known on adds a tracker object with a new id beside them; a
    later detection run that gives that id to a new detection reports the detection as RENAMED + its id; a frame
    the text prompt's objects are not known on yet is refused, naming frame_index."""
    from sam3_core.model.video_session_mixed import RENAMED

    prompt, propagate = {"type": "add_prompt"}, {"type": "propagate_in_video", "propagation_direction": "forward"}
    alone = start(handler)["session_id"]
    handler({"inputs": {**prompt, "session_id": alone, "frame_index": 0, "text_prompts": PROMPTS}})
    detections = handler({"inputs": {**propagate, "session_id": alone}})
    handler({"inputs": {"type": "close_session", "session_id": alone}})

    session_id = start(handler)["session_id"]
    handler({"inputs": {**prompt, "session_id": session_id, "frame_index": 0, "text_prompts": PROMPTS}})
    with pytest.raises(RequestError, match="^frame_index: the text prompt's objects are not known on frame 2 yet"):
        handler({"inputs": {**prompt, "session_id": session_id, "frame_index": 2, "boxes": [BOX_1]}})
    early = handler({"inputs": {**propagate, "session_id": session_id, "max_frame_num_to_track": 2}})
    boxed = handler({"inputs": {**prompt, "session_id": session_id, "frame_index": 2, "boxes": [BOX_1]}})
    new_id = max(obj["object_id"] for obj in early["objects"]) + 1
    assert [obj["object_id"] for obj in boxed["objects"] if obj["label"] == "visual"] == [new_id]
    assert {obj["object_id"] for obj in boxed["objects"] if obj["label"] != "visual"} == set(on_frame(early, 2))
    after = handler({"inputs": {**propagate, "session_id": session_id}})
    detected = {obj["object_id"] for obj in after["objects"] if obj["label"] != "visual"}
    expected = {RENAMED + key if key == new_id else key for key in (obj["object_id"] for obj in detections["objects"])}
    assert detected == expected
    assert new_id in {obj["object_id"] for obj in detections["objects"]}, "the clip must make the detector take the id"
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


EXEMPLAR_FRAME = 1
EXEMPLAR_CLIP = FRAMES[:8]  # long enough to propagate past hotstart's hold, short enough to run twice
EXEMPLAR = [0.25, 0.2, 0.5, 0.6]  # Meta's [x, y, width, height], fractions of the frame


class ExemplarReference(torch.nn.Module):
    """The reference for exemplar boxes, built from transformers' public pieces (its video model takes text only):
    the video model's detector, a ``Sam3Model``, given the exemplars as ``Sam3Model.forward`` takes them
    (``input_boxes`` normalised cxcywh, ``input_boxes_labels``) when the session's frame is ``frame``; on other
    frames, without text, it detects nothing (scores lowered below every threshold, as Meta's video model does when
    ``allow_new_detections`` is false). The session's ``get_frame``, which the video model calls for each frame
    before its detector, tells which frame it is on."""

    def __init__(self, detector, session, frame: int, box: list[float], text: bool) -> None:
        super().__init__()
        self.detector, self.frame, self.text, self.current = detector, frame, text, None
        x, y, w, h = box
        self.boxes, self.labels = torch.tensor([[[x + w / 2, y + h / 2, w, h]]]), torch.tensor([[1]])
        read = session.get_frame

        def get_frame(index):
            self.current = index
            return read(index)

        session.get_frame = get_frame

    def get_vision_features(self, **kwargs):
        return self.detector.get_vision_features(**kwargs)

    def get_text_features(self, **kwargs):
        return self.detector.get_text_features(**kwargs)

    def forward(self, **kwargs):
        if self.current == self.frame:
            kwargs.update(input_boxes=self.boxes, input_boxes_labels=self.labels)
        output = self.detector(**kwargs)
        if not self.text and self.current != self.frame:
            output.pred_logits = output.pred_logits - 1e8
        return output


def reference_exemplars(reference_model, text: str | None, box: list[float] | None):
    """transformers' answers for a concept (``text`` or the ``"visual"`` placeholder) with the exemplar ``box`` on
    ``EXEMPLAR_FRAME``: that frame alone, and a propagation forward from it on a fresh session."""
    model, processor = reference_model
    detector = model.detector_model
    answers = []
    try:
        for propagate in (False, True):
            session = processor.init_video_session(video=EXEMPLAR_CLIP, inference_device="cpu", dtype=torch.float32)
            processor.add_text_prompt(session, [text or "visual"])
            if box is not None:
                model.detector_model = ExemplarReference(detector, session, EXEMPLAR_FRAME, box, text is not None)
            with torch.inference_mode():
                if not propagate:
                    output = model(inference_session=session, frame_idx=EXEMPLAR_FRAME)
                    answers.append(processor.postprocess_outputs(session, output))
                    continue
                outputs = model.propagate_in_video_iterator(session, start_frame_idx=EXEMPLAR_FRAME)
                answers.append([(out.frame_idx, processor.postprocess_outputs(session, out)) for out in outputs])
    finally:
        model.detector_model = detector
    return answers


@pytest.mark.slow  # the reference runs too
@pytest.mark.parametrize("text", ["disc", None], ids=["text and a box", "a box alone"])
def test_exemplar_boxes_match_transformers_detector_given_them(handler, reference_model, text):
    session_id = start(handler, EXEMPLAR_CLIP)["session_id"]
    prompt = {"type": "add_prompt", "session_id": session_id, "frame_index": EXEMPLAR_FRAME}
    prompt.update({"bounding_boxes": [EXEMPLAR], "bounding_box_labels": [1]}, **({"text": text} if text else {}))
    answer = handler({"inputs": prompt})
    propagated = handler(
        {"inputs": {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": "forward"}}
    )
    on_prompt_frame, expected = reference_exemplars(reference_model, text, EXEMPLAR)
    assert_frame_matches({obj["object_id"]: obj for obj in answer["objects"]}, on_prompt_frame, "prompt frame")
    assert on_prompt_frame["object_ids"].numel() > 0, "the exemplar must find objects for the test to mean anything"
    if text:  # the box changed what the detector found: the comparison is not the text's alone
        without_box, _ = reference_exemplars(reference_model, text, None)
        assert on_prompt_frame["scores"].tolist() != without_box["scores"].tolist()
    assert propagated["video"]["frame_indices"] == [frame for frame, _ in expected]
    assert propagated["prompt_types"] == (["text", "visual"] if text else ["visual"])
    for frame, reference in expected:
        assert_frame_matches(on_frame(propagated, frame), reference, f"frame {frame}")
    if not text:  # nothing new is detected past the exemplar's frame: every object is one the box found there
        found = set(on_prompt_frame["object_ids"].tolist())
        assert {obj["object_id"] for obj in propagated["objects"]} <= found
        assert {obj["label"] for obj in propagated["objects"]} == {"visual"}
    handler({"inputs": {"type": "close_session", "session_id": session_id}})


BAD = {
    "an unknown type": ({"type": "add_prompts", "session_id": "x"}, "add_prompts", "did you mean 'add_prompt'"),
    "no video": ({"type": "start_session"}, "video", "needs the video"),
    "a server path": ({"type": "start_session", "resource_path": "/data/v.mp4"}, "resource_path", "send the video"),
    "no session id": ({"type": "add_prompt", "frame_index": 0, "text": "x"}, "session_id", "expected the id"),
    "no frame": ({"type": "add_prompt", "session_id": "x", "text": "x"}, "frame_index", "needs the frame"),
    "no prompt": ({"type": "add_prompt", "session_id": "x", "frame_index": 0}, "text", "needs a text prompt, or"),
    "an exemplar box in pixels": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "bounding_boxes": [[10, 10, 20, 20]]},
        "bounding_boxes[0]",
        "fractions of the frame",
    ),
    "an exemplar box of no width": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "bounding_boxes": [[0.1, 0.1, 0, 0.2]]},
        "bounding_boxes[0]",
        "width and height > 0",
    ),
    "an exemplar box past the edge": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "bounding_boxes": [[0.6, 0.1, 0.5, 0.2]]},
        "bounding_boxes[0]",
        "inside it",
    ),
    "exemplar labels for other boxes": (
        {
            "type": "add_prompt",
            "session_id": "x",
            "frame_index": 0,
            "bounding_boxes": [[0.1, 0.1, 0.2, 0.2]],
            "bounding_box_labels": [1, 0],
        },
        "bounding_box_labels",
        "2 labels for 1 boxes",
    ),
    "only negative exemplars": (
        {
            "type": "add_prompt",
            "session_id": "x",
            "frame_index": 0,
            "bounding_boxes": [[0.1, 0.1, 0.2, 0.2]],
            "bounding_box_labels": [0],
        },
        "bounding_box_labels",
        "at least one exemplar box must be positive",
    ),
    "exemplar labels alone": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "text": "a", "bounding_box_labels": [1]},
        "bounding_box_labels",
        "goes with bounding_boxes",
    ),
    "exemplars and clicks": (
        {
            "type": "add_prompt",
            "session_id": "x",
            "frame_index": 0,
            "bounding_boxes": [[0.1, 0.1, 0.2, 0.2]],
            "points": [[0.5, 0.5]],
            "obj_id": 1,
        },
        "points",
        "not both",
    ),
    "points without an object": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "points": [[0.5, 0.5]]},
        "obj_id",
        "points go with the id",
    ),
    "text and clicks": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "text": "a", "points": [[0.5, 0.5]], "obj_id": 1},
        "points",
        "not both",
    ),
    "a fraction above 1": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "points": [[20, 10]], "obj_id": 1},
        "points[0]",
        '"coordinates": "pixels"',
    ),
    "other coordinates": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "boxes": [[1, 2, 3, 4]], "coordinates": "cm"},
        "coordinates",
        "normalized",
    ),
    "an object for several boxes": (
        {"type": "add_prompt", "session_id": "x", "frame_index": 0, "boxes": [[1, 2, 3, 4]] * 2, "obj_id": 3},
        "obj_id",
        "each of several boxes",
    ),
    "a direction": (
        {"type": "propagate_in_video", "session_id": "x", "propagation_direction": "sideways"},
        "propagation_direction",
        "both, forward, backward",
    ),
    "an unknown field": ({"type": "reset_session", "session_id": "x", "obj_id": 1}, "obj_id", "unknown field"),
    "an unknown session": ({"type": "reset_session", "session_id": "nope"}, "session_id", "unknown, expired"),
    "a negative object": ({"type": "remove_object", "session_id": "x", "obj_id": -1}, "obj_id", "outside"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_session_requests_name_the_field(handler, name):
    inputs, field, words = BAD[name]
    with pytest.raises(RequestError) as caught:
        handler({"inputs": inputs})
    message = str(caught.value)
    assert message.startswith(field + ":") and words in message and len(message) < 300, message


def test_a_session_past_its_byte_bound_stops_and_names_the_field(handler):
    store = handler.service.sessions
    session_id = start(handler, FRAMES[:8])["session_id"]
    given = {"session_id": session_id}
    handler({"inputs": {"type": "add_prompt", **given, "frame_index": 0, "boxes": [BOX_1]}})
    propagate = {"type": "propagate_in_video", **given, "propagation_direction": "forward"}
    handler({"inputs": {**propagate, "max_frame_num_to_track": 1}})
    with store.using(session_id) as found:
        found.max_bytes = found.session.nbytes + 1  # the tracker memories of one more frame pass it
    with pytest.raises(PayloadTooLarge) as caught:
        handler({"inputs": propagate})
    message = str(caught.value)
    assert message.startswith("max_frame_num_to_track:") and "SAM3_SESSION_MAX_BYTES" in message, message
    handler({"inputs": {"type": "reset_session", **given}})  # what the session held goes with its prompts
    handler({"inputs": {"type": "add_prompt", **given, "frame_index": 0, "boxes": [BOX_1]}})
    assert handler({"inputs": {**propagate, "max_frame_num_to_track": 1}})["video"]["frame_indices"] == [0, 1]
    handler({"inputs": {"type": "close_session", **given}})


def test_metrics_count_sessions_and_their_frames(handler):
    before, held = len(handler.service.sessions), handler.service.sessions.nbytes
    session_id = start(handler)["session_id"]
    assert len(handler.service.sessions) == before + 1
    added = handler.service.sessions.nbytes - held  # the frames, kept as lossless PNG
    assert 0 < added < sum(frame.nbytes for frame in FRAMES)
    handler({"inputs": {"type": "close_session", "session_id": session_id}})
    assert len(handler.service.sessions) == before and np.isclose(handler.service.sessions.nbytes, held)
