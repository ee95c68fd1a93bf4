"""Argument types and checks the built-in commands share (the router checks the types)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from ..errors import InvalidArgs

if TYPE_CHECKING:
    from .context import HandlerContext

__all__ = ["Offset", "UserId", "check_user", "ignored"]

# How many matches a list command skips: with ``limit`` and the answer's ``total``, a page.
Offset = Annotated[int, Field(ge=0)]

# NodeTool's tools take the user a call acts for; this node acts as its own user
# (``node.user_id``). NodeTool's ids are strings; a number is taken as its text.
UserId = str | int | None


def check_user(context: HandlerContext, user_id: UserId) -> None:
    """Accept no ``user_id`` or the node's own; refuse another user (INVALID_ARGS)."""
    if user_id is not None and str(user_id) != str(context.user_id):
        raise InvalidArgs(f"this node serves user {context.user_id}; "
                          f"user_id {user_id} is not its user")


def ignored(context: HandlerContext, name: str, value: Any, why: str) -> None:
    """One debug line for a NodeTool argument this node takes but does not act on."""
    context.log.debug("%s: ignoring %s=%r: %s", context.name, name, value, why)
