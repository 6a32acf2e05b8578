"""The composition root: builds the transport, follower, lifecycle and supervisor from Settings
and runs them for as long as the app lives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import zmq.asyncio

from orchestrator.applied_log import AppliedLog
from orchestrator.config import Settings
from orchestrator.follower import BridgeFollower
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.supervisor import BridgeSupervisor, bridge_environment
from orchestrator.transport.zmq import ZmqCommandChannel, ZmqEventSource

log = logging.getLogger("orchestrator.runtime")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self._context = zmq.asyncio.Context()
        self.commands = ZmqCommandChannel(
            self._context, settings.bridge_router, settings.command_timeout
        )
        self.events = ZmqEventSource(self._context, settings.bridge_pub)
        self.lifecycle = ConnectionLifecycle(
            self.commands,
            reconnect_initial=settings.reconnect_initial,
            reconnect_max=settings.reconnect_max,
        )
        self.follower = BridgeFollower(
            self.events,
            self.commands,
            AppliedLog(settings.data_dir / "applied.log"),
            [self.lifecycle],
            heartbeat_timeout=settings.bridge_heartbeat_timeout,
            replay_page=settings.replay_page,
        )
        self.supervisor: BridgeSupervisor | None = None
        if settings.spawn_bridge:
            self.supervisor = BridgeSupervisor(
                settings.bridge_command,
                bridge_environment(
                    os.environ,
                    {
                        "BRIDGE_PUB": settings.bridge_pub,
                        "BRIDGE_ROUTER": settings.bridge_router,
                        "BRIDGE_DATA_DIR": str(settings.bridge_data_dir),
                    },
                ),
                respawn_initial=settings.respawn_initial,
                respawn_max=settings.respawn_max,
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(self.follower.run(), name="follower"),
            asyncio.create_task(self._reconcile_forever(), name="reconcile"),
        ]
        if self.supervisor is not None:
            tasks.append(asyncio.create_task(self.supervisor.run(), name="supervisor"))
        try:
            yield
        finally:
            if self.supervisor is not None:
                await self.supervisor.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.events.close()
            self.commands.close()
            self.follower.close()
            self._context.term()

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.bridge_heartbeat_timeout)
            stats = self.follower.stats
            if self.follower.alive:
                self.lifecycle.reconcile(stats.bridge_connection, stats.bridge_mode)

    def bridge_report(self) -> dict[str, Any]:
        stats = self.follower.stats
        silence = self.follower.silence
        position = self.follower.position
        return {
            "alive": self.follower.alive,
            "epoch": stats.bridge_epoch,
            "seq": stats.bridge_seq,
            "connection": stats.bridge_connection,
            "mode": stats.bridge_mode,
            "applied": {"epoch": position.epoch, "seq": position.seq} if position else None,
            "lastHeartbeatAgeMs": None if silence is None else round(silence * 1000),
            "received": stats.received,
            "appliedEvents": stats.applied,
            "duplicates": stats.duplicates,
            "malformed": stats.malformed,
            "gaps": stats.gaps,
            "replays": stats.replays,
            "replayed": stats.replayed,
            "epochChanges": stats.epoch_changes,
            "positionsLost": stats.positions_lost,
            "reconnects": self.lifecycle.reconnects,
            "spawned": None
            if self.supervisor is None
            else {"pid": self.supervisor.pid, "restarts": self.supervisor.restarts},
        }
