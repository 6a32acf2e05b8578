"""Where media bytes are kept once they are ours: downloaded from WhatsApp through the bridge
(`GET /media/...`), or sent by us (`POST /send` with base64 media).

Two interchangeable stores behind one Protocol, keyed by chat id + message id:
- `LocalMediaStore`: files under `ORCH_DATA_DIR/media`, named by a hash of the key (nothing
  from a request ever becomes part of a path).
- `S3MediaStore` (orchestrator.mediastore_s3, imported only when configured: boto3 takes
  0.2 s to import): objects `media/<chat id>/<message id>` in an S3-compatible bucket (AWS, MinIO,
  Ceph, R2, ...), with their content type; boto3, run in worker threads. With `presign`, a
  fetch is answered by a short-lived presigned URL for the client to follow (302); otherwise
  the bytes pass through the orchestrator.

Neither store knows HTTP: `find` says what was found (`LocalFile`, `Blob`, `Chunks`,
`Redirect`), and the route turns that into an answer. Foreign errors (botocore, OS) become
`MediaStoreError` here.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import quote

import anyio.to_thread

from orchestrator.errors import MediaStoreError

log = logging.getLogger("orchestrator.mediastore")

T = TypeVar("T")

PREFIX = "media/"
"""Every object this store writes is under it: the retention sweep touches nothing else in a
bucket it may share."""
CHUNK_BYTES = 1 << 20
PRESIGN_SECONDS = 300
"""A presigned URL is made per fetch and followed at once; it need not outlive that."""
DAY = 86400.0


@dataclass(frozen=True)
class MediaKey:
    chat_id: str
    message_id: str
    session: str = "default"  # the default session keeps the keys it had before sessions

    @property
    def digest(self) -> str:
        scope = "" if self.session == "default" else f"{self.session}/"
        return hashlib.sha256(f"{scope}{self.chat_id}/{self.message_id}".encode()).hexdigest()

    @property
    def object_name(self) -> str:
        # Quoted: a message id is WhatsApp's (or a client's) text, and "/" or ".." must not
        # make a key that reads as another chat's. A chat id always has an "@", so a
        # session's "sessions/<id>/" folder never reads as a chat's.
        scope = "" if self.session == "default" else f"sessions/{self.session}/"
        chat = quote(self.chat_id, safe="@.")
        return f"{PREFIX}{scope}{chat}/{quote(self.message_id, safe='')}"


@dataclass(frozen=True)
class LocalFile:
    path: Path


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Chunks:
    """An object read as it is sent: a video is not held in memory whole."""

    chunks: AsyncIterator[bytes]
    content_type: str | None
    length: int | None


Found = LocalFile | Blob | Chunks | Redirect


class MediaStore(Protocol):
    async def open(self) -> None:
        """Check the configuration; raise MediaStoreConfigError if it cannot work."""

    async def find(self, key: MediaKey) -> Found | None:
        """The media kept under `key`, or None if there is none."""

    async def put(self, key: MediaKey, data: bytes, content_type: str | None) -> None: ...

    async def sweep(self, now: float) -> int:
        """Delete what is older than the retention at `now` (unix seconds); how many."""


class LocalMediaStore:
    """Today's behaviour: one file per media under `directory`, kept forever."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def open(self) -> None:
        pass

    async def find(self, key: MediaKey) -> LocalFile | None:
        path = self.directory / key.digest
        return LocalFile(path) if path.exists() else None

    async def put(self, key: MediaKey, data: bytes, content_type: str | None) -> None:
        try:
            await anyio.to_thread.run_sync(_write_atomic, self.directory / key.digest, data)
        except OSError as exc:
            raise MediaStoreError(f"cannot write media to {self.directory}: {exc}") from exc

    async def sweep(self, now: float) -> int:
        return 0


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
