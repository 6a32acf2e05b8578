"""Media in S3-compatible storage, through the API (the orchestrator in-process, moto's S3
server over HTTP): a received photo's bytes fetched through `media.url` end up in the bucket
and not on local disk, and are downloaded from WhatsApp once; media we send is kept there too;
a presigned setup answers 302; a bucket that is not there stops the start; an S3 that does not
answer gives a clear 503."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.errors import MediaStoreConfigError
from tests.harness import TOKEN
from tests.inprocess import served
from tests.s3server import SECRET_KEY, S3Server, s3_server

PERSON = "5511912345678@s.whatsapp.net"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


class WhatsApp:
    """The bridge's answers: a photo's bytes for downloadMedia, and sends accepted."""

    def __init__(self) -> None:
        self.downloads = 0
        self.sent: list[Any] = []

    def __call__(self, method: str, params: Any) -> Any:
        if method == "downloadMedia":
            self.downloads += 1
            return {"$bytes": base64.b64encode(PNG).decode()}
        if method == "sendMessage":
            self.sent.append(params)
            return None
        raise AssertionError(f"unexpected command {method}")


def photo(message_id: str, from_me: bool = False) -> dict[str, Any]:
    return {"type": "notify", "messages": [{
        "key": {"remoteJid": PERSON, "id": message_id, "fromMe": from_me},
        "messageTimestamp": 1_700_000_000,
        "message": {"imageMessage": {"mimetype": "image/png", "caption": "a photo",
                                     "fileLength": len(PNG)}},
    }]}  # fmt: skip


async def media_url(http: httpx.AsyncClient, message_id: str) -> str:
    messages = (await http.get(f"/chats/{PERSON}/messages")).json()["messages"]
    url: str = next(m for m in messages if m["id"] == message_id)["media"]["url"]
    return url


def local_media(tmp_path: Path) -> list[Path]:
    directory = tmp_path / "media"
    return list(directory.iterdir()) if directory.exists() else []


@pytest.mark.anyio
async def test_a_received_photo_is_fetched_through_its_link_and_kept_in_the_bucket(
    tmp_path: Path, s3: S3Server
) -> None:
    bucket, whatsapp = s3.new_bucket(), WhatsApp()
    async with served(tmp_path, whatsapp, **s3.settings(bucket)) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        s.bridge.publish("messages.upsert", photo("PHOTO-1"))
        await s.applied()
        url = await media_url(s.http, "PHOTO-1")
        async with s.client() as anonymous:  # the signed link needs no token
            for _ in range(2):
                answer = await anonymous.get(url)
                assert answer.status_code == 200, answer.text
                assert answer.content == PNG and answer.headers["content-type"] == "image/png"
        assert whatsapp.downloads == 1  # the second fetch came from the bucket
        assert s3.keys(bucket) == [f"media/{PERSON}/PHOTO-1"]
        stored = s3.client().get_object(Bucket=bucket, Key=f"media/{PERSON}/PHOTO-1")
        assert stored["ContentType"] == "image/png" and stored["Body"].read() == PNG
        assert local_media(tmp_path) == []


@pytest.mark.anyio
async def test_media_we_send_is_kept_in_the_bucket_and_its_link_needs_no_download(
    tmp_path: Path, s3: S3Server
) -> None:
    bucket, whatsapp = s3.new_bucket(), WhatsApp()
    async with served(tmp_path, whatsapp, **s3.settings(bucket)) as s:
        s.bridge.publish("connection.update", {"connection": "open"})
        await s.applied()
        media = {"type": "image", "base64": base64.b64encode(PNG).decode(),
                 "mimetype": "image/png"}  # fmt: skip
        answer = await s.http.post("/send", json={"chatId": PERSON, "media": media})
        assert answer.status_code == 202, answer.text
        message_id = answer.json()["message"]["id"]
        assert await s3.wait_for_keys(bucket, bool) == [f"media/{PERSON}/{message_id}"]
        # Baileys echoes what it sent; its link is served from the bucket.
        s.bridge.publish("messages.upsert", photo(message_id, from_me=True))
        await s.applied()
        fetched = await s.http.get(await media_url(s.http, message_id))
        assert fetched.status_code == 200 and fetched.content == PNG
        assert whatsapp.downloads == 0 and len(whatsapp.sent) == 1
        assert local_media(tmp_path) == []


@pytest.mark.anyio
async def test_with_presign_the_link_redirects_to_the_object(tmp_path: Path, s3: S3Server) -> None:
    bucket, whatsapp = s3.new_bucket(), WhatsApp()
    async with served(tmp_path, whatsapp, **s3.settings(bucket, media_s3_presign=True)) as s:
        s.bridge.publish("messages.upsert", photo("PHOTO-2"))
        await s.applied()
        url = await media_url(s.http, "PHOTO-2")
        first = await s.http.get(url)  # not in the bucket yet: downloaded, kept, served
        assert first.status_code == 200 and first.content == PNG
        second = await s.http.get(url)
        assert second.status_code == 302
        assert second.headers["location"].startswith(f"{s3.url}/{bucket}/media/")
        async with httpx.AsyncClient() as outside:
            followed = await outside.get(second.headers["location"])
        assert followed.content == PNG and followed.headers["content-type"] == "image/png"
        assert whatsapp.downloads == 1


@pytest.mark.anyio
async def test_the_retention_sweep_runs_at_start(tmp_path: Path, s3: S3Server) -> None:
    bucket = s3.new_bucket()
    client = s3.client()
    client.put_object(Bucket=bucket, Key=f"media/{PERSON}/OLD", Body=PNG)
    client.put_object(Bucket=bucket, Key="elsewhere/kept", Body=PNG)
    # A retention of a millisecond: everything the store wrote before the start is old.
    settings = s3.settings(bucket, media_s3_retention_days=0.001 / 86400)
    async with served(tmp_path, **settings):
        assert await s3.wait_for_keys(bucket, lambda keys: len(keys) == 1) == ["elsewhere/kept"]


@pytest.mark.anyio
async def test_a_bucket_that_is_not_there_stops_the_start(tmp_path: Path, s3: S3Server) -> None:
    with pytest.raises(MediaStoreConfigError, match="'no-such-bucket'"):
        async with served(tmp_path, **s3.settings("no-such-bucket")):
            pass


def test_the_orchestrator_process_exits_at_start_saying_which_bucket(
    tmp_path: Path, s3: S3Server
) -> None:
    env = {**os.environ, "ORCH_PORT": "0", "ORCH_DATA_DIR": str(tmp_path),
           "ORCH_API_TOKEN": TOKEN, "ORCH_STARTUP_TIMEOUT": "1"}  # fmt: skip
    env.update({f"ORCH_{k.upper()}": v for k, v in s3.settings("no-such-bucket").items()})
    ran = subprocess.run(
        [sys.executable, "-m", "orchestrator"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode != 0
    assert "not starting: S3 media store: bucket 'no-such-bucket'" in ran.stderr
    assert SECRET_KEY not in ran.stderr


@pytest.mark.anyio
async def test_an_unreachable_s3_answers_a_clear_503(tmp_path: Path, s3: S3Server) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = {**s3.settings("media"), "media_s3_url": f"http://127.0.0.1:{port}"}
    whatsapp = WhatsApp()
    async with served(tmp_path, whatsapp, **settings) as s:
        s.bridge.publish("messages.upsert", photo("PHOTO-3"))
        await s.applied()
        answer = await s.http.get(await media_url(s.http, "PHOTO-3"))
        assert answer.status_code == 503
        error = answer.json()["error"]
        assert error["code"] == "media_store_unavailable" and "unreachable" in error["message"]
        assert whatsapp.downloads == 0


@pytest.mark.anyio
async def test_without_s3_media_stays_in_the_data_directory(tmp_path: Path) -> None:
    whatsapp = WhatsApp()
    async with served(tmp_path, whatsapp) as s:
        s.bridge.publish("messages.upsert", photo("PHOTO-4"))
        await s.applied()
        url = await media_url(s.http, "PHOTO-4")
        for _ in range(2):
            answer = await s.http.get(url)
            assert answer.status_code == 200 and answer.content == PNG
        assert whatsapp.downloads == 1 and len(local_media(tmp_path)) == 1
