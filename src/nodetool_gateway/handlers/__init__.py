"""Handlers: the functions routes point at. They never see which protocol carried a request."""

from .context import HandlerContext

__all__ = ["HandlerContext"]
