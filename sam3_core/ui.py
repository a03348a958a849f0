"""A Gradio web UI over the handler: upload an image, prompt with text or with clicks and boxes, see the masks.

``build_ui(call)`` returns the Blocks; ``call(payload) -> response`` is the handler (or anything answering the
main API). Its API (``gradio_client``) is the seed Space's: ``/predict`` (image, text, threshold) and
``/sam2_compatible`` (the ``{"inputs": {...}}`` object), both answering the handler's JSON; the page's own events
are private. Mounted at ``/ui`` by ``sam3-serve --ui`` and at ``/`` by ``sam3-app`` (the Space).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import cv2
import gradio as gr  # module level: gradio resolves the gr.SelectData annotation from here
import numpy as np
from PIL import Image

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]  # fmt: skip
CLICK_MODES = ["positive point", "negative point", "box (click two corners)", "negative box (two corners)"]


def image_to_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def overlay(image: Image.Image, response: dict, prompts: dict | None = None) -> Image.Image:
    """The image with each object's mask tinted in its own colour, its box, label and score, polygons in white,
    and the visual prompts (green/red points, boxes) drawn on top."""
    canvas = np.asarray(image.convert("RGB")).astype(np.float32)
    outlines = []
    for index, png in enumerate(response.get("masks", [])):
        mask = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_GRAYSCALE) > 0
        colour = np.array(PALETTE[index % len(PALETTE)], dtype=np.float32)
        canvas[mask] = canvas[mask] * 0.45 + colour * 0.55
        outlines.append((index, colour))
    canvas = canvas.astype(np.uint8).copy()
    for index, colour in outlines:
        x1, y1, x2, y2 = (int(round(v)) for v in response["boxes"][index])
        bgr = tuple(int(c) for c in colour)
        cv2.rectangle(canvas, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), bgr, 2)
        text = f"{response['labels'][index]} {response['scores'][index]:.2f}"
        cv2.putText(canvas, text, (x1 + 3, max(12, y1 + 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 2)
        cv2.putText(canvas, text, (x1 + 3, max(12, y1 + 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, bgr, 1)
    for polygon in response.get("polygons") or []:
        if len(polygon) >= 2:
            cv2.polylines(canvas, [np.asarray(polygon, np.int32).reshape(-1, 1, 2)], True, (255, 255, 255), 1)
    draw_prompts(canvas, prompts or {})
    return Image.fromarray(canvas)


def draw_prompts(canvas: np.ndarray, prompts: dict) -> np.ndarray:
    for (x, y), label in zip(prompts.get("points", []), prompts.get("point_labels", []), strict=True):
        cv2.circle(canvas, (int(x), int(y)), 6, (0, 200, 0) if label else (220, 0, 0), -1)
        cv2.circle(canvas, (int(x), int(y)), 6, (255, 255, 255), 1)
    for box, label in zip(prompts.get("boxes", []), prompts.get("box_labels", []), strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0) if label else (220, 0, 0), 2)
    return canvas


def empty_prompts() -> dict:
    return {"points": [], "point_labels": [], "boxes": [], "box_labels": [], "corner": None}


def add_click(prompts: dict, mode: str, x: float, y: float) -> dict:
    """A click in ``mode`` at pixel (x, y): a point, or one corner of a box (the second corner closes it)."""
    prompts = json.loads(json.dumps(prompts))
    if mode in CLICK_MODES[:2]:
        prompts["points"].append([x, y])
        prompts["point_labels"].append(1 if mode == CLICK_MODES[0] else 0)
    elif prompts["corner"] is None:
        prompts["corner"] = [x, y]
    else:
        (cx, cy), prompts["corner"] = prompts["corner"], None
        if abs(x - cx) >= 1 and abs(y - cy) >= 1:
            prompts["boxes"].append([min(cx, x), min(cy, y), max(cx, x), max(cy, y)])
            prompts["box_labels"].append(1 if mode == CLICK_MODES[2] else 0)
    return prompts


def build_ui(call: Callable[[dict], Any]) -> gr.Blocks:
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
        "text_prompts": [...], "points": [...], "boxes": [...], ...}}`` -> the response (masks as base64 PNGs)."""
        return answer(payload)

    def run(image, inputs: dict, threshold: float, vectorize: bool, multimask: bool, prompts: dict | None = None):
        if image is None:
            raise gr.Error("Upload an image first.")
        payload = {
            "inputs": {
                "image": image_to_base64(image),
                **inputs,
                "confidence_threshold": threshold,
                "vectorize": vectorize,
                "multimask_output": multimask,
            }
        }
        response = answer(payload)
        shown = {key: value for key, value in response.items() if key not in ("masks",)}
        shown["masks"] = [f"<PNG, {len(mask)} base64 chars>" for mask in response["masks"]]
        return overlay(image, response, prompts), shown

    def run_text(image, text, threshold, vectorize, multimask):
        prompts = [part.strip() for part in (text or "").split(",") if part.strip()]
        if not prompts:
            raise gr.Error("Type at least one text prompt (comma-separated).")
        return run(image, {"text_prompts": prompts}, threshold, vectorize, multimask)

    def run_visual(image, prompts, threshold, vectorize, multimask):
        visual = {key: prompts[key] for key in ("points", "point_labels", "boxes", "box_labels")}
        if not visual["points"] and 1 not in visual["box_labels"]:
            raise gr.Error("Click on the image to add a positive point or box first.")
        return run(image, visual, threshold, vectorize, multimask, prompts)

    def click(image, prompts, mode, event: gr.SelectData):
        x, y = event.index
        prompts = add_click(prompts, mode, float(x), float(y))
        preview = Image.fromarray(draw_prompts(np.asarray(image.convert("RGB")).copy(), prompts)) if image else None
        return prompts, preview, describe(prompts)

    def describe(prompts: dict) -> str:
        corner = f"; first box corner at {prompts['corner']}" if prompts["corner"] else ""
        return f"{len(prompts['points'])} point(s), {len(prompts['boxes'])} box(es){corner}"

    def clear(image):
        return empty_prompts(), image, describe(empty_prompts())

    with gr.Blocks(title="SAM3 segmentation") as demo:
        gr.Markdown("# SAM3 segmentation\nUpload an image, then prompt with text or with clicks.")
        prompts_state = gr.State(empty_prompts())
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="pil", label="Image", elem_id="input-image", sources=["upload", "clipboard"])
                threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Confidence threshold")
                with gr.Row():
                    vectorize = gr.Checkbox(label="Vectorize (polygons)", value=False, elem_id="vectorize")
                    multimask = gr.Checkbox(label="Multimask (visual prompts)", value=False)
                with gr.Tab("Text prompts"):
                    text = gr.Textbox(label="Text prompts (comma-separated)", placeholder="cat, remote control",
                                      elem_id="text-prompts")  # fmt: skip
                    run_text_button = gr.Button("Segment with text", variant="primary", elem_id="run-text")
                with gr.Tab("Points & boxes"):
                    mode = gr.Radio(CLICK_MODES, value=CLICK_MODES[0], label="Clicking on the preview adds")
                    preview = gr.Image(type="pil", label="Click here", interactive=False, elem_id="click-preview")
                    status = gr.Markdown(describe(empty_prompts()))
                    with gr.Row():
                        clear_button = gr.Button("Clear prompts")
                        run_visual_button = gr.Button("Segment with clicks", variant="primary", elem_id="run-visual")
            with gr.Column():
                result = gr.Image(type="pil", label="Result", elem_id="overlay", interactive=False)
                raw = gr.JSON(label="Response JSON", elem_id="response-json")
        hidden = {"api_visibility": "private"}  # the page's own events: the API is predict and sam2_compatible
        image.change(clear, inputs=image, outputs=[prompts_state, preview, status], **hidden)
        preview.select(click, inputs=[image, prompts_state, mode], outputs=[prompts_state, preview, status], **hidden)
        clear_button.click(clear, inputs=image, outputs=[prompts_state, preview, status], **hidden)
        options = [threshold, vectorize, multimask]
        run_text_button.click(run_text, inputs=[image, text, *options], outputs=[result, raw], **hidden)
        text.submit(run_text, inputs=[image, text, *options], outputs=[result, raw], **hidden)
        run_visual_button.click(run_visual, inputs=[image, prompts_state, *options], outputs=[result, raw], **hidden)
        gr.api(predict, api_name="predict")
        gr.api(sam2_compatible, api_name="sam2_compatible")
    return demo.queue(default_concurrency_limit=2)
