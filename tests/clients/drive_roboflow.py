"""Runs in an environment of ``inference-sdk`` (Roboflow's own client): its ``InferenceHTTPClient`` calls the SAM3
routes of the server given on the command line, as code written for Roboflow's inference server does; the raw
answers (and the errors the client raises) are printed as JSON.

    python drive_roboflow.py SERVER_URL TOKEN IMAGE
"""

from __future__ import annotations

import json
import sys

from inference_sdk import InferenceConfiguration, InferenceHTTPClient
from inference_sdk.http.errors import HTTPCallErrorError


def refusal(call) -> dict:
    try:
        call()
    except HTTPCallErrorError as error:
        return {"status": error.status_code, "message": error.api_message}
    return {"status": 200}


def main(url: str, token: str, image: str) -> None:
    client = InferenceHTTPClient(api_url=url, api_key=token)
    client.configure(InferenceConfiguration(api_key_transport="header"))  # Authorization: Bearer <token>
    out: dict = {}
    out["concept_text"] = client.sam3_concept_segment(
        image,
        prompts=[{"type": "text", "text": "disc"}, {"text": "square", "output_prob_thresh": 0.2316}],
        output_prob_thresh=0.1,
        format="rle",
    )
    out["concept_boxes"] = client.sam3_concept_segment(
        image,
        prompts=[
            {
                "type": "visual",
                "text": "disc",
                "boxes": [{"x": 40, "y": 30, "width": 80, "height": 60}],
                "box_labels": [1],
            },
            {"boxes": [{"x0": 150, "y0": 100, "x1": 260, "y1": 200}]},
        ],
        output_prob_thresh=0.1,
        format="rle",
    )
    out["concept_polygons_nms"] = client.sam3_concept_segment(
        image, prompts=[{"text": "disc"}, {"text": "square"}], output_prob_thresh=0.1, nms_iou_threshold=0.5
    )
    out["visual"] = client.sam3_visual_segment(
        image,
        prompts=[
            {"points": [{"x": 100, "y": 90, "positive": True}, {"x": 20, "y": 20, "positive": False}]},
            {"box": {"x": 120, "y": 110, "width": 160, "height": 140}},
        ],
        mask_input_format="rle",
    )
    out["embed"] = client.sam3_embed_image(image, image_id="scene-1")
    out["embed_digest"] = client.sam3_embed_image(image)
    out["refused"] = refusal(
        lambda: client.sam3_concept_segment(image, prompts=[{"text": "disc", "boxes": [{"x": 1}]}])
    )
    in_body = InferenceHTTPClient(api_url=url, api_key=token)
    in_body.configure(InferenceConfiguration(api_key_transport="legacy"))  # the key in the JSON body only
    out["key_in_body"] = refusal(lambda: in_body.sam3_embed_image(image))
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
