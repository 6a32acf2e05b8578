"""Normalizer fixtures: real Baileys payloads, generated once per session by
tests/fixtures/make-fixtures.mjs (real protos, the bridge's own encoder)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tests" / "fixtures" / "make-fixtures.mjs"

# The ids and times the generator uses (its "ids and times" block).
T = 1_700_000_000
ME_PN = "5511900000001@s.whatsapp.net"
ME_LID = "100000000000001@lid"
ANA_PN = "5511988887777@s.whatsapp.net"
ANA_LID = "200000000000002@lid"
BOB_PN = "5511977776666@s.whatsapp.net"
BOB_LID = "300000000000003@lid"
BOB_NEW_PN = "5511955554444@s.whatsapp.net"
GROUP = "120363040000000001@g.us"
GROUP2 = "120363040000000002@g.us"
BIG = 9007199254740993  # 2^53 + 1
UINT64_MAX = 2**64 - 1

Cases = dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Cases:
    out = tmp_path_factory.mktemp("normalize") / "fixtures.json"
    result = subprocess.run(
        ["node", str(GENERATOR), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"make-fixtures.mjs failed ({result.returncode}):\n{result.stderr}")
    # Parsed as the transport parses envelopes (orjson), so numbers and strings match.
    loaded: Cases = orjson.loads(out.read_bytes())
    return loaded
