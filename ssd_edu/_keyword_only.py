"""The options every form, VJP and bridge takes as keywords only: chunk_size and initial_state.

:func:`keyword_only` wraps ``f(x, a, B, C, *, chunk_size=64, initial_state=None)`` and answers
a positional option with a TypeError naming it; :func:`refuse_positional` is the same check for
a wrapper that binds its arguments itself (with :func:`keyword_signature`).
"""
from __future__ import annotations

import functools
import inspect

#: The parameters that are keyword-only wherever they appear (Mamba-2 says initial_states).
OPTIONS = ("chunk_size", "initial_state", "initial_states")


def _options(signature: inspect.Signature) -> list:
    return [p for p in signature.parameters.values() if p.name in OPTIONS]


def _positional(signature: inspect.Signature) -> list:
    return [p for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def refuse_positional(name: str, signature: inspect.Signature, args: tuple) -> None:
    """TypeError naming the keyword-only options when ``args`` holds more positional arguments
    than ``signature`` takes."""
    positional = _positional(signature)
    options = _options(signature)
    if len(args) <= len(positional) or not options:
        return
    names = [p.name for p in options]
    listed = " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
    plural = "keywords" if len(names) > 1 else "a keyword"
    required = [p.name for p in positional if p.default is p.empty]
    most = "" if len(required) == len(positional) else "at most "
    example = ", ".join([p.name for p in positional]
                        + [f"{p.name}={'...' if p.default is p.empty else repr(p.default)}"
                           for p in options])
    raise TypeError(f"{name}() takes {listed} as {plural} only ({len(args)} positional "
                    f"arguments were given; it takes {most}{len(positional)}: "
                    f"{', '.join(p.name for p in positional)}): call {name}({example})")


def keyword_signature(fn) -> inspect.Signature:
    """``fn``'s signature, checked: its options (:data:`OPTIONS`) follow ``*`` in the def line."""
    signature = inspect.signature(fn)
    wrong = [p.name for p in _options(signature) if p.kind != p.KEYWORD_ONLY]
    if wrong:
        raise TypeError(f"{fn.__qualname__}: {' and '.join(wrong)} must follow * in the def line "
                        f"(keyword-only)")
    return signature


def keyword_only(fn):
    """Decorator: ``fn`` (options after ``*``) with :func:`refuse_positional`'s error."""
    signature = keyword_signature(fn)
    limit = len(_positional(signature))

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if len(args) > limit:
            refuse_positional(fn.__name__, signature, args)
        return fn(*args, **kwargs)

    return call
