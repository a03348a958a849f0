"""Every adapter's routes for ``sam3-serve``, and where each tool is pointed (the start-up lines, docs/API.md's
"Other tools")."""

from __future__ import annotations

from sam3_core.adapters.labelstudio.backend import LabelStudioBackend
from sam3_core.adapters.labelstudio.routes import label_studio_routes
from sam3_core.adapters.roboflow.routes import roboflow_routes
from sam3_core.adapters.xanylabeling.routes import x_anylabeling_routes
from sam3_core.server.http_api import RouteFactory
from sam3_core.settings import Settings

# tool -> what its user configures, relative to the server's URL
WHERE = {
    "Label Studio (ML backend URL)": "/labelstudio",
    "X-AnyLabeling (remote server_url)": "/",
    "Roboflow clients (api_url)": "/",
}


def tool_routes(settings: Settings, max_body_bytes: int) -> list[RouteFactory]:
    """The routes of every adapter, for ``create_app(extra_routes=...)``."""
    return [
        label_studio_routes(LabelStudioBackend(settings), max_body_bytes),
        x_anylabeling_routes("SAM3 (sam3-serve)", max_body_bytes),
        roboflow_routes(settings.request.limits, max_body_bytes),
    ]
