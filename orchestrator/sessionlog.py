"""Log lines about one WhatsApp number start with its session: with several numbers, "bridge
declared dead" must say whose."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    def __init__(self, logger: logging.Logger, session: str) -> None:
        super().__init__(logger, {"session": session})
        self.prefix = f"[{session}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return self.prefix + str(msg), kwargs
