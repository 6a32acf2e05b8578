"""`orchestrator` / `python -m orchestrator`: read the settings, then serve until stopped."""

from __future__ import annotations

import gc
import logging
import sys

import uvicorn
from pydantic import ValidationError

from orchestrator.app import create_app
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


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"orchestrator: invalid settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
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
    token = (
        settings.api_token.get_secret_value()
        if settings.api_token
        else load_or_create_token(settings.data_dir / "api-token")
    )
    app = create_app(Runtime(settings, token))
    logging.getLogger("orchestrator").info(
        "serving on http://%s:%d (bridge %s)", settings.host, settings.port, settings.bridge_pub
    )
    uvicorn.run(
        app,
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
