"""nodetool.control (If, ForEach, Collect, Reroute) and nodetool.code.EvaluateExpression."""

import pytest

from nodetool_gateway.engine.expr import ExpressionError
from nodetool_gateway.engine.library import code as K
from nodetool_gateway.engine.library import control as CT

from .conftest import gen, run_node


async def test_if_routes_value():
    """Emits the value on if_true or if_false only."""
    assert await gen(CT.If(condition=True, value="v")) == [{"if_true": "v"}]
    assert await gen(CT.If(condition=False, value="v")) == [{"if_false": "v"}]
    assert await gen(CT.If()) == [{"if_false": ()}]
    assert set(CT.If.output_types) == {"if_true", "if_false"}


async def test_foreach_streams_items_with_index(ctx):
    """Yields each item with its index, in order."""
    items = await gen(CT.ForEach(input_list=["a", "b", "c"]), ctx)
    assert items == [{"output": "a", "index": 0}, {"output": "b", "index": 1},
                     {"output": "c", "index": 2}]
    assert CT.ForEach.compute_mode == "gen_process" and set(CT.ForEach.output_types) == {"output", "index"}


async def test_foreach_empty_and_cancelled(ctx):
    """Yields nothing for an empty list, and stops when the job is cancelled."""
    assert await gen(CT.ForEach()) == []
    ctx.cancel()
    assert await gen(CT.ForEach(input_list=[1, 2]), ctx) == []


async def test_collect_gathers_stream():
    """Emits the whole stream as one list when it ends (an empty list for none)."""
    assert await run_node(CT.Collect(), input_item=[1, "a", None]) == [("output", [1, "a", None])]
    assert await run_node(CT.Collect(), input_item=[]) == [("output", [])]
    assert CT.Collect.compute_mode == "run"


async def test_reroute_passes_through():
    """Returns its input unchanged."""
    value = {"a": [1]}
    assert await CT.Reroute(input_value=value).process(None) is value
    assert await CT.Reroute().process(None) == ()


async def test_evaluate_expression(ctx):
    """Evaluates the expression over its variables."""
    node = K.EvaluateExpression(expression="(celsius * 9/5) + 32", variables={"celsius": 32})
    assert await node.process(ctx) == 89.6
    assert await K.EvaluateExpression(expression="order_total > 100",
                                      variables={"order_total": 150}).process(ctx) is True


@pytest.mark.parametrize("expression", ["", "   "])
async def test_evaluate_expression_empty_is_none(expression):
    """Returns None for an empty expression."""
    assert await K.EvaluateExpression(expression=expression).process(None) is None


async def test_evaluate_expression_errors():
    """Raises RuntimeError for a failing expression and ExpressionError for a forbidden one."""
    with pytest.raises(RuntimeError, match="Error evaluating expression"):
        await K.EvaluateExpression(expression="1 / x", variables={"x": 0}).process(None)
    with pytest.raises(ExpressionError):
        await K.EvaluateExpression(expression="__import__('os').system('true')").process(None)
    assert K.EvaluateExpression().variables == {}
