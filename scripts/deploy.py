#!/usr/bin/env python3
"""Build the endpoint repository, upload it to the Hub, and create the Inference Endpoint.

    python scripts/deploy.py --repo USER/sam3-endpoint [--with-weights] [--name sam3]
        [--vendor aws --region us-east-1 --instance-type nvidia-l4 --instance-size x1]
        [--min-replica 0 --max-replica 2] [--container IMAGE_URL] [--dry-run]

1. Builds ``build/endpoint-repo``: ``handler.py``, ``sam3_core/``, ``requirements.txt`` and ``model_card.md`` as
   ``README.md``; with ``--with-weights`` also the ``facebook/sam3`` checkpoint files (downloaded with ``HF_TOKEN``;
   gated: accept the licence on the Hub first). Without weights the endpoint gets ``SAM3_MODEL_ID=facebook/sam3``
   and the token as a secret, and downloads them at start-up.
2. Uploads it with ``HfApi.upload_folder`` (creating the model repository, private by default).
3. Creates the endpoint with ``create_inference_endpoint(task="custom", ...)``: the default toolkit image runs
   ``handler.py``. ``--container IMAGE_URL`` instead runs this repository's ``Dockerfile`` image (the fallback when
   the toolkit image cannot import transformers 5, see README "Deploying"). Autoscaling between
   ``--min-replica`` and ``--max-replica`` is how the service scales beyond one machine.
``--dry-run`` builds the folder and prints the plan without calling the Hub.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ["handler.py", "requirements.txt", "sam3_core"]
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt"]


def build_repository(out: Path, with_weights: bool, token: str | None) -> list[Path]:
    """A clean endpoint repository in ``out``; returns its files."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in CODE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, out / name)
    shutil.copy2(ROOT / "model_card.md", out / "README.md")
    if with_weights:
        from huggingface_hub import snapshot_download

        snapshot_download("facebook/sam3", token=token, allow_patterns=WEIGHT_PATTERNS, local_dir=out)
    return sorted(path for path in out.rglob("*") if path.is_file())


def endpoint_settings(args, token: str | None) -> dict:
    """Keyword arguments for ``HfApi.create_inference_endpoint``."""
    settings = {
        "name": args.name,
        "repository": args.repo,
        "framework": "pytorch",
        "task": "custom",
        "accelerator": "gpu" if args.instance_type.startswith("nvidia") else "cpu",
        "vendor": args.vendor,
        "region": args.region,
        "instance_type": args.instance_type,
        "instance_size": args.instance_size,
        "min_replica": args.min_replica,
        "max_replica": args.max_replica,
        "type": args.access,
        "env": {},
        "secrets": {},
    }
    if args.min_replica == 0:
        settings["scale_to_zero_timeout"] = args.scale_to_zero_minutes
    if not args.with_weights:
        settings["env"]["SAM3_MODEL_ID"] = "facebook/sam3"
        if token:
            settings["secrets"]["HF_TOKEN"] = token
    if args.container:
        settings["custom_image"] = {"url": args.container, "health_route": "/health", "port": 8080}
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="model repository to create/update, e.g. me/sam3-endpoint")
    parser.add_argument("--name", default="sam3", help="endpoint name")
    parser.add_argument("--with-weights", action="store_true", help="copy facebook/sam3 into the repository")
    parser.add_argument("--vendor", default="aws")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--instance-type", default="nvidia-l4")
    parser.add_argument("--instance-size", default="x1")
    parser.add_argument("--min-replica", type=int, default=0)
    parser.add_argument("--max-replica", type=int, default=1)
    parser.add_argument("--scale-to-zero-minutes", type=int, default=15)
    parser.add_argument("--access", default="protected", choices=["public", "protected", "private"])
    parser.add_argument("--public-repo", action="store_true", help="create the model repository public")
    parser.add_argument("--container", help="custom image URL built from this repository's Dockerfile")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "endpoint-repo")
    parser.add_argument("--token", default=os.environ.get("HF_TOKEN"))
    parser.add_argument("--dry-run", action="store_true", help="build and print the plan; no Hub calls")
    args = parser.parse_args(argv)
    if args.max_replica < max(1, args.min_replica):
        parser.error("--max-replica must be >= 1 and >= --min-replica")

    files = build_repository(args.build_dir, args.with_weights and not args.dry_run, args.token)
    settings = endpoint_settings(args, args.token)
    shown = {**settings, "secrets": {key: "***" for key in settings["secrets"]}}
    print(f"repository {args.repo} ({'public' if args.public_repo else 'private'}) from {args.build_dir}:")
    for path in files:
        print(f"  {path.relative_to(args.build_dir)}  {path.stat().st_size} bytes")
    if args.with_weights and args.dry_run:
        print("  + facebook/sam3 weights (" + ", ".join(WEIGHT_PATTERNS) + "), downloaded when not a dry run")
    print("inference endpoint:", json.dumps(shown, indent=2))
    if args.dry_run:
        print("dry run: nothing was uploaded or created")
        return 0

    from huggingface_hub import HfApi

    api = HfApi(token=args.token)
    api.create_repo(args.repo, repo_type="model", private=not args.public_repo, exist_ok=True)
    api.upload_folder(folder_path=str(args.build_dir), repo_id=args.repo, commit_message="SAM3 endpoint handler")
    endpoint = api.create_inference_endpoint(**settings)
    print(f"created endpoint {endpoint.name}: {endpoint.status}; waiting is `endpoint.wait()` in huggingface_hub")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
