"""Hub repositories, with the hub's own client (``huggingface_hub``).

The settings switch the client offline for every process (nothing downloads at run
time); ``online()`` lets this command's process through while it pulls, and only then.
The endpoint is the client's own setting (``HF_ENDPOINT``, or ``endpoint=``); a token,
where a repository is gated, is its ``HF_TOKEN``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.pull.errors import PullError
from inference.pull.sources import Source

# What a transformers checkpoint folder needs: its configs, processor and tokenizer
# files, and one copy of the weights.
_WANTED = re.compile(r"\.(json|txt|model|tiktoken|jinja|safetensors|bin)$")
# Other frameworks' copies of the same weights, which the loader never reads.
_UNWANTED = re.compile(r"(^|_)(tf|flax|rust|onnx|openvino|coreml)_|\.(h5|msgpack|onnx|ot)$")


@dataclass(frozen=True)
class RemoteFile:
    """A repository file as the hub describes it: size, and the hash it publishes (the
    sha256 of an LFS file, else the git blob id)."""

    name: str
    size: int | None
    sha256: str = ""
    blob_id: str = ""


@dataclass(frozen=True)
class Snapshot:
    """A repository at one commit, and the files a pull fetches from it."""

    repo_id: str
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(file.size or 0 for file in self.files)


@contextmanager
def online() -> Iterator[None]:
    """Let the hub client make requests from this process for the duration."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def choose_files(files: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    """The files a transformers folder needs: top-level configs and processor files, and
    the safetensors weights where the repository has them, else the PyTorch ones."""
    top = [f for f in files if "/" not in f.name and _WANTED.search(f.name)]
    top = [f for f in top if not _UNWANTED.search(f.name)]
    has_safetensors = any(f.name.endswith(".safetensors") for f in top)
    if has_safetensors:
        top = [f for f in top if not f.name.endswith(".bin") and "pytorch_model" not in f.name]
    else:
        top = [f for f in top if ".safetensors" not in f.name]
    return tuple(sorted(top, key=lambda f: f.name))


def snapshot(source: Source, *, endpoint: str | None) -> Snapshot:
    """The repository's commit for ``source.revision`` and the files to fetch, with the
    sizes and hashes the hub publishes for them."""
    from huggingface_hub import HfApi

    with online():
        info = HfApi(endpoint=endpoint).model_info(
            source.repo_id, revision=source.revision, files_metadata=True
        )
    if not info.sha or info.siblings is None:
        raise PullError(f"the hub gave no commit or file list for {source.repo_id}")
    files = choose_files(_remote_file(sibling) for sibling in info.siblings)
    names = {file.name for file in files}
    if "config.json" not in names:
        raise PullError(
            f"{source.repo_id} is not a transformers checkpoint (no config.json at its top)"
        )
    if not any(name.endswith((".safetensors", ".bin")) for name in names):
        raise PullError(f"{source.repo_id} has no weights file the transformers loader reads")
    return Snapshot(repo_id=source.repo_id, commit=info.sha, files=files)


def _remote_file(sibling: Any) -> RemoteFile:
    if sibling.lfs is not None:
        return RemoteFile(sibling.rfilename, sibling.lfs.size, sha256=sibling.lfs.sha256)
    return RemoteFile(sibling.rfilename, sibling.size, blob_id=sibling.blob_id or "")


def fetch(snap: Snapshot, folder: Path, *, endpoint: str | None) -> None:
    """Download ``snap``'s files into ``folder`` at its commit, with the client's progress
    bars. Files already there from an earlier run at the same commit are kept, and a
    connection that drops mid-file is resumed where it stopped."""
    from huggingface_hub import hf_hub_download

    folder.mkdir(parents=True, exist_ok=True)
    with online():
        for file in snap.files:
            hf_hub_download(
                snap.repo_id,
                file.name,
                revision=snap.commit,
                local_dir=folder,
                endpoint=endpoint,
            )


def download_state_dir(folder: Path) -> Path:
    """Where the client keeps its notes on a folder's downloads (not part of the weights)."""
    return folder / ".cache" / "huggingface"
