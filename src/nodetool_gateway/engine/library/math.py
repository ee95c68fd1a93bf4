"""Math nodes: NodeTool's current ``lib.math.*`` and the older ``nodetool.math.*``.

The two sets share the code but not all defaults (the older Power is 1.0 ** 2.0,
the older Divide's ``b`` is 0.0), so each older name is its own class. Division
or modulus by zero raises ZeroDivisionError, as in NodeTool.
"""

import math as _m
from enum import Enum
from typing import Any

from pydantic import Field

from ..node import BaseNode
from ._util import enum_value

NAMESPACE = "lib.math"

__all__ = ["Add", "Subtract", "Multiply", "Divide", "Modulus", "MathFunction", "Sine",
           "Cosine", "Power", "Sqrt", "LegacyAdd", "LegacySubtract", "LegacyMultiply",
           "LegacyDivide", "LegacyModulus", "LegacySine", "LegacyCosine", "LegacyPower",
           "LegacySqrt"]

Number = int | float


class Add(BaseNode):
    """
    Adds two numbers.
    math, add, plus, +
    """

    a: Number = Field(default=0.0, title="A")
    b: Number = Field(default=0.0, title="B")

    async def process(self, context: Any) -> Number:
        return self.a + self.b


class Subtract(BaseNode):
    """
    Subtracts B from A.
    math, subtract, minus, -
    """

    a: Number = Field(default=0.0, title="A")
    b: Number = Field(default=0.0, title="B")

    async def process(self, context: Any) -> Number:
        return self.a - self.b


class Multiply(BaseNode):
    """
    Multiplies two numbers.
    math, multiply, product, *
    """

    a: Number = Field(default=0.0, title="A")
    b: Number = Field(default=0.0, title="B")

    async def process(self, context: Any) -> Number:
        return self.a * self.b


class Divide(BaseNode):
    """
    Divides A by B (ZeroDivisionError when B is 0).
    math, divide, division, quotient, /
    """

    a: Number = Field(default=0.0, title="A")
    b: Number = Field(default=1.0, title="B")

    async def process(self, context: Any) -> Number:
        return self.a / self.b


class Modulus(BaseNode):
    """
    A modulo B (ZeroDivisionError when B is 0).
    math, modulus, modulo, remainder, %
    """

    a: Number = Field(default=0.0, title="A")
    b: Number = Field(default=1.0, title="B")

    async def process(self, context: Any) -> Number:
        return self.a % self.b


class MathFunction(BaseNode):
    """
    Applies a unary operation: negate, absolute, square, cube, square_root, cube_root,
    sine, cosine, tangent, arcsin, arccos, arctan, log.
    math, negate, absolute, square, cube, square_root, cube_root, sine, cosine, tangent, log
    """

    class Operation(str, Enum):
        NEGATE = "negate"
        ABSOLUTE = "absolute"
        SQUARE = "square"
        CUBE = "cube"
        SQUARE_ROOT = "square_root"
        CUBE_ROOT = "cube_root"
        SINE = "sine"
        COSINE = "cosine"
        TANGENT = "tangent"
        ARCSINE = "arcsin"
        ARCCOSINE = "arccos"
        ARCTANGENT = "arctan"
        LOG = "log"

    input: Number = Field(default=0.0, title="Input")
    operation: Operation = Field(default=Operation.NEGATE, description="Unary operation to perform")

    async def process(self, context: Any) -> Number:
        x = self.input
        op = enum_value(self.operation)
        table = {
            "negate": lambda: -x,
            "absolute": lambda: abs(x),
            "square": lambda: x * x,
            "cube": lambda: x * x * x,
            "square_root": lambda: _m.sqrt(x),
            "cube_root": lambda: _m.copysign(abs(x) ** (1 / 3), x),
            "sine": lambda: _m.sin(x),
            "cosine": lambda: _m.cos(x),
            "tangent": lambda: _m.tan(x),
            "arcsin": lambda: _m.asin(x),
            "arccos": lambda: _m.acos(x),
            "arctan": lambda: _m.atan(x),
            "log": lambda: _m.log(x),
        }
        if op not in table:
            raise ValueError(f"Unsupported operation: {op}")
        return table[op]()


class Sine(BaseNode):
    """
    The sine of an angle in radians.
    math, sine, trig
    """

    angle_rad: Number = Field(default=0.0, title="Angle (rad)")

    async def process(self, context: Any) -> float:
        return _m.sin(self.angle_rad)


class Cosine(BaseNode):
    """
    The cosine of an angle in radians.
    math, cosine, trig
    """

    angle_rad: Number = Field(default=0.0, title="Angle (rad)")

    async def process(self, context: Any) -> float:
        return _m.cos(self.angle_rad)


class Power(BaseNode):
    """
    ``base`` raised to ``exponent`` (``math.pow``: always a float).
    math, power, exponent, **
    """

    base: Number = Field(default=0.0, title="Base")
    exponent: Number = Field(default=1.0, title="Exponent")

    async def process(self, context: Any) -> float:
        return _m.pow(self.base, self.exponent)


class Sqrt(BaseNode):
    """
    The square root of x (ValueError for a negative x).
    math, sqrt, square_root
    """

    x: Number = Field(default=0.0, title="X")

    async def process(self, context: Any) -> float:
        return _m.sqrt(self.x)


# The older names (nodetool.math.*), with their own defaults.

class LegacyAdd(Add):
    """
    Adds two numbers.
    math, plus, add, addition, sum, +
    """

    node_type = "nodetool.math.Add"
    node_title = "Add"


class LegacySubtract(Subtract):
    """
    Subtracts the second input from the first.
    math, minus, difference, -
    """

    node_type = "nodetool.math.Subtract"
    node_title = "Subtract"


class LegacyMultiply(Multiply):
    """
    Multiplies two inputs.
    math, product, times, *
    """

    node_type = "nodetool.math.Multiply"
    node_title = "Multiply"


class LegacyDivide(Divide):
    """
    Divides the first input by the second (ZeroDivisionError when it is 0, the default).
    math, division, arithmetic, quotient, /
    """

    node_type = "nodetool.math.Divide"
    node_title = "Divide"
    b: Number = Field(default=0.0, title="B")


class LegacyModulus(Modulus):
    """
    The remainder of dividing the first input by the second.
    math, modulo, remainder, mod, %
    """

    node_type = "nodetool.math.Modulus"
    node_title = "Modulus"
    b: Number = Field(default=0.0, title="B")


class LegacySine(Sine):
    """
    The sine of an angle in radians.
    math, trigonometry, sine, sin
    """

    node_type = "nodetool.math.Sine"
    node_title = "Sine"


class LegacyCosine(Cosine):
    """
    The cosine of an angle in radians.
    math, trigonometry, cosine, cos
    """

    node_type = "nodetool.math.Cosine"
    node_title = "Cosine"


class LegacyPower(Power):
    """
    Raises the base to the power of the exponent (defaults 1.0 ** 2.0).
    math, exponentiation, power, pow, **
    """

    node_type = "nodetool.math.Power"
    node_title = "Power"
    base: Number = Field(default=1.0, title="Base")
    exponent: Number = Field(default=2.0, title="Exponent")


class LegacySqrt(Sqrt):
    """
    The square root of the input (default 1.0).
    math, square root, sqrt
    """

    node_type = "nodetool.math.Sqrt"
    node_title = "Sqrt"
    x: Number = Field(default=1.0, title="Input")
