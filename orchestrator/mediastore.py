"""Where media bytes are kept once they are ours: downloaded from WhatsApp through the bridge
(`GET /media/...`), or sent by us (`POST /send` with base64 media).

Two interchangeable stores behind one Protocol, keyed by chat id + message id:
- `LocalMediaStore`: files under `ORCH_DATA_DIR/media`, named by a hash of the key (nothing
  from a request ever becomes part of a path).
- `S3MediaStore`: objects `media/<chat id>/<message id>` in an S3-compatible bucket (AWS, MinIO,
  Ceph, R2, ...), with their content type; boto3, run in worker threads. With `presign`, a
  fetch is answered by a short-lived presigned URL for the client to follow (302); otherwise
  the bytes pass through the orchestrator.

Neither store knows HTTP: `find` says what was found (`LocalFile`, `Blob`, `Chunks`,
`Redirect`), and the route turns that into an answer. Foreign errors (botocore, OS) become
`MediaStoreError` here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

import anyio.to_thread
import boto3
import botocore.config
import botocore.exceptions

from orchestrator.errors import MediaStoreConfigError, MediaStoreError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

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


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    bucket: str
    access_key: str | None
    secret_key: str | None
    region: str = "us-east-1"
    presign: bool = False
    public_endpoint: str | None = None
    """The endpoint as clients reach it, for presigned URLs (default: `endpoint`)."""
    retention_days: float | None = None
    timeout: float = 5.0


# Credentials refused or a bucket that is not there: no retry will fix these.
CONFIG_ERRORS = frozenset(
    {
        "NoSuchBucket", "404", "403", "AccessDenied", "InvalidAccessKeyId",
        "SignatureDoesNotMatch", "InvalidBucketName", "AuthorizationHeaderMalformed",
        "PermanentRedirect", "301",
    }
)  # fmt: skip


class S3MediaStore:
    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._client = self._make_client(settings.endpoint)
        # Presigning is local computation: a second client only so URLs name the public host.
        self._presigner = (
            self._make_client(settings.public_endpoint)
            if settings.public_endpoint
            else self._client
        )

    def _make_client(self, endpoint: str) -> S3Client:
        s = self.settings
        config = botocore.config.Config(
            region_name=s.region,
            signature_version="s3v4",
            # Path-style: MinIO and most self-hosted servers have no per-bucket DNS names.
            s3={"addressing_style": "path"},
            connect_timeout=s.timeout,
            read_timeout=s.timeout * 6,
            # A down server answers 503 quickly rather than after minutes of retries.
            retries={"max_attempts": 2, "mode": "standard"},
            # boto3's default checksums (since 1.36) are refused by some S3-compatible servers:
            # send one only where the API requires it, as those servers expect.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=s.access_key,
            aws_secret_access_key=s.secret_key,
            config=config,
        )
        return client

    async def open(self) -> None:
        """The bucket must exist and take our credentials. A server that does not answer is not
        fatal (media fetches answer 503 until it does): compose may start it after us."""
        try:
            await anyio.to_thread.run_sync(lambda: self._client.head_bucket(Bucket=self.bucket))
        except botocore.exceptions.ClientError as exc:
            code = _error_code(exc)
            if code in CONFIG_ERRORS:
                raise MediaStoreConfigError(
                    f"S3 media store: bucket {self.bucket!r} at {self.settings.endpoint} "
                    f"cannot be used ({code}: {_describe(code)}); check ORCH_MEDIA_S3_BUCKET, "
                    "ORCH_MEDIA_S3_ACCESS_KEY and ORCH_MEDIA_S3_SECRET_KEY"
                ) from None
            raise MediaStoreConfigError(
                f"S3 media store at {self.settings.endpoint}: {code}"
            ) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            log.warning(
                "S3 media store at %s unreachable at start (%s); media answers 503 until it is",
                self.settings.endpoint, exc,
            )  # fmt: skip

    async def find(self, key: MediaKey) -> Found | None:
        name = key.object_name
        if self.settings.presign:
            # Asked first: a presigned URL to nothing would send the client to S3's 404.
            if not await self._call("head_object", name, lambda: self._head(name)):
                return None
            url = self._presigner.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": name},
                ExpiresIn=PRESIGN_SECONDS,
            )
            return Redirect(url)
        return await self._call("get_object", name, lambda: self._get(name))

    def _head(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _get(self, name: str) -> Chunks | None:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=name)
        except botocore.exceptions.ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return Chunks(
            self._read(name, answer["Body"]), answer.get("ContentType"), answer.get("ContentLength")
        )

    async def _read(self, name: str, body: StreamingBody) -> AsyncIterator[bytes]:
        """The object's bytes, a chunk per worker-thread read. A failure here comes after the
        answer's status went out: it can only cut the answer short."""
        try:
            while chunk := await anyio.to_thread.run_sync(body.read, CHUNK_BYTES):
                yield chunk
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise MediaStoreError(f"S3 read of {name} failed midway: {exc}") from exc
        finally:
            body.close()

    async def put(self, key: MediaKey, data: bytes, content_type: str | None) -> None:
        name = key.object_name
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        await self._call(
            "put_object",
            name,
            lambda: self._client.put_object(Bucket=self.bucket, Key=name, Body=data, **extra),
        )

    async def sweep(self, now: float) -> int:
        """Delete objects under the prefix last written before `now` minus the retention."""
        days = self.settings.retention_days
        if days is None:
            return 0
        cutoff = dt.datetime.fromtimestamp(now - days * DAY, tz=dt.UTC)
        return await self._call("sweep", PREFIX, lambda: self._sweep(cutoff))

    def _sweep(self, cutoff: dt.datetime) -> int:
        deleted = 0
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=PREFIX
        )
        for page in pages:
            old = [
                {"Key": o["Key"]} for o in page.get("Contents", []) if o["LastModified"] < cutoff
            ]
            if old:
                # One request per page: list pages and delete batches are both at most 1000.
                answer = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": old, "Quiet": True},  # type: ignore[typeddict-item]
                )
                failed = answer.get("Errors", [])
                for error in failed[:5]:
                    log.warning("retention: could not delete %s: %s", error.get("Key"), error)
                deleted += len(old) - len(failed)
        return deleted

    async def _call(self, what: str, name: str, work: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(work)
        except botocore.exceptions.ClientError as exc:
            code = _error_code(exc)
            raise MediaStoreError(f"S3 {what} {name} failed: {code}: {_describe(code)}") from exc
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise MediaStoreError(f"S3 at {self.settings.endpoint} unreachable: {exc}") from exc


def _error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def _describe(code: str) -> str:
    return {
        "404": "not found",
        "NoSuchBucket": "no such bucket",
        "403": "access denied",
        "AccessDenied": "access denied",
        "InvalidAccessKeyId": "unknown access key",
        "SignatureDoesNotMatch": "wrong secret key",
    }.get(code, "refused")
