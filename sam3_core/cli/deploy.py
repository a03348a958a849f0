#!/usr/bin/env python3
"""Build the endpoint repository, upload it to the Hub, and create the Inference Endpoint.

    sam3-deploy --repo USER/sam3-endpoint [--with-weights] [--revision COMMIT_OR_TAG] [--name sam3]
        [--vendor aws --region us-east-1 --instance-type nvidia-l4 --instance-size x1]
        [--min-replica 0 --max-replica 2] [--access authenticated] [--container IMAGE_URL] [--dry-run]

0. Checks everything it can before building or uploading: the arguments, then (not in a dry run) that the token
   is accepted, owns the repository's namespace and can read the gated ``facebook/sam3``. A plan that cannot
   work exits with status 2 and one line.
1. Builds ``build/endpoint-repo``: ``handler.py``, ``sam3_core/``, ``requirements.txt`` (with
   ``requirements-runtime.txt`` and ``toolkit_compat/``, which make the default image start: docs/DEPLOYING.md)
   and ``model_card.md`` as ``README.md``; with ``--with-weights`` also the ``facebook/sam3`` checkpoint files
   and their licence. Without weights the endpoint gets ``SAM3_MODEL_ID=facebook/sam3`` and the token as a
   secret. ``--revision`` (default ``SAM3_MODEL_REVISION``) pins the ``facebook/sam3`` commit or tag: the weights
   copied, or the endpoint's ``SAM3_MODEL_REVISION``; the plan prints it.
2. Uploads it with ``HfApi.upload_folder`` (creating the model repository, private by default).
3. Creates the endpoint with ``create_inference_endpoint(task="custom", ...)``: the default toolkit image runs
   ``handler.py``; ``--container IMAGE_URL`` runs this repository's ``Dockerfile`` image instead, which reads the
   repository mounted at ``/repository``. Autoscaling between ``--min-replica`` and ``--max-replica`` is how the
   service scales beyond one machine.
``--dry-run`` builds the folder and prints the plan without calling the Hub.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from sam3_core.model.checkpoint import HUB_DEFAULT, HUB_FILES, LICENCE_FILES

ROOT = Path(__file__).resolve().parents[2]  # the source checkout
# The endpoint repository: the handler, its package, and what the default image must install (requirements.txt
# includes requirements-runtime.txt and installs toolkit_compat/ from the mounted repository).
CODE = ["handler.py", "sam3_core", "requirements.txt", "requirements-runtime.txt", "toolkit_compat"]
ACCESS_TYPES = ["public", "authenticated", "private"]
# Inference Endpoints names: lowercase letters, digits and '-', at most 32 characters.
ENDPOINT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def build_repository(out: Path, with_weights: bool, token: str | None, revision: str | None = None) -> list[Path]:
    """A clean endpoint repository in ``out`` (with ``facebook/sam3`` at ``revision`` when ``with_weights``);
    returns its files."""
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

        patterns = HUB_FILES + LICENCE_FILES
        snapshot_download(HUB_DEFAULT, revision=revision, token=token, allow_patterns=patterns, local_dir=out)
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
        settings["env"]["SAM3_MODEL_ID"] = HUB_DEFAULT
        if args.revision:
            settings["env"]["SAM3_MODEL_REVISION"] = args.revision
        if token:
            settings["secrets"]["HF_TOKEN"] = token
    if args.container:
        # The Inference Endpoints API's custom image object (camelCase keys); the repository is mounted at
        # /repository, where the container's server looks for uploaded weights (Dockerfile: HF_MODEL_DIR).
        settings["custom_image"] = {"url": args.container, "healthRoute": "/health", "port": 8080}
    return settings


def plan_error(args) -> str | None:
    """Why this plan cannot work, in one line, or None. Checked before anything is built or uploaded."""
    if not args.token and not args.with_weights:
        return (
            "error: the endpoint would download the gated facebook/sam3 at start-up and needs a token: set HF_TOKEN "
            "(or --token) with access to facebook/sam3, or upload the weights with --with-weights"
        )
    if not args.token and not args.dry_run:
        return "error: uploading to the Hub needs a token: set HF_TOKEN (or --token) with write access"
    return None


def connect(args):
    """The Hub client, after checking the token can do what the plan needs; or (None, one-line error)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(token=args.token)
    try:
        user = api.whoami()
    except HfHubHTTPError as error:
        return None, f"error: the token was refused by the Hub ({str(error).splitlines()[0][:120]})"
    namespaces = {user["name"], *(org["name"] for org in user.get("orgs", []))}
    if args.repo.split("/")[0] not in namespaces:
        return None, f"error: --repo {args.repo}: the token's account can write to {', '.join(sorted(namespaces))}"
    try:
        api.auth_check(HUB_DEFAULT)
    except (GatedRepoError, RepositoryNotFoundError):
        return None, (
            f"error: the token cannot read the gated {HUB_DEFAULT}: accept its licence at "
            f"https://huggingface.co/{HUB_DEFAULT} with this account, then run again"
        )
    try:
        args.commit = api.model_info(HUB_DEFAULT, revision=args.revision).sha  # what --with-weights copies
    except RevisionNotFoundError:
        return None, f"error: --revision {args.revision[:64]!r}: {HUB_DEFAULT} has no such commit, branch or tag"
    return api, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="model repository to create/update, e.g. me/sam3-endpoint")
    parser.add_argument("--name", default="sam3", help="endpoint name")
    parser.add_argument("--with-weights", action="store_true", help="copy facebook/sam3 into the repository")
    parser.add_argument(
        "--revision",
        default=os.environ.get("SAM3_MODEL_REVISION") or None,
        help="the facebook/sam3 commit or tag to serve (default: SAM3_MODEL_REVISION; unset: main, at every start)",
    )
    parser.add_argument("--vendor", default="aws")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--instance-type", default="nvidia-l4")
    parser.add_argument("--instance-size", default="x1")
    parser.add_argument("--min-replica", type=int, default=0)
    parser.add_argument("--max-replica", type=int, default=1)
    parser.add_argument("--scale-to-zero-minutes", type=int, default=15)
    parser.add_argument(
        "--access",
        default="authenticated",
        choices=ACCESS_TYPES,
        help="who may call the endpoint: anyone, any Hugging Face token, or tokens of your namespace",
    )
    parser.add_argument("--public-repo", action="store_true", help="create the model repository public")
    parser.add_argument("--container", help="custom image URL built from this repository's Dockerfile")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "endpoint-repo")
    parser.add_argument("--token", default=os.environ.get("HF_TOKEN"))
    parser.add_argument("--dry-run", action="store_true", help="build and print the plan; no Hub calls")
    args = parser.parse_args(argv)
    args.commit = None  # the facebook/sam3 commit the revision names (resolved on the Hub, not in a dry run)
    if args.min_replica < 0 or args.max_replica < max(1, args.min_replica):
        parser.error("--min-replica must be >= 0, --max-replica >= 1 and >= --min-replica")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(args.repo)
    except HFValidationError as error:
        parser.error(f"--repo: {error}")
    if "/" not in args.repo:
        parser.error("--repo: give NAMESPACE/NAME, e.g. me/sam3-endpoint")
    if not ENDPOINT_NAME.match(args.name):
        parser.error(f"--name {args.name!r}: lowercase letters, digits and '-', at most 32 characters")
    problem = plan_error(args)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    api = None
    if not args.dry_run:
        api, problem = connect(args)
        if problem:
            print(problem, file=sys.stderr)
            return 2

    copy_weights = args.with_weights and not args.dry_run
    files = build_repository(args.build_dir, copy_weights, args.token, args.commit if copy_weights else None)
    settings = endpoint_settings(args, args.token)
    shown = {**settings, "secrets": {key: "***" for key in settings["secrets"]}}
    print(f"repository {args.repo} ({'public' if args.public_repo else 'private'}) from {args.build_dir}:")
    for path in files:
        print(f"  {path.relative_to(args.build_dir)}  {path.stat().st_size} bytes")
    asked = args.revision or "main"
    if copy_weights:
        print(f"{HUB_DEFAULT} revision: {asked}, commit {args.commit}, copied into the repository")
    else:
        print(f"{HUB_DEFAULT} revision: {args.revision or 'main (unpinned: a re-upload on the Hub changes what runs)'}")
    if args.with_weights and args.dry_run:
        patterns = ", ".join(HUB_FILES + LICENCE_FILES)
        print(f"  + {HUB_DEFAULT} weights and licence ({patterns}) at {asked}, downloaded when not a dry run")
    print("inference endpoint:", json.dumps(shown, indent=2))
    if args.dry_run:
        print("dry run: nothing was uploaded or created")
        return 0

    api.create_repo(args.repo, repo_type="model", private=not args.public_repo, exist_ok=True)
    api.upload_folder(folder_path=str(args.build_dir), repo_id=args.repo, commit_message="SAM3 endpoint handler")
    endpoint = api.create_inference_endpoint(**settings)
    print(f"created endpoint {endpoint.name}: {endpoint.status}; waiting is `endpoint.wait()` in huggingface_hub")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
