"""Repos API (`/api/2.0/repos`): Git folders, workspace folders linked to a remote repository.

There is no Git: `create` makes an empty workspace folder (object type `REPO`, its id the
folder's object id) checked out to `main`, and nothing is cloned or pulled. A repo whose folder
was deleted through the Workspace API is gone from the Repos API too.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from pathlib import Path, PurePosixPath

from .errors import already_exists, does_not_exist, invalid
from .routing import Request, Router, check_dict, check_int, check_str, check_str_list
from .workspace import WorkspaceService

# The providers the service documents, in its spelling; `provider` matches case-insensitively.
PROVIDERS = (
    "gitHub",
    "bitbucketCloud",
    "gitLab",
    "azureDevOpsServices",
    "gitHubEnterprise",
    "bitbucketServer",
    "gitLabEnterpriseEdition",
    "awsCodeCommit",
)
_PROVIDER_NAMES = {p.lower(): p for p in PROVIDERS}
PAGE_SIZE = 20
DEFAULT_BRANCH = "main"


class RepoService:
    """The workspace's Git folders (model and handlers)."""

    def __init__(self, workspace: WorkspaceService) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._repos: dict[int, dict] = {}

    def reset(self) -> None:
        """Forget every repo (their folders go with the workspace's files)."""
        with self._lock:
            self._repos.clear()

    def register(self, router: Router) -> None:
        """Add the repos routes."""
        router.add("GET", r"/api/2\.0/repos", self.list)
        router.add("POST", r"/api/2\.0/repos", self.create)
        router.add("GET", r"/api/2\.0/repos/([^/]+)", self.get)
        router.add("DELETE", r"/api/2\.0/repos/([^/]+)", self.delete)

    # ---- model ---------------------------------------------------------------------------------

    def _live(self) -> list[dict]:
        """The repos whose folder still is the repo's, sorted by path (the others are dropped)."""
        with self._lock:
            for repo_id, repo in list(self._repos.items()):
                local = self.workspace.storage.workspace_local(repo["path"])[1]
                info = self.workspace.info(repo["path"], local) if local.is_dir() else {}
                if info.get("object_type") != "REPO" or info.get("object_id") != repo_id:
                    del self._repos[repo_id]
            return sorted(self._repos.values(), key=lambda r: r["path"])

    def _find(self, raw_id: str) -> dict:
        if not raw_id.isdigit() or not raw_id.isascii():
            raise invalid(f"Invalid repo_id {raw_id!r}: expected an integer id.")
        repo_id = int(raw_id)
        for repo in self._live():
            if repo["id"] == repo_id:
                return repo
        raise does_not_exist(f"Repo {repo_id} does not exist.")

    # ---- handlers ------------------------------------------------------------------------------

    def create(self, req: Request) -> dict:
        """POST repos {url, provider, path?, sparse_checkout?, git_credential_id?} -> RepoInfo."""
        body = req.json()
        url = check_str(body.get("url"), "url", required=True)
        provider = check_str(body.get("provider"), "provider", required=True)
        path = check_str(body.get("path"), "path")
        check_int(body.get("git_credential_id"), "git_credential_id")
        sparse = check_dict(body.get("sparse_checkout"), "sparse_checkout")
        patterns = check_str_list(sparse.get("patterns"), "sparse_checkout.patterns")
        if not url.startswith("https://") or not _repo_name(url):
            raise invalid(f"Invalid url {url!r}: use the HTTPS URL of a Git repository.")
        if provider.lower() not in _PROVIDER_NAMES:
            raise invalid(
                f"Invalid provider {provider!r}: use one of {', '.join(PROVIDERS)} "
                "(case-insensitive)."
            )
        canonical, local = self.workspace.storage.workspace_local(
            path or f"/Users/{req.user}/{_repo_name(url)}"
        )
        _check_place(canonical, local)
        repo = {
            "path": canonical,
            "url": url,
            "provider": _PROVIDER_NAMES[provider.lower()],
            "branch": DEFAULT_BRANCH,
        }
        if patterns:
            repo["sparse_checkout"] = {"patterns": list(patterns)}
        with self._lock:
            if local.exists():
                raise already_exists(f"Path ({canonical}) already exists.")
            if canonical.startswith("/Repos/"):
                local.parent.mkdir(parents=True, exist_ok=True)
            repo["id"] = self.workspace.add_repo(canonical, local)
            self._repos[repo["id"]] = repo
            return copy.deepcopy(repo)

    def get(self, req: Request) -> dict:
        """GET repos/{id} -> RepoInfo; 404 for an unknown id, 400 for one that is not a number."""
        return copy.deepcopy(self._find(req.group(1)))

    def delete(self, req: Request) -> dict:
        """DELETE repos/{id}: the repo and its folder."""
        repo = self._find(req.group(1))
        canonical, local = self.workspace.storage.workspace_local(repo["path"])
        with self._lock:
            self._repos.pop(repo["id"], None)
            self.workspace.remove(canonical, local)
        return {}

    def list(self, req: Request) -> dict:
        """GET repos?path_prefix&next_page_token: pages of 20 by path (`/Repos` by default)."""
        prefix = check_str(req.query.get("path_prefix"), "path_prefix") or ""
        token = check_str(req.query.get("next_page_token"), "next_page_token") or ""
        if prefix in ("", "/", "/Workspace", "/Workspace/"):
            prefix = "/Repos/"
        else:
            prefix = self.workspace.storage.workspace_local(prefix)[0]
        after = _decode_token(token) if token else None
        repos = [
            r
            for r in self._live()
            if r["path"].startswith(prefix) and (after is None or r["path"] > after)
        ]
        result: dict = {}
        if repos:
            result["repos"] = copy.deepcopy(repos[:PAGE_SIZE])
        if len(repos) > PAGE_SIZE:
            result["next_page_token"] = _encode_token(repos[PAGE_SIZE - 1]["path"])
        return result


def _repo_name(url: str) -> str:
    """The folder name of a repo made from `url`: its last path segment without `.git`."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(".git")] if name.endswith(".git") else name


def _check_place(canonical: str, local: Path) -> None:
    parts = PurePosixPath(canonical).parts  # ("/", "Repos", folder, name)
    if len(parts) > 1 and parts[1] == "Repos":
        if len(parts) != 4:
            raise invalid(
                f"Invalid path {canonical}: a repo in /Repos needs /Repos/<folder>/<name>."
            )
        for folder in (local.parent.parent, local.parent):
            if folder.exists() and not folder.is_dir():
                raise already_exists(f"Cannot create {canonical}: a file is in the way.")
        return
    if len(parts) < 2:
        raise invalid("Invalid path /: a repo needs a folder of its own.")
    if not local.parent.is_dir():
        raise does_not_exist(
            f"The parent folder ({PurePosixPath(canonical).parent}) does not exist."
        )


def _encode_token(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        path = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        path = ""
    if not path.startswith("/"):
        raise invalid(f"Invalid next_page_token {token!r}.")
    return path
