"""Issue #16: the demo's photos and documents are real. The replaying bridge serves the capture's
media (bridge-node/scripts/demo-media/, found by fileSha256), so in the console an incoming photo
renders with its real pixel size and a document downloads with the right bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tests.browser.conftest import Console, Live, demo_capture
from tests.harness import BRIDGE_DIR, wait_for

MEDIA = BRIDGE_DIR / "scripts" / "demo-media"


def upserted(line: bytes) -> dict[str, Any] | None:
    """The message of a `messages.upsert` capture line, else None."""
    record = orjson.loads(line)
    if record["event"] != "messages.upsert":
        return None
    message: dict[str, Any] = record["data"]["messages"][0]
    return message


def customer_photos(lines: list[bytes]) -> dict[tuple[int, int], int]:
    """The line of the first live photo a customer sends, for each pixel size (width, height)."""
    found: dict[tuple[int, int], int] = {}
    for i, line in enumerate(lines):
        message = upserted(line)
        image = message and not message["key"]["fromMe"] and message["message"].get("imageMessage")
        if image:
            found.setdefault((image["width"], image["height"]), i)
    return found


def test_an_incoming_photo_renders_at_its_real_size_and_a_document_downloads(
    stack: Callable[..., Live], console: Callable[..., Console], tmp_path: Path
) -> None:
    lines = demo_capture(tmp_path / "full.jsonl", 500).read_bytes().splitlines()
    photos = customer_photos(lines)
    assert set(photos) == {(320, 240), (240, 320)}, photos
    # The photos come later, live, from the same bridge (a restart: a new epoch of its journal).
    first = tmp_path / "first.jsonl"
    first.write_bytes(
        b"\n".join(line for i, line in enumerate(lines) if i not in photos.values()) + b"\n"
    )
    later = tmp_path / "later.jsonl"
    later.write_bytes(b"\n".join(lines[i] for i in sorted(photos.values())) + b"\n")
    documents = [m for m in map(upserted, lines) if m and m["message"].get("documentMessage")]
    assert documents, "the capture has a document"

    s = stack(events=0, rate=0, capture=first)
    s.replay_done()
    c = console(s.url)

    # A document: the link downloads the real file under its name.
    document = documents[0]
    c.open_chat(document["key"]["remoteJid"])
    link = c.page.locator(f'li[data-message-id="{document["key"]["id"]}"] a.file')
    with c.page.expect_download() as download:
        link.click()
    name = document["message"]["documentMessage"]["fileName"]
    assert download.value.suggested_filename == name
    assert Path(download.value.path()).read_bytes() == (MEDIA / "invoice.pdf").read_bytes()
    c.shot("document")

    # Photos arriving while the chat is open: shown with the pixel size of the real file.
    landscape = orjson.loads(lines[photos[(320, 240)]])["data"]["messages"][0]
    c.open_chat(landscape["key"]["remoteJid"])
    s.stack.restart_bridge(later)
    for (width, height), line in sorted(photos.items(), key=lambda p: p[1]):
        message = orjson.loads(lines[line])["data"]["messages"][0]
        c.open_chat(message["key"]["remoteJid"])  # the first one's is open already
        img = c.page.locator(f'li[data-message-id="{message["key"]["id"]}"] img.image')
        img.wait_for()
        img.scroll_into_view_if_needed()
        size = wait_for(
            f"the {width}x{height} photo to load",
            lambda img=img: img.evaluate("i => i.complete && [i.naturalWidth, i.naturalHeight]"),
            timeout=20,
        )  # fmt: skip
        assert size == [width, height], (size, width, height)
        c.shot(f"photo-{width}x{height}")
    assert not c.page.locator(".media-missing").count(), "no photo is unavailable"
