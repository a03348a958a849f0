"""Label Studio's ML backend protocol (``/setup``, ``/predict``) over the segmentation service.

``setup``: checks the project's labeling config and the backend's extra params and keeps the params for the
project (Label Studio calls ``/setup`` when it connects and before batch predictions, never before an interactive
one, so what it taught is kept, for the ``MAX_PROJECTS`` projects seen last); answers the model version. It reads
no model and no image, so it answers at once (Label Studio waits 3 s).

``predict``: each task's image is read (``files``), its prompts built (``prompts``) and every task goes through
the main API as one many-images request (``{"inputs": [...]}``, ``SAM3_MAX_BATCH_IMAGES`` at a time, so the
images held at once stay within the service's limits); each answer becomes a prediction (``results``).
A task that fails (its image cannot be read or decoded, a field out of range) is answered
``{"error": "tasks[i] (task ID)...: why", "task": ID}`` with no ``result``: Label Studio logs it and stores no
prediction for it, so retrieving predictions again retries it; the other tasks are answered. An interactive call
(one task, prompted from the editor) that fails is a 400 with the reason instead.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sam3_core.adapters.labelstudio.config import LabelingConfig, parse_labeling_config
from sam3_core.adapters.labelstudio.files import TaskImages
from sam3_core.adapters.labelstudio.prompts import describe_context, interactive_prompts, preannotation_prompts
from sam3_core.adapters.labelstudio.results import prediction
from sam3_core.api.request import CLIENT_FIELDS
from sam3_core.errors import RequestError, brief, quote
from sam3_core.settings import Settings

EXTRA_PARAMS = ("confidence_threshold", "max_objects", "simplify_epsilon")  # main-API options a project may set
MAX_PROJECTS = 1024
READ_THREADS = 8  # task images read at once
MAX_EXTRA_PARAMS_CHARS = 4096
Answer = Callable[[dict[str, Any]], list[dict[str, Any]]]  # a many-images payload -> the main API's responses


@functools.lru_cache(maxsize=64)
def _config(text: str, field: str) -> LabelingConfig:
    return parse_labeling_config(text, field)


def labeling_config(text: object, field: str) -> LabelingConfig:
    """``parse_labeling_config``, remembered for the configs seen last (every ``/predict`` sends its project's)."""
    if not isinstance(text, str):
        return parse_labeling_config(text, field)
    return _config(text, field)


def parse_extra_params(value: object, settings: Settings) -> dict[str, Any]:
    """The backend's extra params (the JSON text typed into Label Studio's form, or an object from its API) as
    main-API fields, each checked as the main API checks it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        if len(value) > MAX_EXTRA_PARAMS_CHARS:
            raise RequestError("extra_params", f"is over {MAX_EXTRA_PARAMS_CHARS} characters")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise RequestError("extra_params", f"is not JSON ({brief(exc, 60)})") from None
    if not isinstance(value, Mapping):
        raise RequestError("extra_params", 'expected an object such as {"confidence_threshold": 0.4}')
    options = {}
    for name, sent in value.items():
        if name not in EXTRA_PARAMS:
            raise RequestError(f"extra_params.{quote(str(name))}", "is not an option; use " + ", ".join(EXTRA_PARAMS))
        try:
            options[name] = CLIENT_FIELDS[name].parse(name, sent, settings.request.limits, {})
        except RequestError as error:
            raise RequestError(f"extra_params.{error.field}", error.problem) from None
    return options


def _task_id(task: object) -> object:
    return task.get("id") if isinstance(task, Mapping) else None


def _where(task: object, index: int) -> str:
    """How an error names a task: its place in the request and its Label Studio id."""
    task_id = _task_id(task)
    shown = str(task_id) if isinstance(task_id, int) else quote(str(task_id), 20)
    return f"tasks[{index}] (task {shown})"


class LabelStudioBackend:
    """Answers Label Studio's ``/setup`` and ``/predict`` bodies (parsed JSON) as dicts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.images = TaskImages(settings.label_studio, settings.request)
        revision = settings.model.revision
        self.model_version = f"sam3@{revision}" if revision else "sam3"
        self._projects: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def options_of(self, project: object) -> dict[str, Any]:
        """The extra params ``/setup`` gave for ``project`` (none when it has not been set up since the start)."""
        with self._lock:
            return dict(self._projects.get(str(project), {}))

    def setup(self, body: object) -> dict[str, Any]:
        """Check the project's config and extra params; keep the params for the project."""
        if not isinstance(body, Mapping):
            raise RequestError("body", "expected a JSON object")
        concepts = preannotation_prompts(labeling_config(body.get("schema"), "schema"), "schema").fields["text_prompts"]
        limit = self.settings.request.limits.max_text_prompts
        if len(concepts) > limit:
            problem = f"has {len(concepts)} labels to prompt for, at most {limit} (SAM3_MAX_TEXT_PROMPTS)"
            raise RequestError("schema", problem)
        options = parse_extra_params(body.get("extra_params"), self.settings)
        with self._lock:
            self._projects[str(body.get("project"))] = options
            self._projects.move_to_end(str(body.get("project")))
            while len(self._projects) > MAX_PROJECTS:
                self._projects.popitem(last=False)
        return {"model_version": self.model_version}

    def predict(self, body: object, answer: Answer) -> dict[str, Any]:
        """``{"results": [one prediction (or error) per task], "model_version": ...}``; ``answer`` runs the main
        API on a many-images payload."""
        if not isinstance(body, Mapping):
            raise RequestError("body", "expected a JSON object")
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise RequestError("tasks", "expected a non-empty list of tasks")
        config = labeling_config(body.get("label_config"), "label_config")
        params = body.get("params") or {}
        if not isinstance(params, Mapping):
            raise RequestError("params", "expected an object")
        interactive = describe_context(params.get("context")) == "interactive"
        if interactive and len(tasks) != 1:
            raise RequestError("tasks", f"an interactive prediction is for one task, got {len(tasks)}")
        prompts = interactive_prompts(config, params["context"]) if interactive else preannotation_prompts(config)
        fields = {**self.options_of(body.get("project")), **prompts.fields}
        if config.output_kind == "polygonlabels":
            fields["vectorize"] = True
        step = self.settings.request.limits.max_batch_images
        results: list[dict[str, Any]] = []
        for start in range(0, len(tasks), step):  # each batch's masks become results before the next batch runs
            chunk = tasks[start : start + step]
            for task, done in zip(chunk, self._answer_tasks(chunk, start, config, fields, answer), strict=True):
                if isinstance(done, RequestError):
                    if interactive:
                        raise done
                    results.append({"error": str(done), "task": _task_id(task)})
                else:
                    results.append(prediction(config, done, prompts.label_of, self.model_version))
        return {"results": results, "model_version": self.model_version}

    def _image(self, task: object, index: int, config: LabelingConfig) -> bytes | str | RequestError:
        where = _where(task, index)
        if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
            return RequestError(where, "expected a task with data")
        try:
            return self.images.read(task["data"].get(config.image_key), f"{where}.data.{config.image_key}")
        except RequestError as error:
            return error

    def _answer_tasks(
        self,
        tasks: list[Any],
        first: int,
        config: LabelingConfig,
        fields: dict[str, Any],
        answer: Answer,
    ) -> list[dict[str, Any] | RequestError]:
        """The main API's responses (or errors) for ``tasks``, the ``first``-th onwards of the request, as one
        model batch."""
        with ThreadPoolExecutor(min(len(tasks), READ_THREADS)) as pool:
            images = list(pool.map(lambda k: self._image(tasks[k], first + k, config), range(len(tasks))))
        outcome: dict[int, dict[str, Any] | RequestError] = {
            k: image for k, image in enumerate(images) if isinstance(image, RequestError)
        }
        waiting = [k for k in range(len(tasks)) if k not in outcome]
        while waiting:
            try:
                responses = answer({"inputs": [{"image": images[k], **fields} for k in waiting]})
            except RequestError as error:
                if error.element is None:  # the whole batch (too many images, say): every task of it
                    outcome.update({k: error for k in waiting})
                    break
                field = error.field.split(".", 1)[-1]  # inputs[i].image -> image
                if field != "image":  # the prompts, which every task of the call shares: all fail alike
                    outcome.update(
                        {k: type(error)(f"{_where(tasks[k], first + k)}.{field}", error.problem) for k in waiting}
                    )
                    break
                bad = waiting.pop(error.element)
                outcome[bad] = type(error)(f"{_where(tasks[bad], first + bad)}.data.{config.image_key}", error.problem)
                continue  # found before any model work: the others go again without it
            outcome.update(zip(waiting, responses, strict=True))
            break
        return [outcome[k] for k in range(len(tasks))]
