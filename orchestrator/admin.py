"""Routes about the WhatsApp connection and the bridge: the status every agent sees, linking
the phone (QR, pairing code), and the operators' controls, report and metrics."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import segno
from starlette.responses import Response

from orchestrator import shapes as s
from orchestrator.calls import Call
from orchestrator.commands import Bridge
from orchestrator.domain import SyncProgress
from orchestrator.errors import BadRequest, Code, Conflict, NotFound
from orchestrator.follower import BridgeFollower
from orchestrator.lifecycle import ConnectionLifecycle
from orchestrator.supervisor import BridgeSupervisor
from orchestrator.writebehind import WriteBehind

PHONE_DIGITS = re.compile(r"[0-9]{8,15}")


class Admin:
    def __init__(
        self,
        lifecycle: ConnectionLifecycle,
        follower: BridgeFollower,
        writebehind: WriteBehind,
        supervisor: BridgeSupervisor | None,
        bridge: Bridge,
        sync: Callable[[], SyncProgress | None] = lambda: None,
        *,
        transport: Callable[[], s.TransportReport],
    ) -> None:
        self.lifecycle = lifecycle
        self.follower = follower
        self.writebehind = writebehind
        self.supervisor = supervisor
        self.bridge = bridge
        self.sync = sync  # the last history-sync progress (State.sync_progress)
        self.transport = transport  # the link's report (BridgeLink.report)

    # ---- everyone -----------------------------------------------------------------------

    async def status(self, call: Call[None]) -> s.Status:
        return self.full_status()

    def full_status(self) -> s.Status:
        supervisor, lifecycle = self.supervisor, self.lifecycle
        return {
            **lifecycle.connection_status(),
            "attempt": lifecycle.attempt,
            "nextRetryAt": lifecycle.next_retry_at,
            "qrRounds": lifecycle.qr_rounds,
            "me": lifecycle.me,
            "bridge": bridge_status(self.follower, supervisor),
            "sync": sync_view(self.sync()),
        }

    # ---- linking the phone (staff) ------------------------------------------------------

    async def qr(self, call: Call[None]) -> s.QrText:
        self.lifecycle.qr_viewed()
        return {"qr": self.lifecycle.qr}

    async def qr_svg(self, call: Call[None]) -> Response:
        return self._qr_image("svg")

    async def qr_png(self, call: Call[None]) -> Response:
        return self._qr_image("png")

    def _qr_image(self, kind: str) -> Response:
        self.lifecycle.qr_viewed()
        if self.lifecycle.qr is None:
            raise NotFound(Code.NO_QR, "no QR code now (already linked, or not yet issued)")
        code = segno.make_qr(self.lifecycle.qr, error="l")
        buffer = io.BytesIO()
        if kind == "svg":
            code.save(buffer, kind="svg", scale=6, border=2)
            return Response(buffer.getvalue(), media_type="image/svg+xml")
        code.save(buffer, kind="png", scale=8, border=2)
        return Response(buffer.getvalue(), media_type="image/png")

    async def pairing_code(self, call: Call[s.PairingBody]) -> s.PairingCode:
        phone = re.sub(r"[\s()+.-]", "", call.body["phone"])
        if not PHONE_DIGITS.fullmatch(phone):
            raise BadRequest(Code.INVALID_PHONE, "phone: the number in international format")
        return {"code": await self.bridge.request_pairing_code(phone)}

    # ---- operators (admin) --------------------------------------------------------------

    async def connect(self, call: Call[None]) -> s.Status:
        self.lifecycle.request_connect()
        return self.full_status()

    async def reconnect(self, call: Call[None]) -> s.Status:
        self.lifecycle.request_reconnect("asked by an operator")
        return self.full_status()

    async def logout(self, call: Call[None]) -> s.Status:
        await self.lifecycle.logout()
        return self.full_status()

    async def restart_bridge(self, call: Call[None]) -> s.Restarting:
        if self.supervisor is None:
            raise Conflict(Code.NOT_SPAWNED, "the bridge runs elsewhere (ORCH_SPAWN_BRIDGE=false)")
        if not self.supervisor.restart("asked by an operator"):
            raise Conflict(Code.BRIDGE_NOT_RUNNING, "the bridge is not running right now")
        return {"restarting": True}

    async def report(self, call: Call[None]) -> s.BridgeReport:
        follower, writebehind, supervisor = self.follower, self.writebehind, self.supervisor
        stats, silence, position = follower.stats, follower.silence, follower.applied
        return {
            "alive": follower.alive,
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
            "refused": stats.refused,
            "reconnects": self.lifecycle.reconnects,
            "lastFrameAgeMs": stats.bridge_frame_age_ms,
            "store": {
                "up": writebehind.stats.store_up,
                "pendingRows": writebehind.pending,
                "lagSeconds": round(writebehind.lag_seconds, 3),
                "lastError": writebehind.stats.last_error,
            },
            "spawned": None
            if supervisor is None
            else {
                "pid": supervisor.pid,
                "restarts": supervisor.restarts,
                "nextStartAt": supervisor.next_start_at,
            },
            "transport": self.transport(),
        }


def bridge_status(follower: BridgeFollower, supervisor: BridgeSupervisor | None) -> s.BridgeStatus:
    wrong, found = follower.wrong_bridge, follower.found
    return {
        "state": "wrong_bridge" if wrong else "ok" if follower.alive else "down",
        "error": wrong,
        "identity": found.view() if found else None,
        "alive": follower.alive,
        "epoch": follower.stats.bridge_epoch,
        "restarts": supervisor.restarts if supervisor else None,
        "nextStartAt": supervisor.next_start_at if supervisor else None,
    }


def sync_view(sync: SyncProgress | None) -> s.SyncProgress | None:
    if sync is None:
        return None
    return {"progress": sync.progress, "syncType": sync.sync_type, "isLatest": sync.is_latest}
