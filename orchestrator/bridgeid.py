"""Which bridge a session follows: the identity a bridge announces (the id of its data dir and
its session name, in `bridge.started`, every heartbeat and the `state` reply) checked against
the one this session expects (issue #16).

Without it, an orchestrator whose own bridge cannot bind its endpoints (a second `make demo`
on the first one's ports) silently followed whichever bridge held them, applied another
number's chats and said `open`. Now a mismatch is refused: nothing of that bridge is applied
or sent to it, and `/status` says `wrong_bridge` with what was expected and what answered.

What is expected:
- a spawned bridge: the id in the data dir this orchestrator gives it (`read_or_create`: the
  bridge or this, whichever comes first, makes it), and the session it is told (BRIDGE_SESSION);
- a bridge running elsewhere (ZeroMQ endpoints): whatever it announced on first contact,
  kept in the session's directory (`bridge-identity.json`); delete that file to accept
  another bridge there on purpose (a rebuilt host, a new data volume);
- on NATS nothing: the subjects `<prefix>.<session>.*` name the session and the lease decides
  which host may publish for it, and each host has a data dir of its own.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from orchestrator.shapes import BridgeIdentity

log = logging.getLogger("orchestrator.bridgeid")

ID_FILE = "bridge-id"  # in the bridge's data dir (bridge-node/src/identity.js)
LEARNED_FILE = "bridge-identity.json"  # in the session's directory
ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True, slots=True)
class Identity:
    bridge_id: str
    session: str

    def __str__(self) -> str:
        return f"bridge {self.bridge_id} of session {self.session!r}"

    def view(self) -> BridgeIdentity:
        return {"bridgeId": self.bridge_id, "session": self.session}


def announced(data: Any) -> Identity | None:
    """The identity in a heartbeat's, bridge.started's or `state`'s data; None when it names
    none (a bridge from before identities)."""
    if not isinstance(data, dict):
        return None
    bridge_id, session = data.get("bridgeId"), data.get("session")
    if isinstance(bridge_id, str) and isinstance(session, str):
        return Identity(bridge_id, session)
    return None


def read_or_create(data_dir: Path) -> str:
    """The id of a bridge data dir, made on first use; the bridge reads the same file."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / ID_FILE
    if not path.exists():
        # Written aside, then linked: the file appears whole, and only the first of two racing
        # writers (this, the bridge) wins.
        aside = path.with_name(f"{ID_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        aside.write_text(secrets.token_hex(12) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink(missing_ok=True)
    bridge_id = path.read_text().strip()
    if not ID.fullmatch(bridge_id):
        raise ValueError(f"{path} does not hold a bridge id; remove it to make a new one")
    return bridge_id


class IdentityCheck:
    """What one session expects of its bridge: the id in `data_dir` (a bridge we spawn there,
    read at each check: the dir may be made anew), else the identity kept in `learned`, learned
    on first contact. Checks never raise: what cannot be read is a refusal with its reason."""

    def __init__(
        self, *, learned: Path | None = None, data_dir: Path | None = None, session: str = ""
    ) -> None:
        self._learned = learned
        self._data_dir = data_dir
        self._session = session
        self._unreadable: str | None = None
        self.expected = self._read_learned()

    @classmethod
    def spawned(cls, bridge_data_dir: Path, session: str) -> IdentityCheck:
        return cls(data_dir=bridge_data_dir, session=session)

    @classmethod
    def learned_in(cls, directory: Path) -> IdentityCheck:
        return cls(learned=directory / LEARNED_FILE)

    def problem(self, identity: Identity | None) -> str | None:
        """Why `identity` is not the bridge expected, or None when it is (and then, when
        nothing was expected yet, it is from now on)."""
        if identity is None:
            return "the bridge does not say who it is (a bridge older than this orchestrator?)"
        if self._data_dir is not None:
            try:
                self.expected = Identity(read_or_create(self._data_dir), self._session)
            except (OSError, ValueError) as exc:
                return f"cannot read the id of our bridge's data dir: {exc}"
        elif self._unreadable is not None:
            return self._unreadable
        elif self.expected is None:
            self._learn(identity)
            return None
        if identity == self.expected:
            return None
        hint = (
            f"; remove {self._learned} to accept it"
            if self._learned is not None
            else " (another orchestrator's bridge holds these endpoints?)"
        )
        return f"expected {self.expected}, found {identity}{hint}"

    def _read_learned(self) -> Identity | None:
        if self._learned is None:
            return None
        try:
            identity = announced(orjson.loads(self._learned.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            identity, why = None, str(exc)
        else:
            why = "no bridgeId and session in it"
        if identity is None:
            self._unreadable = f"cannot read {self._learned} ({why}); remove it to learn anew"
        return identity

    def _learn(self, identity: Identity) -> None:
        self.expected = identity
        if self._learned is None:
            return
        try:
            self._learned.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._learned.with_suffix(".tmp")
            temporary.write_bytes(orjson.dumps(identity.view()))
            temporary.replace(self._learned)
        except OSError as exc:
            # Still checked while this process runs; after a restart it is learned again.
            log.error("following %s, but cannot keep it in %s: %s", identity, self._learned, exc)
            return
        log.info("following %s from now on (kept in %s)", identity, self._learned)
