"""The S3-compatible media store (see orchestrator.mediastore): its own module so that boto3,
0.2 s to import, is imported only when ORCH_MEDIA_S3_* configures it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
import boto3
import botocore.config
import botocore.exceptions

from orchestrator.errors import MediaStoreConfigError, MediaStoreError
from orchestrator.mediastore import (
    CHUNK_BYTES,
    DAY,
    PREFIX,
    PRESIGN_SECONDS,
    Chunks,
    Found,
    MediaKey,
    Redirect,
)  # fmt: skip

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("orchestrator.mediastore")
T = TypeVar("T")


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
