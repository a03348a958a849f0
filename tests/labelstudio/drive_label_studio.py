"""Drives a running Label Studio with its own SDK, as its UI does, against this project's backend.

Runs in Label Studio's environment (``label-studio`` and its ``label-studio-sdk``), not the project's:

    python drive_label_studio.py PLAN.json OUT_DIR

``PLAN.json``: ``{"label_studio": URL, "token": KEY, "backend": URL, "image": PATH, "extra_params": TEXT,
"projects": [{"name": ..., "config": XML, "interactive": [context, ...], "refused": bool}]}``. For each project:
create it, upload the image (multipart, as the import dialog does), connect the backend and read its state, ask for an
interactive prediction for each context (Label Studio's own ``interactive-annotating`` API, what the editor calls),
retrieve predictions for the task (the Data Manager action) and read the stored predictions back. Every brush
result is decoded with Label Studio's own decoder (``label_studio_sdk.converter.brush.decode_rle``) into
``OUT_DIR/<project>-<source>-<n>.npy``. A ``refused`` project only tries to connect the backend and reports
what Label Studio said. Then a personal access token is created. Prints one JSON object with what Label Studio
stored and answered, and the token.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from label_studio_sdk import LabelStudio
from label_studio_sdk.converter.brush import decode_rle


def decoded(regions: list[dict], prefix: Path) -> list[dict]:
    """The regions, each brush RLE replaced by the path of its decoded mask (alpha channel, as Label Studio's
    exporter reads it)."""
    shown = []
    for number, region in enumerate(regions):
        region = dict(region)
        value = dict(region.get("value", {}))
        if "rle" in value:
            height, width = region["original_height"], region["original_width"]
            mask = decode_rle(value.pop("rle")).reshape(height, width, 4)[:, :, 3] > 0
            path = f"{prefix}-{number}.npy"
            np.save(path, mask)
            value["mask_file"] = path
        region["value"] = value
        shown.append(region)
    return shown


def run_project(client: LabelStudio, plan: dict, project_plan: dict, out: Path) -> dict:
    http = client._client_wrapper.httpx_client
    project = client.projects.create(title=f"SAM3 {project_plan['name']}", label_config=project_plan["config"])
    if project_plan.get("refused"):  # a config the backend cannot fill: connecting must fail
        try:
            client.ml.create(project=project.id, url=plan["backend"], title="SAM3")
        except Exception as error:  # noqa: BLE001 - what Label Studio answered is the result
            return {"refused": str(error)[:2000]}
        return {"refused": None}
    with open(plan["image"], "rb") as image:
        files = {"file": (Path(plan["image"]).name, image, "image/png")}
        uploaded = http.request(f"api/projects/{project.id}/import", method="POST", files=files)
    assert uploaded.status_code == 201, uploaded.text
    task = next(iter(client.tasks.list(project=project.id)))
    backend = client.ml.create(
        project=project.id, url=plan["backend"], is_interactive=True, extra_params=plan["extra_params"], title="SAM3"
    )
    state = client.ml.get(id=backend.id).state
    interactive = []
    for context in project_plan["interactive"]:
        answer = http.request(
            f"api/ml/{backend.id}/interactive-annotating", method="POST", json={"task": task.id, "context": context}
        ).json()
        data = answer.get("data") or {}
        prefix = out / f"{project_plan['name']}-interactive{len(interactive)}"
        interactive.append({"errors": answer.get("errors"), "result": decoded(data.get("result", []), prefix)})
    client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True})
    stored = [
        {
            "score": prediction.score,
            "model_version": prediction.model_version,
            "result": decoded(prediction.result, out / f"{project_plan['name']}-stored{number}"),
        }
        for number, prediction in enumerate(client.predictions.list(task=task.id))
    ]
    return {
        "project": project.id,
        "task": task.id,
        "image_url": task.data[next(iter(task.data))],
        "backend_state": state,
        "interactive": interactive,
        "stored": stored,
    }


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    client = LabelStudio(base_url=plan["label_studio"], api_key=plan["token"])
    answers = {project["name"]: run_project(client, plan, project, out) for project in plan["projects"]}
    answers["personal_access_token"] = client.tokens.create().token  # a JWT refresh token, as the UI creates
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
