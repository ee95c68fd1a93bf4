"""The tools agent nodes may hand a model, by NodeTool's tool names, and their checks.

A tool whose provider the node's config lacks is a validation error that says
what to configure, never a silent skip.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ...providers import ToolSpec

__all__ = ["tool_names", "tool_problems", "build_tools", "Tool"]

# What each NodeTool tool needs here, said the way a user fixes it.
_KNOWN = {
    "google_search": "a search engine: set tools.search in the node's config "
                     "(provider searxng, brave or serper)",
    "browser": "the page fetcher: tools.browser.enabled must be true",
}
_TOOL_RESULT_LIMIT = 12000  # characters of a tool's result sent back to the model


class Tool:
    """A tool spec and the coroutine that runs it."""

    __slots__ = ("spec", "run")

    def __init__(self, spec: ToolSpec, run: Callable[[dict[str, Any]], Awaitable[Any]]):
        self.spec = spec
        self.run = run

    async def call(self, arguments: dict[str, Any]) -> str:
        """The tool's result as JSON text for the model; a failure is reported, not raised."""
        from ...providers.web import ToolError

        try:
            result = await self.run(arguments)
        except ToolError as exc:
            result = {"error": str(exc)}
        except (TypeError, ValueError, KeyError) as exc:
            result = {"error": f"bad arguments for {self.spec.name}: {exc}"}
        text = json.dumps(result, ensure_ascii=False, default=str)
        return text if len(text) <= _TOOL_RESULT_LIMIT else text[:_TOOL_RESULT_LIMIT] + "…"


def tool_names(tools: Any) -> list[str]:
    """Names from NodeTool's ``[{"type": "tool_name", "name": ...}]`` (or plain strings)."""
    names: list[str] = []
    for item in tools or ():
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def tool_problems(tools: Any, services: Any) -> list[str]:
    """What keeps these tools from working on this node (each a whole sentence)."""
    cfg = getattr(services, "tools", None)
    problems = []
    for name in tool_names(tools):
        if name not in _KNOWN:
            problems.append(f"tool {name!r} is not available on this node (available: "
                            f"{', '.join(_KNOWN)})")
        elif name == "google_search" and (cfg is None or cfg.search is None):
            problems.append(f"tool 'google_search' needs {_KNOWN[name]}")
        elif name == "browser" and (cfg is None or not cfg.browser.enabled):
            problems.append(f"tool 'browser' needs {_KNOWN[name]}")
    return problems


def build_tools(tools: Any, services: Any, log: Callable[[str], None]) -> list[Tool]:
    """The tools named, ready to call (checked by :func:`tool_problems` beforehand)."""
    from ...providers.web import WebSearch, fetch_page

    problems = tool_problems(tools, services)
    if problems:
        raise ValueError("; ".join(problems))
    cfg = services.tools
    built: list[Tool] = []
    for name in tool_names(tools):
        if name == "google_search":
            engine = WebSearch(cfg.search)

            async def search(args: dict[str, Any], engine=engine) -> Any:
                query = str(args.get("keyword") or args.get("query") or args.get("input") or "")
                if not query:
                    raise ValueError("keyword is required")
                log(f"google_search: {query!r}")
                return {"success": True, "results": await engine.search(query, args.get("num_results"))}

            built.append(Tool(ToolSpec("google_search", "Search the web for information.", {
                "type": "object", "required": ["keyword"],
                "properties": {"keyword": {"type": "string", "description": "What to search for"},
                               "num_results": {"type": "integer", "description": "How many results"}}}),
                search))
        elif name == "browser":
            browser = cfg.browser

            async def fetch(args: dict[str, Any], browser=browser) -> Any:
                url = str(args.get("url") or args.get("input") or "")
                if not url:
                    raise ValueError("url is required")
                log(f"browser: {url}")
                return {"success": True, **await fetch_page(url, browser)}

            built.append(Tool(ToolSpec("browser", "Fetch content from a web page.", {
                "type": "object", "required": ["url"],
                "properties": {"url": {"type": "string", "description": "The page's URL"}}}), fetch))
    return built
