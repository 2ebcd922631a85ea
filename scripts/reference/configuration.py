"""docs/reference/configuration.md from the config models: every key with its type, default and
description, one section per nested mapping.

The descriptions are the fields' attribute docstrings (``use_attribute_docstrings`` on
:class:`driftwarden.core.config.Strict`); a field without one is an error, so no key goes
undocumented.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo

from driftwarden.core.config import parse_duration
from scripts.reference.markdown import code, generated_notice, one_line, table

__all__ = ["UndocumentedField", "describe_type", "render_configuration", "sections"]

_INTRO = """\
Every key of the YAML config, read by both services. Only `models` is required; unknown keys are
rejected at every level. How durations and secrets are written, and what the settings do
together: [Configuration](../configuration.md).
"""

_SCALARS: dict[object, str] = {
    bool: "bool",
    int: "int",
    float: "number",
    str: "string",
    Path: "path",
    SecretStr: "secret",
    Any: "any",
}
_UNIONS = (Union, types.UnionType)


class UndocumentedField(ValueError):
    """A config field has no docstring to describe it in the reference."""

    def __init__(self, model: type[BaseModel], field: str) -> None:
        super().__init__(
            f"{model.__name__}.{field} has no description: add a docstring under the field"
        )


def _is_duration(metadata: typing.Iterable[object]) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in metadata)


def _holds_duration(field: FieldInfo) -> bool:
    """Whether the field is a :data:`~driftwarden.core.config.Duration`, optional or not."""
    if _is_duration(field.metadata):
        return True
    return any(
        get_origin(arg) is Annotated and _is_duration(get_args(arg)[1:])
        for arg in get_args(field.annotation)
    )


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def describe_type(annotation: object, metadata: typing.Sequence[object] = ()) -> str:
    """How the reference names a field's type (``metadata``: its ``Annotated`` extras).

    >>> describe_type(int | None), describe_type(list[Literal["a", "b"]])
    ('int or null', 'list of `a` or `b`')
    """
    if _is_duration(metadata):
        return "duration"
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return describe_type(inner, [*metadata, *extra])
    if origin in _UNIONS:
        present = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(describe_type(a, metadata) for a in present)
        return f"{text} or null" if len(present) < len(get_args(annotation)) else text
    if origin is Literal:
        return _alternatives([code(str(v)) for v in get_args(annotation)])
    if origin in (list, tuple):
        return f"list of {describe_type(get_args(annotation)[0])}"
    if origin is dict:
        value = get_args(annotation)[1]
        return "mapping" if value is Any else f"mapping of {describe_type(value)}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _alternatives([code(str(m.value)) for m in annotation])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _alternatives(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


_BOUNDS = (
    (Gt, "gt", "> {}"),
    (Ge, "ge", ">= {}"),
    (Lt, "lt", "< {}"),
    (Le, "le", "<= {}"),
    (MinLen, "min_length", "(at least {})"),
)


def _bounds(field: FieldInfo) -> str:
    return ", ".join(
        text.format(getattr(item, attribute))
        for item in field.metadata
        for kind, attribute, text in _BOUNDS
        if isinstance(item, kind)
    )


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "null"
    if _holds_duration(field) and isinstance(value, float):
        return code(_duration(value))
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, enum.Enum):
        return code(str(value.value))
    if isinstance(value, tuple | list):
        return code(json.dumps(list(value)))
    if isinstance(value, Path) and not value.is_absolute():
        return code(f"./{value}")
    return code(str(value))


def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _child_path(path: str, name: str, field: FieldInfo) -> str:
    key = _key(name, field)
    origin = get_origin(field.annotation)
    args = get_args(field.annotation)
    if origin is list or (origin in _UNIONS and any(get_origin(a) is list for a in args)):
        key += "[]"
    elif origin is dict:
        key += ".<name>"
    return f"{path}.{key}" if path else key


def sections(
    model: type[BaseModel], path: str = ""
) -> typing.Iterator[tuple[str, type[BaseModel]]]:
    """Every mapping of the config under ``model``, depth first, with its key path."""
    yield path, model
    for name, field in model.model_fields.items():
        nested = _model_in(field.annotation)
        if nested is not None:
            yield from sections(nested, _child_path(path, name, field))


def _rows(model: type[BaseModel], path: str) -> list[list[str]]:
    rows = []
    for name, field in model.model_fields.items():
        if not field.description:
            raise UndocumentedField(model, name)
        kind = describe_type(field.annotation, field.metadata)
        bounds = _bounds(field)
        nested = _model_in(field.annotation)
        description = one_line(field.description)
        if nested is not None:
            key = _child_path(path, name, field)
            description += f" Keys: [`{key}`](#{_slug(key)})."
        if bounds:
            optional = kind.endswith(" or null")
            kind = f"{kind.removesuffix(' or null')} {bounds}" + (" or null" if optional else "")
        rows.append([code(_key(name, field)), kind, _default(field), description])
    return rows


def _slug(path: str) -> str:
    """The anchor MkDocs gives the heading of ``path`` (``models[].drift`` -> ``modelsdrift``)."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "_-") or "top-level"


def render_configuration(root: type[BaseModel]) -> str:
    """The whole page for the config model ``root`` (the YAML file's top level)."""
    parts = [generated_notice("the config models"), "# Configuration reference\n", _INTRO]
    for path, model in sections(root):
        parts.append(f"## `{path}`\n" if path else "## Top level\n")
        parts.append(table(["Key", "Type", "Default", "Meaning"], _rows(model, path)) + "\n")
    return "\n".join(parts)
