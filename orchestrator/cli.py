"""`orchestrator` / `python -m orchestrator`: read the settings, then serve until stopped."""

from __future__ import annotations

import contextlib
import gc
import logging
import re
import socket
import sys
from collections.abc import Callable

import uvicorn
from pydantic import ValidationError

from orchestrator.auth import load_or_create_token
from orchestrator.coalesce import CoalescingWebSocketProtocol
from orchestrator.config import Settings
from orchestrator.runtime import Runtime

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


# The state holds hundreds of thousands of long-lived objects (every message in RAM), and each
# event allocates a few dozen short-lived ones. With the default thresholds the collector runs
# every 700 allocations and its full passes rescan the whole state: measured, that halves the
# pipeline's throughput (tests/bench). Collect young objects less often; see also gc.freeze()
# after recovery in runtime.
GC_THRESHOLDS = (50_000, 20, 100)


TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s\"']+")


class RedactTokens(logging.Filter):
    """uvicorn logs each WebSocket's path with its query (`"WebSocket /ws?access_token=..."
    [accepted]`), whatever access_log says: no token reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


class Server(uvicorn.Server):
    """uvicorn, which on SIGTERM or Ctrl-C also ends every stream at once: uvicorn waits for
    open responses to finish before it shuts the app down (the write-behind's last flush, the
    bridge's stop), and a stream never finishes by itself."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_exit()
        await super().shutdown(sockets)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"orchestrator: invalid settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    # httpx notes every request's URL at INFO: a webhook URL may carry its receiver's token.
    # Our own lines name the endpoint by id and host.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.root.level))
    gc.set_threshold(*GC_THRESHOLDS)
    unsafe = settings.unsafe_bridge_endpoints()
    if unsafe:
        print(
            f"orchestrator: refusing to talk to the bridge at {', '.join(unsafe)} unencrypted: "
            "set ORCH_BRIDGE_CURVE_SERVER_KEY (make curve-keys), or run both on one machine",
            file=sys.stderr,
        )
        raise SystemExit(2)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.api_token:
        token, where = settings.api_token.get_secret_value(), "ORCH_API_TOKEN"
    else:
        token_file = settings.data_dir / "api-token"
        token, where = load_or_create_token(token_file), f"the file {token_file}"
    runtime = Runtime(settings, token)
    # Where to go and where the token is; never the token (logs and terminals are shared).
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(
        f"\n  Console: http://{host}:{settings.port}/\n  Sign in with the API token in {where}\n",
        file=sys.stderr,
        flush=True,
    )
    logging.getLogger("orchestrator").info(
        "serving on http://%s:%d (bridge %s)", settings.host, settings.port, settings.bridge_pub
    )
    config = uvicorn.Config(
        runtime.app(),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        # Protocol-level pings drop WebSocket clients that vanished without closing.
        ws_ping_interval=settings.sse_ping_interval,
        ws_ping_timeout=settings.stream_send_timeout,
        # Every event is encoded once for all clients. permessage-deflate would compress it
        # again per client (a zlib stream per connection): at hundreds of clients, more CPU
        # than the whole fan-out, for small JSON frames. A proxy in front can compress.
        ws_per_message_deflate=False,
        ws=CoalescingWebSocketProtocol,
    )
    logging.getLogger("uvicorn.error").addFilter(RedactTokens())  # after Config set logging up
    server = Server(config, on_exit=runtime.streams.shutdown)
    # As uvicorn.run: Ctrl-C is re-raised once the shutdown is done; it is not an error.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # it never served (a taken port, a failed startup): uvicorn's code
