#!/usr/bin/env python3
"""Video sessions: time per tracked frame and memory, side by side with the one-shot video request, in one run.

    python -m scripts.session_bench --size tiny|full [--model DIR] [--frames 30] [--video-size 640x360]
        [--sessions 4] [--threshold 0.2] [--json F]

One service, loaded as the endpoint loads it, in this process (CPU). The video is ``--frames`` synthetic JPEG
frames (each its own), sent as a frame list. After a warm-up (the video model is assembled on first use):

- one-shot: ``{"inputs": {"video": frames, "text_prompts": [...]}}``, seconds per frame;
- session: ``start_session``, ``add_prompt`` on frame 0, ``propagate_in_video`` forward over every frame, a click
  on a text-found object (handing it to the tracker) and forward again (detection is not run again), a second
  prompt on the middle frame, ``propagate_in_video`` both ways: seconds per tracked frame of each propagation;
- a session of clicks: two boxes on frame 0, forward, a refining click on the middle frame, both ways: seconds per
  tracked frame, the resident memory it added and the tracker state it keeps between requests, per object and
  frame;
- memory: RSS after the warm-up, with one session open, with ``--sessions`` sessions open (each started, prompted
  and propagated), and after closing them all (garbage collected): the last should be within 5% of the first.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from sam3_core.testing.support import memory_mb
from scripts.benchmark import parse_size
from scripts.measuring import checkpoint, jpeg_b64, log, machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--model", help="a checkpoint directory instead of --size's")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--video-size", type=parse_size, default=(640, 360))
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--threshold", type=float, default=0.2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from sam3_core.loading import load_service
    from sam3_core.settings import ModelSettings, RequestSettings, Settings

    settings = Settings(model=ModelSettings(device="cpu"), request=RequestSettings(max_sessions=args.sessions))
    service = load_service(settings, model=args.model or str(checkpoint(args.size)))
    frames = [jpeg_b64(args.video_size, seed=index) for index in range(args.frames)]
    prompt = {"text_prompts": ["object"], "confidence_threshold": args.threshold}

    def session(count: int) -> tuple[str, dict]:
        started = service({"inputs": {"type": "start_session", "video": frames[:count]}})
        session_id = started["session_id"]
        service({"inputs": {"type": "add_prompt", "session_id": session_id, "frame_index": 0, **prompt}})
        return session_id, started

    answers: list[dict] = []  # the last propagation's answer (only it: the memory figures must not count them)

    def propagate(session_id: str, direction: str) -> tuple[float, int, int]:
        began = time.perf_counter()
        answer = service(
            {"inputs": {"type": "propagate_in_video", "session_id": session_id, "propagation_direction": direction}}
        )
        answers[:] = [answer]
        return time.perf_counter() - began, answer["video"]["num_frames"], answer["num_objects"]

    log("warm-up: the video model is assembled, a short session propagated")
    warm_id, _ = session(1)
    propagate(warm_id, "forward")
    service.sessions.close(warm_id)
    service({"inputs": {"video": frames[:1], **prompt}})
    gc.collect()
    baseline_mb = memory_mb("VmRSS")

    log(f"one-shot: {args.frames} frames")
    began = time.perf_counter()
    one_shot = service({"inputs": {"video": frames, **prompt}})
    one_shot_s = (time.perf_counter() - began) / one_shot["video"]["num_frames"]

    log("session: start, prompt, propagate forward, prompt the middle frame, propagate both ways")
    began = time.perf_counter()
    session_id, started = session(args.frames)
    start_and_prompt_s = time.perf_counter() - began
    forward_s, forward_frames, forward_objects = propagate(session_id, "forward")
    refined_s = None
    if answers[-1]["objects"]:  # a click on a text-found object where it is found, then forward again
        found = answers[-1]["objects"][0]
        entry, (width, height) = found["frames"][0], args.video_size
        x1, y1, x2, y2 = entry["box"]
        point = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height]
        click = {"points": [point], "point_labels": [1], "obj_id": found["object_id"]}
        on = {"type": "add_prompt", "session_id": session_id, "frame_index": entry["frame_index"]}
        service({"inputs": {**on, **click}})
        seconds, frames_done, _ = propagate(session_id, "forward")
        refined_s = seconds / frames_done
    middle = started["video"]["frame_indices"][args.frames // 2]
    service({"inputs": {"type": "add_prompt", "session_id": session_id, "frame_index": middle, **prompt}})
    both_s, both_frames, _ = propagate(session_id, "both")
    one_session_mb = memory_mb("VmRSS")
    service({"inputs": {"type": "close_session", "session_id": session_id}})

    log("session of clicks: two boxes on frame 0, propagate forward, a click on the middle frame, propagate both")
    gc.collect()
    before_clicks_mb = memory_mb("VmRSS")
    width, height = args.video_size
    clicks_id, _ = session(args.frames)
    service({"inputs": {"type": "reset_session", "session_id": clicks_id}})
    boxes = [[0, 0, width / 2, height / 2], [width / 2, height / 2, width, height]]
    service({"inputs": {"type": "add_prompt", "session_id": clicks_id, "frame_index": 0, "boxes": boxes}})
    clicks_forward_s, clicks_frames, _ = propagate(clicks_id, "forward")
    click = {"points": [[0.25, 0.25]], "point_labels": [1], "obj_id": 0}
    service({"inputs": {"type": "add_prompt", "session_id": clicks_id, "frame_index": middle, **click}})
    clicks_both_s, clicks_both_frames, _ = propagate(clicks_id, "both")
    clicks_mb = memory_mb("VmRSS")
    with service.sessions.using(clicks_id) as found:  # what it keeps per object and tracked frame
        state_kb = found.session.tracked.state_bytes / 1024 / (len(boxes) * args.frames)
    service({"inputs": {"type": "close_session", "session_id": clicks_id}})
    session_id, _ = session(args.frames)

    log(f"{args.sessions} sessions open, each propagated")
    opened = [session_id]
    for _ in range(args.sessions - 1):
        other, _ = session(args.frames)
        propagate(other, "forward")
        opened.append(other)
    all_open_mb = memory_mb("VmRSS")
    held_mb = service.sessions.nbytes / 2**20
    for other in opened:
        service({"inputs": {"type": "close_session", "session_id": other}})
    gc.collect()
    closed_mb = memory_mb("VmRSS")

    report = {
        "machine": machine(),
        "size": args.size,
        "frames": args.frames,
        "video_size": list(args.video_size),
        "one_shot_s_per_frame": round(one_shot_s, 3),
        "session_start_and_prompt_s": round(start_and_prompt_s, 2),
        "session_forward_s_per_frame": round(forward_s / forward_frames, 3),
        "session_both_s_per_frame": round(both_s / both_frames, 3),
        "session_refined_forward_s_per_frame": None if refined_s is None else round(refined_s, 3),
        "clicks_forward_s_per_frame": round(clicks_forward_s / clicks_frames, 3),
        "clicks_both_s_per_frame": round(clicks_both_s / clicks_both_frames, 3),
        "clicks_session_rss_growth_mb": round(clicks_mb - before_clicks_mb),
        "clicks_state_kb_per_object_frame": round(state_kb, 1),
        "forward_vs_one_shot": round((forward_s / forward_frames) / one_shot_s, 2),
        "objects": {"one_shot": one_shot["num_objects"], "session_forward": forward_objects},
        "rss_mb": {
            "after_warm_up": round(baseline_mb),
            "one_session": round(one_session_mb),
            f"{args.sessions}_sessions": round(all_open_mb),
            "frames_held_by_open_sessions": round(held_mb),
            "all_closed": round(closed_mb),
        },
        "rss_back_within_5_percent": abs(closed_mb - baseline_mb) <= 0.05 * baseline_mb,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
