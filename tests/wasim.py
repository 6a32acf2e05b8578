"""The WhatsApp simulator (tests/wa-sim, Node) as a process tests can drive over its control
API. Unmodified Baileys in the bridge talks to it as it would to WhatsApp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.harness import REPO, Process, wait_for

SIM_MAIN = REPO / "tests" / "wa-sim" / "server.js"
PHONE = "5511999990000"


class WaSim(Process):
    def __init__(
        self, log_dir: Path, *, state_file: Path | None = None, phone: str = PHONE
    ) -> None:
        self.phone = phone
        argv = ["node", str(SIM_MAIN), "--port", "0", "--phone", phone]
        if state_file is not None:
            argv += ["--state", str(state_file)]
        super().__init__("wa-sim", argv, {"PATH": "/usr/bin:/bin"}, log_dir / "wa-sim.log")
        ready = wait_for("the simulator", self._ready_line, timeout=20)
        self.ws_url: str = ready["ws"]
        self.media_ca: str = ready.get("mediaCa", "")
        self.control = httpx.Client(base_url=ready["control"], timeout=30)

    def _ready_line(self) -> dict[str, Any] | None:
        for line in self.log_path.read_text().splitlines():
            if line.startswith('{"ws"'):
                ready: dict[str, Any] = json.loads(line)
                return ready
        if not self.running:
            raise AssertionError(f"wa-sim exited:\n{self.log_tail()}")
        return None

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.control.get("/state").raise_for_status().json()
        return state

    def scan(self, qr: str) -> dict[str, Any]:
        response = self.control.post("/scan", json={"qr": qr})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def disconnect(self, reason: int) -> None:
        response = self.control.post("/disconnect", json={"reason": reason})
        assert response.status_code == 200, response.text

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.control.post(path, json=body or {})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def get(self, path: str, **params: str) -> Any:
        response = self.control.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def bridge_env(self) -> dict[str, str]:
        """What a bridge needs to talk to this simulator (uploads go over its own TLS CA)."""
        return {"BRIDGE_WA_URL": self.ws_url, "NODE_EXTRA_CA_CERTS": self.media_ca}

    def close(self) -> None:
        self.control.close()
