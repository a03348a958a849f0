"""A fake Hugging Face Hub and Inference Endpoints API at the HTTP transport of the real ``huggingface_hub``.

``FakeHub.install()`` gives ``huggingface_hub`` an ``httpx2`` client whose transport answers here, so the real
``HfApi`` methods of the installed version build and send their real requests; only the network is replaced.
The fake checks what the services check (tokens, gated access, the endpoint payload's schema) and records what
was created. It knows only the routes deploy.py uses; any other request fails the test with its method and path.

Endpoint payload schema (the Inference Endpoints API v2, as ``HfApi.create_inference_endpoint`` documents it):
camelCase keys; ``type`` one of public/authenticated/private; ``model.image`` either ``{"huggingface": {}}`` or
``{"custom": {"url", "healthRoute", "port", ...}}``; env and secrets map strings to strings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import httpx2
from huggingface_hub import constants
from huggingface_hub.utils import _http

HUB = "https://huggingface.co"
ENDPOINTS_API = constants.INFERENCE_ENDPOINTS_ENDPOINT
ENDPOINT_KEYS = {
    "compute",
    "model",
    "name",
    "provider",
    "type",
    "privateService",
    "route",
    "cacheHttpResponses",
    "tags",
}
MODEL_KEYS = {"framework", "repository", "revision", "image", "task", "env", "secrets", "command", "args"}
CUSTOM_IMAGE_KEYS = {"url", "healthRoute", "port", "credentials"}
ACCESS_TYPES = {"public", "authenticated", "private"}
ENDPOINT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


class FakeHubError(AssertionError):
    """A request the real service would refuse for a schema reason: fails the test where it is sent."""


class FakeHub:
    def __init__(self, user: str = "me", token: str = "hf_write_token") -> None:
        self.user = user
        # token -> whether it may read gated repositories (its account accepted their licence)
        self.tokens: dict[str, bool] = {token: True}
        self.repos: dict[str, dict] = {}  # repo id -> {"private": bool, "files": {path: bytes}, "gated": bool}
        self.endpoints: list[dict] = []  # payloads accepted by POST /endpoint/{namespace}
        self.requests: list[str] = []  # "METHOD path", in order
        self.revisions: list[tuple[str, str]] = []  # (repository, revision) of each read of a model repository

    # ---- set-up ---------------------------------------------------------------------------------------------
    def add_model(self, repo_id: str, directory: Path, gated: bool = True, tags: tuple[str, ...] = ()) -> None:
        """A model repository holding ``directory``'s files at ``main``, its commit and ``tags``."""
        files = {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
        self.repos[repo_id] = {"private": False, "files": files, "gated": gated, "tags": set(tags)}

    @contextmanager
    def install(self) -> Iterator[FakeHub]:
        """Route every ``huggingface_hub`` request here for the duration of the block."""
        previous = _http._GLOBAL_CLIENT_FACTORY
        _http.set_client_factory(
            lambda: httpx2.Client(transport=httpx2.MockTransport(self.handle), follow_redirects=True, timeout=None)
        )
        try:
            yield self
        finally:
            _http.set_client_factory(previous)

    # ---- dispatch -------------------------------------------------------------------------------------------
    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.requests.append(f"{request.method} {request.url.host}{path}")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        authorised = bearer in self.tokens
        self._gated_access = self.tokens.get(bearer, False)
        if request.url.host == httpx2.URL(ENDPOINTS_API).host:
            if not authorised:
                return _json({"error": "Invalid credentials"}, 401)
            match = re.fullmatch(r"/v2/endpoint/(?P<namespace>[^/]+)", path)
            if request.method == "POST" and match:
                return self.create_endpoint(match["namespace"], json.loads(request.content))
        elif request.method == "GET" and path == "/api/whoami-v2":
            if not authorised:
                return _json({"error": "Invalid credentials in Authorization header"}, 401)
            return _json({"type": "user", "name": self.user, "orgs": [], "auth": {"type": "access_token"}})
        elif request.method == "POST" and path == "/api/validate-yaml":  # the README's metadata, before a commit
            body = json.loads(request.content)
            if body.get("repoType") != "model" or not isinstance(body.get("content"), str):
                raise FakeHubError(f"validate-yaml: {sorted(body)}")
            return _json({"errors": [], "warnings": []})
        elif request.method == "POST" and path == "/api/repos/create":
            return self.create_repo(json.loads(request.content), authorised)
        elif match := re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", path):
            return self.preupload(match["repo"], json.loads(request.content), authorised)
        elif match := re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", path):
            return self.commit(match["repo"], request.content, authorised)
        elif match := re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)", path):
            return self._refused_revision(match) or self.tree(match["repo"], authorised)
        elif match := re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)/auth-check", path):
            return self._readable(match["repo"], authorised) or _json({})
        elif match := re.fullmatch(r"/api/models/(?P<repo>[^/]+/[^/]+)(/revision/(?P<rev>[^/]+))?", path):
            return self._refused_revision(match) or self.model_info(match["repo"], _revision(match), authorised)
        elif match := re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path):
            refused = self._refused_revision(match)
            return refused or self.resolve(match["repo"], _revision(match), match["file"], request.method, authorised)
        raise FakeHubError(f"the fake Hub does not know {request.method} {request.url}")

    # ---- the Hub --------------------------------------------------------------------------------------------
    def _refused_revision(self, match: re.Match) -> httpx2.Response | None:
        """Record which revision a read asks for; 404 for one the repository does not have (``main``, its tags and
        their commits resolve; a repository being written resolves any)."""
        repo_id, revision = match["repo"], _revision(match)
        self.revisions.append((repo_id, revision))
        repo = self.repos.get(repo_id)
        if repo is None or "tags" not in repo:
            return None
        commits = self.commits(repo_id)
        if revision in commits or revision in commits.values():
            return None
        message = f"Invalid rev id: {revision}"
        return _json({"error": message}, 404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": message})

    def commits(self, repo_id: str) -> dict[str, str]:
        """The repository's branch and tags, each with its commit (the files are the same at each)."""
        names = ["main", *sorted(self.repos[repo_id].get("tags", ()))]
        return {
            name: self._sha(repo_id) if name == "main" else hashlib.sha1(name.encode()).hexdigest() for name in names
        }

    def create_repo(self, body: dict, authorised: bool) -> httpx2.Response:
        if not authorised:
            return _json({"error": "You must be authenticated"}, 401)
        repo_id = f"{body.get('organization') or self.user}/{body['name']}"
        if body.get("type", "model") != "model":
            raise FakeHubError(f"create_repo: deploy.py creates model repositories, got {body.get('type')!r}")
        if repo_id in self.repos:
            return _json({"error": "You already created this model repo", "url": f"{HUB}/{repo_id}"}, 409)
        private = body.get("visibility", "private" if body.get("private") else "public") == "private"
        self.repos[repo_id] = {"private": private, "files": {}, "gated": False}
        return _json({"url": f"{HUB}/{repo_id}", "name": repo_id})

    def _writable(self, repo_id: str, authorised: bool) -> httpx2.Response | None:
        if not authorised:
            return _json({"error": "You must be authenticated"}, 401)
        if repo_id not in self.repos:
            return _json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
        return None

    def preupload(self, repo_id: str, body: dict, authorised: bool) -> httpx2.Response:
        refused = self._writable(repo_id, authorised)
        if refused:
            return refused
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]]
        return _json({"files": files})

    def commit(self, repo_id: str, content: bytes, authorised: bool) -> httpx2.Response:
        refused = self._writable(repo_id, authorised)
        if refused:
            return refused
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        if not lines or lines[0]["key"] != "header":
            raise FakeHubError("commit: the first NDJSON line must be the header")
        for line in lines[1:]:
            if line["key"] != "file" or line["value"].get("encoding") != "base64":
                raise FakeHubError(f"commit: unexpected operation {line['key']!r}")
            self.repos[repo_id]["files"][line["value"]["path"]] = base64.b64decode(line["value"]["content"])
        oid = hashlib.sha1(content).hexdigest()
        return _json({"commitUrl": f"{HUB}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None})

    def _readable(self, repo_id: str, authorised: bool) -> httpx2.Response | None:
        repo = self.repos.get(repo_id)
        if repo is None or (repo["private"] and not authorised):
            return _json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
        if repo["gated"] and not (authorised and self._gated_access):
            message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
            status = 403 if authorised else 401
            return _json({"error": message}, status, {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
        return None

    def _sha(self, repo_id: str) -> str:
        return hashlib.sha1(repo_id.encode() + str(sorted(self.repos[repo_id]["files"])).encode()).hexdigest()

    def model_info(self, repo_id: str, revision: str, authorised: bool) -> httpx2.Response:
        refused = self._readable(repo_id, authorised)
        if refused:
            return refused
        siblings = [{"rfilename": name} for name in self.repos[repo_id]["files"]]
        sha = self.commits(repo_id).get(revision, revision)  # a branch or tag's commit, or the commit itself
        return _json({"id": repo_id, "modelId": repo_id, "sha": sha, "siblings": siblings})

    def tree(self, repo_id: str, authorised: bool) -> httpx2.Response:
        refused = self._readable(repo_id, authorised)
        if refused:
            return refused
        files = self.repos[repo_id]["files"].items()
        entries = [{"type": "file", "path": name, "size": len(data), "oid": _git_oid(data)} for name, data in files]
        return httpx2.Response(200, json=entries)

    def resolve(self, repo_id: str, revision: str, file: str, method: str, authorised: bool) -> httpx2.Response:
        refused = self._readable(repo_id, authorised)
        if refused:
            return refused
        data = self.repos[repo_id]["files"].get(file)
        if data is None:
            return _json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
        headers = {
            "X-Repo-Commit": self.commits(repo_id).get(revision, revision),
            "ETag": f'"{_git_oid(data)}"',
            "Content-Length": str(len(data)),
        }
        return httpx2.Response(200, headers=headers, content=b"" if method == "HEAD" else data)

    # ---- Inference Endpoints --------------------------------------------------------------------------------
    def create_endpoint(self, namespace: str, payload: dict) -> httpx2.Response:
        _check_endpoint_payload(payload)
        if payload["model"]["repository"] not in self.repos:
            return _json({"error": f"repository {payload['model']['repository']} not found"}, 400)
        self.endpoints.append(payload)
        status = {"state": "pending", "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
        image = payload["model"]["image"]
        health = image.get("custom", {}).get("healthRoute", "/health")
        model = {"revision": None, "task": None, **payload["model"]}
        return _json({**payload, "model": model, "status": status, "healthRoute": health, "namespace": namespace})


def _check_endpoint_payload(payload: dict) -> None:
    def refuse(message: str) -> None:
        raise FakeHubError(f"Inference Endpoints API would refuse: {message}")

    if unknown := set(payload) - ENDPOINT_KEYS:
        refuse(f"unknown keys {sorted(unknown)}")
    if not ENDPOINT_NAME.match(payload["name"]):
        refuse(f"name {payload['name']!r}: lowercase letters, digits and '-', at most 32 characters")
    if payload["type"] not in ACCESS_TYPES:
        refuse(f"type {payload['type']!r} is not one of {sorted(ACCESS_TYPES)}")
    model = payload["model"]
    if unknown := set(model) - MODEL_KEYS:
        refuse(f"unknown model keys {sorted(unknown)}")
    image = model["image"]
    if list(image) not in (["huggingface"], ["custom"]):
        refuse(f"model.image {image!r}")
    if "custom" in image:
        if unknown := set(image["custom"]) - CUSTOM_IMAGE_KEYS:
            refuse(f"unknown custom image keys {sorted(unknown)} (expected camelCase {sorted(CUSTOM_IMAGE_KEYS)})")
        if not isinstance(image["custom"].get("url"), str):
            refuse("a custom image needs its url")
    for field in ("env", "secrets"):
        values = model.get(field, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            refuse(f"model.{field} must map strings to strings")
    scaling = payload["compute"]["scaling"]
    if not 0 <= scaling["minReplica"] <= scaling["maxReplica"] or scaling["maxReplica"] < 1:
        refuse(f"replicas {scaling}")
    if scaling["minReplica"] == 0 and not scaling.get("scaleToZeroTimeout"):
        refuse("minReplica 0 needs scaleToZeroTimeout")


def _revision(match: re.Match) -> str:
    """The revision a matched route reads (``main`` where the route names none)."""
    return unquote(match["rev"] or "main")


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _json(body: dict, status: int = 200, headers: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers or {})
