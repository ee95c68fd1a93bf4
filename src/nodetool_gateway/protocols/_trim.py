"""Fitting JSON into a frame limit: sizes in UTF-8 bytes, and values too big for the
limit replaced by a small placeholder, ``{"truncated": true, "bytes": N, "preview": "..."}``.
"""

from __future__ import annotations

from typing import Any

from ._json import dumps

__all__ = ["PREVIEW", "byte_size", "over", "placeholder", "trim"]

PREVIEW = 1024  # characters of a trimmed value kept in its placeholder
_DEPTH = 4  # levels of containers searched for the values to trim
_MEMBERS = 1000  # a container with more members is trimmed whole: many small parts


def byte_size(text: str) -> int:
    """The size of ``text`` in UTF-8."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def over(text: str, limit: int) -> bool:
    """Whether ``text`` is more than ``limit`` bytes in UTF-8 (its length mostly says)."""
    n = len(text)
    if n > limit:
        return True
    if n * 4 <= limit or text.isascii():  # UTF-8 takes at most 4 bytes a character
        return False
    return byte_size(text) > limit


def placeholder(value: Any, text: str, room: int) -> dict[str, Any]:
    """What stands in for ``value`` (JSON ``text``): its size and a preview, within ``room``.

    The preview is the start of a string, or of the JSON of anything else; it is
    cut shorter when ``room`` is small, down to nothing.
    """
    source = value if isinstance(value, str) else text
    size = byte_size(text)
    keep = PREVIEW
    while True:
        stub = {"truncated": True, "bytes": size, "preview": source[:keep]}
        if keep == 0 or not over(dumps(stub), room):
            return stub
        keep //= 2


def trim(value: Any, room: int, text: str | None = None) -> Any:
    """``value`` with its largest parts replaced by placeholders, its JSON within ``room`` bytes.

    Objects and arrays keep their shape: the biggest members are trimmed first,
    nested ones in turn, so the small fields beside a big one (an update's
    ``type``, a node id) go through as they are. What still does not fit becomes
    one placeholder. ``text`` is ``value``'s JSON, if the caller has it.
    """
    if text is None:
        text = dumps(value)
    return _trim(value, text, byte_size(text), room, _DEPTH)


def _trim(value: Any, text: str, size: int, room: int, depth: int) -> Any:
    if size <= room:
        return value
    if depth and isinstance(value, (dict, list, tuple)) and 0 < len(value) <= _MEMBERS:
        out: Any = dict(value) if isinstance(value, dict) else list(value)
        keys = list(out) if isinstance(out, dict) else list(range(len(out)))
        texts = {k: dumps(out[k]) for k in keys}
        sizes = {k: byte_size(t) for k, t in texts.items()}
        # Members are encoded alone exactly as within their container: what is left
        # is the keys and punctuation. Small members stay whole; the big ones share
        # the rest of the room equally.
        budget = room - (size - sum(sizes.values()))
        keys.sort(key=sizes.__getitem__)
        for i, k in enumerate(keys):
            share = budget // (len(keys) - i)
            if sizes[k] <= share:
                budget -= sizes[k]
                continue
            for big in keys[i:]:
                out[big] = _trim(out[big], texts[big], sizes[big], share, depth - 1)
            break
        if byte_size(dumps(out)) <= room:
            return out
    return placeholder(value, text, room)
