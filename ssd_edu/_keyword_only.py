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


def refuse_positional(name: str, signature: inspect.Signature, args: tuple) -> None:
    """TypeError naming the keyword-only options when ``args`` holds more positional arguments
    than ``signature`` takes."""
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in _options(signature)]
    if len(args) <= len(positional) or not names:
        return
    listed = " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
    most = "at most " if any(p.default is not p.empty for p in positional) else ""
    example = ", ".join([p.name for p in positional] + [
        f"{p.name}={'...' if p.default is p.empty else repr(p.default)}"
        for p in _options(signature)])
    raise TypeError(f"{name}() takes {listed} as {'keywords' if names[1:] else 'a keyword'} only "
                    f"({len(args)} positional arguments were given; it takes {most}"
                    f"{len(positional)}: {', '.join(p.name for p in positional)}): call "
                    f"{name}({example})")


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

    @functools.wraps(fn)
    def call(*args, **kwargs):
        refuse_positional(fn.__name__, signature, args)
        return fn(*args, **kwargs)

    return call
