"""Every public function and method of dsp/ and io/ documents itself in numpydoc sections.

Public: listed in the module's ``__all__`` when it has one, otherwise not underscored, and
defined in that module (a name imported for callers' convenience is checked where it is
defined).  A function or method needs a docstring; a "Parameters" section when it takes
parameters; "Returns" (or "Yields") when it returns something (a return annotation other than
None, or, unannotated, a ``return`` with a value); "Raises" when its body raises.  A class
that takes constructor arguments documents them in a "Parameters" section.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap

import pytest

import maskstudio.dsp
import maskstudio.io

ROOMS = (maskstudio.dsp, maskstudio.io)


def _has_section(doc: str, *names: str) -> bool:
    return any(re.search(rf"^\s*{name}\s*\n\s*-{{3,}}\s*$", doc, re.MULTILINE)
               for name in names)


def _own_statements(node: ast.AST):
    """The statements of a function's body, not those of functions or classes inside it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                              ast.Lambda)):
            continue
        yield child
        yield from _own_statements(child)


def _function_node(fn) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def _returns_something(fn, node) -> bool:
    ret = node.returns if node is not None else None
    if ret is not None:
        return ast.unparse(ret) not in ("None", "NoReturn", "Never")
    if node is None:
        return False
    return any(isinstance(s, (ast.Yield, ast.YieldFrom))
               or (isinstance(s, ast.Return) and s.value is not None)
               for s in _own_statements(node))


def _raises(node) -> bool:
    return node is not None and any(isinstance(s, ast.Raise) and s.exc is not None
                                    for s in _own_statements(node))


def function_problems(fn, name: str) -> list[str]:
    """What the docstring of ``fn`` lacks (empty when nothing)."""
    doc = inspect.getdoc(fn)
    if not doc:
        return [f"{name}: no docstring"]
    problems = []
    try:
        params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
    except (TypeError, ValueError):
        params = []
    node = _function_node(fn)
    if params and not _has_section(doc, "Parameters"):
        problems.append(f"{name}: no Parameters section (it takes {', '.join(params)})")
    if _returns_something(fn, node) and not _has_section(doc, "Returns", "Yields"):
        problems.append(f"{name}: no Returns section")
    if _raises(node) and not _has_section(doc, "Raises"):
        problems.append(f"{name}: no Raises section (it raises)")
    return problems


def class_problems(cls, name: str) -> list[str]:
    """What the docstrings of ``cls`` and its public methods lack."""
    doc = inspect.getdoc(cls) if cls.__doc__ else None
    if not doc:
        return [f"{name}: no docstring"]
    problems = []
    if "__init__" in vars(cls):
        params = [p for p in inspect.signature(cls).parameters]
        init_doc = inspect.getdoc(vars(cls)["__init__"]) or ""
        if params and not (_has_section(doc, "Parameters")
                           or _has_section(init_doc, "Parameters")):
            problems.append(f"{name}: no Parameters section for {', '.join(params)}")
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            if not inspect.getdoc(value):
                problems.append(f"{name}.{attr}: no docstring")
        elif inspect.isfunction(value):
            problems += function_problems(value, f"{name}.{attr}")
    return problems


def public_objects():
    for room in ROOMS:
        for info in pkgutil.walk_packages(room.__path__, room.__name__ + "."):
            module = importlib.import_module(info.name)
            names = getattr(module, "__all__", None)
            if names is None:
                names = [n for n in vars(module) if not n.startswith("_")]
            for n in names:
                obj = getattr(module, n)
                if getattr(obj, "__module__", None) != module.__name__:
                    continue  # imported here; checked where it is defined
                if inspect.isfunction(obj) or inspect.isclass(obj):
                    yield f"{module.__name__}.{n}", obj


def test_every_public_function_of_dsp_and_io_has_numpydoc_sections():
    problems = []
    checked = 0
    for name, obj in public_objects():
        checked += 1
        problems += class_problems(obj, name) if inspect.isclass(obj) \
            else function_problems(obj, name)
    assert checked > 50  # the walk found the rooms' functions
    assert not problems, "\n".join(problems)


# -- the checker itself catches what is missing ----------------------------------------------

def undocumented(x, y):
    return x + y


def no_sections(x: int) -> int:
    """Twice ``x``."""
    if x < 0:
        raise ValueError("x must be >= 0")
    return 2 * x


def documented(x: int) -> int:
    """Twice ``x``.

    Parameters
    ----------
    x : int

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``x`` is negative.
    """
    if x < 0:
        raise ValueError("x must be >= 0")
    return 2 * x


def quiet(message: str) -> None:
    """Nothing to return: no Returns section needed.

    Parameters
    ----------
    message : str
    """


class Undocumented:
    def __init__(self, size):
        self.size = size

    def grow(self, by):
        """Larger."""
        return self.size + by


@pytest.mark.parametrize("fn, expected", [
    (undocumented, ["no docstring"]),
    (no_sections, ["no Parameters section", "no Returns section", "no Raises section"]),
    (documented, []),
    (quiet, []),
])
def test_the_checker_fails_a_function_without_its_sections(fn, expected):
    problems = function_problems(fn, fn.__name__)
    assert len(problems) == len(expected)
    for problem, words in zip(problems, expected):
        assert words in problem


def test_the_checker_fails_a_class_without_its_sections():
    assert class_problems(Undocumented, "Undocumented") == ["Undocumented: no docstring"]
    Undocumented.__doc__ = "A size."
    try:
        problems = class_problems(Undocumented, "Undocumented")
    finally:
        Undocumented.__doc__ = None
    assert problems == ["Undocumented: no Parameters section for size",
                        "Undocumented.grow: no Parameters section (it takes by)",
                        "Undocumented.grow: no Returns section"]
