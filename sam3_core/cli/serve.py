#!/usr/bin/env python3
"""Serve the SAM3 endpoint handler over HTTP (the inference toolkit's contract, see sam3_core.server).

    sam3-serve [--model DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 8080] [--ui]

Weights: ``--model``; else, when env ``HF_MODEL_DIR`` names an endpoint repository (the custom container sets it
to ``/repository``, where Inference Endpoints mounts the model repository) or ``SAM3_MODEL_ID`` is set, the
handler's own rule (``SAM3_MODEL_ID``, then a checkpoint in the repository, then ``facebook/sam3``); otherwise a
tiny RANDOM checkpoint built in ``checkpoints/sam3-tiny`` (meaningless masks, for trying the API only). For real
masks: ``--model facebook/sam3`` with ``HF_TOKEN`` set (gated repository), or ``--model /path/to/a/local/copy``.
When loading fails the server exits with status 1 (as the toolkit does), so a platform restarts or reports it.

Connections: a request must arrive whole within ``SAM3_READ_TIMEOUT_S`` (``sam3_core.server.read_deadline``); beyond
``SAM3_MAX_CONNECTIONS`` open connections requests are answered 503. The access log shows paths without their
query strings (which may carry whole prompts).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import Path

from sam3_core.cli.extras import require
from sam3_core.settings import Settings

LOG = logging.getLogger("sam3_core.serve")
TINY_DIR = Path("checkpoints") / "sam3-tiny"  # in the working directory
SERVER_MODULES = ["starlette", "uvicorn", "prometheus_client"]  # the 'server' extra
UI_MODULES = ["gradio", "pycocotools"]  # the 'ui' extra (scikit-image, for the example photos, is optional)

BANNER = """
============================================================================================
  NO REAL SAM3 WEIGHTS CONFIGURED: serving a tiny RANDOMLY INITIALISED checkpoint from
  {path}
  Every mask and score it returns is MEANINGLESS. Use it to try the API, not to segment.
  For real masks: sam3-serve --model facebook/sam3   (with HF_TOKEN set; gated)
             or: SAM3_MODEL_ID=/path/to/sam3 sam3-serve
============================================================================================
"""


def choose_model(requested: str | None, settings: Settings) -> str | None:
    """The weights to serve: ``requested``; None (the loader's rule) in a deployment (``HF_MODEL_DIR``) or with
    ``SAM3_MODEL_ID`` set; else the tiny random checkpoint, announced loudly."""
    if requested:
        if Path(requested).expanduser().exists() or not requested.startswith(("/", ".", "~")):
            return requested
        raise SystemExit(f"error: --model: directory {requested} does not exist")
    if settings.server.model_dir or settings.model.model_id:
        return None
    from sam3_core.model.checkpoint import is_sam3_checkpoint
    from sam3_core.testing.tiny_checkpoint import make_checkpoint

    if not is_sam3_checkpoint(TINY_DIR):
        make_checkpoint(TINY_DIR)
    LOG.warning(BANNER.format(path=TINY_DIR))
    return str(TINY_DIR)


class WithoutQueryString(logging.Filter):
    """uvicorn's access log line with the path only: a query string may carry whole prompts."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:  # client, method, path?query, version, status
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description="Serve the SAM3 endpoint handler over HTTP.")
    parser.add_argument("--model", help="checkpoint directory or Hub id (default: env SAM3_MODEL_ID, else tiny)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.server.port, help="default: env PORT, else 8080")
    parser.add_argument("--max-body-mb", type=int, default=settings.server.max_body_mb)
    parser.add_argument("--ui", action="store_true", help="also serve the Gradio web UI at /ui")
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=settings.server.max_waiting,
        help="requests in flight before answering 503 overloaded",
    )
    args = parser.parse_args(argv)
    require("sam3-serve", "server", SERVER_MODULES)
    if args.ui:
        require("sam3-serve --ui", "ui", UI_MODULES)
    limits = {"max_body_bytes": args.max_body_mb * 1024 * 1024, "max_waiting": args.max_waiting}
    return serve(settings, args.model, args.host, args.port, "/ui" if args.ui else None, **limits)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (what the server binds) is reachable from this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    settings: Settings,
    requested_model: str | None,
    host: str,
    port: int,
    ui_path: str | None,
    max_body_bytes: int,
    max_waiting: int,
) -> int:
    """Serve ``sam3_core.server.http_api.create_app`` (the weights of ``choose_model(requested_model)``, loaded in the
    background) on ``host:port`` until stopped; 1 when loading the weights failed, else 0. ``sam3-app`` too."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import uvicorn

    from sam3_core.adapters.registry import WHERE, tool_routes
    from sam3_core.server.http_api import create_app
    from sam3_core.server.read_deadline import with_read_deadline

    model = choose_model(requested_model, settings)

    def load():
        from sam3_core.loading import load_service

        return load_service(settings, settings.server.model_dir, model)

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    failures: list[BaseException] = []
    server: uvicorn.Server | None = None

    def stop_serving(error: BaseException) -> None:
        failures.append(error)
        LOG.error("loading the model failed; the server exits")
        if server is not None:
            server.should_exit = True

    app = create_app(
        load,
        max_body_bytes,
        max_waiting,
        ui_path=ui_path,
        on_load_failure=stop_serving,
        extra_routes=tool_routes(settings, max_body_bytes),
        api_token=settings.server.api_token,
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        http=with_read_deadline(settings.server.read_timeout_s),
        limit_concurrency=settings.server.max_connections + 1,  # uvicorn counts the new connection too
    )
    logging.getLogger("uvicorn.access").addFilter(WithoutQueryString())  # after uvicorn has configured logging
    end_streams = getattr(app.state, "end_streams", lambda: None)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None) -> None:
            end_streams()  # the web UI's (see create_app); then uvicorn waits for the responses still open
            await super().shutdown(sockets)

    server = Server(config)
    shown = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    LOG.info("SAM3 endpoint at %s/ (POST JSON, as Inference Endpoints; GET /health, /metrics)", shown)
    for tool, path in WHERE.items():
        LOG.info("%s: %s%s (docs/API.md, Other tools)", tool, shown, path.rstrip("/"))
    if settings.server.api_token:
        LOG.info("every route but /health needs the API token (SAM3_API_TOKEN)")
    elif not is_loopback(host):
        LOG.warning(
            "OPEN TO ANYONE WHO REACHES %s: no SAM3_API_TOKEN is set and the server listens beyond loopback", shown
        )
    if ui_path is not None:
        LOG.info("web UI at %s%s", shown, ui_path)
    else:
        LOG.info("web UI: not served here (sam3-serve --ui serves it at /ui; needs the 'ui' extra)")
    server.run()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
