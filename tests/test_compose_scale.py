"""compose.scale.yaml, the scaled deployment, checked against the code it deploys (Docker does
not run on our machines), as tests/test_compose.py checks compose.yaml: every variable it sets
is one the programs read, the NATS URLs reach the nats service, the two sides agree on the
stream, each replica is its own, and the load balancer passes SSE and WebSocket."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.harness import REPO
from tests.test_compose import bridge_env_names, orchestrator_env_names

BRIDGES = ("bridge-1", "bridge-2")
REPLICAS = ("orchestrator-1", "orchestrator-2")

# Prefix, session and replica ids end up in subjects and bucket names.
SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "compose.scale.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return document


@pytest.fixture(scope="module")
def lb_config(compose: dict[str, Any]) -> str:
    """nginx's configuration as nginx reads it (compose turns $$ into $)."""
    (mount,) = compose["services"]["lb"]["configs"]
    assert mount["target"] == "/etc/nginx/conf.d/default.conf"
    content: str = compose["configs"][mount["source"]]["content"]
    # A lone $ would be compose's interpolation: nginx would get an empty string instead.
    assert not re.search(r"(?<!\$)\$(?!\$)", content.replace("$$", ""))
    return content.replace("$$", "$")


def env(compose: dict[str, Any], service: str) -> dict[str, str]:
    environment: dict[str, str] = compose["services"][service]["environment"]
    return environment


def default(value: str) -> str:
    """The value compose substitutes when the operator sets nothing: ${X:-d} -> d."""
    found = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return found.group(1) if found else value


def test_the_services_of_the_scaled_deployment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"nats", *BRIDGES, *REPLICAS, "lb"}
    assert all("profiles" not in s for s in services.values())
    for service in services.values():
        assert service["restart"] == "unless-stopped"
    for name, service in services.items():
        for mount in service.get("volumes", []):
            assert mount.split(":")[0] in compose["volumes"], (name, mount)


def test_nats_runs_jetstream_on_file_storage_in_a_volume(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert nats["image"] == "nats:2.10-alpine"
    command = nats["command"]
    assert command[0] == "nats-server" and "-js" in command
    store = command[command.index("-sd") + 1]
    assert f"nats-data:{store}" in nats["volumes"]
    monitor = command[command.index("-m") + 1]
    assert f"http://127.0.0.1:{monitor}/healthz" in " ".join(nats["healthcheck"]["test"])
    assert "ports" not in nats  # reachable from the compose network only
    # Large history syncs need more than NATS's default 1 MiB (the bridge's README says 8 MB).
    (mount,) = nats["configs"]
    assert command[command.index("-c") + 1] == mount["target"]
    assert "max_payload: 8MB" in compose["configs"][mount["source"]]["content"].splitlines()


def test_every_variable_is_one_the_programs_read(compose: dict[str, Any]) -> None:
    orchestrator_known = orchestrator_env_names()
    bridge_known = bridge_env_names()
    for name in REPLICAS:
        names = set(env(compose, name))
        assert names <= orchestrator_known, names - orchestrator_known
    for name in BRIDGES:
        names = set(env(compose, name))
        assert names <= bridge_known, names - bridge_known


def test_both_sides_reach_the_nats_service_and_agree_on_the_stream(
    compose: dict[str, Any],
) -> None:
    nats_port = "4222"
    assert nats_port in compose["services"]["nats"]["expose"]
    sides = [("BRIDGE", env(compose, n)) for n in BRIDGES]
    sides += [("ORCH", env(compose, n)) for n in REPLICAS]
    for prefix, environment in sides:
        url = urlparse(environment[f"{prefix}_NATS_URL"])
        assert (url.scheme, url.hostname, str(url.port)) == ("nats", "nats", nats_port)
    # One operator knob each, the same text on every service; the contract's defaults.
    for setting, fallback in [("STREAM", "WA_EVENTS"), ("PREFIX", "wa")]:
        values = {environment[f"{prefix}_NATS_{setting}"] for prefix, environment in sides}
        assert len(values) == 1, values
        assert default(values.pop()) == fallback
    assert SUBJECT_TOKEN.match(default(env(compose, REPLICAS[0])["ORCH_NATS_PREFIX"]))
    for name in [*BRIDGES, *REPLICAS]:
        assert compose["services"][name]["depends_on"]["nats"]["condition"] == "service_healthy"


def test_two_bridge_hosts_share_the_session_and_come_back_as_standby(
    compose: dict[str, Any], single: dict[str, Any]
) -> None:
    services = compose["services"]
    hosts = [services[name] for name in BRIDGES]
    assert env(compose, BRIDGES[0]) == env(compose, BRIDGES[1])
    assert env(compose, BRIDGES[0])["BRIDGE_SESSION"] == "default"
    assert len({host["hostname"] for host in hosts}) == len(hosts)
    for host in hosts:
        # The same image as the single-machine bridge; NATS instead of ZeroMQ endpoints.
        assert host["build"] == single["services"]["bridge"]["build"]
        assert not {"BRIDGE_PUB", "BRIDGE_ROUTER"} & set(host["environment"])
        # The image's healthcheck, which reads the bridge's status file in NATS mode (a
        # standby is healthy too).
        assert host["healthcheck"]["test"] == ["CMD", "node", "src/healthcheck.js"]
        # A host that loses its lease exits (code 3); its restart makes it the standby.
        assert host["restart"] == "unless-stopped"
    # Each host's journal (what NATS has not acknowledged yet) in a volume of its own, where
    # the image keeps its data (BRIDGE_DATA_DIR).
    assert "BRIDGE_DATA_DIR=/data" in (REPO / "bridge-node" / "Dockerfile").read_text()
    mounts = [host["volumes"] for host in hosts]
    assert mounts == [[f"{name}-data:/data"] for name in BRIDGES]
    # One history setting for both programs, as in compose.yaml.
    assert env(compose, BRIDGES[0])["BRIDGE_HISTORY"] == env(compose, REPLICAS[0])["ORCH_HISTORY"]


def test_each_replica_is_its_own_and_they_share_token_and_store(
    compose: dict[str, Any], single: dict[str, Any]
) -> None:
    services = compose["services"]
    replica_ids = [env(compose, name)["ORCH_REPLICA_ID"] for name in REPLICAS]
    assert len(set(replica_ids)) == len(REPLICAS)
    assert all(SUBJECT_TOKEN.match(replica_id) for replica_id in replica_ids)
    assert len({tuple(services[name]["volumes"]) for name in REPLICAS}) == len(REPLICAS)
    first, second = (env(compose, name) for name in REPLICAS)
    assert {k: v for k, v in first.items() if k != "ORCH_REPLICA_ID"} == {
        k: v for k, v in second.items() if k != "ORCH_REPLICA_ID"
    }
    # Required, not defaulted: a replica with a token or a store of its own would split.
    for name in ("ORCH_API_TOKEN", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        assert re.fullmatch(rf"\$\{{{name}:\?.+\}}", first[name]), first[name]
    assert first["ORCH_SPAWN_BRIDGE"] == "false"
    assert not {"ORCH_BRIDGE_PUB", "ORCH_BRIDGE_ROUTER"} & set(first)
    port = first["ORCH_PORT"]
    for name in REPLICAS:
        service = services[name]
        assert service["build"] == single["services"]["orchestrator"]["build"]
        assert f"127.0.0.1:{port}/health" in service["healthcheck"]["test"][-1]
        assert f"orchestrator-{name[-1]}-data:{first['ORCH_DATA_DIR']}" in service["volumes"]
        assert "ports" not in service  # clients come through the load balancer


def test_the_load_balancer_spreads_over_both_replicas_and_passes_streams(
    compose: dict[str, Any], lb_config: str
) -> None:
    lb = compose["services"]["lb"]
    assert lb["image"].startswith("nginx:")
    port = env(compose, REPLICAS[0])["ORCH_PORT"]
    (upstream,) = re.findall(r"upstream (\w+) \{(.*?)\}", lb_config, re.S)
    servers = re.findall(r"^\s*server (\S+)", upstream[1], re.M)
    assert servers == [f"{name}:{port}" for name in REPLICAS]
    assert "least_conn" not in upstream[1] and "ip_hash" not in upstream[1]  # round-robin
    assert f"proxy_pass http://{upstream[0]};" in lb_config
    # SSE: nothing buffered; WebSocket: the upgrade passed on over HTTP/1.1.
    for directive in [
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "map $http_upgrade $connection_upgrade {",
    ]:
        assert directive in lb_config, directive
    # A send (POST) is never retried on the other replica.
    assert "non_idempotent" not in lb_config
    # The token in ?access_token= never reaches the access log.
    (log_format,) = re.findall(r"log_format (\w+) (.*?);", lb_config, re.S)
    assert "$request " not in log_format[1] and "$args" not in log_format[1]
    assert "$request_uri" not in log_format[1] and "$query_string" not in log_format[1]
    assert f"access_log /dev/stdout {log_format[0]};" in lb_config
    # Published where compose.yaml publishes the single orchestrator, and health-checked.
    listen = re.search(r"listen (\d+);", lb_config)
    assert listen is not None and lb["ports"] == [f"8080:{listen.group(1)}"]
    assert f"127.0.0.1:{listen.group(1)}/health" in " ".join(lb["healthcheck"]["test"])
    for name in REPLICAS:
        assert lb["depends_on"][name]["condition"] == "service_healthy"
