"""A local stand-in for the Hugging Face Hub's HTTP API, enough for the real `huggingface_hub`
client to create a repo, commit files to it (on main or a branch) and download them again: it
records every request, keeps the committed files, hides private repos from requests without the
token, and can answer the first N POST requests to a path with a server error, refuse a path always,
or answer every POST late.

It keeps no history: a commit id stands for the current files of the branch it was made on."""

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class HubState:
    token: str
    user: str = "me"  # the token owner's namespace, where a repo named without one is created
    requests: list[Recorded] = field(default_factory=list)
    repos: dict[str, dict] = field(default_factory=dict)  # repo id -> files on main
    private: set[str] = field(default_factory=set)
    commits: list[dict] = field(default_factory=list)
    branches: set[tuple[str, str]] = field(default_factory=set)
    branch_files: dict[tuple[str, str], dict] = field(default_factory=dict)  # (repo id, branch) -> files
    failures: dict[str, int] = field(default_factory=dict)  # path pattern -> server errors still to answer
    refusals: dict[str, int] = field(default_factory=dict)  # path pattern -> the HTTP status it is always refused with
    delay_seconds: float = 0.0  # how long every POST waits before it is answered


def _commit(state: HubState, repo_id: str, revision: str, body: bytes) -> dict:
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    header = next(line["value"] for line in lines if line["key"] == "header")
    files = {
        line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines if line["key"] == "file"
    }
    oid = f"{len(state.commits) + 1:040x}"
    state.commits.append(
        {"repo_id": repo_id, "revision": revision, "summary": header["summary"], "files": files, "oid": oid}
    )
    if revision == "main":
        state.repos.setdefault(repo_id, {}).update(files)
    else:
        state.branch_files.setdefault((repo_id, revision), {}).update(files)
    return {"commitUrl": f"/{repo_id}/commit/{oid}", "commitOid": oid}


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read(self, with_body: bool) -> None:
        self.state.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, b"")
        )
        try:
            status, headers, body = _answer_read(self.state, self.path.split("?")[0], self.headers.get("Authorization"))
        except _NotFound as missing:
            status, headers, body = 404, {"X-Error-Code": missing.code}, json.dumps({"error": missing.code}).encode()
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._read(with_body=False)

    def do_GET(self) -> None:
        self._read(with_body=True)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state = self.state
        state.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        time.sleep(state.delay_seconds)
        for pattern, status in state.refusals.items():
            if re.search(pattern, self.path):
                return self._reply(status, {"error": "You are not allowed to push to this repo"})
        for pattern, remaining in state.failures.items():
            if remaining and re.search(pattern, self.path):
                state.failures[pattern] = remaining - 1
                return self._reply(503, {"error": "Service temporarily unavailable"})
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._reply(401, {"error": "Invalid credentials in Authorization header"})
        if self.path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request.get('organization') or state.user}/{request['name']}"
            if repo_id in state.repos:
                return self._reply(409, {"error": "You already created this model repo", "url": f"/{repo_id}"})
            state.repos[repo_id] = {}
            if request.get("visibility") == "private":
                state.private.add(repo_id)
            return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
        if self.path == "/api/validate-yaml":
            return self._reply(200, {"warnings": []})
        if match := re.fullmatch(r"/api/models/(.+)/branch/([^/?]+)", self.path):
            repo_id, branch = match.group(1), unquote(match.group(2))
            state.branches.add((repo_id, branch))
            state.branch_files.setdefault((repo_id, branch), dict(state.repos.get(repo_id, {})))
            return self._reply(200, {})
        if match := re.fullmatch(r"/api/models/(.+)/preupload/([^/?]+)", self.path):
            files = json.loads(body)["files"]
            upload = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return self._reply(200, {"files": upload})
        if match := re.fullmatch(r"/api/models/(.+)/commit/([^/?]+)(\?.*)?", self.path):
            return self._reply(200, _commit(state, match.group(1), unquote(match.group(2)), body))
        return self._reply(404, {"error": f"no route for POST {self.path}"})


class _NotFound(Exception):
    """What the Hub answers with 404 and this ``X-Error-Code``, which the client turns into its own error."""

    def __init__(self, code: str):
        self.code = code


def _answer_read(state: HubState, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for the GET and HEAD routes the client downloads through."""
    if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path):
        repo_id = match.group(1)
        commit, files = _snapshot(state, repo_id, unquote(match.group(2) or "main"), authorization)
        siblings = [{"rfilename": name} for name in files]
        info = {"id": repo_id, "sha": commit, "private": repo_id in state.private, "siblings": siblings}
        return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()
    if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path):
        # The whole repo, as snapshot_download asks for it (recursive=true); no folder entries.
        _, files = _snapshot(state, match.group(1), unquote(match.group(2)), authorization)
        tree = [
            {"type": "file", "path": name, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
            for name, body in files.items()
        ]
        return 200, {"Content-Type": "application/json"}, json.dumps(tree).encode()
    if match := re.fullmatch(r"/(.+)/resolve/([^/]+)/(.+)", path):
        commit, files = _snapshot(state, match.group(1), unquote(match.group(2)), authorization)
        if match.group(3) not in files:
            raise _NotFound("EntryNotFound")
        body = files[match.group(3)]
        return 200, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha1(body).hexdigest()}"'}, body
    return 404, {}, f"no route for {path}".encode()


def _snapshot(state: HubState, repo_id: str, revision: str, authorization: str | None) -> tuple[str, dict]:
    """The commit id and files of ``repo_id`` at a branch or commit id; a private repo is not found
    without the token, as the Hub hides it."""
    if repo_id not in state.repos or (repo_id in state.private and authorization != f"Bearer {state.token}"):
        raise _NotFound("RepoNotFound")
    # Commits a test records by hand carry only an id: they count as commits to main of any repo.
    ours = [c for c in state.commits if c.get("repo_id", repo_id) == repo_id]
    branch = next((c.get("revision", "main") for c in ours if c["oid"] == revision), revision)
    files = state.repos[repo_id] if branch == "main" else state.branch_files.get((repo_id, branch))
    if files is None:
        raise _NotFound("RevisionNotFound")
    heads = [c["oid"] for c in ours if c.get("revision", "main") == branch]
    return (heads[-1] if heads else "0" * 40), files


class FakeHub:
    """``with FakeHub(token) as hub:`` serves on 127.0.0.1 at ``hub.url`` until the block ends."""

    def __init__(self, token: str):
        self.state = HubState(token=token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
