#!/usr/bin/env python3
"""The web UI as a Hugging Face Space (or locally): the handler in-process behind the Gradio UI of sam3_core.ui.

    sam3-app [--model DIR_OR_HUB_ID] [--port 7860]

Weights as for sam3-serve: ``--model``, else ``SAM3_MODEL_ID``, else the tiny RANDOM checkpoint (loudly).
On a Space, set ``SAM3_MODEL_ID=facebook/sam3`` and the ``HF_TOKEN`` secret. ``sam3-serve --ui`` serves the
same UI at ``/ui`` next to the HTTP API.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from sam3_core.cli.serve import choose_model
    from sam3_core.loading import load_service
    from sam3_core.settings import Settings
    from sam3_core.ui import build_ui

    settings = Settings.from_env()
    service = load_service(settings, None, choose_model(args.model, settings))
    build_ui(service).queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
