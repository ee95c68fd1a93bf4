"""Secret values, and every way they may be written out, masked in text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

__all__ = ["CONTROL_ESCAPES", "MASK", "Redactor", "redact", "secret_forms"]

MASK = "**********"

# Control characters, and the Unicode ones that move text around, shown escaped: text
# from the other side (a gateway's error, a close reason) cannot forge a log line.
CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), *range(127, 160))}
CONTROL_ESCAPES.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F),
                                                  *range(0x2066, 0x206A))})

_PERCENT = re.compile(r"%[0-9A-F]{2}")


def _backslashed(quote_char: str) -> Callable[[str], str]:
    return lambda v: v.replace("\\", "\\\\").replace(quote_char, "\\" + quote_char)


# Each turns a value into a form it takes in an error message or a log line: Python's
# repr (either quote), JSON, YAML's single quotes, URL encoding, escaped control characters.
_ESCAPERS: tuple[Callable[[str], str], ...] = (
    lambda v: repr(v)[1:-1],
    lambda v: ascii(v)[1:-1],
    _backslashed("'"),
    _backslashed('"'),
    lambda v: json.dumps(v)[1:-1],
    lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    lambda v: v.replace("'", "''"),
    lambda v: v.translate(CONTROL_ESCAPES),
    lambda v: quote(v, safe=""),
    lambda v: quote(v),
    lambda v: quote_plus(v),
    lambda v: _PERCENT.sub(lambda m: m.group().lower(), quote(v, safe="")),
)


def secret_forms(value: str) -> set[str]:
    """``value`` as is and as each escaping writes it, once or twice over.

    Twice: a message may quote a repr (an exception about a key, logged with ``%r``).
    """
    if not value:
        return set()
    once = {value} | {escape(value) for escape in _ESCAPERS}
    return once | {escape(form) for form in once for escape in _ESCAPERS}


class Redactor:
    """Masks every form of a set of secret values; built once, applied to many texts."""

    def __init__(self, secrets: Iterable[str] = ()):
        forms = {form for s in secrets if s for form in secret_forms(s)}
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each (non-empty) secret value in ``text``, in any escaped form, by ``**********``."""
    return Redactor(secrets)(text)
