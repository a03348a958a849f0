#!/usr/bin/env python3
"""The Hugging Face Space (or the same locally): the seed Space's drop-in, the web UI and the seed's API.

    sam3-app [--model DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]

``sam3-serve``'s app (``sam3_core.server.http_api``) with the web UI at ``/`` instead of ``GET /``: the page; the seed's
routes ``POST /api/predict`` and ``POST /api/sam2_compatible``; for ``gradio_client``, ``api_name="/predict"``
(image, text, threshold) and ``"/sam2_compatible"`` (the ``{"inputs": {...}}`` object); ``GET /health``; and
``sam3-serve``'s other routes and limits. It listens where a Space says (``GRADIO_SERVER_NAME``,
``GRADIO_SERVER_PORT``). Weights as for sam3-serve: ``--model``, else ``SAM3_MODEL_ID``, else the tiny RANDOM
checkpoint (loudly). On a Space, set ``SAM3_MODEL_ID=facebook/sam3`` and the ``HF_TOKEN`` secret.
"""

from __future__ import annotations

import argparse

from sam3_core.cli.extras import require
from sam3_core.cli.serve import SERVER_MODULES, UI_MODULES, serve
from sam3_core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory or Hub id (default: env SAM3_MODEL_ID, else tiny)")
    parser.add_argument("--host", default=settings.server.space_host, help="default: env GRADIO_SERVER_NAME")
    parser.add_argument("--port", type=int, default=settings.server.space_port, help="default: env GRADIO_SERVER_PORT")
    args = parser.parse_args(argv)
    require("sam3-app", "server", SERVER_MODULES)
    require("sam3-app", "ui", UI_MODULES)
    limits = {"max_body_bytes": settings.server.max_body_mb * 1024 * 1024, "max_waiting": settings.server.max_waiting}
    return serve(settings, args.model, args.host, args.port, "/", **limits)


if __name__ == "__main__":
    raise SystemExit(main())
