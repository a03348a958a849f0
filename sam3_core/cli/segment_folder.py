#!/usr/bin/env python3
"""Label a whole folder with SAM3 concept prompts: COCO instance segmentation for images, YouTube-VIS for videos.

    sam3-segment-folder INPUT --prompts "cat,dog" --out annotations.json [--threshold 0.5]
        [--format rle|polygon] [--masks-dir DIR] [--model DIR_OR_HUB_ID]
        [--endpoint URL --token TOKEN --concurrency N --rate R --timeout S] [--images-per-request N] [--resume]
        [--video-out FILE] [--frame-stride K | --fps F] [--max-frames N] [--new-object-threshold T]
        [--max-objects N]

INPUT: a directory (searched recursively for images and videos), a glob (quote it), or a text file with one path
per line. Files with a video suffix (``VIDEO_SUFFIXES``: .mp4, .webm, .avi, .mov, .mkv, ...) are videos, tracked
with the endpoint's video concept tracking; every other file is an image.
Weights: ``--model`` (a directory or Hub id) or ``SAM3_MODEL_ID``; with neither it stops and says so (random
weights would label nothing real). Each file's ``file_name`` is its path relative to the *input root*: the
directory itself, a glob's folder before its first wildcard (``photos`` for ``"photos/**/*.jpg"``), or the list
file's folder; a file outside the root keeps its absolute path.
In-process by default (the engine loads once); with ``--endpoint`` it posts to a deployed endpoint (or
``sam3-serve``) with N concurrent workers, retrying 429/503/timeouts with exponential backoff, at most
``--rate`` requests per second, each given ``--timeout`` seconds (a long video needs more than the default 300).
Images go ``--images-per-request`` to a request (default 4 to an endpoint, 8 in process), which the engine runs as
one batch; when a request is refused (a bad image refuses all of its request), its images are sent again one by
one so that only the bad ones are skipped. Scaling out is the endpoint's replicas (min/max replicas).

Output, one file per kind of input, each written (atomically) when the input holds that kind:
images go to ``--out`` as COCO JSON (images, one category per prompt, annotations with RLE or polygons, bbox, area,
score); videos go to ``--video-out``, by default ``--out`` with its ``.json`` suffix replaced by ``.videos.json``
(``annotations.json`` -> ``annotations.videos.json``), as YouTube-VIS JSON (``sam3_core.masks.ytvis``: one annotation
per tracked object, per-frame lists over the *sampled* frames, each frame's source index and timestamp in the video
entry, RLE with string counts, bboxes ``[x, y, w, h]`` in pixels; the video is named by ``file_name``, not by
YTVIS's per-frame ``file_names``). Image and video ids count from 1 in input order
within their kind; the categories are the same in both files. ``--frame-stride``/``--fps``/``--max-frames``/
``--new-object-threshold``/``--max-objects`` go into each video request; ``--format`` and ``--masks-dir`` are for
images (video masks are always RLE). ``--masks-dir`` also writes each image object's PNG mask as
``IMAGEID_OBJECT.png`` (the COCO image id and the object's number within that image, in annotation order).

Progress is journalled next to the output (``OUT.partial.jsonl``, one line per finished image or video): after an
interruption, ``--resume`` skips the files already done and the final files are the same as an uninterrupted
run's. Images and videos that fail to decode are reported and skipped. The first Ctrl-C stops scheduling,
finishes and journals the files in flight and exits (130) asking for ``--resume``; a second one abandons them.
Memory: a video's response holds only RLE strings (masks are never decoded), and only what the output keeps is
held per video until the end.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from sam3_core.api.request import SegmentRequest
from sam3_core.cli.extras import require

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".webm", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
RETRY_STATUSES = {429, 502, 503, 504}


class SkipImage(Exception):
    """This image or video cannot be segmented (it does not decode, or the endpoint refused it): report, go on."""


class TransientFailure(Exception):
    """Retries ran out on a temporary failure: not journalled, so ``--resume`` tries the file again."""


def is_video(path: Path) -> bool:
    """Whether ``path`` is treated as a video (by its suffix, ``VIDEO_SUFFIXES``)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def list_inputs(source: str) -> list[Path]:
    """Sorted image and video paths from a directory (recursive), a glob, or a text file of paths."""
    path = Path(source)
    if path.is_dir():
        wanted = IMAGE_SUFFIXES | VIDEO_SUFFIXES
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted]
    elif path.is_file() and path.suffix.lower() in {".txt", ".lst", ".list"}:
        lines = [line.strip() for line in path.read_text().splitlines()]
        found = [Path(line) if Path(line).is_absolute() else path.parent / line for line in lines if line]
    else:
        found = [Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file()]
    return sorted(set(found), key=lambda p: str(p))


class RateLimiter:
    """At most ``rate`` calls per second across threads (0: unlimited)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_time = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            delay = self.next_time - now
            self.next_time = max(now, self.next_time) + self.interval
        if delay > 0:
            time.sleep(delay)


def image_root(source: str) -> Path:
    """The folder COCO and YTVIS ``file_name`` values are relative to (see the module docstring)."""
    path = Path(source)
    if path.is_dir():
        return path
    if path.is_file():
        return path.parent
    fixed = []
    for part in path.parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


class InProcessSegmenter:
    def __init__(self, model: str | None) -> None:
        from sam3_core.loading import load_service
        from sam3_core.settings import Settings

        settings = Settings.from_env()
        if not model and not settings.model.model_id:
            raise SystemExit(
                "error: no weights: pass --model DIR_OR_HUB_ID or set SAM3_MODEL_ID (facebook/sam3 is gated: "
                "accept its licence on the Hub and set HF_TOKEN); to try the tool, --model checkpoints/sam3-tiny "
                "(the random checkpoint make serve builds: its labels are meaningless)"
            )
        if model and model.startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
            raise SystemExit(f"error: --model: directory {model} does not exist")
        try:
            self.handler = load_service(settings, None, model)
        except Exception as error:  # noqa: BLE001 - one line for the user, not a Hub traceback
            text = " ".join(str(error).split())
            raise SystemExit(f"error: could not load SAM3 ({type(error).__name__}: {text[:300]})") from None

    def __call__(self, payload: dict) -> dict:
        from sam3_core.errors import InternalError, RequestError, ServiceUnavailable

        try:
            return self.handler(payload)
        except RequestError as error:
            raise SkipImage(str(error)) from None
        except (ServiceUnavailable, InternalError) as error:  # out of memory, a fault: not this file's fault
            raise TransientFailure(str(error)) from None


class EndpointSegmenter:
    def __init__(self, url: str, token: str | None, rate: float, retries: int = 6, timeout: float = 300) -> None:
        import requests

        self.url, self.retries, self.timeout = url, retries, timeout
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.limiter = RateLimiter(rate)
        self.local = threading.local()
        self.requests = requests

    def __call__(self, payload: dict) -> dict:
        session = getattr(self.local, "session", None) or self.requests.Session()
        self.local.session = session
        delay = 1.0
        for attempt in range(self.retries):
            self.limiter.wait()
            try:
                response = session.post(self.url, json=payload, headers=self.headers, timeout=self.timeout)
            except (self.requests.ConnectionError, self.requests.Timeout) as error:
                problem = type(error).__name__
            else:
                if response.status_code == 200:
                    return response.json()
                if response.status_code not in RETRY_STATUSES:
                    raise SkipImage(f"HTTP {response.status_code}: {response.text[:200]}")
                problem = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, float(retry_after))
            if attempt + 1 < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, 60.0)
        raise TransientFailure(f"{problem} after {self.retries} attempts")


def image_inputs(path: Path, args) -> dict:
    """The main-API ``inputs`` object for one image (``SkipImage`` when the file cannot be read)."""
    try:
        image_b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as error:
        raise SkipImage(f"unreadable: {error}") from None
    return {
        "image": image_b64,
        "text_prompts": args.prompt_list,
        "confidence_threshold": args.threshold,
        "vectorize": True,
        "simplify_epsilon": args.simplify_epsilon,
    }


def image_record(response: dict, args, category_ids: dict[str, int]) -> dict:
    """One image's journal record from its response."""
    from sam3_core.masks.coco import annotations_from_response

    width, height = response["original_image_size"]
    return {
        "width": width,
        "height": height,
        "annotations": annotations_from_response(response, category_ids, args.format),
        "masks": response["masks"] if args.masks_dir else [],
    }


def segment_images(segmenter, paths: list[Path], args, category_ids: dict[str, int]) -> list[dict | SkipImage]:
    """Each image's record (or why it is skipped), in order, from one request of all of them (``{"inputs":
    [...]}``, which the engine runs as one batch). When that request is refused (one bad image refuses the whole
    request), each image is sent again on its own, so that only the bad ones are skipped. ``TransientFailure``
    (retries spent) fails them all."""
    results: list[dict | SkipImage | None] = [None] * len(paths)
    elements: dict[int, dict] = {}
    for index, path in enumerate(paths):
        try:
            elements[index] = image_inputs(path, args)
        except SkipImage as error:
            results[index] = error
    if not elements:
        return results
    batch = list(elements.values())
    try:
        responses = segmenter({"inputs": batch}) if len(batch) > 1 else [segmenter({"inputs": batch[0]})]
    except SkipImage as error:
        if len(batch) == 1:
            results[next(iter(elements))] = error
            return results
        for index in elements:
            [results[index]] = segment_images(segmenter, [paths[index]], args, category_ids)
        return results
    for index, response in zip(elements, responses, strict=True):
        results[index] = image_record(response, args, category_ids)
    return results


def video_payload(video_b64: str, args) -> dict:
    """The tracking request for one video: the prompts, the threshold and the sampling/tracking options given."""
    inputs = {"video": video_b64, "text_prompts": args.prompt_list, "confidence_threshold": args.threshold}
    for field in ("frame_stride", "fps", "max_frames", "new_object_threshold", "max_objects"):
        if getattr(args, field) is not None:
            inputs[field] = getattr(args, field)
    return {"inputs": inputs}


def segment_video(segmenter, path: Path, args, category_ids: dict[str, int]) -> dict:
    """One video's journal record: its YTVIS ``video`` entry (no id/file name) and annotations (no ids)."""
    from sam3_core.masks.ytvis import annotations_from_video_response, video_entry

    try:
        video_b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as error:
        raise SkipImage(f"unreadable: {error}") from None
    response = segmenter(video_payload(video_b64, args))
    return {"video": video_entry(response), "annotations": annotations_from_video_response(response, category_ids)}


def segment_group(segmenter, paths: list[Path], args, category_ids: dict[str, int]) -> list[dict | SkipImage]:
    """The records of one unit of work: one video, or up to ``--images-per-request`` images."""
    if len(paths) == 1 and is_video(paths[0]):
        try:
            return [segment_video(segmenter, paths[0], args, category_ids)]
        except SkipImage as error:
            return [error]
    return segment_images(segmenter, paths, args, category_ids)


def work_groups(paths: list[Path], images_per_request: int) -> list[list[Path]]:
    """Videos one by one, images in groups of ``images_per_request``, in input order."""
    groups: list[list[Path]] = []
    images: list[Path] = []
    for path in paths:
        if is_video(path):
            groups.append([path])
        else:
            images.append(path)
    return groups + [images[start : start + images_per_request] for start in range(0, len(images), images_per_request)]


def default_video_out(out: Path) -> Path:
    """The YTVIS file without ``--video-out``: ``a.json`` -> ``a.videos.json``, ``a`` -> ``a.videos.json``."""
    stem = out.name[: -len(".json")] if out.name.lower().endswith(".json") else out.name
    return out.with_name(stem + ".videos.json")


def build_ytvis_document(paths: list[Path], done: dict[str, dict], prompts: list[str], base: Path) -> dict:
    """Deterministic YTVIS document of the videos among ``paths`` (ids in input order; failed ones left out)."""
    from sam3_core.masks.ytvis import build_ytvis

    videos = []
    for path in paths:
        record = done.get(str(path))
        videos.append((_relative(path, base), None if record is None or "error" in record else record))
    return build_ytvis(videos, prompts)


def build_coco(paths: list[Path], done: dict[str, dict], prompts: list[str], base: Path) -> dict:
    """Deterministic COCO document: images in input order, annotation ids in image then object order."""
    images, annotations = [], []
    for image_id, path in enumerate(paths, start=1):
        record = done.get(str(path))
        if record is None or "error" in record:
            continue
        images.append(
            {"id": image_id, "file_name": _relative(path, base), "width": record["width"], "height": record["height"]}
        )
        for annotation in record["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **annotation})
    return {
        "info": {"description": "SAM3 concept segmentation", "prompts": prompts},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": index, "name": name, "supercategory": "object"} for index, name in enumerate(prompts, start=1)
        ],
    }


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="directory, glob, or text file of image and video paths")
    parser.add_argument("--prompts", required=True, help='comma-separated concept prompts, e.g. "cat,dog"')
    parser.add_argument("--out", required=True, type=Path, help="COCO file for the images")
    parser.add_argument(
        "--video-out", type=Path, help="YouTube-VIS file for the videos (default: OUT with .json -> .videos.json)"
    )
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--format", choices=["rle", "polygon"], default="rle")
    parser.add_argument(
        "--simplify-epsilon",
        type=float,
        default=SegmentRequest.simplify_epsilon,
        help="polygon simplification in pixels (default: the API's)",
    )
    parser.add_argument("--masks-dir", type=Path, help="also write each object's mask as PNG here")
    parser.add_argument("--model", help="in-process: checkpoint directory or Hub id (default: SAM3_MODEL_ID)")
    parser.add_argument("--endpoint", help="URL of a deployed endpoint or local server (POST /)")
    parser.add_argument("--token", default=os.environ.get("HF_TOKEN"), help="bearer token (default: $HF_TOKEN)")
    parser.add_argument("--concurrency", type=int, default=4, help="endpoint workers")
    parser.add_argument("--rate", type=float, default=0.0, help="endpoint requests per second (0: unlimited)")
    parser.add_argument(
        "--images-per-request",
        type=int,
        help="images sent (and run on the GPU) together; default 4 to an endpoint, 8 in process",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="endpoint: seconds per request (raise it for long videos)"
    )
    video = parser.add_argument_group("videos (passed to each video request)")
    sampling = video.add_mutually_exclusive_group()
    sampling.add_argument("--frame-stride", type=int, help="track every K-th frame (default: every frame)")
    sampling.add_argument("--fps", type=float, help="track about F frames per second of video")
    video.add_argument("--max-frames", type=int, help="stop after N tracked frames")
    video.add_argument(
        "--new-object-threshold", type=float, help="score above which a new object starts (default: the model's)"
    )
    video.add_argument("--max-objects", type=int, help="at most N objects tracked per video (default: the server's)")
    parser.add_argument("--resume", action="store_true", help="skip files already done by an interrupted run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    # As the service reads a prompt (inner whitespace collapsed), so that the labels it answers are these names.
    args.prompt_list = [" ".join(p.split()) for p in args.prompts.split(",") if p.strip()]
    if not args.prompt_list:
        parser.error("--prompts: give at least one prompt")
    if args.endpoint and args.model:
        parser.error("--model is for in-process runs; the endpoint has its own weights")
    require("sam3-segment-folder", "coco", ["pycocotools", "tqdm", *(["requests"] if args.endpoint else [])])
    for flag, value in (
        ("--frame-stride", args.frame_stride),
        ("--fps", args.fps),
        ("--max-frames", args.max_frames),
        ("--max-objects", args.max_objects),
    ):
        if value is not None and value <= 0:
            parser.error(f"{flag}: must be positive")

    if args.images_per_request is None:
        args.images_per_request = 4 if args.endpoint else 8
    if args.images_per_request <= 0:
        parser.error("--images-per-request: must be positive")
    paths = list_inputs(args.input)
    if not paths:
        parser.error(f"no images or videos found in {args.input!r}")
    images = [path for path in paths if not is_video(path)]
    videos = [path for path in paths if is_video(path)]
    video_out = args.video_out or default_video_out(args.out)
    if video_out.resolve() == args.out.resolve():
        parser.error("--video-out: must differ from --out")
    journal = args.out.with_name(args.out.name + ".partial.jsonl")
    done: dict[str, dict] = {}
    if args.resume and journal.exists():
        for line in journal.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by the interruption
            done[entry["path"]] = entry
    elif journal.exists():
        journal.unlink()
    if args.masks_dir:
        args.masks_dir.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if videos:
        video_out.parent.mkdir(parents=True, exist_ok=True)

    category_ids = {name: index for index, name in enumerate(args.prompt_list, start=1)}
    image_ids = {str(path): index for index, path in enumerate(images, start=1)}
    todo = [path for path in paths if str(path) not in done]
    segmenter = (
        EndpointSegmenter(args.endpoint, args.token, args.rate, timeout=args.timeout)
        if args.endpoint
        else InProcessSegmenter(args.model)
    )
    workers = max(1, args.concurrency) if args.endpoint else 1
    from tqdm import tqdm

    started = time.perf_counter()
    failures: dict[str, str] = {str(p): e["error"] for p, e in ((Path(k), v) for k, v in done.items()) if "error" in e}
    pool = ThreadPoolExecutor(max_workers=workers)
    interrupted = False
    with (
        journal.open("a") as log,
        tqdm(
            total=len(paths), initial=len(paths) - len(todo), unit="file", disable=args.quiet, dynamic_ncols=True
        ) as progress,
    ):

        def finish(future, paths: list[Path]) -> None:
            """Journal the results of one request's images or video (or their failures)."""
            try:
                records = future.result()
            except TransientFailure as error:
                for path in paths:
                    failures[str(path)] = str(error)
                    progress.write(f"failed {path} (will retry on --resume): {error}")
                    progress.update()
                return
            for path, record in zip(paths, records, strict=True):
                journal_one(path, record)

        def journal_one(path: Path, record: dict | SkipImage) -> None:
            if isinstance(record, SkipImage):
                record = {"error": str(record)}
                failures[str(path)] = record["error"]
                progress.write(f"skipped {path}: {record['error']}")
            for number, png in enumerate(record.pop("masks", [])):  # image id (input order) and object number
                (args.masks_dir / f"{image_ids[str(path)]:06d}_{number:03d}.png").write_bytes(base64.b64decode(png))
            entry = {"path": str(path), **record}
            done[str(path)] = entry
            log.write(json.dumps(entry) + "\n")
            log.flush()
            progress.update()

        groups = work_groups(todo, args.images_per_request)
        futures = {pool.submit(segment_group, segmenter, group, args, category_ids): group for group in groups}
        try:
            for future in as_completed(futures):
                finish(future, futures[future])
        except KeyboardInterrupt:
            interrupted = True
            running = [future for future in futures if not future.cancel() and not future.done()]
            progress.write(f"interrupted: finishing the {len(running)} file(s) in flight (Ctrl-C again abandons them)")
            try:
                for future in as_completed(running):
                    finish(future, futures[future])
            except KeyboardInterrupt:
                progress.write("abandoned the files in flight")
        finally:
            pool.shutdown(wait=not interrupted, cancel_futures=True)
    if interrupted:
        print(
            f"interrupted after {len(done)} of {len(paths)} files (journal: {journal}); "
            f"rerun the same command with --resume to finish",
            file=sys.stderr,
        )
        return 130

    root = image_root(args.input)
    written = []
    if images:
        coco = build_coco(images, done, args.prompt_list, root)
        write_atomically(args.out, json.dumps(coco))
        written.append((len(coco["images"]), "images", coco["annotations"], args.out))
    if videos:
        ytvis = build_ytvis_document(videos, done, args.prompt_list, root)
        write_atomically(video_out, json.dumps(ytvis))
        written.append((len(ytvis["videos"]), "videos", ytvis["annotations"], video_out))
    transient = [p for p in failures if p not in done]
    if not transient:
        journal.unlink(missing_ok=True)
    for count, kind, found, target in written:
        per_category = Counter(a["category_id"] for a in found)
        summary = ", ".join(f"{name}: {per_category.get(i, 0)}" for name, i in category_ids.items())
        noun = "objects" if kind == "images" else "tracked objects"
        print(f"{count} {kind}, {len(found)} {noun} ({summary}) -> {target}")
    print(f"{len(failures)} failed, {time.perf_counter() - started:.1f} s")
    for path, error in sorted(failures.items()):
        print(f"  failed: {path}: {error}")
    return 0 if not transient else 1


if __name__ == "__main__":
    raise SystemExit(main())
