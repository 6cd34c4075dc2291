"""Every public name of the installed package has a docstring (what ``help()`` and Jupyter's ``?`` show).

Walks ``timrest.__all__``, ``timrest.testing.__all__``, ``timrest.exceptions.__all__`` and every public
method and property of the classes a user meets, and fails on a missing, empty or generated docstring.
Native (pyo3) functions and methods must also expose a signature (``__text_signature__``), or
``help()`` and ``inspect.signature`` show ``(*args, **kwargs)``.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Iterator

import pytest

import timrest
import timrest.exceptions
import timrest.testing

MODULES = [timrest, timrest.testing, timrest.exceptions]

# The classes whose members a user calls or reads (the exception classes are walked too, below).
CLASSES: list[type] = [
    timrest.Client,
    timrest.BatchReport,
    timrest.ItemResult,
    timrest.CallInfo,
    timrest.PurgePlan,
    timrest.Progress,
    timrest.testing.Emulator,
]

# Public names that are plain values: a str or int carries its type's docstring, not its own.
VALUES = {"__version__", "DEMO_SDKAPPID", "DEMO_SECRET_KEY", "DEMO_SPAMMER", "PERMANENT"}

# Native classes a user receives but never makes: they have no constructor, so no signature to show.
RETURNED_ONLY = {
    "timrest.CallInfo", "timrest.BatchReport", "timrest.ItemResult", "timrest.PurgePlan", "timrest.NoSpeaking",
    "timrest.HistoryMessage", "timrest.HistoryPage", "timrest.RecallResult", "timrest.StepResult", "timrest.JobReport",
    "timrest.Event",
}

MIN_LENGTH = 12  # shorter than any sentence that says something ("Whether it still serves." is 24)


def own_doc(obj: Any) -> str:
    """The object's own docstring: for a class, never one inherited from a base class."""
    if isinstance(obj, type):
        doc = obj.__dict__.get("__doc__")
    else:
        doc = getattr(obj, "__doc__", None)
    return (doc or "").strip()


def check_doc(name: str, obj: Any) -> None:
    doc = own_doc(obj)
    assert doc, f"{name} has no docstring"
    assert len(doc) >= MIN_LENGTH, f"{name}'s docstring says too little: {doc!r}"
    # Docstrings Python writes by itself say nothing to a reader.
    assert not doc.startswith("Alias for field number"), f"{name} has the generated NamedTuple field docstring"
    if isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
        generated = f"{obj.__name__}({', '.join(obj._fields)})"
        assert doc != generated, f"{name} has the generated NamedTuple docstring"


def is_native(obj: Any) -> bool:
    return isinstance(
        obj,
        (
            types.BuiltinFunctionType,
            types.BuiltinMethodType,
            types.MethodDescriptorType,
            types.ClassMethodDescriptorType,
        ),
    )


def public_names() -> Iterator[tuple[str, Any]]:
    for module in MODULES:
        for name in module.__all__:
            yield f"{module.__name__}.{name}", getattr(module, name)


def public_members() -> Iterator[tuple[str, Any]]:
    classes = CLASSES + [getattr(timrest.exceptions, n) for n in timrest.exceptions.__all__]
    for cls in classes:
        for name, raw in vars(cls).items():
            if name.startswith("_") and name != "_repr_html_":
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            if callable(raw) or inspect.isdatadescriptor(raw) or is_native(raw):
                yield f"{cls.__module__}.{cls.__qualname__}.{name}", raw


NAMES = list(public_names())
MEMBERS = list(public_members())


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_module_docstring(module: types.ModuleType) -> None:
    check_doc(module.__name__, module)
    assert hasattr(module, "__all__"), module.__name__


@pytest.mark.parametrize(("name", "obj"), NAMES, ids=[n for n, _ in NAMES])
def test_public_name_docstring(name: str, obj: Any) -> None:
    if name.rsplit(".", 1)[1] in VALUES:
        assert isinstance(obj, (str, int)), name
        return
    assert callable(obj), f"{name} is neither a value nor callable: {obj!r}"
    check_doc(name, obj)
    if name in RETURNED_ONLY:
        with pytest.raises(TypeError):
            obj()
        return
    # help(name) and Jupyter show the call signature: native ones need a __text_signature__.
    if is_native(obj):
        assert obj.__text_signature__, f"{name} has no __text_signature__"
    inspect.signature(obj)


@pytest.mark.parametrize(("name", "obj"), MEMBERS, ids=[n for n, _ in MEMBERS])
def test_public_member_docstring(name: str, obj: Any) -> None:
    check_doc(name, obj)
    if is_native(obj):
        assert obj.__text_signature__, f"{name} has no __text_signature__"
        inspect.signature(obj)


def test_native_constructors_show_their_keywords() -> None:
    # Client(...)? and Emulator(...)? list every keyword, as the stubs do.
    client = inspect.signature(timrest.Client)
    assert list(client.parameters)[:3] == ["sdkappid", "secret_key", "usersig"]
    assert "platform_verifier" in client.parameters
    emulator = inspect.signature(timrest.testing.Emulator)
    assert {"sdkappid", "secret_key", "admins", "rate_limit", "latency", "host", "port"} <= set(emulator.parameters)


def test_client_docstring_describes_its_keywords() -> None:
    # Jupyter's `timrest.Client?` shows the class docstring: it must say what each keyword does.
    doc = own_doc(timrest.Client)
    for keyword in inspect.signature(timrest.Client).parameters:
        assert f"``{keyword}``" in doc or f"`{keyword}`" in doc, f"Client's docstring does not describe {keyword}"


def test_the_walk_found_what_it_should() -> None:
    # Guards the walk itself: an empty or shrunken list would pass every check above.
    found = {n for n, _ in MEMBERS}
    for expected in (
        "timrest._native.Client.delete_many",
        "timrest._native.Client.from_env",
        "timrest._native.Client.rate_limit",
        "timrest._native.BatchReport.to_records",
        "timrest._native.BatchReport._repr_html_",
        "timrest._native.BatchReport.interrupted",
        "timrest._native.ItemResult.ok",
        "timrest._native.ItemResult.error",
        "timrest._native.CallInfo.random",
        "timrest._progress.Progress.done",
        "timrest.testing.Emulator.inject",
        "timrest.testing.Emulator.base_url",
        "timrest.exceptions.TimError.message",
    ):
        assert expected in found, expected
    assert len(NAMES) >= len(timrest.__all__) + len(timrest.exceptions.__all__)
