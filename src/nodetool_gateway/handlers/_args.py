"""Argument types the built-in list commands share (the router checks them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["Offset"]

# How many matches a list command skips: with ``limit`` and the answer's ``total``, a page.
Offset = Annotated[int, Field(ge=0)]
