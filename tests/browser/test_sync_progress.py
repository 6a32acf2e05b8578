"""Issue 13: the console shows a history sync's progress, from GET /status when it opens mid-sync
and from `sync_progress` envelopes as chunks arrive (the real bridge replaying a capture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from tests.browser.conftest import Console, Live
from tests.harness import wait_for

# Unmodelled events: they yield no facts, and only space the chunks out in time.
PAUSE = {"event": "settings.update", "data": {"setting": "locale", "value": "pt_BR"}}


def chunk(progress: int) -> dict[str, object]:
    return {"event": "messaging-history.set", "data": {
        "chats": [], "contacts": [], "messages": [], "progress": progress, "syncType": 3,
        "isLatest": False,
    }}  # fmt: skip


def test_the_console_shows_the_sync_progress(
    stack: Callable[..., Live], console: Callable[..., Console], tmp_path: Path
) -> None:
    events = [
        {"event": "connection.update", "data": {"connection": "open"}},
        chunk(40),
        *[PAUSE] * 30,
        chunk(100),
    ]
    capture = tmp_path / "sync.jsonl"
    capture.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    s = stack(events=0, rate=2, capture=capture)

    def at(progress: int) -> bool:
        sync = s.rest("/status")["sync"]
        return bool(sync) and sync["progress"] == progress

    wait_for("the first chunk applied", lambda: at(40), 20)
    assert not at(100)
    # Opened mid-sync: the first chunk is in the snapshot, not in any envelope it will get.
    c = console(s.url)
    c.page.wait_for_selector("#sync:not([hidden])")
    assert c.page.inner_text("#sync-label") == "Syncing history… 40%"
    assert c.page.get_attribute("#sync-bar", "value") == "40"
    c.shot("syncing")
    # The last chunk arrives on the stream.
    label = c.page.locator("#sync-label")
    wait_for("the sync done", lambda: label.inner_text() == "History synced", 40)
    assert c.page.get_attribute("#sync-bar", "value") == "100"
