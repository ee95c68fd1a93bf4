"""The config pipeline: load -> render -> validate -> resolve.

Each step is a pure function (no network, no global state beyond imports)::

    rendered = render("node.yaml", environment="prod")  # Jinja2 -> YAML text
    config = validate(rendered)                         # YAML -> Config
    routes = resolve(config)                            # "module:fn" -> callables
    snapshot = load("node.yaml", environment="prod")    # all three
"""

from __future__ import annotations

from .errors import ConfigError, Problem
from .models import (
    AuthConfig,
    CollectionsConfig,
    NetworkConfig,
    Config,
    EngineConfig,
    GatewayConfig,
    HeartbeatConfig,
    LimitsConfig,
    LoggingConfig,
    ModelEntry,
    ObservabilityConfig,
    ModelsConfig,
    ModelRef,
    ProviderConfig,
    SearchToolConfig,
    BrowserToolConfig,
    ToolsConfig,
    NodeConfig,
    NodesConfig,
    OpenClawConfig,
    RetryConfig,
    Route,
    RouteConfig,
    ShutdownConfig,
    StorageConfig,
    FilesConfig,
    TLSConfig,
    WorkflowsConfig,
)
from .pipeline import (
    Snapshot,
    config_schema,
    default_config,
    dump_effective,
    load,
    snapshot_from_config,
)
from .render import REDACTED, Rendered, redact, render
from .resolve import ResolvedRoute, RouteTable, import_handler, resolve
from .types import (
    ByteSize,
    Duration,
    PositiveDuration,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from .validate import validate

__all__ = [
    # Pipeline
    "load",
    "render",
    "validate",
    "resolve",
    "snapshot_from_config",
    "default_config",
    "dump_effective",
    "config_schema",
    "import_handler",
    "Rendered",
    "Snapshot",
    "RouteTable",
    "ResolvedRoute",
    # Errors
    "ConfigError",
    "Problem",
    # Secrets
    "redact",
    "REDACTED",
    # Units
    "Duration",
    "PositiveDuration",
    "ByteSize",
    "parse_duration",
    "parse_size",
    "format_duration",
    "format_size",
    # Models
    "Config",
    "GatewayConfig",
    "AuthConfig",
    "TLSConfig",
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
    "EngineConfig",
    "NodesConfig",
    "OpenClawConfig",
    "ModelEntry",
    "ModelsConfig",
    "ModelRef",
    "ProviderConfig",
    "SearchToolConfig",
    "BrowserToolConfig",
    "ToolsConfig",
    "CollectionsConfig",
    "NetworkConfig",
    "LoggingConfig",
    "ObservabilityConfig",
]
