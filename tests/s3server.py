"""A real S3-compatible server for tests: moto's server mode on a port the OS picks, in a thread
of the test process, spoken to over HTTP by boto3 exactly as AWS or MinIO would be."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-never-logged"


@dataclass
class S3Server:
    url: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )  # fmt: skip

    def new_bucket(self) -> str:
        """A fresh bucket: the server is shared by a module's tests, buckets are not."""
        name = f"media-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return [o["Key"] for o in listed.get("Contents", [])]

    def settings(self, bucket: str, **more: Any) -> dict[str, Any]:
        """`served(...)` keyword settings for the orchestrator to keep media in `bucket`."""
        return {
            "media_s3_url": self.url, "media_s3_bucket": bucket,
            "media_s3_access_key": ACCESS_KEY, "media_s3_secret_key": SECRET_KEY, **more,
        }  # fmt: skip

    async def wait_for_keys(
        self, bucket: str, check: Callable[[list[str]], bool], timeout: float = 10.0
    ) -> list[str]:
        """Until `bucket`'s keys pass `check` (polled: S3 has no notifications here)."""
        async with asyncio.timeout(timeout):
            while True:
                keys = await asyncio.to_thread(self.keys, bucket)
                if check(keys):
                    return keys
                await asyncio.sleep(0.02)


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
