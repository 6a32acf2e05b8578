"""The media stores against a real S3-compatible server (moto's server mode, over HTTP): what is
put is found with its content type, presigned links serve the bytes, retention deletes only old
objects under the store's prefix, and a wrong configuration is refused at start."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from orchestrator.config import Settings
from orchestrator.errors import MediaStoreConfigError, MediaStoreError
from orchestrator.mediastore import (
    CHUNK_BYTES,
    DAY,
    Chunks,
    LocalFile,
    LocalMediaStore,
    MediaKey,
    Redirect,
)
from orchestrator.mediastore_s3 import S3MediaStore, S3Settings
from tests.s3server import ACCESS_KEY, SECRET_KEY, S3Server, s3_server

KEY = MediaKey("5511912345678@s.whatsapp.net", "3EB0ABCDEF")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


def store(s3: S3Server, bucket: str, **more: Any) -> S3MediaStore:
    return S3MediaStore(S3Settings(s3.url, bucket, ACCESS_KEY, SECRET_KEY, **more))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.anyio
async def test_what_is_put_is_found_with_its_content_type_under_chat_and_message(
    s3: S3Server,
) -> None:
    bucket = s3.new_bucket()
    media = store(s3, bucket)
    await media.open()
    assert await media.find(KEY) is None
    await media.put(KEY, PNG, "image/png")
    assert s3.keys(bucket) == ["media/5511912345678@s.whatsapp.net/3EB0ABCDEF"]
    assert await read(await media.find(KEY)) == (PNG, "image/png")
    assert await media.find(MediaKey(KEY.chat_id, "OTHER")) is None


@pytest.mark.anyio
async def test_a_large_object_is_read_in_chunks(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    media = store(s3, bucket)
    video = os.urandom(CHUNK_BYTES * 2 + 12_345)
    await media.put(KEY, video, "video/mp4")
    found = await media.find(KEY)
    assert isinstance(found, Chunks) and found.length == len(video)
    sizes = [len(chunk) async for chunk in found.chunks]
    assert sizes == [CHUNK_BYTES, CHUNK_BYTES, 12_345]


async def read(found: object) -> tuple[bytes, str | None]:
    assert isinstance(found, Chunks)
    return b"".join([chunk async for chunk in found.chunks]), found.content_type


def test_an_object_name_never_escapes_its_chat() -> None:
    name = MediaKey("a/../b@s.whatsapp.net", "../../x").object_name
    assert name.startswith("media/") and name.count("/") == 2 and ".." not in name.split("/")


@pytest.mark.anyio
async def test_presigned_links_name_the_public_endpoint_and_serve_the_bytes(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    public = s3.url.replace("127.0.0.1", "localhost")
    media = store(s3, bucket, presign=True, public_endpoint=public)
    assert await media.find(KEY) is None  # nothing to point at: no link to S3's 404
    await media.put(KEY, PNG, "image/png")
    found = await media.find(KEY)
    assert isinstance(found, Redirect) and found.url.startswith(f"{public}/{bucket}/media/")
    async with httpx.AsyncClient() as client:
        answer = await client.get(found.url)
    assert answer.status_code == 200 and answer.content == PNG
    assert answer.headers["content-type"] == "image/png"


@pytest.mark.anyio
async def test_retention_deletes_old_objects_and_keeps_new_ones_and_foreign_ones(
    s3: S3Server,
) -> None:
    bucket = s3.new_bucket()
    media = store(s3, bucket, retention_days=7)
    client = s3.client()
    client.put_object(Bucket=bucket, Key="backups/not-ours", Body=b"x")
    await media.put(MediaKey("c@s.whatsapp.net", "OLD"), b"old", None)
    old_at = client.head_object(Bucket=bucket, Key="media/c@s.whatsapp.net/OLD")["LastModified"]
    new_key = "media/c@s.whatsapp.net/NEW"
    # S3 times have a resolution of a second: write NEW until it is later than OLD.
    new_at = old_at
    async with asyncio.timeout(5):
        while new_at <= old_at:
            await media.put(MediaKey("c@s.whatsapp.net", "NEW"), b"new", None)
            new_at = client.head_object(Bucket=bucket, Key=new_key)["LastModified"]
    # "Now" is 7 days after NEW was written: OLD is past the retention, NEW is exactly at it.
    assert await media.sweep(new_at.timestamp() + 7 * DAY) == 1
    assert sorted(s3.keys(bucket)) == ["backups/not-ours", new_key]
    # A day later NEW goes too; what the store did not write stays.
    assert await media.sweep(new_at.timestamp() + 8 * DAY) == 1
    assert s3.keys(bucket) == ["backups/not-ours"]


@pytest.mark.anyio
async def test_without_retention_the_sweep_deletes_nothing(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    media = store(s3, bucket)
    await media.put(KEY, PNG, None)
    far = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
    assert await media.sweep(far) == 0
    assert len(s3.keys(bucket)) == 1


@pytest.mark.anyio
async def test_a_missing_bucket_is_refused_at_open_with_a_clear_message(s3: S3Server) -> None:
    with pytest.raises(MediaStoreConfigError) as refused:
        await store(s3, "no-such-bucket").open()
    message = str(refused.value)
    assert "no-such-bucket" in message and s3.url in message and "ORCH_MEDIA_S3_BUCKET" in message
    assert SECRET_KEY not in message


@pytest.mark.anyio
async def test_an_unreachable_server_is_not_fatal_at_open_but_fails_each_call_clearly() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    media = S3MediaStore(S3Settings(url, "media", ACCESS_KEY, SECRET_KEY, timeout=1.0))
    await media.open()
    for call in (media.find(KEY), media.put(KEY, PNG, None)):
        with pytest.raises(MediaStoreError, match="unreachable") as failed:
            await call
        assert SECRET_KEY not in str(failed.value)


@pytest.mark.anyio
async def test_the_local_store_keeps_files_named_by_a_hash_of_the_key(tmp_path: Path) -> None:
    media = LocalMediaStore(tmp_path / "media")
    await media.open()
    assert await media.find(KEY) is None
    await media.put(KEY, PNG, "image/png")
    found = await media.find(KEY)
    assert found == LocalFile(tmp_path / "media" / KEY.digest)
    assert found.path.read_bytes() == PNG
    assert await media.sweep(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()) == 0


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"media_s3_url": "http://minio:9000"}, "ORCH_MEDIA_S3_BUCKET is required"),
        ({"media_s3_url": "minio:9000", "media_s3_bucket": "m"}, "http:// or https://"),
        (
            {"media_s3_url": "http://minio:9000", "media_s3_bucket": "m",
             "media_s3_public_url": "ftp://x"},
            "ORCH_MEDIA_S3_PUBLIC_URL",
        ),
        (
            {"media_s3_url": "http://minio:9000", "media_s3_bucket": "m",
             "media_s3_secret_key": SECRET_KEY},
            "both ORCH_MEDIA_S3_ACCESS_KEY and ORCH_MEDIA_S3_SECRET_KEY",
        ),
        (
            {"media_s3_url": "http://m", "media_s3_bucket": "m", "media_s3_retention_days": 0},
            "greater than 0",
        ),
    ],
)  # fmt: skip
def test_incomplete_s3_settings_are_refused(settings: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint) as refused:
        Settings(**settings)
    assert SECRET_KEY not in str(refused.value)


def test_the_secret_key_is_never_shown() -> None:
    settings = Settings(
        media_s3_url="http://minio:9000", media_s3_bucket="m",
        media_s3_access_key=ACCESS_KEY, media_s3_secret_key=SECRET_KEY,
    )  # fmt: skip
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings.model_dump())
