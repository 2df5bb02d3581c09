"""A local HTTP server standing in for the Hugging Face hub and for ultralytics' asset
downloads, for ``zoo_pull``'s tests (the real ones are unreachable here).

It speaks what ``huggingface_hub`` asks of a hub, as its source does: the model info
(``GET /api/models/<repo>/revision/<rev>?blobs=true``: the commit and every file's
size, git blob id and, for LFS files, size and sha256), and the file resolver
(``HEAD``/``GET /<repo>/resolve/<rev>/<file>``: ``X-Repo-Commit``, ``ETag``,
``X-Linked-Etag``/``X-Linked-Size`` for LFS files, ``Content-Length``, ranges). Assets
are plain files under ``/assets/``. Faults are set per path: a body broken off halfway
(``truncate``), a byte changed (``corrupt``: the size is right, the hash is not).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.servers import local_http

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass
class Repo:
    commit: str
    files: dict[str, bytes]


@dataclass
class Hub:
    url: str = ""
    repos: dict[str, Repo] = field(default_factory=dict)
    assets: dict[str, bytes] = field(default_factory=dict)
    truncate: dict[str, int] = field(default_factory=dict)  # path → GETs left to break off
    corrupt: set[str] = field(default_factory=set)  # paths served with a byte changed
    log: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Range

    def add_repo(self, repo_id: str, folder: Path) -> str:
        """Serve every file of ``folder`` as ``repo_id`` at a new commit; the commit."""
        files = {
            str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")  # not the bootstrap's marker
        }
        commit = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        self.repos[repo_id] = Repo(commit, files)
        return commit

    def gets(self, path_part: str) -> list[tuple[str, str, str]]:
        return [entry for entry in self.log if entry[0] == "GET" and path_part in entry[1]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def is_lfs(name: str) -> bool:
    return name.endswith(LFS_SUFFIXES)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    def _route(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log.append((self.command, path, self.headers.get("Range", "")))
        info = re.fullmatch(r"/api/models/(.+?)(?:/revision/([^/]+))?", path)
        resolve = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+)", path)
        if info and info.group(1) in self.hub.repos:
            self._json(self._model_info(info.group(1)))
        elif resolve and resolve.group(1) in self.hub.repos:
            repo = self.hub.repos[resolve.group(1)]
            name = resolve.group(3)
            if resolve.group(2) not in ("main", repo.commit) or name not in repo.files:
                self._error(404, "EntryNotFound")
                return
            data = repo.files[name]
            etag = sha256(data) if is_lfs(name) else blob_id(data)
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"'}
            if is_lfs(name):
                headers |= {"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))}
            self._file(path, data, headers, body=body)
        elif path.startswith("/assets/") and path.removeprefix("/assets/") in self.hub.assets:
            self._file(path, self.hub.assets[path.removeprefix("/assets/")], {}, body=body)
        else:
            self._error(404, "RepoNotFound")

    def _model_info(self, repo_id: str) -> dict[str, object]:
        repo = self.hub.repos[repo_id]
        siblings = []
        for name, data in repo.files.items():
            sibling: dict[str, object] = {"rfilename": name, "size": len(data)}
            if is_lfs(name):
                sibling["blobId"] = blob_id(b"lfs pointer " + data[:16])
                lfs = {"size": len(data), "sha256": sha256(data), "pointerSize": 134}
                sibling["lfs"] = lfs
            else:
                sibling["blobId"] = blob_id(data)
            siblings.append(sibling)
        return {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "siblings": siblings}

    def _json(self, document: dict[str, object]) -> None:
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str) -> None:
        data = json.dumps({"error": code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _file(self, path: str, data: bytes, headers: dict[str, str], *, body: bool) -> None:
        if body and path in self.hub.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if body and ranged:
            start = int(ranged.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        for name, value in headers.items():
            self.send_header(name, value)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not body:
            return
        payload = data[start:]
        if self.hub.truncate.get(path, 0) > 0:
            self.hub.truncate[path] -= 1
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True  # the rest never comes
            return
        self.wfile.write(payload)


@contextmanager
def stand_in_hub() -> Iterator[Hub]:
    """A running stand-in hub on a free local port, stopped on exit."""
    hub = Hub()
    with local_http(type("Handler", (_Handler,), {"hub": hub})) as hub.url:
        yield hub
