"""A SQLite store of N real-shaped messages, written with the store's own code (for the
restart-recovery benchmark).   python -m tests.bench.fill_store DATA_DIR MESSAGES CHATS"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orchestrator import domain as d
from orchestrator.state import Chat
from orchestrator.store import WriteBatch
from orchestrator.store.rows import chat_row, message_row
from orchestrator.store.sqlite import SqliteStore


async def fill(path: Path, messages: int, chats: int) -> None:
    store = SqliteStore(path)
    await store.open()
    for c in range(chats):
        jid = f"55119{c:08d}@s.whatsapp.net"
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


if __name__ == "__main__":
    asyncio.run(fill(Path(sys.argv[1]) / "store.sqlite3", int(sys.argv[2]), int(sys.argv[3])))
