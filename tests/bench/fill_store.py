"""A SQLite store of N real-shaped messages, written with the store's own code (for the
restart-recovery benchmarks).   python -m tests.bench.fill_store DATA_DIR MESSAGES CHATS

`register` makes a store of several sessions out of one: each gets a copy of it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from orchestrator import domain as d
from orchestrator.session import session_directory
from orchestrator.state import Chat
from orchestrator.store import WriteBatch
from orchestrator.store.rows import chat_row, message_row
from orchestrator.store.sqlite import SqliteStore
from tests.harness import REPO

STORE = "store.sqlite3"


def fill_store_chat(number: int) -> str:
    return f"55119{number:08d}@s.whatsapp.net"


async def fill(path: Path, messages: int, chats: int) -> None:
    store = SqliteStore(path)
    await store.open()
    for c in range(chats):
        jid = fill_store_chat(c)
        chat = Chat(jid, False, f"Chat {c}", 0, 1_700_000_000 + c)
        batch = WriteBatch(chats={jid: chat_row(chat)})
        raw = b'{"key":{"remoteJid":"%s","id":"x"},"message":{"conversation":"hi"}}' % jid.encode()
        for i in range(messages // chats):
            message = d.Message(
                f"3EB0{c:08d}{i:08d}", jid, None, i % 3 == 0, jid, None, "Ana", 1_700_000_000 + i,
                "text", f"message {i} of chat {c}", None, None, d.ACK_DELIVERED, raw=raw,
            )  # fmt: skip
            batch.messages[(jid, message.id)] = message_row(message)
        await store.write(batch)
    await store.close()


async def register(data_dir: Path, sessions: list[dict[str, Any]]) -> None:
    """Each session (a registry row: {"id","name","bridge_pub","bridge_router"}) gets a copy
    of the default session's store (closed, so the copy is whole) and a row in the default
    store's registry, as POST /sessions would have made."""
    for row in sessions:
        directory = session_directory(data_dir, row["id"])
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / STORE, directory / STORE)
    store = SqliteStore(data_dir / STORE)
    await store.open()
    for row in sessions:
        await store.save_session(row)
    await store.close()


def fill_store(data_dir: Path, messages: int, chats: int) -> None:
    """In a process of its own: the benchmark's own memory and event loop stay out of it."""
    command = [sys.executable, "-m", "tests.bench.fill_store", str(data_dir), str(messages),
               str(chats)]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO)


if __name__ == "__main__":
    data_dir, messages, chats = sys.argv[1:]
    asyncio.run(fill(Path(data_dir) / STORE, int(messages), int(chats)))
