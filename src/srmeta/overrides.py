"""``--set a.b.c=value``: one override applied to a raw config mapping, checked against the
schema's keys before the value is read (as YAML), so a typo names its dotted key."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

import yaml
from pydantic import BaseModel

from srmeta import yamlio
from srmeta.errors import ConfigError


def yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of ``X | None`` / ``Annotated[X, ...]``, or ``[annotation]``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _check_key(parts: list[str], item: str, root: type[BaseModel]) -> None:
    """Raise unless ``parts`` names a field of the schema (free-form mappings end the walk)."""
    section: type[BaseModel] = root
    for i, part in enumerate(parts):
        dotted = ".".join(parts[: i + 1])
        field = section.model_fields.get(part)
        if field is None:
            raise ConfigError(f"config: {dotted}: unknown key (in --set {item})")
        members = _unwrap(field.annotation)
        sub = [t for t in members if isinstance(t, type) and issubclass(t, BaseModel)]
        if sub:
            section = sub[0]
            continue
        if i + 1 < len(parts):
            free = any(t is Any or typing.get_origin(t) is dict or t is dict for t in members)
            if free:
                return
            raise ConfigError(
                f"config: {'.'.join(parts)}: unknown key ({dotted} is a value, not a section;"
                f" in --set {item})"
            )
        return


def apply_override(data: dict[str, Any], item: str, root: type[BaseModel]) -> None:
    """Apply one ``a.b.c=value`` to a raw mapping in place; the value is read as YAML, and
    the key must be a field of the schema ``root`` describes."""
    key, eq, text = item.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise ConfigError(f"config: bad override {item!r}: expected KEY=VALUE, e.g. train.steps=10")
    _check_key(parts, item, root)
    try:
        value = yamlio.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(
            f"config: {key}: bad value {text!r} in --set: {yaml_problem(err)}"
        ) from None
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"config: {where}: is {child!r}, not a mapping (in --set {item})")
        node = child
    node[parts[-1]] = value
