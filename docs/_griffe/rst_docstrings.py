"""A griffe extension that lets mkdocstrings render alertkit's API faithfully.

It changes only the rendered documentation, never the source. Loaded from
mkdocs.yml, it:

- rewrites docstrings written for readers of the source (reST flavour) into
  Markdown before they are parsed: ``:role:`target``` becomes inline code
  (``~a.b.C`` gives ``C``), and runs of ``>>>`` lines with their output
  become ``pycon`` code blocks, without ``# doctest:`` flags;
- gives attrs classes the signature of the ``__init__`` attrs generates
  (static analysis cannot see it), so ``Rule(name=..., condition=..., ...)``
  is documented with its real parameters;
- turns module attributes made by a factory (``avg_over_time =
  _window_helper(Agg.AVG)``) into the functions they are at run time, with
  their signature and docstring.

The last two import alertkit (installed, or found on ``sys.path``); if that
fails they do nothing and the build still succeeds.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import inspect
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
_DOCTEST_FLAG = re.compile(r"\s*#\s*doctest:.*$")


def _role(match: re.Match[str]) -> str:
    short, target = match.groups()
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _fence_doctests(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block: list[str] = []
        while i < len(lines) and lines[i].strip():
            block.append(_DOCTEST_FLAG.sub("", lines[i].removeprefix(indent)))
            i += 1
        if out and out[-1].strip():
            out.append("")
        out.extend([f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"])
    return "\n".join(out)


def to_markdown(text: str) -> str:
    return _fence_doctests(_ROLE.sub(_role, text))


def _runtime(module_path: str, name: str) -> Any:
    with contextlib.suppress(Exception):
        return getattr(importlib.import_module(module_path), name)
    return None


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    return value if isinstance(value, str) else getattr(value, "__name__", repr(value))


def _default(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def _attrs_fields(cls: Any) -> dict[str, Any]:
    """attrs fields by ``__init__`` parameter name."""
    fields = getattr(cls, "__attrs_attrs__", ())
    return {getattr(f, "alias", None) or f.name.lstrip("_"): f for f in fields}


def _attrs_default(field: Any) -> str:
    import attrs

    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return "..."
        return _default(default.factory())  # type: ignore[return-value]
    return _default(default)  # type: ignore[return-value]


def _function(
    name: str, func: Any, parent: griffe.Object, lineno: int | None, *, attrs_cls: Any = None
) -> griffe.Function:
    signature = inspect.signature(func)
    fields = _attrs_fields(attrs_cls) if attrs_cls is not None else {}
    params = []
    for p in signature.parameters.values():
        if p.name == "self":
            continue
        annotation = _annotation(p.annotation)
        default = _default(p.default)
        field = fields.get(p.name)
        if field is not None:
            # attrs takes a converter's parameter type; `object` says nothing, the field does.
            if annotation in (None, "object") and field.type is not None:
                annotation = _annotation(field.type)
            if default is not None:
                default = _attrs_default(field)
        params.append(
            griffe.Parameter(
                p.name,
                annotation=annotation,
                kind=griffe.ParameterKind(p.kind.description),
                default=default,
            )
        )
    parameters = griffe.Parameters(*params)
    function = griffe.Function(
        name,
        lineno=lineno,
        endlineno=lineno,
        parameters=parameters,
        returns=_annotation(signature.return_annotation),
        parent=parent,  # type: ignore[arg-type]
    )
    if func.__doc__:
        function.docstring = griffe.Docstring(
            to_markdown(inspect.cleandoc(func.__doc__)), parent=function
        )
    return function


class RstDocstrings(griffe.Extension):
    """See the module docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if "__init__" in cls.members or cls.module.is_alias:
            return
        runtime = _runtime(cls.module.path, cls.name)
        if runtime is None or not hasattr(runtime, "__attrs_attrs__"):
            return
        init = _function("__init__", runtime.__init__, cls, cls.lineno, attrs_cls=runtime)
        init.docstring = None
        cls.set_member("__init__", init)

    def on_module(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        for name, member in list(mod.members.items()):
            if member.is_alias or not member.is_attribute:
                continue
            value = str(getattr(member, "value", "") or "")
            if not value.startswith("_") or "(" not in value:
                continue  # only attributes made by a private factory
            runtime = _runtime(mod.path, name)
            if inspect.isfunction(runtime):
                mod.set_member(name, _function(name, runtime, mod, member.lineno))
