"""Durations and byte sizes."""

from __future__ import annotations

import pytest

from nodetool_gateway.config import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1m30s500ms", 90.5),
        ("1.5s", 1.5),
        (" 10s ", 10.0),
        ("42", 42.0),
        ("0.5", 0.5),
        (0, 0.0),
        (7, 7.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_accepts(text, seconds):
    """Each duration form parses to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["", "soon", "-5s", "5 minutes", "1x", "s", "1h-30m", "ms", -1, float("inf"), float("nan"), True, None, [1]]
)
def test_parse_duration_rejects(bad):
    """Negative, non-finite and garbage durations raise ValueError."""
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16MiB", 16 * 1024**2),
        ("512KiB", 512 * 1024),
        ("1GiB", 1024**3),
        ("2TiB", 2 * 1024**4),
        ("10MB", 10_000_000),
        ("100kB", 100_000),
        ("100KB", 100_000),
        ("3GB", 3_000_000_000),
        ("123B", 123),
        ("1.5KiB", 1536),
        ("1.1MB", 1_100_000),
        ("4096", 4096),
        (4096, 4096),
        (0, 0),
    ],
)
def test_parse_size_accepts(text, size):
    """Each size form parses to bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "big", "16mib", "-1MiB", "1.3B", "0.1KiB", "5 XB", -1, 1.5, True, None])
def test_parse_size_rejects(bad):
    """Negative, fractional-byte and garbage sizes raise ValueError."""
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.parametrize("seconds", [0.0, 0.25, 1.5, 30.0, 60.0, 600.0, 3600.0, 5400.0, 90061.0, 0.0001])
def test_format_duration_round_trips(seconds):
    """A formatted duration parses back to the same seconds."""
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_reads_naturally():
    """Formatted durations use the largest units."""
    assert [format_duration(s) for s in (30, 600, 5400, 0.25, 0)] == ["30s", "10m", "1h30m", "250ms", "0s"]


@pytest.mark.parametrize("size", [0, 1, 123, 1024, 16 * 1024**2, 10_000_000, 1536])
def test_format_size_round_trips(size):
    """A formatted size parses back to the same bytes."""
    assert parse_size(format_size(size)) == size


def test_format_size_reads_naturally():
    """Formatted sizes use the largest exact unit."""
    assert [format_size(n) for n in (16 * 1024**2, 10_000_000, 1536, 123)] == ["16MiB", "10MB", "1536B", "123B"]
