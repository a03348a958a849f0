"""The Video tab's editing events (``video_editor`` holds the session; ``static/video.js`` the player's side).

- *Find on this frame*: the text prompts on the frame shown (``add_prompt``; the first edit starts the session,
  with the tab's sampling and detection fields, and the player shows every sampled frame);
- a click on the frame, or a box dragged on it (``prompt`` from the player): a point or the box for the selected
  object, or a new object (shift- or right-click: a negative point). The player sends every click and the box it
  has for that object on that frame, as a session replaces an object's clicks and box on a frame;
- *Propagate*: both ways from the prompt's frame, each frame shown as soon as the service has it; then the
  downloads (the video response, YouTube-VIS and COCO JSON);
- *remove* (from the player's legend): the object leaves every frame.

Every event answers a view for the player and never raises: errors are messages in the player.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from sam3_core.media.video_io import Sampling
from sam3_core.settings import RequestSettings
from sam3_core.ui import video_editor
from sam3_core.ui.downloads import write_video_downloads

LOG = logging.getLogger("sam3_core.ui.page")
Stream = Callable[[dict], Iterator[dict]]


def message_view(text: str, level: str = "error", **extra: Any) -> dict:
    return {"kind": "message", "message": text[:300], "level": level, "id": uuid.uuid4().hex, **extra}


def unexpected(doing: str) -> str:
    """Log the exception being handled (with its traceback, under an id) and say so in one line."""
    error_id = uuid.uuid4().hex[:12]
    LOG.exception("web UI: could not %s (id %s)", doing, error_id)
    return f"Could not {doing}: internal error (id {error_id})."


class VideoEditing:
    """The editing events of one page (see the module docstring); ``folder()`` makes a fresh downloads folder."""

    def __init__(self, call: Callable[[dict], Any], stream: Stream | None, settings: RequestSettings,
                 defaults: dict[str, Any], folder: Callable[[], Path]) -> None:  # fmt: skip
        self.call, self.stream, self.settings, self.defaults, self.folder = call, stream, settings, defaults, folder

    def _session(self, state: dict, fields: tuple) -> tuple[video_editor.Edit, dict | None]:
        """The tab's session for its clip and sampling fields, started (or started again, when the clip or the
        sampling changed) with the frames' view to show first; else ``None`` for the view."""
        threshold, max_frames, fps, stride, max_objects = fields
        max_frames = int(max_frames or self.defaults["max_frames"])
        sampling = Sampling(frame_stride=1 if fps else int(stride or 1), fps=float(fps) if fps else None,
                            max_frames=max_frames)  # fmt: skip
        edit: video_editor.Edit | None = state.get("edit")
        if edit is not None and edit.token == state["token"] and edit.sampling == sampling:
            return edit, None
        if edit is not None:
            self.close(edit)
        options = {"confidence_threshold": float(threshold),
                   "max_objects": int(max_objects or self.defaults["max_objects"])}  # fmt: skip
        edit = video_editor.start(self.call, state["clip"], sampling, state["token"], options, self.settings)
        state["edit"] = edit
        count = len(edit.video["frame_indices"])
        text = f"A session of {count} frame{'s' if count != 1 else ''}: prompt any frame, then Propagate."
        return edit, video_editor.frames_view(edit, self.settings, text)

    def close(self, edit: video_editor.Edit | None) -> None:
        """Close ``edit``'s session (a new clip, or a one-shot run, replaces it)."""
        if edit is None:
            return
        try:
            self.call(edit.request("close_session"))
        except Exception:  # noqa: BLE001 - expired already, or closed to make room: nothing to free
            LOG.debug("web UI: the session was gone already", exc_info=True)

    def find(self, state: dict | None, text: str, position: float | None, threshold: float, max_frames: float | None,
             fps: float | None, stride: float | None, max_objects: float | None):  # fmt: skip
        """*Find on this frame* (a generator: the frames' view first when a session starts)."""
        fields = (threshold, max_frames, fps, stride, max_objects)
        prompts = [part.strip() for part in (text or "").split(",") if part.strip()]
        if state is None:
            yield message_view("Upload a video first."), gr.update()
            return
        if not prompts:
            yield message_view("Type at least one text prompt (comma-separated)."), gr.update()
            return
        try:
            edit, started = self._session(state, fields)
            if started is not None:
                yield started, state
            frame_index = edit.video["frame_indices"][_position(position, edit)]
            options = {"confidence_threshold": float(threshold)}
            answer = self.call(edit.request("add_prompt", frame_index=frame_index, text_prompts=prompts, **options))
        except (ValueError, RuntimeError) as error:
            yield message_view(str(error)), state
            return
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            yield message_view(unexpected("find the prompt")), state
            return
        found = len(answer["objects"])
        described = ", ".join(f"\u201c{prompt}\u201d" for prompt in prompts)
        text = (
            f"{found} object{'s' if found != 1 else ''} for {described} on this frame: click one to fix it "
            "(pick it in the legend), or Propagate."
        )
        view = video_editor.update_view(edit, [(frame_index, answer["objects"])], text, "info" if found else "warn",
                                        clear=True)  # fmt: skip
        yield view, state

    def click(self, state: dict | None, threshold: float, max_frames: float | None, fps: float | None,
              stride: float | None, max_objects: float | None, event: gr.EventData):  # fmt: skip
        """A click or a box on the frame shown (a generator, as ``find``)."""
        fields = (threshold, max_frames, fps, stride, max_objects)
        data = getattr(event, "_data", None) or {}
        if state is None:
            yield message_view("Upload a video first."), gr.update()
            return
        if data.get("token") != state["token"]:
            yield message_view("The video changed: click again.", "warn"), gr.update()
            return
        try:
            edit, started = self._session(state, fields)
            if started is not None:
                yield started, state
            frame_index = edit.video["frame_indices"][_position(data.get("position"), edit)]
            object_id = data.get("obj_id")
            if not isinstance(object_id, int) or isinstance(object_id, bool):
                object_id = max(edit.object_ids, default=-1) + 1
            clicks = {"points": data.get("points"), "point_labels": data.get("point_labels")}
            if data.get("box") is not None:  # pixel xyxy, with the clicks: one object's box on this frame
                clicks["boxes"] = [data["box"]]
            answer = self.call(edit.request("add_prompt", frame_index=frame_index, obj_id=object_id,
                                            coordinates="pixels", **clicks))  # fmt: skip
        except (ValueError, RuntimeError) as error:
            yield message_view(str(error), selected=data.get("obj_id")), state
            return
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            yield message_view(unexpected("add the prompt")), state
            return
        text = f"Object {object_id} on this frame: click or drag a box to fix it, New object for another, or Propagate."
        yield video_editor.update_view(edit, [(frame_index, answer["objects"])], text, selected=object_id), state

    def propagate(self, state: dict | None):
        """*Propagate* both ways (a generator: one view per frame as it comes, then the downloads)."""
        edit = None if state is None else state.get("edit")
        if edit is None or edit.token != state["token"]:
            yield message_view("Prompt a frame first: Find on this frame, or click an object."), gr.update()
            return
        frames = 0
        try:
            for frame_index, objects in video_editor.propagation(self.call, self.stream, edit):
                frames += 1
                text = f"Propagating: {frames} of {len(edit.video['frame_indices'])} frames\u2026"
                yield video_editor.update_view(edit, [(frame_index, objects)], text, follow=True), gr.update()
            response = edit.response()
            files = write_video_downloads(self.folder(), edit.clip.name, response)
        except (ValueError, RuntimeError) as error:
            yield message_view(str(error)), gr.update()
            return
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            yield message_view(unexpected("propagate")), gr.update()
            return
        count = response["num_objects"]
        text = (
            f"{count} object{'s' if count != 1 else ''} through {frames} frames: scrub, click to fix an object on "
            "any frame, then Propagate again."
        )
        done = video_editor.update_view(edit, [], text, "info" if count else "warn", done=True)
        yield done, gr.update(value=[str(path) for path in files], visible=True)

    def remove(self, state: dict | None, event: gr.EventData):
        """An object removed from the legend: off every frame."""
        data = getattr(event, "_data", None) or {}
        edit = None if state is None else state.get("edit")
        object_id = data.get("obj_id")
        if edit is None or data.get("token") != state["token"] or not isinstance(object_id, int):
            return message_view("Nothing to remove.", "warn")
        try:
            self.call(edit.request("remove_object", obj_id=object_id))
        except (ValueError, RuntimeError) as error:
            return message_view(str(error))
        except Exception:  # noqa: BLE001 - the page shows a message, never a traceback
            return message_view(unexpected("remove the object"))
        edit.forget(object_id)
        text = f"Object {object_id} removed: Propagate to update the downloads."
        return {"kind": "removed", "token": edit.token, "object_id": object_id, "message": text, "level": "info",
                "id": uuid.uuid4().hex}  # fmt: skip


def _position(value: Any, edit: video_editor.Edit) -> int:
    """The player's frame position, within the session's frames."""
    count = len(edit.video["frame_indices"])
    try:
        return min(max(int(value or 0), 0), count - 1)
    except (TypeError, ValueError):
        return 0
