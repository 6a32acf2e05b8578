"""Media in S3 end to end: a simulated contact sends an end-to-end-encrypted photo, the
unmodified Baileys in the bridge downloads and decrypts it when its `media.url` is fetched from
the orchestrator process, and the bytes land in an S3 bucket (moto's server, over HTTP), not in
the orchestrator's data directory; a photo the orchestrator sends lands there too."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest

from tests.harness import stack, wait_for
from tests.s3server import S3Server, s3_server
from tests.test_messages_e2e import ANA, Linked, jid
from tests.wasim import WaSim


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory, s3: S3Server, bucket: str) -> Iterator[Linked]:
    tmp = tmp_path_factory.mktemp("s3e2e")
    env = {f"ORCH_{k.upper()}": v for k, v in s3.settings(bucket).items()}
    with stack(tmp, orchestrator=False) as s:
        sim = s.add(WaSim(tmp))
        s.start_bridge(**sim.bridge_env())
        s.start_orchestrator(timeout=30, **env)
        yield Linked(s, sim)


def test_a_contacts_photo_is_downloaded_once_into_the_bucket(
    linked: Linked, s3: S3Server, bucket: str
) -> None:
    image = os.urandom(40_000)
    sent = linked.sim.post("/send", {"from": ANA, "kind": "image", "text": "foto",
                                     "bytes": base64.b64encode(image).decode()})  # fmt: skip
    message = linked.message(jid(ANA), sent["id"])
    for _ in range(2):
        response = linked.orchestrator.http.get(message["media"]["url"])
        assert response.status_code == 200, response.text
        assert response.content == image
    key = f"media/{jid(ANA)}/{sent['id']}"
    assert key in s3.keys(bucket)
    assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == image
    assert not (linked.orchestrator.data_dir / "media").exists()


def test_a_photo_the_orchestrator_sends_is_kept_in_the_bucket(
    linked: Linked, s3: S3Server, bucket: str
) -> None:
    picture = os.urandom(20_000)
    answer = linked.orchestrator.http.post("/send", json={"chatId": ANA, "media": {
        "type": "image", "base64": base64.b64encode(picture).decode(), "mimetype": "image/png",
    }})  # fmt: skip
    assert answer.status_code == 202, answer.text
    key = f"media/{jid(ANA)}/{answer.json()['message']['id']}"
    wait_for("the sent photo in the bucket", lambda: key in s3.keys(bucket))
    assert s3.client().get_object(Bucket=bucket, Key=key)["Body"].read() == picture
