"""A Gradio web UI over the handler: upload an image (or pick an example), click on it or type a text prompt, see
the masks on the same picture, download them.

``build_ui(call, model_info)`` returns the Blocks; ``call(payload) -> response`` is the handler (or anything
answering the main API). Its API (``gradio_client``) is the seed Space's: ``/predict`` (image, text, threshold)
and ``/sam2_compatible`` (the ``{"inputs": {...}}`` object), both answering the handler's JSON; the page's own
events are private. Mounted at ``/ui`` by ``sam3-serve --ui`` and at ``/`` by ``sam3-app`` (the Space).

The page: the picture is shown once (the "stage", a ``gr.HTML`` whose click layer is ``static/stage.js``);
clicks and drags on it become points and boxes in image pixels, sent with the picture's original bytes (so the
service's feature cache answers every click after the first); the result comes back as one tinted layer per
object at display size (``ui.render``), drawn over the same picture with a legend. Downloads: ``ui.downloads``.

The Video tab (``video_tab``): upload a clip, track text prompts through it (the service's video request), play
the result in a canvas player with a legend (``ui.video``, ``static/video.*``), download the response JSON. Or edit
it as a video session (``ui.video_editing``): prompt any frame with text or clicks, propagate (frames shown as they
come), fix an object by clicking on any frame, remove one, propagate again, download COCO and YouTube-VIS JSON.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import gradio as gr  # module level: gradio resolves the gr.EventData annotation from here
import torch

from sam3_core.media.image_io import decode_image
from sam3_core.settings import RequestSettings, Settings
from sam3_core.ui import examples as ui_examples
from sam3_core.ui import video as ui_video
from sam3_core.ui.downloads import stem, write_downloads
from sam3_core.ui.render import Picture, display_picture, objects_for_display
from sam3_core.ui.video_editing import Stream, VideoEditing

LOG = logging.getLogger("sam3_core.ui.page")
DOWNLOADS_DIR = Path(tempfile.gettempdir()) / "sam3-ui-downloads"
DOWNLOADS_KEEP_S = 3600
NOTICE_STYLE = "background:#fef3c7;color:#78350f;border:1px solid #f59e0b;border-radius:6px;padding:6px 10px"


def static_text(name: str) -> str:
    """A file of ``sam3_core/ui/static`` (the HTML, CSS and JavaScript of the stage and the example strip)."""
    return resources.files("sam3_core.ui").joinpath("static", name).read_text(encoding="utf-8")


def static_component(name: str, elem_id: str) -> gr.HTML:
    """A ``gr.HTML`` made of ``static/NAME.{html,css,js}`` (the JavaScript is its ``js_on_load``), with the
    messages, placeholder and legend that the image stage and the video player share (``common.{css,js}``)."""
    return gr.HTML(
        None,
        html_template=static_text(f"{name}.html"),
        css_template=static_text("common.css") + static_text(f"{name}.css"),
        js_on_load=static_text("common.js") + static_text(f"{name}.js"),
        apply_default_css=False,
        elem_id=elem_id,
    )


def summary(response: dict) -> dict:
    """The response for the page's JSON panel: everything but the masks, which are named by size only."""
    shown = {key: value for key, value in response.items() if key != "masks"}
    shown["masks"] = [f"<PNG, {len(mask)} base64 chars>" for mask in response.get("masks", [])]
    return shown


def weights_notice(info: dict[str, Any]) -> str:
    """The banner for ``model_info()``: a warning when the weights are random, a note while they load."""
    if info.get("random_weights"):
        text = (
            "This demo serves a tiny <b>randomly initialised</b> SAM3 checkpoint: every mask and score is "
            "meaningless. Set <code>SAM3_MODEL_ID=facebook/sam3</code> (and <code>HF_TOKEN</code>) for real masks."
        )
        return f'<div class="sam3-notice" role="alert" style="{NOTICE_STYLE}">{text}</div>'
    if not info.get("loaded", True):
        text = "The model is still loading: results come once it is ready."
        return f'<div class="sam3-notice" style="{NOTICE_STYLE}">{text}</div>'
    return ""


def _fresh_download_folder() -> Path:
    """A new folder for one set of downloads; folders older than ``DOWNLOADS_KEEP_S`` are removed."""
    DOWNLOADS_DIR.mkdir(parents=True, exist_ok=True)
    for old in DOWNLOADS_DIR.iterdir():
        try:
            if time.time() - old.stat().st_mtime > DOWNLOADS_KEEP_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return DOWNLOADS_DIR / uuid.uuid4().hex


def _as_list(value: Any, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{name}: expected a list")
    return value


# The Video tab's starting values: about 10 s of video at 5 fps on a GPU; 8 frames on a CPU, where each frame costs
# the whole ViT (seconds on the tiny checkpoint, about a minute with the real weights on 2 cores).
VIDEO_DEFAULTS = {
    "max_frames": 48 if torch.cuda.is_available() else 8,
    "fps": 5.0,
    "frame_stride": 1,
    "max_objects": 10,
}


def video_tab(call: Callable[[dict], Any], settings: RequestSettings, stream: Stream | None = None) -> None:
    """The Video tab (inside ``build_ui``'s Blocks): upload a clip, track text prompts through it, play the result
    (``ui.video`` and ``static/video.*``), download the response JSON; or edit it as a session
    (``ui.video_editing``; ``stream``: the service's streamed propagation, else answers come whole). Its events
    are private."""
    limits = settings.limits
    tokens = itertools.count(1)
    editing = VideoEditing(call, stream, settings, VIDEO_DEFAULTS, _fresh_download_folder)

    def view_message(text: str, level: str = "error") -> dict:
        return {"kind": "message", "message": text, "level": level, "id": uuid.uuid4().hex}

    def hidden_files() -> dict:
        return gr.update(value=None, visible=False)

    def upload(path: str | None, state: dict | None):
        if not path:
            return view_message("No file received."), state, hidden_files()
        file = Path(path)
        try:
            if file.stat().st_size > limits.max_video_bytes:
                raise ValueError(f"it is over the {limits.max_video_bytes // (1024 * 1024)} MB limit")
            clip, poster = ui_video.open_clip(file.read_bytes(), file.name, settings)
        except ValueError as error:  # RequestError: not a video, over a limit; the clip shown before stays
            return view_message(f"Cannot open {file.name}: {str(error)[:240]}"), state, gr.update()
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return view_message(_unexpected("open the video")), state, gr.update()
        token = next(tokens)
        if state is not None:
            editing.close(state.get("edit"))
        size = ui_video.display_size((clip.width, clip.height), ui_video.DISPLAY_MAX_SIDE)
        rate = f", {clip.fps:g} fps" if clip.fps else ""
        view = {
            "kind": "clip",
            "token": token,
            "width": size[0],
            "height": size[1],
            "source": [clip.width, clip.height],
            "frames": [{"index": 0, "time": 0.0, "src": poster}],
            "objects": [],
            "message": (
                f"{clip.name} ({clip.width} \u00d7 {clip.height}{rate}): type what to track, then Track; or Find "
                "on this frame, or click an object, to edit a session."
            ),
            "level": "info",
            "id": uuid.uuid4().hex,
        }
        return view, {"clip": clip, "token": token}, hidden_files()

    def track(state: dict | None, text: str, threshold: float, max_frames: float | None, fps: float | None,
              stride: float | None, max_objects: float | None):  # fmt: skip
        prompts = [part.strip() for part in (text or "").split(",") if part.strip()]
        if state is None:
            return view_message("Upload a video first."), gr.update(), hidden_files()
        if not prompts:
            return view_message("Type at least one text prompt (comma-separated)."), gr.update(), hidden_files()
        clip: ui_video.Clip = state["clip"]
        editing.close(state.pop("edit", None))  # the player shows this run now, not the session
        inputs: dict[str, Any] = {
            "text_prompts": prompts,
            "confidence_threshold": float(threshold),
            "max_frames": int(max_frames or VIDEO_DEFAULTS["max_frames"]),
            "max_objects": int(max_objects or VIDEO_DEFAULTS["max_objects"]),
        }
        if fps:  # 0 or empty: every stride-th frame
            inputs["fps"] = float(fps)
        else:
            inputs["frame_stride"] = int(stride or 1)
        started = time.perf_counter()
        try:
            response = call({"inputs": {"video": clip.raw, **inputs}})
        except (ValueError, RuntimeError) as error:
            return view_message(str(error)[:300]), gr.update(), hidden_files()
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return view_message(_unexpected("track the video")), gr.update(), hidden_files()
        seconds = time.perf_counter() - started
        try:
            sampling = ui_video.Sampling(
                frame_stride=inputs.get("frame_stride", 1), fps=inputs.get("fps"), max_frames=inputs["max_frames"]
            )
            player = ui_video.player_view(clip, response, sampling, settings)
            folder = _fresh_download_folder()
            folder.mkdir(parents=True)
            download = folder / f"{stem(clip.name)}_tracks.json"
            download.write_text(json.dumps(response))
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return view_message(_unexpected("show the result")), gr.update(), hidden_files()
        described = ", ".join(f"\u201c{prompt}\u201d" for prompt in prompts)
        count, frames = response["num_objects"], len(player["frames"])
        if count:
            text = (
                f"{count} object{'s' if count != 1 else ''} tracked through {plural(frames, 'frame')} for {described}."
            )
            level = "info"
        else:
            text = (
                f"Nothing found above the confidence threshold {threshold:.2f} for {described} in "
                f"{plural(frames, 'frame')}: "
                "lower the threshold, or try other prompts."
            )
            level = "warn"
        view = {
            "kind": "result",
            "token": state["token"],
            "source": [response["video"]["width"], response["video"]["height"]],
            **player,
            "message": text,
            "level": level,
            "prompts": described,
            "request": inputs,  # the request's fields but the video (what a test replays)
            "seconds": round(seconds, 1),
            "id": uuid.uuid4().hex,
        }
        return view, gr.update(), gr.update(value=[str(download)], visible=True)  # the state may be a newer clip now

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=560):
            player = static_component("video", elem_id="player")  # fed through the hidden video-view below
        with gr.Column(scale=1, min_width=280):
            upload_button = gr.UploadButton(
                "Upload a video",
                file_types=[".mp4", ".webm", ".gif", ".mov", ".avi", ".mkv"],
                type="filepath",
                elem_id="video-upload",
                variant="primary",
            )
            with gr.Row():
                text = gr.Textbox(
                    label="Text prompts (comma-separated)",
                    placeholder="person, dog",
                    elem_id="video-prompts",
                    scale=3,
                    max_lines=1,
                )
                run = gr.Button("Track", variant="primary", elem_id="video-run", scale=1, min_width=60)
            with gr.Row():
                find = gr.Button("Find on this frame", elem_id="video-find", scale=1, min_width=60)
                propagate = gr.Button("Propagate", elem_id="video-propagate", scale=1, min_width=60)
            threshold = gr.Slider(
                0.0, 1.0, value=0.5, step=0.01, label="Confidence threshold", elem_id="video-threshold"
            )
            with gr.Row():
                max_frames = gr.Number(
                    VIDEO_DEFAULTS["max_frames"], label="Max frames", minimum=1, maximum=limits.max_video_frames,
                    precision=0, elem_id="video-max-frames",
                )  # fmt: skip
                max_objects = gr.Number(
                    VIDEO_DEFAULTS["max_objects"], label="Max objects", minimum=1, maximum=limits.max_objects,
                    precision=0, elem_id="video-max-objects",
                )  # fmt: skip
            with gr.Row():
                fps = gr.Number(
                    VIDEO_DEFAULTS["fps"], label="Frames per second (0: use the stride)", minimum=0, maximum=1000,
                    elem_id="video-fps",
                )  # fmt: skip
                stride = gr.Number(
                    VIDEO_DEFAULTS["frame_stride"], label="Every Nth frame (when fps is 0)", minimum=1,
                    maximum=10_000, precision=0, elem_id="video-stride",
                )  # fmt: skip
            files = gr.File(label="Download", interactive=False, file_count="multiple", elem_id="video-downloads",
                            visible=False)  # fmt: skip
            gr.Markdown(
                "Track: every instance of each prompt through the clip, with a stable id and colour. Or edit: *Find "
                "on this frame* (text), or click an object or drag a box around it on any frame (shift-click or "
                "right-click: a negative point), then *Propagate*; to fix an object, pick it with \u270e in the "
                "legend and click or drag on any frame; \u00d7 removes it. Each sampled frame goes through the "
                "model in turn: on a CPU, keep clips short. Untick an object in the legend to hide it.",
                elem_id="video-help",
            )
    view = gr.JSON(visible="hidden", elem_id="video-view")
    state = gr.State(None)
    private = {"api_visibility": "private"}
    quiet = {**private, "show_progress": "hidden"}
    upload_button.upload(upload, inputs=[upload_button, state], outputs=[view, state, files], **quiet)
    options = [state, text, threshold, max_frames, fps, stride, max_objects]
    busy = "() => { window.sam3video && window.sam3video.busy(); }"
    for trigger in (run.click, text.submit):
        trigger(None, js=busy, **private)
        # Track pressed while a run is pending runs once that run ends ("once", the default, would drop it)
        trigger(track, inputs=options, outputs=[view, state, files], concurrency_limit=1, trigger_mode="always_last",
                **quiet)  # fmt: skip
    view.change(None, inputs=[view], js="(view) => { window.sam3video && window.sam3video.show(view); }", **private)
    fields = [threshold, max_frames, fps, stride, max_objects]
    position = gr.Number(0, visible="hidden", elem_id="video-position")
    # the frame shown goes with Find (the hidden position's value is replaced on the way)
    find_js = (
        "(...args) => { const v = window.sam3video; if (v) { v.busy('finding'); args[2] = v.position(); } "
        "return args; }"
    )
    find.click(editing.find, inputs=[state, text, position, *fields], outputs=[view, state], js=find_js,
               concurrency_limit=1, trigger_mode="always_last", **quiet)  # fmt: skip
    propagate_js = "(...args) => { window.sam3video && window.sam3video.busy('propagating'); return args; }"
    propagate.click(editing.propagate, inputs=[state], outputs=[view, files], js=propagate_js, concurrency_limit=1,
                    **quiet)  # fmt: skip
    player.prompt(editing.click, inputs=[state, *fields], outputs=[view, state], trigger_mode="multiple", **quiet)
    player.remove(editing.remove, inputs=[state], outputs=[view], **quiet)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _unexpected(doing: str) -> str:
    """Log the exception being handled (with its traceback, under an id) and say so in one line."""
    error_id = uuid.uuid4().hex[:12]
    LOG.exception("web UI: could not %s (id %s)", doing, error_id)
    return f"Could not {doing}: internal error (id {error_id})."


def build_ui(
    call: Callable[[dict], Any],
    model_info: Callable[[], dict[str, Any]] | None = None,
    request_settings: RequestSettings | None = None,
    stream: Stream | None = None,
) -> gr.Blocks:
    """The page and the seed's API over ``call``. ``model_info()`` (optional) says ``{"loaded": bool,
    "random_weights": bool}`` for the banner; ``request_settings``: the limits an upload is checked against
    (default: from the environment); ``stream``: the service's streamed session propagation (the video editor
    shows frames as they come), else its answers come whole."""
    settings = request_settings or Settings.from_env().request

    def no_files() -> dict:
        return gr.update(value=None, visible=False)  # a new picture or result: the old downloads go (a fresh
        # update each time: gradio consumes the dict)

    tokens = itertools.count(1)  # names each picture shown, so that a late answer for an older one is ignored

    def answer(payload: dict) -> dict:
        """``call(payload)``, its errors as messages that the page (or a ``gradio_client`` caller) shows."""
        try:
            return call(payload)
        except (ValueError, RuntimeError) as error:  # bad input; ServiceUnavailable, InternalError, model loading
            raise gr.Error(str(error)) from None

    def predict(image: str, text: str, threshold: float | None = None) -> dict:
        """The seed's simple API, as ``POST /api/predict`` with ``{"data": [image, text, threshold]}``: a
        base64-encoded image, one text prompt, the confidence threshold (optional) -> the response (masks as
        base64 PNGs)."""
        return answer({"data": [image, text, threshold]})

    def sam2_compatible(payload: dict) -> dict:
        """The seed's main API, as ``POST /api/sam2_compatible``: the request object ``{"inputs": {"image": ...,
        "text_prompts": [...], "points": [...], "boxes": [...], ...}}`` -> the response (masks as base64 PNGs);
        ``{"inputs": [{...}, ...]}`` (many images) -> a list of responses."""
        return answer(payload)

    # ---- the page's events: they never raise (a raised error leaves a toast and a badge on the page); every
    # problem becomes the stage's message, which the next result replaces.

    def message(text: str, level: str = "error", seq: Any = None) -> dict:
        return {"kind": "message", "message": text, "level": level, "seq": seq, "id": uuid.uuid4().hex}

    def unexpected(doing: str) -> str:
        """Log the exception being handled (with its traceback, under an id) and say so in one line."""
        error_id = uuid.uuid4().hex[:12]
        LOG.exception("web UI: could not %s (id %s)", doing, error_id)
        return f"Could not {doing}: internal error (id {error_id})."

    def show_picture(raw: bytes, name: str, state: dict | None) -> tuple[dict, dict | None, Any, Any]:
        try:
            image = decode_image(raw, settings)
        except ValueError as error:
            return message(f"Cannot open {name}: {error}"), state, gr.update(), gr.update()
        picture = Picture(raw, image, name)
        token = next(tokens)
        width, height = picture.size
        view = {
            "kind": "picture",
            "token": token,
            "src": display_picture(image),
            "width": width,
            "height": height,
            "name": name,
            "message": f"{name} ({width} \u00d7 {height}): click on an object, or type a text prompt.",
            "level": "info",
        }
        return view, {"picture": picture, "token": token, "response": None}, None, no_files()

    def upload(path: str | None, state: dict | None):
        if not path:
            return message("No file received."), state, gr.update(), gr.update()
        try:
            file = Path(path)
            return show_picture(file.read_bytes(), file.name, state)
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message(unexpected("open the file")), state, gr.update(), gr.update()

    def example(state: dict | None, event: gr.EventData):
        name = (getattr(event, "_data", None) or {}).get("name")
        if name not in ui_examples.available():
            return message("Unknown example."), state, gr.update(), gr.update()
        try:
            return show_picture(ui_examples.example_png(name), f"{name}.png", state)
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message(unexpected("load the example")), state, gr.update(), gr.update()

    def segment(payload_inputs: dict, state: dict, threshold: float, vectorize: bool, multimask: bool,
                source: str, seq: Any, described: str):  # fmt: skip
        picture: Picture = state["picture"]
        payload = {
            "inputs": {
                "image": picture.raw,  # the same bytes every time: the feature cache's key
                **payload_inputs,
                "confidence_threshold": threshold,
                "vectorize": bool(vectorize),
                "multimask_output": bool(multimask),
                "return_timings": True,  # the page says whether the feature cache answered
            }
        }
        started = time.perf_counter()
        try:
            response = call(payload)
        except (ValueError, RuntimeError) as error:
            return message(str(error)[:300], seq=seq), state, gr.update(), gr.update()
        objects = objects_for_display(response, picture.size)
        milliseconds = round((time.perf_counter() - started) * 1000)
        if objects:
            text = f"{len(objects)} object{'s' if len(objects) != 1 else ''} for {described}."
            level = "info"
        else:
            text = (
                f"Nothing found above the confidence threshold {threshold:.2f} for {described}: lower the "
                "threshold, or prompt elsewhere."
            )
            level = "warn"
        view = {
            "kind": "result",
            "token": state["token"],
            "seq": seq,
            "source": source,
            "objects": objects,
            "message": text,
            "level": level,
            "prompts": described,
            "server_ms": milliseconds,
            "cache_hit": bool((response.get("timings") or {}).get("cache_hit")),
            "id": uuid.uuid4().hex,  # a new value every time: the page's change listener always fires
        }
        return view, {**state, "response": response}, summary(response), no_files()

    def segment_clicks(state: dict | None, threshold: float, vectorize: bool, multimask: bool, event: gr.EventData):
        data = getattr(event, "_data", None) or {}
        seq = data.get("seq")
        try:
            if state is None:
                return message("Upload an image (or pick an example) first.", seq=seq), state, gr.update(), gr.update()
            if data.get("token") != state["token"]:  # a click on a picture replaced since
                return message("The picture changed: click again.", seq=seq), state, gr.update(), gr.update()
            fields = ("points", "point_labels", "boxes", "box_labels")
            inputs = {name: _as_list(data.get(name), name) for name in fields}
            inputs = {name: value for name, value in inputs.items() if value}
            points, boxes = len(inputs.get("points", [])), len(inputs.get("boxes", []))
            described = f"{points} point{'s' if points != 1 else ''}, {boxes} box{'es' if boxes != 1 else ''}"
            return segment(inputs, state, threshold, vectorize, multimask, "clicks", seq, described)
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message(unexpected("segment"), seq=seq), state, gr.update(), gr.update()

    def segment_text(state: dict | None, text: str, threshold: float, vectorize: bool, multimask: bool):
        prompts = [part.strip() for part in (text or "").split(",") if part.strip()]
        try:
            if state is None:
                return message("Upload an image (or pick an example) first."), state, gr.update(), gr.update()
            if not prompts:
                return message("Type at least one text prompt (comma-separated)."), state, gr.update(), gr.update()
            described = ", ".join(f"\u201c{prompt}\u201d" for prompt in prompts)
            return segment({"text_prompts": prompts}, state, threshold, vectorize, multimask, "text", None, described)
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message(unexpected("segment")), state, gr.update(), gr.update()

    def download(state: dict | None, event: gr.EventData):
        data = getattr(event, "_data", None) or {}
        if state is None or state.get("response") is None:
            return message("Nothing to download yet: segment something first.", "warn"), gr.update()
        shown = [index for index in _as_list(data.get("shown"), "shown") if isinstance(index, int)]
        try:
            files = write_downloads(_fresh_download_folder(), state["picture"], state["response"], shown)
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message(unexpected("prepare the downloads")), gr.update()
        count = len(state["response"]["masks"])
        text = f"Downloads ready (overlay of {len(shown)} of {count} objects, {count} masks, COCO JSON): see Downloads."
        return message(text, "info"), gr.update(value=[str(path) for path in files], visible=True)

    def warm(state: dict | None) -> None:
        """Have the service compute (and cache) a new picture's features while the user looks at it: one point at
        the centre with threshold 1 (nothing passes, so no mask is encoded). The first click is then a cached one."""
        if state is None or state.get("response") is not None:
            return
        width, height = state["picture"].size
        payload = {"image": state["picture"].raw, "points": [[width / 2, height / 2]], "point_labels": [1]}
        try:
            call({"inputs": {**payload, "confidence_threshold": 1.0}})
        except Exception:  # noqa: BLE001 - a failure here shows again, as a message, on the first click
            LOG.info("web UI: computing a new picture's features failed", exc_info=True)

    def notice():
        return weights_notice(model_info() if model_info else {})

    with gr.Blocks(title="SAM3 segmentation") as demo:
        banner = gr.HTML("", elem_id="weights-notice", js_on_load=None)
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Image", id="image", elem_id="image-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=560):
                        stage = static_component("stage", elem_id="stage")
                    with gr.Column(scale=1, min_width=280):
                        upload_button = gr.UploadButton(
                            "Upload an image",
                            file_types=["image"],
                            type="filepath",
                            elem_id="upload",
                            variant="primary",
                        )
                        names = ui_examples.available()
                        examples = gr.HTML(
                            [{"name": name, "src": ui_examples.thumbnail_url(name)} for name in names],
                            label="Examples",
                            html_template=static_text("examples.html"),  # a thumbnail per photo; a click sends 'pick'
                            css_template=static_text("examples.css"),
                            js_on_load=static_text("examples.js"),
                            elem_id="examples",
                            visible=bool(names),
                        )
                        files = gr.File(
                            label="Downloads",
                            file_count="multiple",
                            interactive=False,
                            elem_id="downloads",
                            visible=False,
                        )
                        with gr.Row():
                            text = gr.Textbox(
                                label="Text prompts (comma-separated)",
                                placeholder="cat, remote control",
                                elem_id="text-prompts",
                                scale=3,
                                max_lines=1,
                            )
                            run_text_button = gr.Button(
                                "Find", variant="primary", elem_id="run-text", scale=1, min_width=60
                            )
                        threshold = gr.Slider(
                            0.0, 1.0, value=0.5, step=0.01, label="Confidence threshold", elem_id="threshold"
                        )
                        with gr.Row():
                            vectorize = gr.Checkbox(label="Polygons", value=False, elem_id="vectorize")
                            multimask = gr.Checkbox(label="3 candidates per click", value=False, elem_id="multimask")
                        gr.Markdown(
                            "Click: a point (shift-click or right-click: a negative one). Drag, or pick *Box* and "
                            "click two corners: a box. Untick an object in the legend to hide it.",
                            elem_id="help",
                        )
                with gr.Accordion("Response JSON", open=False):
                    raw = gr.JSON(label="Response JSON", elem_id="response-json")
            with gr.Tab("Video", id="video", elem_id="video-tab"):
                video_tab(call, settings, stream)
        view = gr.JSON(visible="hidden", elem_id="view")
        state = gr.State(None)

        private = {"api_visibility": "private"}  # the page's own events: the API is predict and sam2_compatible
        quiet = {**private, "show_progress": "hidden"}
        outputs = [view, state, raw, files]
        upload_button.upload(upload, inputs=[upload_button, state], outputs=outputs, **quiet).then(
            warm, inputs=[state], **quiet
        )
        examples.pick(example, inputs=[state], outputs=outputs, **quiet).then(warm, inputs=[state], **quiet)
        options = [threshold, vectorize, multimask]
        # "multiple": the page sends the next request from the previous one's answer, which may arrive before
        # gradio counts that event as finished ("once", the default, would then drop it); the page itself never
        # has two in flight.
        stage.segment(segment_clicks, inputs=[state, *options], outputs=outputs, trigger_mode="multiple", **quiet)
        stage.download(download, inputs=[state], outputs=[view, files], **quiet)
        run_text_button.click(segment_text, inputs=[state, text, *options], outputs=outputs, **quiet)
        text.submit(segment_text, inputs=[state, text, *options], outputs=outputs, **quiet)
        view.change(None, inputs=[view], js="(view) => { window.sam3ui && window.sam3ui.show(view); }", **private)
        rerun = "() => { window.sam3ui && window.sam3ui.rerun(); }"
        threshold.release(None, js=rerun, **private)
        for box in (vectorize, multimask):
            box.input(None, js=rerun, **private)
        demo.load(notice, outputs=[banner], **quiet)
        gr.api(predict, api_name="predict")
        gr.api(sam2_compatible, api_name="sam2_compatible")
    return demo.queue(default_concurrency_limit=2)
