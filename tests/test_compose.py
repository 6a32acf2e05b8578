"""Docker does not run on our machines, so compose.yaml is checked against the code it deploys:
every variable it sets is one the programs read, and the addresses and ports agree."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from orchestrator.config import Settings
from tests.harness import BRIDGE_DIR, REPO


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return document


def orchestrator_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"ORCH_{name.upper()}")
    return names


PRINT_BRIDGE_ENV_NAMES = (
    "import('./src/config.js').then(m => console.log(JSON.stringify(m.ENV_NAMES)))"
)


def bridge_env_names() -> set[str]:
    printed = subprocess.run(
        ["node", "-e", PRINT_BRIDGE_ENV_NAMES],
        cwd=BRIDGE_DIR, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return set(json.loads(printed))


def test_both_services_build_from_dockerfiles_in_this_repo(compose: dict[str, Any]) -> None:
    always = {name for name, s in compose["services"].items() if "profiles" not in s}
    assert always == {"bridge", "orchestrator"}
    for service in (compose["services"][name] for name in always):
        build = service["build"]
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][0] == "CMD"


def test_every_variable_is_one_the_programs_read(compose: dict[str, Any]) -> None:
    orchestrator = set(compose["services"]["orchestrator"]["environment"])
    bridge = set(compose["services"]["bridge"]["environment"])
    assert orchestrator <= orchestrator_env_names(), orchestrator - orchestrator_env_names()
    assert bridge <= bridge_env_names(), bridge - bridge_env_names()


def test_the_orchestrator_reaches_the_bridge_by_service_name(compose: dict[str, Any]) -> None:
    orch_env = compose["services"]["orchestrator"]["environment"]
    bridge_env = compose["services"]["bridge"]["environment"]
    assert orch_env["ORCH_SPAWN_BRIDGE"] == "false"
    for orch_name, bridge_name in [
        ("ORCH_BRIDGE_PUB", "BRIDGE_PUB"),
        ("ORCH_BRIDGE_ROUTER", "BRIDGE_ROUTER"),
    ]:
        connect, bind = urlparse(orch_env[orch_name]), urlparse(bridge_env[bridge_name])
        assert connect.hostname == "bridge"
        assert connect.port == bind.port
        assert str(bind.port) in compose["services"]["bridge"]["expose"]
    assert compose["services"]["orchestrator"]["depends_on"]["bridge"]["condition"] == (
        "service_healthy"
    )


def test_the_link_between_the_containers_is_curve_with_matching_keys(
    compose: dict[str, Any],
) -> None:
    bridge = compose["services"]["bridge"]["environment"]
    orchestrator = compose["services"]["orchestrator"]["environment"]
    # The bridge binds 0.0.0.0 inside its container, so it needs keys (it refuses otherwise).
    assert bridge["BRIDGE_CURVE_SECRET_KEY"].startswith("${BRIDGE_CURVE_SECRET_KEY:?")
    assert bridge["BRIDGE_CURVE_PUBLIC_KEY"] == orchestrator["ORCH_BRIDGE_CURVE_SERVER_KEY"]
    assert bridge["BRIDGE_CURVE_CLIENTS"] == orchestrator["ORCH_CURVE_PUBLIC_KEY"]
    assert "ORCH_CURVE_SECRET_KEY" in orchestrator


def test_one_history_setting_reaches_both_programs(compose: dict[str, Any]) -> None:
    """The bridge reads days:N as recent, so both can take the operator's ORCH_HISTORY."""
    bridge = compose["services"]["bridge"]["environment"]
    orchestrator = compose["services"]["orchestrator"]["environment"]
    assert bridge["BRIDGE_HISTORY"] == orchestrator["ORCH_HISTORY"] == "${ORCH_HISTORY:-recent}"
    assert orchestrator["ORCH_IGNORE"] == "${ORCH_IGNORE:-}"


def test_ports_and_healthchecks_agree_with_the_settings(compose: dict[str, Any]) -> None:
    orchestrator = compose["services"]["orchestrator"]
    port = orchestrator["environment"]["ORCH_PORT"]
    assert f"{port}:{port}" in orchestrator["ports"]
    assert f"127.0.0.1:{port}/health" in orchestrator["healthcheck"]["test"][-1]
    bridge_check = compose["services"]["bridge"]["healthcheck"]["test"]
    assert (BRIDGE_DIR / bridge_check[-1]).is_file()


def test_state_lives_in_named_volumes_where_the_programs_keep_it(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    mounts = {
        "bridge": ("BRIDGE_DATA_DIR", "bridge-auth"),
        "orchestrator": ("ORCH_DATA_DIR", "orchestrator-data"),
    }
    for service, (variable, volume) in mounts.items():
        data_dir = services[service]["environment"][variable]
        assert f"{volume}:{data_dir}" in services[service]["volumes"]
        assert volume in compose["volumes"]


def test_the_images_start_the_programs_the_repo_defines() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert 'CMD ["orchestrator"]' in (REPO / "Dockerfile").read_text()
    assert "orchestrator" in scripts
    bridge_dockerfile = (BRIDGE_DIR / "Dockerfile").read_text()
    assert "npm ci" in bridge_dockerfile
    assert 'CMD ["node", "src/main.js"]' in bridge_dockerfile
    assert Path(BRIDGE_DIR / "src" / "main.js").is_file()


def test_the_s3_profile_runs_minio_with_the_orchestrators_keys_and_bucket(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    orchestrator, minio, bucket = (
        services["orchestrator"],
        services["minio"],
        services["minio-bucket"],
    )
    assert minio["profiles"] == ["s3"] and bucket["profiles"] == ["s3"]
    env = orchestrator["environment"]
    # Unset by default: media stays in the data volume unless .env names a bucket.
    assert env["ORCH_MEDIA_S3_URL"] == "${ORCH_MEDIA_S3_URL:-}"
    assert Settings(media_s3_url=None).media_s3_url is None
    # MinIO's root user is the orchestrator's key pair, and it listens where README's URL says.
    assert minio["environment"]["MINIO_ROOT_USER"] == env["ORCH_MEDIA_S3_ACCESS_KEY"]
    assert minio["environment"]["MINIO_ROOT_PASSWORD"] == env["ORCH_MEDIA_S3_SECRET_KEY"]
    assert "9000" in minio["expose"] and "ports" not in minio
    assert "ORCH_MEDIA_S3_URL=http://minio:9000" in (REPO / "README.md").read_text()
    assert "minio-data:/data" in minio["volumes"] and "minio-data" in compose["volumes"]
    # The bucket job makes the orchestrator's bucket, with the same keys, once MinIO is healthy.
    assert bucket["environment"]["BUCKET"] == env["ORCH_MEDIA_S3_BUCKET"]
    host = bucket["environment"]["MC_HOST_media"]
    assert host == ("http://${ORCH_MEDIA_S3_ACCESS_KEY:-}:${ORCH_MEDIA_S3_SECRET_KEY:-}@minio:9000")
    assert "mc mb --ignore-existing" in bucket["command"][0]
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    # The orchestrator waits for the bucket only when the profile runs it.
    waits = orchestrator["depends_on"]["minio-bucket"]
    assert waits == {"condition": "service_completed_successfully", "required": False}
    assert minio["image"] == bucket["image"] and ":RELEASE." in minio["image"]


def test_the_second_number_is_its_own_bridge_declared_to_the_orchestrator(
    compose: dict[str, Any],
) -> None:
    """The two-number deployment: ORCH_SESSIONS, as the file's header shows it, parses into a
    session whose endpoints are the bridge-sales service's, which keeps its own credentials."""
    services = compose["services"]
    sales = services["bridge-sales"]
    assert sales["profiles"] == ["second-number"]
    assert set(sales["environment"]) <= bridge_env_names()
    header = (REPO / "compose.yaml").read_text().split("\nname:")[0]
    example = next(line for line in header.splitlines() if "ORCH_SESSIONS=" in line)
    declared = example.split("ORCH_SESSIONS=", 1)[1]
    settings = Settings(sessions=json.loads(declared))  # as pydantic-settings reads the JSON
    (session,) = settings.sessions
    assert session.id == "sales" and session.bridge is not None
    for endpoint, bind in [
        (session.bridge.pub, sales["environment"]["BRIDGE_PUB"]),
        (session.bridge.router, sales["environment"]["BRIDGE_ROUTER"]),
    ]:
        assert urlparse(endpoint).hostname == "bridge-sales"
        assert urlparse(endpoint).port == urlparse(bind).port
        assert str(urlparse(bind).port) in sales["expose"]
    assert "bridge-sales-auth:/data" in sales["volumes"]
    assert services["bridge"]["volumes"] != sales["volumes"]
    assert services["orchestrator"]["environment"]["ORCH_SESSIONS"] == "${ORCH_SESSIONS:-}"
    # Encrypted like the first bridge: the same keys, the same admitted client.
    for key in ("BRIDGE_CURVE_PUBLIC_KEY", "BRIDGE_CURVE_CLIENTS"):
        assert sales["environment"][key] == services["bridge"]["environment"][key]
