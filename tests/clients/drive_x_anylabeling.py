"""Runs in X-AnyLabeling's own environment (``x-anylabeling-cvhub``, headless: Qt's offscreen platform): its
remote-server client, ``RemoteServer``, configured as a user configures it, calls the server given on the command
line, and what it makes of the answers (its ``Shape`` objects) is printed as JSON.

    python drive_x_anylabeling.py SERVER_URL TOKEN IMAGE WORK_FOLDER [FRAME ...]

With frames (image files of one video, in order), its video model too: a text prompt on the second frame,
then "run" (propagation), which writes each frame's shapes next to its image, as the GUI's batch does.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import anylabeling.config as config  # noqa: E402 - after the platform is chosen

FINEST = 0.0001  # epsilon_factor at the client's finest mask fineness (slider 1)


def shapes_of(result) -> list[dict]:
    return [
        {
            "label": shape.label,
            "shape_type": shape.shape_type,
            "score": shape.score,
            "group_id": shape.group_id,
            "points": [[point.x(), point.y()] for point in shape.points],
        }
        for shape in result.shapes
    ]


def video(client, model_id: str, frames: list[str]) -> dict:
    """The client's video flow as its GUI runs it, with a stand-in for the GUI's widget (the list of images)."""
    from types import SimpleNamespace

    client.set_model_id(model_id)
    client.set_mask_fineness(FINEST)
    client.set_auto_labeling_conf(0.1)
    client.set_auto_labeling_marks([])
    client._widget = SimpleNamespace(
        image_list=frames,
        output_dir=None,
        _config={"store_data": False},
        cancel_processing=False,
        _batch_processing_active=False,
        _progress_dialog=None,
    )
    found = {"prompt": shapes_of(client.predict_shapes(object(), frames[1], text_prompt="disc"))}
    client.predict_shapes(object(), frames[1], run_tracker=True)  # writes <frame>.json beside each frame
    written = {}
    for index, frame in enumerate(frames):
        path = os.path.splitext(frame)[0] + ".json"
        if os.path.exists(path):
            with open(path) as file:
                written[index] = [
                    {key: shape[key] for key in ("label", "shape_type", "points", "group_id", "score")}
                    for shape in json.load(file)["shapes"]
                ]
    found["propagated"] = written
    found["session_id"] = client.video_session_id
    client.set_auto_labeling_marks([{"type": "point", "data": [10, 10], "label": 1}])
    found["click"] = shapes_of(client.predict_shapes(object(), frames[0]))
    return found


def main(url: str, token: str, image: str, work: str, *frames: str) -> None:
    config.set_work_directory(work)  # the client's user config goes there, not into $HOME
    config.current_config_file = json.dumps({"remote_server_settings": {"server_url": url, "api_key": token}})
    from anylabeling.services.auto_labeling.remote_server import RemoteServer

    messages: list[str] = []
    client = RemoteServer({"type": "remote_server", "display_name": "Remote-Server", "timeout": 120}, messages.append)
    models = client.get_available_models()
    out: dict = {"models": models}
    [model_id] = [name for name, model in models.items() if model.get("batch_processing_mode") != "video"]
    client.set_model_id(model_id)
    client.set_task(models[model_id]["available_tasks"][0]["id"])
    client.set_mask_fineness(FINEST)
    client.set_auto_labeling_conf(0.1)
    out["text"] = shapes_of(client.predict_shapes(object(), image, text_prompt="disc, square."))
    client.set_auto_labeling_marks(
        [{"type": "point", "data": [100, 90], "label": 1}, {"type": "point", "data": [20, 20], "label": 0}]
    )
    out["click"] = shapes_of(client.predict_shapes(object(), image))
    client.set_auto_labeling_marks([{"type": "rectangle", "data": [40, 40, 200, 180], "label": 1}])
    out["box"] = shapes_of(client.predict_shapes(object(), image))
    client.set_task("rectangle")
    client.set_auto_labeling_marks([])
    out["text_rectangles"] = shapes_of(client.predict_shapes(object(), image, text_prompt="disc"))
    out["messages"] = list(messages)
    client.set_auto_labeling_marks([{"type": "rectangle", "data": [0, 0, 10], "label": 1}])  # a malformed box
    out["refused"] = shapes_of(client.predict_shapes(object(), image))
    out["refused_messages"] = messages[len(out["messages"]) :]
    if frames:
        [video_id] = [name for name, model in models.items() if model.get("batch_processing_mode") == "video"]
        seen = len(messages)
        out["video"] = video(client, video_id, list(frames))
        out["video"]["messages"] = messages[seen:]
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
