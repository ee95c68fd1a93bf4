"""``anthropic.agents``: ClaudeAgent, through Anthropic's Claude Agent SDK.

The SDK (PyPI ``claude-agent-sdk``, the ``claude`` extra) drives the Claude Code
CLI that its wheels bundle. The node hands it the key and URL of the node's
``anthropic``-type provider. Without the SDK, or without such a provider,
validation says exactly what is missing.
"""

from __future__ import annotations

import importlib.util
import tempfile
from typing import Any, TypedDict

from pydantic import Field

from ._llm import EMPTY_MODEL, LanguageModel, LLMNode, chunk_value, model_field

NAMESPACE = "anthropic.agents"

_SDK = "claude_agent_sdk"
_INSTALL = "pip install 'nodetool-gateway[claude]'"


def _anthropic_provider(services: Any, ref: Any) -> tuple[Any, str] | str:
    """``(provider settings, model id)``, or what is wrong."""
    models = getattr(services, "language_models", None)
    if models is None:
        return "needs an anthropic provider (providers: in the node's config)"
    try:
        name, model = models.resolve(ref or EMPTY_MODEL)
    except ValueError as exc:
        return str(exc)
    settings = models.settings(name)
    if settings["kind"] != "anthropic":
        return (f"runs Claude models through the Claude Agent SDK, so its model needs a provider of "
                f"type anthropic; {name!r} is {settings['kind']}")
    return settings, model


class ClaudeAgent(LLMNode):
    """Run Claude as an agent in a sandboxed environment using the Claude Agent SDK.
    claude, agent, ai, anthropic, sandbox, assistant"""

    prompt: str = Field(default="", description="The task or question for the Claude agent to work on.")
    model: LanguageModel = model_field("The Claude compatible model to use for the agent.")
    system_prompt: str = Field(default="", description="Optional system prompt to guide the agent's behavior.")
    max_turns: int = Field(default=20, ge=1, le=100, description="Maximum number of turns the agent can take.")
    allowed_tools: list[str] = Field(default_factory=lambda: ["Read", "Write", "Bash"],
                                     description="Built-in SDK tools the agent may use.")
    permission_mode: str = Field(default="acceptEdits", description="Permission mode for tool usage.")
    use_claude_credentials: bool = Field(default=False, description="Use ~/.claude/.credentials.json "
                                                                    "instead of the provider's key.")

    class OutputType(TypedDict):
        text: str
        chunk: dict

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        if importlib.util.find_spec(_SDK) is None:
            return [f"needs Anthropic's Claude Agent SDK, which is not installed: {_INSTALL}, "
                    f"and an anthropic provider in the node's config"]
        found = _anthropic_provider(services, node.data.get("model"))
        return [found] if isinstance(found, str) else []

    async def gen_process(self, context: Any):
        import claude_agent_sdk as sdk

        if not self.prompt.strip():
            raise ValueError("Prompt is required")
        found = _anthropic_provider(context.services, self.model)
        if isinstance(found, str):
            raise ValueError(found)
        settings, model = found
        env = {"CLAUDECODE": "", "MCP_TOOL_TIMEOUT": "60000"}
        if not self.use_claude_credentials and settings["api_key"]:
            env["ANTHROPIC_API_KEY"] = settings["api_key"]
        if settings["base_url"]:
            env["ANTHROPIC_BASE_URL"] = settings["base_url"]
        stderr: list[str] = []
        options = sdk.ClaudeAgentOptions(
            model=model, system_prompt=self.system_prompt or None, max_turns=self.max_turns,
            cwd=tempfile.mkdtemp(prefix="claude_agent_"), allowed_tools=list(self.allowed_tools),
            permission_mode=self.permission_mode, env=env, stderr=stderr.append)
        text: list[str] = []
        try:
            async for message in sdk.query(prompt=self.prompt, options=options):
                if isinstance(message, sdk.AssistantMessage):
                    for block in message.content:
                        if isinstance(block, sdk.TextBlock):
                            text.append(block.text)
                            await context.chunk(block.text)
                            yield {"chunk": chunk_value(block.text)}
        except Exception as exc:
            tail = "\n".join(stderr[-20:])
            raise RuntimeError(f"Claude Agent error: {exc}" + (f"\nStderr:\n{tail}" if tail else "")) from None
        await context.chunk("", done=True)
        yield {"text": "".join(text)}
