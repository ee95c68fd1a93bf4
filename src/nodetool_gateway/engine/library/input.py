"""nodetool.input: workflow parameters. ``data.name`` is the key a caller uses in
``params``; ``data.value`` the default. Each returns its value."""

from typing import Any

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "nodetool.input"

__all__ = ["InputNode", "FloatInput", "BooleanInput", "IntegerInput", "StringInput",
           "SelectInput", "StringListInput", "ColorInput", "GroupInput"]

class InputNode(BaseNode):
    """A workflow input: ``name`` is its parameter name, ``value`` its value."""

    abstract = True

    name: str = Field(default="", description="The parameter name for the workflow.")
    value: Any = Field(default=None, description="The value of the input.")
    description: str = Field(default="", description="What the input is for.")

    async def process(self, context: Any) -> Any:
        return self.value


class FloatInput(InputNode):
    """
    A floating-point number parameter (min and max are hints for the UI; not enforced).
    input, parameter, float, number, decimal, range
    """

    value: float = 0.0
    min: float = 0
    max: float = 100

    async def process(self, context: Any) -> float:
        return self.value


class BooleanInput(InputNode):
    """
    A true/false parameter.
    input, parameter, boolean, bool, toggle, switch, flag
    """

    value: bool = False

    async def process(self, context: Any) -> bool:
        return self.value


class IntegerInput(InputNode):
    """
    A whole-number parameter (min and max are hints for the UI; not enforced).
    input, parameter, integer, number, count, index, whole_number
    """

    value: int = 0
    min: int = 0
    max: int = 100

    async def process(self, context: Any) -> int:
        return self.value


class StringInput(InputNode):
    """
    A string parameter; cut to ``max_length`` characters when that is not 0.
    input, parameter, string, text, label, name, value
    """

    value: str = ""
    max_length: int = Field(default=0, ge=0, le=100000, title="Max length",
                            description="Maximum number of characters allowed. Use 0 for unlimited.")
    line_mode: str = Field(default="single_line", title="Line mode",
                           description="Whether the UI shows a single line or several.")

    async def process(self, context: Any) -> str:
        if self.max_length and len(self.value) > self.max_length:
            return self.value[: self.max_length]
        return self.value


class SelectInput(InputNode):
    """
    A choice among ``options``; returns the selected string.
    input, parameter, select, enum, dropdown, choice, options
    """

    value: str = Field(default="", description="The currently selected value.")
    options: list[str] = Field(default=[], description="The available options.")
    enum_type_name: str = Field(default="", description="The enum type this select corresponds to.")

    async def process(self, context: Any) -> str:
        return self.value


class StringListInput(InputNode):
    """
    A list-of-strings parameter.
    input, parameter, string, text, list
    """

    value: list[str] = Field(default=[], description="The list of strings to use as input.")

    async def process(self, context: Any) -> list[str]:
        return self.value


class ColorInput(InputNode):
    """
    A color parameter: a ColorRef ``{"type": "color", "value": "#rrggbb"}``.
    input, parameter, color, color_picker, color_input
    """

    value: Any = Field(default={"type": "color", "value": None}, description="The color to use as input.")

    async def process(self, context: Any) -> Any:
        return self.value


class GroupInput(BaseNode):
    """
    Inside a group loop: gives one item of the group's input list per run of the group.
    input, group, collection, loop

    The engine sets ``value`` to each item in turn; it is no workflow parameter.
    """

    name: str = Field(default="", description="The name of the group input.")
    value: Any = Field(default=None, description="The current item (set by the loop).")

    async def process(self, context: Any) -> Any:
        return self.value
