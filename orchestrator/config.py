"""Settings, read once from the environment at start and passed down as one object."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orchestrator.filter_settings import HistorySetting, IgnoreSetting
from orchestrator.normalize.filters import (
    HistoryPolicy,
    IgnoreKind,
    Options,
    parse_history,
    parse_ignore,
)
from orchestrator.shapes import SessionId

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BRIDGE_SCRIPT = REPO_ROOT / "bridge-node" / "src" / "main.js"


LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")
# Stream names, subject prefixes and replica ids become parts of NATS subjects and bucket names.
NATS_NAME = r"^[A-Za-z0-9_-]+$"


def default_replica_id() -> str:
    """This host's name, reduced to what a NATS name may hold."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64] or "orchestrator"


def leaves_the_machine(endpoint: str) -> bool:
    """tcp:// to anything but loopback; ipc:// and inproc:// never leave the machine."""
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0]
    return not (host.startswith("127.") or host in LOOPBACK_HOSTS)


class DeclaredBridge(BaseModel):
    pub: str
    router: str


class DeclaredSession(BaseModel):
    """A WhatsApp number the deployment declares (ORCH_SESSIONS), e.g. one bridge container
    per number in compose: created at start if it is not there yet."""

    id: SessionId
    name: str | None = None
    bridge: DeclaredBridge | None = None
    proxy: str | None = None


class Settings(BaseSettings):
    """Every orchestrator setting. Environment names are the field names with `ORCH_` in front."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    api_token: SecretStr | None = None
    """The API's bearer token. Unset: one is made once and kept in `data_dir/api-token`."""
    data_dir: Path = Path("data")
    log_level: str = "info"

    bridge_pub: str = "tcp://127.0.0.1:5555"
    bridge_router: str = "tcp://127.0.0.1:5556"
    spawn_bridge: bool = False
    """Run the Node bridge as a child process, restarted when it dies (what `make run` uses)."""
    bridge_command: str = f"node {DEFAULT_BRIDGE_SCRIPT}"

    bridge_curve_server_key: str | None = None
    """The bridge's CURVE public key (Z85): the link is encrypted and the bridge authenticated.
    Required when the bridge is not on this machine (make curve-keys)."""
    curve_public_key: str | None = None
    curve_secret_key: SecretStr | None = None
    """Our own CURVE key pair, which the bridge may require (BRIDGE_CURVE_CLIENTS)."""
    bridge_heartbeat_timeout: float = Field(3.0, gt=0)
    """Silence after which the bridge is declared dead: three missed one-second heartbeats."""
    command_timeout: float = Field(10.0, gt=0)
    replay_page: int = Field(2000, ge=1, le=10000)

    reconnect_initial: float = Field(1.0, gt=0)
    reconnect_max: float = Field(60.0, gt=0)
    reconnect_stable_after: float = Field(30.0, ge=0)
    """An open connection that lasts this long resets the reconnect backoff."""
    qr_rounds: int = Field(5, ge=1)
    """QR sessions issued in a row before we stop and wait for someone to ask again."""
    qr_viewer_window: float = Field(120.0, ge=0)
    qr_terminal: bool | None = None
    """Draw each new QR in the terminal; unset: when stderr is one (as with `make run`)."""
    watchdog_timeout: float = Field(90.0, gt=0)
    """Open, but nothing from WhatsApp for this long: reconnect (the connected-but-silent case)."""
    respawn_initial: float = Field(0.5, gt=0)
    respawn_max: float = Field(30.0, gt=0)

    nats_url: str | None = None
    """NATS with JetStream (nats://host:4222): the bridges' events, commands and leases go
    through it instead of ZeroMQ (issue #15). Unset: ZeroMQ, nothing else to run."""
    nats_stream: str = Field("WA_EVENTS", pattern=NATS_NAME)
    nats_prefix: str = Field("wa", pattern=NATS_NAME)
    """Subjects are `<prefix>.<session>.events|heartbeat|cmd`."""
    nats_max_age_s: int = Field(604_800, ge=1)
    nats_max_bytes: int = Field(1_073_741_824, ge=1)
    nats_replicas: int = Field(1, ge=1, le=5)
    """The stream's limits and replicas: the same as the bridges' (whichever starts first
    creates the stream, the other updates it to these)."""
    replica_id: str = Field(default_factory=default_replica_id, pattern=NATS_NAME)
    """This orchestrator among replicas (default: from the host name)."""

    chat_window: int = Field(500, ge=1)
    """Newest messages kept in RAM per chat."""
    max_messages: int = Field(500_000, ge=1)
    """Messages kept in RAM over all chats; the least recently active chats give theirs first."""
    stream_retention: int = Field(100_000, ge=1)
    """Stream events kept for clients to resume from (also bounded by stream_retention_seconds)."""
    stream_retention_seconds: float = Field(6 * 3600, gt=0)
    stream_log_stored: bool = True
    """Keep the stream log's entries in the store too (within the retention above), so that a
    restart resumes every retained position exactly instead of sending `resync`."""
    stream_send_timeout: float = Field(10.0, gt=0)
    """A stream client whose write does not complete in this time is dropped."""
    sse_ping_interval: float = Field(15.0, gt=0)
    poll_max_timeout: float = Field(60.0, gt=0)
    media_max_bytes: int = Field(16 * 1024 * 1024, ge=1)
    media_link_ttl: int = Field(24 * 3600, ge=60)
    """How long a signed media link (`media.url`) stays valid, in seconds (3/4 of it at least).
    Keep it above stream_retention_seconds: a replayed event's links must still work."""
    picture_ttl: float = Field(3600.0, ge=0)
    store_flush_interval: float = Field(0.2, gt=0)
    """How often changes are written to the store, in one batch."""
    store_max_pending: int = Field(50_000, ge=1)
    """Rows held while the store is down before they spill to a file under data_dir."""
    send_rate: float = Field(1.0, gt=0)
    """Messages per second this WhatsApp number sends at most, sustained (token bucket)."""
    send_burst: int = Field(20, ge=1)
    send_queue: int = Field(500, ge=1)
    """Sends waiting their turn before POST /send answers 429."""
    media_url_allowlist: str = ""
    """Comma-separated hosts that media URLs may name even when they resolve to private or
    loopback addresses (everything else must resolve to public addresses: SSRF guard)."""
    webhook_concurrency: int = Field(4, ge=1, le=64)
    """Requests in flight per webhook endpoint unless it sets its own (one per chat at most)."""
    webhook_timeout: float = Field(10.0, gt=0)
    """Seconds a webhook receiver has to answer a delivery before it counts as failed."""
    webhook_retry_initial: float = Field(1.0, gt=0)
    webhook_retry_max: float = Field(3600.0, gt=0)
    """A failed delivery waits a random time up to min(max, initial * 2^(attempt-1)) (full
    jitter), and at least the receiver's Retry-After."""
    webhook_retry_horizon: float = Field(86_400.0, gt=0)
    """A delivery still failing this long after its first attempt goes to the dead letters; an
    endpoint that failed every delivery for this long is disabled."""
    webhook_secret_overlap: float = Field(86_400.0, ge=0)
    """How long a rotated webhook secret still signs deliveries beside the new one."""
    webhook_retention: float = Field(7 * 86_400.0, gt=0)
    """How long delivered and dead deliveries, and the outbox events they name, are kept."""
    cors_origins: str = ""
    """Comma-separated origins allowed to call the API from a browser ("" = none, "*" = any)."""
    auth_failures_per_minute: int = Field(30, ge=1)
    """Failed authentications from one address per minute before it gets 429."""
    startup_timeout: float = Field(30.0, ge=0)
    """How long to wait for the first catch-up with the bridge before serving anyway."""
    reject_calls: bool = False
    """Decline every incoming WhatsApp call as it rings (Baileys' rejectCall)."""
    call_reject_message: str | None = Field(None, min_length=1, max_length=4096)
    """With reject_calls: the text sent to the caller of each rejected call (paced as a send)."""
    mark_online_on_connect: bool = False
    """Baileys' markOnlineOnConnect for a spawned bridge (BRIDGE_MARK_ONLINE_ON_CONNECT): the
    account shows online on connect, and the phone then stops getting notifications."""
    history: HistorySetting = "recent"
    """What the first history sync brings: full, recent, none, or days:N (recent, and only the
    messages of the last N days are kept). A spawned bridge gets it as BRIDGE_HISTORY."""
    ignore: IgnoreSetting = ""
    """Comma list of groups, status, newsletters, broadcasts: their events are dropped."""

    jwks_url: str | None = None
    """Where user tokens' public keys are; unset: `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`."""
    supabase_jwt_secret: SecretStr | None = Field(None, validation_alias="SUPABASE_JWT_SECRET")
    """Verifies HS256 user tokens (Supabase's legacy JWT secret)."""
    supabase_url: str | None = Field(None, validation_alias="SUPABASE_URL")
    supabase_anon_key: str | None = Field(None, validation_alias="SUPABASE_ANON_KEY")
    """The project's public (anon) key: with SUPABASE_URL, the console signs users in with
    email and password through Supabase Auth (GET /console/config hands both to it). Public by
    design, but not logged all the same."""
    supabase_service_role_key: SecretStr | None = Field(
        None, validation_alias="SUPABASE_SERVICE_ROLE_KEY"
    )

    media_s3_url: str | None = None
    """An S3-compatible endpoint (http://minio:9000, https://s3.eu-west-1.amazonaws.com):
    media is kept in ORCH_MEDIA_S3_BUCKET instead of data_dir/media. Unset: the local directory."""
    media_s3_bucket: str | None = None
    media_s3_access_key: str | None = None
    media_s3_secret_key: SecretStr | None = None
    """Both keys, or neither (boto3's own chain then: AWS_* variables, an instance role)."""
    media_s3_region: str = "us-east-1"
    media_s3_presign: bool = False
    """`media.url` answers 302 to a presigned URL of the object instead of passing the bytes
    through; the bucket must then be reachable by clients (see media_s3_public_url)."""
    media_s3_public_url: str | None = None
    """The endpoint as clients reach it, for presigned URLs (default: media_s3_url)."""
    media_s3_retention_days: float | None = Field(None, gt=0)
    """Objects older than this are deleted by a sweep at start and then hourly. Unset: kept."""
    sessions: list[DeclaredSession] = Field(default_factory=list)
    """More WhatsApp numbers, as JSON: [{"id","name"?,"bridge"?: {"pub","router"},"proxy"?}].
    Each is there at every start (like one made with POST /sessions, but from configuration)."""

    @model_validator(mode="after")
    def _media_s3_complete(self) -> Settings:
        if self.media_s3_url is None:
            return self
        for name, url in (("URL", self.media_s3_url), ("PUBLIC_URL", self.media_s3_public_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"ORCH_MEDIA_S3_{name} must be an http:// or https:// URL")
        if not self.media_s3_bucket:
            raise ValueError("ORCH_MEDIA_S3_URL is set: ORCH_MEDIA_S3_BUCKET is required")
        if (self.media_s3_access_key is None) != (self.media_s3_secret_key is None):
            raise ValueError(
                "set both ORCH_MEDIA_S3_ACCESS_KEY and ORCH_MEDIA_S3_SECRET_KEY, or neither"
            )
        return self

    @property
    def max_body_bytes(self) -> int:
        """A request body's limit: the base64 of the largest media, and room for the rest."""
        return self.media_max_bytes * 4 // 3 + 65_536

    @property
    def bridge_data_dir(self) -> Path:
        return self.data_dir / "bridge"

    @property
    def history_policy(self) -> HistoryPolicy:
        return parse_history(self.history)

    @property
    def ignore_kinds(self) -> frozenset[IgnoreKind]:
        return parse_ignore(self.ignore)

    @property
    def normalize_options(self) -> Options:
        return Options(ignore=self.ignore_kinds, history=self.history_policy)

    def leaves_unencrypted(self, endpoint: str) -> bool:
        """A bridge endpoint ZeroMQ would reach across the network without CURVE."""
        return self.bridge_curve_server_key is None and leaves_the_machine(endpoint)

    def unsafe_bridge_endpoints(self) -> list[str]:
        """Bridge endpoints that leave this machine with no encryption configured."""
        declared = [e for s in self.sessions if s.bridge for e in (s.bridge.pub, s.bridge.router)]
        return [
            e
            for e in (self.bridge_pub, self.bridge_router, *declared)
            if self.leaves_unencrypted(e)
        ]

    @property
    def user_jwks_url(self) -> str | None:
        if self.jwks_url:
            return self.jwks_url
        if self.supabase_url:
            return f"{self.supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json"
        return None
