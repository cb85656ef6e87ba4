"""The strict building blocks every typed config section and option set is made of.

Unknown keys are errors, integers and booleans must be written as such, and floats also
accept YAML 1.1's ``1e-3`` (which it reads as a string) but never a boolean.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, FiniteFloat, ValidationError


class Section(BaseModel):
    """Strict-keyed base of every config section and option model."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


def _not_bool(value: Any) -> Any:
    # pydantic would read True as 1.0; in a config that is always a mistake.
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


Float = Annotated[FiniteFloat, BeforeValidator(_not_bool)]


def as_list(value: Any) -> Any:
    """``datasets: T91`` means ``[T91]``; saves brackets on the command line."""
    return [value] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(as_list), Field(min_length=1)]


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(
    err: ValidationError,
    lead: str,
    *,
    prefix: str = "",
    unknown: str = "{where}: unknown key",
    show_input: bool = True,
) -> str:
    """``<lead>a.b: problem; c: problem`` from pydantic's error list: each error once, with
    its dotted path (``prefix`` first); ``unknown`` words an unknown key; ``show_input``
    adds the offending value to type errors."""
    parts = []
    for e in err.errors():
        where = prefix + ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            parts.append(unknown.format(where=where))
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if show_input and e["type"] not in ("missing", "value_error", "assertion_error"):
            msg += f" (got {_got(e['input'])})"
        parts.append(f"{where}: {msg}" if where else msg)
    return lead + " ".join("; ".join(dict.fromkeys(parts)).split())
