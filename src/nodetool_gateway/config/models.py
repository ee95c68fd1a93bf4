"""The config file's sections as frozen pydantic models, with their defaults.

``Config()`` is the built-in configuration. Validating with
``context={"base_dir": DIR}`` anchors relative paths at ``DIR`` (the config
file's folder); without it they stay relative to the working directory.
"""

from __future__ import annotations

import typing

import hashlib
import ipaddress
import os
import re
import socket
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ._yaml import Positions
from .types import ByteSize, Duration, PositiveDuration

__all__ = [
    "HANDLER_PATTERN",
    "AuthConfig",
    "TLSConfig",
    "GatewayConfig",
    "NodeConfig",
    "HeartbeatConfig",
    "RetryConfig",
    "LimitsConfig",
    "ShutdownConfig",
    "RouteConfig",
    "Route",
    "StorageConfig",
    "FilesConfig",
    "WorkflowsConfig",
    "OpenClawConfig",
    "EngineConfig",
    "NodesConfig",
    "ModelEntry",
    "ModelsConfig",
    "ModelRef",
    "ProviderConfig",
    "PROVIDER_TYPES",
    "SearchToolConfig",
    "BrowserToolConfig",
    "ToolsConfig",
    "CollectionsConfig",
    "NetworkConfig",
    "CodeConfig",
    "LoggingConfig",
    "ObservabilityConfig",
    "Config",
    "is_loopback",
    "STORAGE_ROOT",
    "storage_root",
    "default_storage_path",
    "node_storage_path",
]

HANDLER_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
_HANDLER = re.compile(HANDLER_PATTERN)


def _fail(title: str, errors: list[tuple[str | tuple, str, str]]) -> ValidationError:
    """Build a ValidationError located at fields, for checks that span fields.

    A model validator's ValueError would point at the whole section; this one
    points at the key to change.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError(kind, message),
                             loc=field if isinstance(field, tuple) else (field,), input=None)
            for field, kind, message in errors
        ],
    )


def _anchor(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path


def _must_exist(path: Path) -> Path:
    if not path.is_file():
        raise PydanticCustomError(
            "file_not_found",
            "File not found; relative paths are taken from the config file's folder",
        )
    return path


ConfigPath = Annotated[Path, AfterValidator(_anchor)]
ExistingFile = Annotated[Path, AfterValidator(_anchor), AfterValidator(_must_exist)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AuthConfig(_Model):
    """Credentials sent to the gateway when the node connects."""

    token: SecretStr | None = None
    token_file: ExistingFile | None = None
    # Opt-in, for gateways that cannot read the Authorization header.
    query_param: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.~-]+$")] | None = None

    @field_validator("token", "query_param", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        if v == "" or (isinstance(v, SecretStr) and v.get_secret_value() == ""):
            return None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> AuthConfig:
        if self.token is not None and self.token_file is not None:
            raise _fail(
                "AuthConfig",
                [("token_file", "token_conflict", "Set token or token_file, not both")],
            )
        return self

    def read_token(self) -> str | None:
        """The token, read from ``token_file`` when set; ``None`` when empty or unset."""
        if self.token is not None:
            return self.token.get_secret_value() or None
        if self.token_file is not None:
            return self.token_file.read_text().rstrip("\r\n") or None
        return None


class TLSConfig(_Model):
    """TLS for wss:// URLs: a CA bundle to verify the gateway, and a client cert for mTLS."""

    ca_file: ExistingFile | None = None
    cert_file: ExistingFile | None = None
    key_file: ExistingFile | None = None

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise _fail(
                "TLSConfig",
                [(missing, "tls_pair", "cert_file and key_file go together; set both or neither")],
            )
        return self

    @property
    def configured(self) -> bool:
        return any(p is not None for p in (self.ca_file, self.cert_file, self.key_file))


class OpenClawConfig(_Model):
    """How the node presents itself to an OpenClaw gateway (protocol: openclaw)."""

    command_prefix: str = Field(default="nodetool.", description="Prefix of every offered command.")
    display_name: str | None = Field(default=None, description="Shown to operators; null: the node id.")
    caps: list[str] = Field(default=["nodetool"], description="Capability categories offered.")
    identity_path: ConfigPath | None = Field(
        default=None,
        description="The device key (Ed25519, mode 0600); null: <storage.path>/openclaw/device.json.")


class GatewayConfig(_Model):
    """Which gateway to join and how."""

    url: str = "ws://127.0.0.1:8080"
    protocol: Literal["nodetool", "openclaw"] = "nodetool"
    auth: AuthConfig = Field(default={}, validate_default=True)
    tls: TLSConfig = Field(default={}, validate_default=True)
    openclaw: OpenClawConfig = Field(default={}, validate_default=True)
    # Plain ws:// leaves the machine unencrypted, token included.
    allow_insecure: bool = False

    # Timeouts and limits
    open_timeout: PositiveDuration = 10.0
    max_message_size: Annotated[ByteSize, Field(ge=1)] = 16 * 1024 * 1024

    @field_validator("url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("ws", "wss"):
            raise PydanticCustomError("url_scheme", "URL should start with ws:// or wss://")
        try:
            parts.port
        except ValueError:
            raise PydanticCustomError("url_port", "URL has an invalid port") from None
        if not parts.hostname:
            raise PydanticCustomError(
                "url_host", "URL should include a host, e.g. ws://127.0.0.1:8080"
            )
        return v

    @model_validator(mode="after")
    def _transport(self) -> GatewayConfig:
        parts = urlsplit(self.url)
        errors = []
        remote = not is_loopback(parts.hostname or "")
        if parts.scheme == "ws" and remote and not self.allow_insecure:
            message = (
                "ws:// to a host that is not loopback is unencrypted; "
                "use wss:// or set gateway.allow_insecure: true "
                "(connect --allow-insecure; GatewayClient(..., allow_insecure=True))"
            )
            errors.append(("url", "insecure_url", message))
        if parts.scheme == "ws" and self.tls.configured:
            errors.append(("tls", "tls_needs_wss", "tls settings need a wss:// url"))
        if errors:
            raise _fail("GatewayConfig", errors)
        return self

    def token(self) -> str | None:
        """The auth token (read from ``auth.token_file`` when set), or ``None``."""
        return self.auth.read_token()

    @property
    def public_url(self) -> str:
        """The URL as logs show it: no user or password, query values masked."""
        parts = urlsplit(self.url)
        netloc = parts.netloc.rpartition("@")[2]
        query = "&".join(f"{k.partition('=')[0]}=***" for k in parts.query.split("&") if k)
        return parts._replace(netloc=netloc, query=query).geturl()

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for a ``wss://`` URL (its CA and client certificate), else None."""
        if not self.url.startswith("wss://"):
            return None
        tls = self.tls
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
        if tls.cert_file:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
        return ctx


def _default_node_id() -> str:
    return f"node-{socket.gethostname()}"


def _int_to_str(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class NodeConfig(_Model):
    """How this node names itself to the gateway."""

    id: Annotated[str, StringConstraints(min_length=1)] = Field(default_factory=_default_node_id)
    user_id: Annotated[str, BeforeValidator(_int_to_str, json_schema_input_type=str | int)] = "1"
    metadata: dict[str, Any] = {}


class HeartbeatConfig(_Model):
    """Keepalive: how often to ping, and how long to wait before giving up on the gateway."""

    interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 60.0


class RetryConfig(_Model):
    """Reconnect backoff.

    The back-off step is ``initial_delay`` for the first ``hold_attempts``
    retries (a short outage, such as a gateway restart, is over in one or two
    of them); after that each step is ``multiplier`` times the last, up to
    ``max_delay``, and never more than half of what the node has waited since it
    lost the gateway (so a gateway back after T is found within about T/2). Every wait, the first after a lost connection included, is
    its step shortened by a random fraction of up to ``jitter``: the default
    1.0 is full jitter (uniform in [0, step]), so a fleet of nodes does not
    come back all at once; 0 makes the waits fixed. No wait is ever longer
    than its step.

    A gateway that refuses the upgrade for load (HTTP 503 or 429) gets a wait
    that does not grow the step: its ``Retry-After`` plus a random share of
    ``initial_delay``, or without one a random share of ``initial_delay *
    multiplier``, both capped at ``max_delay``. Every failure, refusals
    included, counts towards ``max_attempts``; a registration resets the count
    and the step.
    """

    initial_delay: Duration = 1.0
    hold_attempts: Annotated[int, Field(ge=0)] = 3
    max_delay: Duration = 60.0
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    jitter: Annotated[float, Field(ge=0, le=1, description=(
        "Each wait is shortened by a random fraction of up to this: 1.0 (full jitter) "
        "waits a uniform share of the step, 0 the whole step."))] = 1.0
    max_attempts: Annotated[int, Field(ge=1)] | None = None  # None: forever

    @model_validator(mode="after")
    def _order(self) -> RetryConfig:
        if self.max_delay < self.initial_delay:
            raise _fail(
                "RetryConfig",
                [("max_delay", "delay_order", "max_delay should be at least initial_delay")],
            )
        return self


class LimitsConfig(_Model):
    """Bounds on work in flight and on memory."""

    max_concurrency: Annotated[int, Field(ge=1)] = 32
    max_pending: Annotated[int, Field(ge=1)] = 1000
    outbox_max_messages: Annotated[int, Field(ge=1)] = 10000
    remember_answers: Annotated[int, Field(ge=1)] = 10000
    default_timeout: PositiveDuration = 600.0


class ShutdownConfig(_Model):
    """How long running calls may finish after a stop is asked for."""

    grace: Duration = 30.0


class RouteConfig(_Model):
    """One handler: ``module:function``, with an optional timeout and concurrency cap."""

    handler: str = Field(json_schema_extra={"pattern": HANDLER_PATTERN})
    timeout: PositiveDuration | None = None  # None: limits.default_timeout
    concurrency: Annotated[int, Field(ge=1)] | None = None  # None: only limits.max_concurrency
    # A plain ``def`` handler runs in a worker thread so it cannot stall the node;
    # ``blocking: false`` says it is quick and runs it on the event loop instead.
    blocking: bool = True

    @field_validator("handler")
    @classmethod
    def _import_string(cls, v: str) -> str:
        if not _HANDLER.match(v):
            raise PydanticCustomError(
                "handler_string",
                "Handler should be written module:function, e.g. my_package.handlers:on_message",
            )
        return v


def _shorthand(v: Any) -> Any:
    return {"handler": v} if isinstance(v, str) else v


Route = Annotated[
    RouteConfig | None,
    BeforeValidator(
        _shorthand,
        json_schema_input_type=Annotated[str, StringConstraints(pattern=HANDLER_PATTERN)]
        | RouteConfig
        | None,
    ),
]
"""A route: ``"module:function"``, a :class:`RouteConfig` mapping, or ``None`` (disabled)."""


# Where nodes keep their data without XDG_DATA_HOME (see storage_root).
STORAGE_ROOT = Path("~/.local/share/nodetool-gateway")
# What an installation from before per-node folders left directly in STORAGE_ROOT.
_LEGACY_FILES = ("nodetool-gateway.db", "openclaw/device.json")


def _folder_name(node_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", node_id).lstrip(".")[:80] or "_"
    if name != node_id:  # two ids must not meet in one folder ("a/b" and "a_b")
        name += "-" + hashlib.sha256(node_id.encode()).hexdigest()[:8]
    return name


def storage_root() -> Path:
    """``$XDG_DATA_HOME/nodetool-gateway``, else ``~/.local/share/nodetool-gateway``.

    A relative XDG_DATA_HOME is ignored, as the XDG spec says.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "nodetool-gateway"
    return STORAGE_ROOT.expanduser()


def node_storage_path(node_id: str) -> Path:
    """The node's own folder: ``storage_root()/nodes/<node id>``."""
    return storage_root() / "nodes" / _folder_name(node_id)


def default_storage_path(node_id: str) -> Path:
    """Where a node keeps its data when ``storage.path`` is not set.

    ``storage_root()/nodes/<node id>`` (``~/.local/share/nodetool-gateway/...`` unless
    XDG_DATA_HOME is set): nodes on one machine do not share a database. An
    installation from before per-node folders (a database or an OpenClaw device key
    directly in the root) keeps the root until the node's own folder exists; nothing
    is moved (the backend says so in one INFO line).
    """
    root = storage_root()
    own = node_storage_path(node_id)
    if not own.exists() and any((root / name).exists() for name in _LEGACY_FILES):
        return root
    return own


class StorageConfig(_Model):
    """Where jobs, logs and assets are kept (SQLite and files).

    Inside a :class:`Config`, a missing ``path`` is :func:`default_storage_path` of
    the node id.
    """

    path: ConfigPath = Field(default=STORAGE_ROOT, validate_default=True,
                             description="null/unset: $XDG_DATA_HOME (default ~/.local/share)"
                                         "/nodetool-gateway/nodes/<node.id>")


class FilesConfig(_Model):
    """Folders on disk that file node types may read and write, besides the asset store.

    Node types that name a file (``SaveJSON``, ``LoadTextFolder``, ``lib.os.*``, ...) take a
    relative name as a path in the node's asset store, and an absolute one (or ``~/...``)
    only inside a folder listed here; ``..`` and symbolic links that lead out are refused.
    """

    allow: typing.List[ConfigPath] = Field(  # noqa: UP006
        default=[], description="Folders node types may read and write (with everything "
                                "under them); relative paths are taken from the config "
                                "file's folder. Empty: only the asset store.")


class WorkflowsConfig(_Model):
    """Folders of NodeTool workflow JSON files."""

    paths: list[ConfigPath] = Field(default=[Path("./workflows")], validate_default=True)


class EngineConfig(_Model):
    """Bounds on the workflows this node runs."""

    max_nodes: Annotated[int, Field(ge=1)] = 20000
    max_edges: Annotated[int, Field(ge=1)] = 100000
    max_run_time: PositiveDuration | None = 3600.0  # None: no limit
    isolation: Literal["process", "inline"] = Field(
        default="process",
        description="process: runs execute in worker processes, killed and replaced when a run "
                    "overstays max_run_time or a cancel; inline: on the node's own event loop "
                    "(no isolation; for embedding and debugging).")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        default=2, description="Worker processes at most, started as runs need them.")
    max_concurrent_runs: Annotated[int, Field(ge=1)] = Field(
        default=16, description="Runs at once (run_workflow and background jobs together); "
                                "more wait for a slot.")
    max_background_jobs: Annotated[int, Field(ge=1)] = Field(
        default=100, description="Background jobs running or waiting; more are refused BUSY.")
    max_value_size: Annotated[ByteSize, Field(ge=1024)] = Field(
        default=16 * 1024 * 1024,
        description="Largest value (one event, or a run's outputs) a run may produce; a run "
                    "that produces a bigger one fails. Process isolation only.")


class NodesConfig(_Model):
    """Where node types come from besides the built-in library."""

    modules: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")]] = Field(
        default=[], description="Python modules whose node types are registered (e.g. my_nodes).")


class ModelEntry(_Model):
    """A model the node has, listed by hand."""

    id: Annotated[str, StringConstraints(min_length=1)]
    name: str | None = None
    type: str = "model"
    provider: str = "local"
    path: ConfigPath | None = None


class ModelsConfig(_Model):
    """Where list_models looks."""

    hf_cache: ConfigPath | None = Field(
        default=None, description="Hugging Face hub cache; null: HF_HUB_CACHE / HF_HOME / the default.")
    ollama_url: str | None = Field(
        default=None, description="Ollama's URL; null: OLLAMA_API_URL when set, else no Ollama.")
    # typing.List: inside this class body the name `list` is the field.
    list: typing.List[ModelEntry] = []  # noqa: UP006
    default_language_model: Annotated[
        ModelRef | None, BeforeValidator(_model_ref, json_schema_input_type=str | ModelRef | None)
    ] = Field(default=None, description="Fills the model a workflow leaves empty: provider:model_id.")


def _model_ref(v: Any) -> Any:
    # "provider:model" is the short form of {provider, id}.
    if isinstance(v, str):
        provider, sep, model = v.partition(":")
        if not sep or not provider or not model:
            raise PydanticCustomError(
                "model_ref", "Write the model as provider:model_id, e.g. openai:gpt-4o-mini")
        return {"provider": provider, "id": model}
    return v


class ModelRef(_Model):
    """A language model: which configured provider serves it, under which id."""

    provider: Annotated[str, StringConstraints(min_length=1)]
    id: Annotated[str, StringConstraints(min_length=1)]


PROVIDER_TYPES = ("openai", "anthropic", "ollama")


class ProviderConfig(_Model):
    """A language-model provider: an OpenAI-compatible server, Anthropic, or Ollama.

    ``type`` may be left out when the provider's name is ``openai``,
    ``anthropic`` or ``ollama``. ``api_key`` left empty falls back to
    NodeTool's variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) only for
    the vendor's own API (no ``base_url``), so a hosted key never reaches a
    local server; ``ollama`` without ``base_url`` reads ``OLLAMA_API_URL``.
    """

    type: Literal["openai", "anthropic", "ollama"] | None = Field(
        default=None, description="openai (any OpenAI-compatible server), anthropic, or ollama; "
                                  "null: the provider's name.")
    base_url: str | None = Field(default=None, description="null: the vendor's own API.")
    api_key: SecretStr | None = Field(default=None, description="Use secret(); null: see above.")
    timeout: PositiveDuration = Field(default=300.0, description="Whole request, streamed or not.")
    connect_timeout: PositiveDuration = 10.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = Field(
        default=2, description="Retries of a refused or rate-limited call (retry-after honoured).")
    concurrency: Annotated[int, Field(ge=1)] = Field(
        default=4, description="Calls to this provider at once; more wait their turn.")
    max_output_tokens: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Caps the tokens any one call may generate (a node's max_tokens "
                                  "above it is lowered); null: the node's own.")
    models: typing.List[Annotated[str, StringConstraints(min_length=1)]] = Field(  # noqa: UP006
        default=[], description="The models it serves; empty: ask the server (/v1/models).")
    aliases: dict[str, Annotated[str, StringConstraints(min_length=1)]] = Field(
        default={}, description="NodeTool model id -> the id this provider serves; '*': any other.")

    @field_validator("api_key", "base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        if v == "" or (isinstance(v, SecretStr) and v.get_secret_value() == ""):
            return None
        return v

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PydanticCustomError(
                "provider_url", "base_url should be an http:// or https:// URL, "
                                "e.g. http://127.0.0.1:11434/v1")
        return v.rstrip("/")


class SearchToolConfig(_Model):
    """The web search agents use (``google_search``): a SearXNG instance, Brave or Serper."""

    provider: Literal["searxng", "brave", "serper"]
    base_url: str | None = Field(default=None, description="Required for searxng.")
    api_key: SecretStr | None = None
    timeout: PositiveDuration = 20.0
    max_results: Annotated[int, Field(ge=1, le=50)] = 8

    @model_validator(mode="after")
    def _needs(self) -> SearchToolConfig:
        if self.provider == "searxng" and not self.base_url:
            raise _fail("SearchToolConfig",
                        [("base_url", "search_url", "searxng needs base_url, e.g. http://127.0.0.1:8888")])
        if self.provider != "searxng" and self.api_key is None:
            raise _fail("SearchToolConfig",
                        [("api_key", "search_key", f"{self.provider} needs api_key (use secret())")])
        return self


class BrowserToolConfig(_Model):
    """The page fetcher agents use (``browser``)."""

    enabled: bool = True
    timeout: PositiveDuration = 20.0
    max_bytes: Annotated[ByteSize, Field(ge=1024)] = 2 * 1024 * 1024
    # Loopback and private addresses are refused unless allowed: an agent follows links
    # a model made up, and must not reach the node's own network by them.
    allow_private: bool = False


class ToolsConfig(_Model):
    """What agents may use besides the model."""

    search: SearchToolConfig | None = None
    browser: BrowserToolConfig = Field(default={}, validate_default=True)


def _network_entry(v: Any) -> Any:
    # An IP address, a network (10.0.0.0/8), a host name, or *.domain for its subdomains.
    if not isinstance(v, str) or not v.strip():
        raise PydanticCustomError("network_entry", "Write an IP address, a network such as "
                                                   "10.0.0.0/8, a host name, or *.example.com")
    v = v.strip().lower()
    try:
        ipaddress.ip_network(v, strict=False)
        return v
    except ValueError:
        pass
    if not re.fullmatch(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?", v):
        raise PydanticCustomError("network_entry", "Not an IP address, a network such as "
                                                   "10.0.0.0/8, a host name, or *.example.com")
    return v


NetworkEntry = Annotated[str, BeforeValidator(_network_entry)]


class NetworkConfig(_Model):
    """What the web node types (``lib.http.*``, ``lib.rss.*``) may reach.

    Loopback, private, link-local and other non-public addresses are refused unless
    ``allow`` names them; ``deny`` refuses more (``0.0.0.0/0`` and ``::/0``: everything
    not allowed). Every address a host resolves to is checked, at each redirect.
    """

    allow: typing.List[NetworkEntry] = Field(  # noqa: UP006
        default=[], description="Hosts or networks always allowed, e.g. 127.0.0.1, "
                                "10.0.0.0/8, intranet.example.com, *.example.com.")
    deny: typing.List[NetworkEntry] = Field(  # noqa: UP006
        default=[], description="Hosts or networks refused unless allowed.")
    timeout: PositiveDuration = Field(default=30.0, description="Whole request, per hop.")
    max_response_size: Annotated[ByteSize, Field(ge=1024)] = Field(
        default=32 * 1024 * 1024, description="Largest response body a node reads.")
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5


class CodeConfig(_Model):
    """Running Python snippets (``nodetool.code.ExecutePython``); off unless turned on.

    A snippet runs in its own ``python -I`` process, in an empty temporary folder, with
    an environment built from scratch (no secrets), killed at ``timeout``; but it has the
    file and network access of the user the node runs as.
    """

    execute_python: bool = Field(
        default=False, description="Let workflows run Python code with the node user's "
                                   "file and network access.")
    timeout: PositiveDuration = Field(default=30.0, description="Wall-clock time per snippet.")
    memory: Annotated[ByteSize, Field(ge=64 * 1024 * 1024)] = Field(
        default=512 * 1024 * 1024, description="Address space per snippet (RLIMIT_AS); also "
                                               "the largest file it may write.")
    max_output: Annotated[ByteSize, Field(ge=1024)] = Field(
        default=1024 * 1024, description="stdout and stderr together per snippet; more "
                                         "stops it.")


class CollectionsConfig(_Model):
    """ChromaDB's persistent store (needs the 'chroma' extra)."""

    path: ConfigPath | None = Field(default=None, description="null: <storage.path>/chroma")


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


class LoggingConfig(_Model):
    """Log level and format."""

    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        BeforeValidator(_upper),
    ] = "INFO"
    format: Literal["text", "json"] = "text"


_LISTEN_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$"
_LISTEN = re.compile(_LISTEN_PATTERN)


class ObservabilityConfig(_Model):
    """Health and metrics over HTTP: /healthz, /readyz and /metrics (off unless ``listen``)."""

    listen: str | None = Field(
        default=None, json_schema_extra={"pattern": _LISTEN_PATTERN},
        description="HOST:PORT to serve them on, e.g. 127.0.0.1:9464 ([::1]:9464 for IPv6; "
                    "port 0 picks a free one); null: off. No authentication: keep it on "
                    "loopback or a private network.")

    @field_validator("listen", mode="before")
    @classmethod
    def _host_port(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        if not isinstance(v, str) or not _LISTEN.match(v) or int(v.rpartition(":")[2]) > 65535:
            raise PydanticCustomError(
                "listen_address",
                "Write the address as HOST:PORT, e.g. 127.0.0.1:9464 ([::1]:9464 for IPv6)")
        if v.startswith("["):
            try:
                ipaddress.IPv6Address(v[1:v.index("]")])
            except ValueError:
                raise PydanticCustomError(
                    "listen_address", "Not an IPv6 address between the brackets") from None
        return v

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to bind, brackets removed; ``None`` when off."""
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _section(**kwargs: Any) -> Any:
    # Validating the empty mapping (instead of a default_factory) lets defaults
    # see the validation context, so default relative paths anchor like given ones.
    return Field(default={}, validate_default=True, **kwargs)


class Config(_Model):
    """The whole config file. ``Config()`` is the built-in configuration."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="nodetool-gateway config",
        json_schema_extra={"description": "The config file of `nodetool-gateway run`."},
    )

    gateway: GatewayConfig = _section()
    node: NodeConfig = _section()
    heartbeat: HeartbeatConfig = _section()
    retry: RetryConfig = _section()
    limits: LimitsConfig = _section()
    shutdown: ShutdownConfig = _section()
    routes: dict[str, Route] = Field(default={}, description="Message type -> route (null: off).")
    commands: dict[str, Route] = Field(default={}, description="Command name -> route (null: off).")
    storage: StorageConfig = _section()
    files: FilesConfig = _section()
    workflows: WorkflowsConfig = _section()
    engine: EngineConfig = _section()
    nodes: NodesConfig = _section()
    models: ModelsConfig = _section()
    providers: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")], ProviderConfig] | None = Field(
        default=None, description="Language-model providers by name; null: those NodeTool's "
                                  "variables name (OPENAI_API_KEY, ANTHROPIC_API_KEY, OLLAMA_API_URL).")
    tools: ToolsConfig = _section()
    collections: CollectionsConfig = _section()
    network: NetworkConfig = _section()
    code: CodeConfig = _section()
    logging: LoggingConfig = _section()
    observability: ObservabilityConfig = _section()

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # "retry:" with every child commented out parses as null; read it as {}.
        # A section whose default is null (providers: from the environment) keeps null.
        if isinstance(data, dict):
            fields = cls.model_fields
            data = {k: {} if v is None and k in fields and fields[k].default is not None else v
                    for k, v in data.items()}
            storage = data.get("storage", {})
            if isinstance(storage, dict) and storage.get("path") is None:
                node = data.get("node")
                node_id = node.get("id") if isinstance(node, dict) else None
                if not isinstance(node_id, str) or not node_id:
                    node_id = _default_node_id()  # a bad id is reported by its own field
                data["storage"] = {**storage, "path": default_storage_path(node_id)}
        return data

    @model_validator(mode="after")
    def _provider_names(self) -> Config:
        errors: list[tuple[str | tuple, str, str]] = []
        providers = self.providers or {}
        for name, provider in providers.items():
            if provider.type is None and name not in PROVIDER_TYPES:
                errors.append((("providers", name, "type"), "provider_type",
                               f"Set type (openai, anthropic or ollama): the name {name!r} is not one"))
        default = self.models.default_language_model
        if default is not None and self.providers is not None and default.provider not in providers:
            known = ", ".join(providers) or "none"
            errors.append((("models", "default_language_model"), "unknown_provider",
                           f"No provider named {default.provider!r} under providers (configured: {known})"))
        if errors:
            raise _fail("Config", errors)
        return self

    # Where each key came from, when validated from a file (see validate()).
    _origin: Positions | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # Two configs with the same settings are equal wherever their keys sat.
        if not isinstance(other, Config):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # metadata is a dict
