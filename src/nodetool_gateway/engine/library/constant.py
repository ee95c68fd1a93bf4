"""nodetool.constant: fixed values. Each returns its ``value``."""

from datetime import date as _date
from typing import Any

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "nodetool.constant"

__all__ = ["Constant", "Bool", "Integer", "Float", "String", "List", "Dict", "TextList",
           "Select", "JSON", "Date", "DateTime"]


class Constant(BaseNode):
    """Base class for fixed-value nodes."""

    abstract = True

    async def process(self, context: Any) -> Any:
        return self.value  # type: ignore[attr-defined]


class Bool(Constant):
    """
    A boolean constant.
    boolean, logic, flag
    """

    value: bool = False

    async def process(self, context: Any) -> bool:
        return self.value


class Integer(Constant):
    """
    An integer constant.
    number, integer, whole
    """

    value: int = 0

    async def process(self, context: Any) -> int:
        return self.value


class Float(Constant):
    """
    A floating-point constant.
    number, decimal, float
    """

    value: float = 0.0

    async def process(self, context: Any) -> float:
        return self.value


class String(Constant):
    """
    A string constant.
    text, string, characters
    """

    value: str = ""

    async def process(self, context: Any) -> str:
        return self.value


class List(Constant):
    """
    A list constant.
    array, sequence, collection
    """

    value: list[Any] = []

    async def process(self, context: Any) -> list[Any]:
        return self.value


class Dict(Constant):
    """
    A dictionary constant.
    dictionary, key-value, mapping
    """

    value: dict[str, Any] = {}

    async def process(self, context: Any) -> dict[str, Any]:
        return self.value


class TextList(Constant):
    """
    A list of strings.
    texts, strings, text collection
    """

    value: list[str] = Field(default=[], description="List of text strings")

    async def process(self, context: Any) -> list[str]:
        return self.value


class Select(Constant):
    """
    A choice among ``options``; returns the selected string.
    select, enum, dropdown, choice, options
    """

    value: str = Field(default="", description="The currently selected value.")
    options: list[str] = Field(default=[], description="The list of available options to choose from.")
    enum_type_name: str = Field(default="", description="The enum type name this select corresponds to.")

    async def process(self, context: Any) -> str:
        return self.value


class JSON(Constant):
    """
    A JSON constant (a JSONRef: ``{"type": "json", "uri", "asset_id", "data"}``), returned as given.
    json, object, dictionary
    """

    value: Any = Field(default={"type": "json", "uri": "", "asset_id": None, "data": None})

    async def process(self, context: Any) -> Any:
        return self.value


class Date(BaseNode):
    """
    Makes a date from year, month and day: ``{"type": "date", "year", "month", "day"}``.
    date, make, create
    """

    year: int = Field(default=1900, ge=1, le=9999, description="Year of the date")
    month: int = Field(default=1, ge=1, le=12, description="Month of the date")
    day: int = Field(default=1, ge=1, le=31, description="Day of the date")

    async def process(self, context: Any) -> dict[str, Any]:
        d = _date(self.year, self.month, self.day)  # ValueError for e.g. February 30
        return {"type": "date", "year": d.year, "month": d.month, "day": d.day}


class DateTime(Constant):
    """
    Makes a datetime: ``{"type": "datetime", year, month, day, hour, minute, second,
    microsecond, tzinfo, utc_offset}`` (utc_offset in seconds, as NodeTool's Datetime).
    datetime, make, create
    """

    year: int = Field(default=1900, ge=1, le=9999, description="Year of the datetime")
    month: int = Field(default=1, ge=1, le=12, description="Month of the datetime")
    day: int = Field(default=1, ge=1, le=31, description="Day of the datetime")
    hour: int = Field(default=0, ge=0, le=23, description="Hour of the datetime")
    minute: int = Field(default=0, ge=0, le=59, description="Minute of the datetime")
    second: int = Field(default=0, ge=0, le=59, description="Second of the datetime")
    millisecond: int = Field(default=0, ge=0, le=999, description="Millisecond of the datetime")
    tzinfo: str = Field(default="UTC", description="Timezone of the datetime")
    utc_offset: int = Field(default=0, ge=-720, le=840, description="UTC offset in minutes")

    async def process(self, context: Any) -> dict[str, Any]:
        _date(self.year, self.month, self.day)
        return {"type": "datetime", "year": self.year, "month": self.month, "day": self.day,
                "hour": self.hour, "minute": self.minute, "second": self.second,
                "microsecond": self.millisecond * 1000, "tzinfo": self.tzinfo,
                "utc_offset": self.utc_offset * 60}
