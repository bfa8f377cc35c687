"""A local stand-in for the Hugging Face Hub's HTTP API, enough for the real `huggingface_hub`
client to create a repo and commit files to it: it records every request, keeps the committed
files, and can answer the first N requests to a path with a server error."""

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
    repos: dict[str, dict] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)
    branches: set[tuple[str, str]] = field(default_factory=set)
    failures: dict[str, int] = field(default_factory=dict)  # path pattern -> server errors still to answer


def _commit(state: HubState, repo_id: str, revision: str, body: bytes) -> dict:
    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    header = next(line["value"] for line in lines if line["key"] == "header")
    files = {
        line["value"]["path"]: base64.b64decode(line["value"]["content"])
        for line in lines
        if line["key"] == "file"
    }
    oid = f"{len(state.commits) + 1:040x}"
    state.commits.append({"repo_id": repo_id, "revision": revision, "summary": header["summary"], "files": files, "oid": oid})
    state.repos.setdefault(repo_id, {}).update(files)
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

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state = self.state
        state.requests.append(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
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
            return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id})
        if self.path == "/api/validate-yaml":
            return self._reply(200, {"warnings": []})
        if match := re.fullmatch(r"/api/models/(.+)/branch/([^/?]+)", self.path):
            state.branches.add((match.group(1), match.group(2)))
            return self._reply(200, {})
        if match := re.fullmatch(r"/api/models/(.+)/preupload/([^/?]+)", self.path):
            files = json.loads(body)["files"]
            upload = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return self._reply(200, {"files": upload})
        if match := re.fullmatch(r"/api/models/(.+)/commit/([^/?]+)(\?.*)?", self.path):
            return self._reply(200, _commit(state, match.group(1), match.group(2), body))
        return self._reply(404, {"error": f"no route for POST {self.path}"})


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
