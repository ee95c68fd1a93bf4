"""Reading a language model's answers: streamed JSON arrays, cut-off JSON, JSON in prose."""

import pytest

from nodetool_gateway.engine.library._llm import JsonItems, close_json, parse_json_object
from nodetool_gateway.providers import ChatResult


def feed_in_pieces(text: str, size: int) -> list:
    parser = JsonItems()
    found = []
    for i in range(0, len(text), size):
        found.append(parser.feed(text[i:i + size]))
    return found


def test_json_items_come_out_as_each_completes():
    """Each array item is returned by the feed that completes it, however the text is split."""
    text = '{"items": ["a, [b]", {"x": "}\\""}, 3, "last"]} trailing ["ignored"]'
    for size in (1, 2, 5, len(text)):
        batches = feed_in_pieces(text, size)
        assert [item for batch in batches for item in batch] == ["a, [b]", {"x": '}"'}, 3, "last"]
    batches = feed_in_pieces(text, 1)
    # "a, [b]" is out as soon as the comma after it arrives, long before the end.
    first = next(i for i, b in enumerate(batches) if b)
    assert batches[first] == ["a, [b]"] and first < text.index("3")


def test_json_items_of_a_cut_off_answer_are_those_completed():
    """An answer cut off mid-item yields only the items it finished."""
    parser = JsonItems()
    assert parser.feed('{"rows": [{"a": 1}, {"a": 2}, {"a"') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(("text", "closed"), [
    ('{"a": "hel', {"a": "hel"}),
    ('{"a": [1, 2', {"a": [1, 2]}),
    ('{"a": 1, "b":', {"a": 1, "b": None}),
    ('{"a": 1, "b', {"a": 1}),
    ('{"a": "x\\', {"a": "x"}),
    ('{"a": {"b": [true,', {"a": {"b": [True]}}),
])
def test_close_json_closes_where_the_answer_stopped(text, closed):
    """A JSON object cut off anywhere is closed with what it had finished."""
    assert close_json(text) == closed


def test_parse_json_object_reads_fences_prose_and_cut_off_answers():
    """A fenced block or the braces inside prose are read; a cut-off answer only when cut off."""
    assert parse_json_object('Sure!\n```json\n{"a": 1}\n```', "X") == {"a": 1}
    assert parse_json_object('Here: {"a": {"b": 2}} done', "X") == {"a": {"b": 2}}
    with pytest.raises(ValueError, match="X did not return a JSON object"):
        parse_json_object('{"a": "unfinished', "X")
    logged = []

    class Context:
        @staticmethod
        def log(message, severity="info"):
            logged.append((severity, message))

    cut = ChatResult(text='{"a": "unfinished', finish_reason="length")
    assert parse_json_object(cut, "X", Context) == {"a": "unfinished"}
    assert logged and logged[0][0] == "warning" and "cut off at max_tokens" in logged[0][1]
    with pytest.raises(ValueError, match="cut off at max_tokens: raise max_tokens"):
        parse_json_object(ChatResult(text="no json at all", finish_reason="length"), "X")
