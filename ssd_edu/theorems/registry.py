"""The registry of ``verify`` rows and the report that prints them.

A row is a function ``fn(full) -> dict`` registered with :func:`check` under an id, the
section of the paper it belongs to, a statement in words and the paper reference (arXiv v2
numbering; the ICML numbering is derived by :func:`icml_reference`). The dict it returns has
``measured``, ``threshold``, ``passed`` and optionally ``summary`` (what was measured, in plain
words), ``detail`` (the failing cases, or extra facts) and ``data`` (everything else worth
printing with ``verify --detail ID``: ranks, sweeps, curves). :func:`run_check` wraps it into a
:class:`Record`; an exception inside a row is a failed record, never a crash.
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, field
from time import perf_counter as stopwatch  # a row's duration in the report, never a verdict
from typing import Callable

#: Sections of the report, in reading order: key -> (title, where in the paper).
SECTIONS = {
    "scalar": ("Scalar SSD: the recurrence is a masked attention",
               "arXiv Sec. 3 / ICML Sec. 2"),
    "diagonal": ("Diagonal SSD: N one-semiseparable heads, Algorithm 1 and its cost",
                 "arXiv Sec. 4.1-4.3 / ICML Sec. 3.1-3.3"),
    "rank": ("Which rank an SSM bounds", "arXiv Def. 3.1, App. B.3 / ICML Def. 2.1, App. C.3"),
    "duality": ("When is an SSM a single 1-SS masked attention? (Theorem 4.1)",
                "arXiv Sec. 4 / ICML Sec. 3"),
    "general": ("Beyond diagonal A_t: invertibility, realization",
                "arXiv Thm 4.1 / ICML Thm 3.1; Dao & Gu 2024, Prop. 3.4"),
    "limits": ("Limits of SSD: a state-2 SSM without a dual, and softmax",
               "arXiv Sec. 5 / ICML Sec. 4"),
}


@dataclass
class Record:
    """The outcome of one row, as printed by ``verify`` and written by ``--json``."""

    id: str
    section: str
    statement: str
    reference: str
    icml: str
    measured: float
    threshold: float
    passed: bool
    seconds: float
    summary: str = ""
    detail: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Check:
    id: str
    section: str
    statement: str
    reference: str
    fn: Callable = field(repr=False)


#: id -> registered row, in registration (reading) order.
CHECKS: dict = {}


def check(id: str, section: str, statement: str | None = None, reference: str = ""):
    """Register ``fn(full) -> dict(measured=, threshold=, passed=, summary=, detail=, data=)``.

    ``statement`` is the result in words; by default the row's docstring, on one line. A row
    decides from mathematics alone (counts, ranks, errors), never from a timer."""
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {list(SECTIONS)}, got {section!r}")

    def wrap(fn):
        words = statement if statement is not None else " ".join((fn.__doc__ or "").split())
        if not words:
            raise ValueError(f"check {id!r}: give a statement or a docstring")
        CHECKS[id] = _Check(id, section, words, reference, fn)
        return fn
    return wrap


_NOT_PAPER = ("Dao & Gu", "Woerdeman", "docs/theory.md")


def both_numberings(reference: str) -> str:
    """``"arXiv Thm 4.1 = ICML Thm 3.1; Dao & Gu 2024"``: the paper's parts in both numberings,
    the other references as they are."""
    parts = reference.split("; ")
    paper = [p for p in parts if not any(k in p for k in _NOT_PAPER)]
    other = [p for p in parts if any(k in p for k in _NOT_PAPER)]
    shown = [f"arXiv {'; '.join(paper)} = ICML {icml_reference('; '.join(paper))}"] if paper else []
    return "; ".join(shown + other)


def icml_reference(reference: str) -> str:
    """The ICML/PMLR numbering of an arXiv v2 reference: main-text results one section lower
    (Thm 4.1 -> Thm 3.1, Sec. 4.2-4.3 -> Sec. 3.2-3.3), appendices one letter later (App. B.3 ->
    App. C.3). Parts naming Dao & Gu, Woerdeman or docs/theory.md are left as they are."""
    parts = []
    for part in reference.split("; "):
        if not any(k in part for k in _NOT_PAPER):
            part = re.sub(r"App\. ([A-Z])", lambda m: f"App. {chr(ord(m.group(1)) + 1)}", part)
            part = re.sub(r"(?<![\w.])(\d)\.(\d+)", lambda m: f"{int(m.group(1)) - 1}.{m.group(2)}",
                          part)
            part = re.sub(r"Sec\. (\d)(?![\d.])", lambda m: f"Sec. {int(m.group(1)) - 1}", part)
        parts.append(part)
    return "; ".join(parts)


def summarize(cases: list, measured, threshold, passed=None, summary: str = "",
              extra: str = "", data: dict | None = None, tally: bool = False) -> dict:
    """Merge case results: passed iff every case passed (unless ``passed`` is given); detail
    lists the first failing cases, or ``extra`` when none failed; ``tally`` ends the summary
    with "; K failures"."""
    bad = [c for c in cases if not c["passed"]]
    summary += f"; {len(bad)} failures" if tally else ""
    ok = not bad if passed is None else passed
    detail = "; ".join(c["detail"] for c in bad[:4]) if bad else extra
    out = dict(measured=measured, threshold=threshold, passed=ok, summary=summary, detail=detail,
               data=dict(data or {}))
    out["data"].setdefault("cases", [c.get("detail", "") for c in cases])
    return out


def failures(cases: list) -> int:
    """How many of ``cases`` failed."""
    return sum(not c["passed"] for c in cases)


def refused(call: Callable, error=ValueError):
    """The ``error`` that ``call()`` raised, or None when it returned (a row checking that bad
    input is refused); any other exception propagates."""
    try:
        call()
    except error as exc:
        return exc
    return None


def run_check(id: str, full: bool = False) -> Record:
    """Run one registered row."""
    c = CHECKS[id]
    start = stopwatch()
    try:
        out = c.fn(full)
        measured, threshold = float(out["measured"]), float(out["threshold"])
        passed, detail = bool(out["passed"]), str(out.get("detail", ""))
        summary, data = str(out.get("summary", "")), dict(out.get("data", {}))
    except Exception as exc:  # reported as a failure with the reason
        measured, threshold, passed = float("nan"), float("nan"), False
        detail, summary, data = f"{type(exc).__name__}: {exc}", "the check raised", {}
    return Record(c.id, c.section, c.statement, c.reference, icml_reference(c.reference),
                  measured, threshold, passed, stopwatch() - start, summary,
                  detail, data)


def run_checks(only=None, full: bool = False, progress: Callable | None = None,
               starting: Callable | None = None) -> list:
    """Run the rows whose id is in ``only`` (all when None), in registration order.

    ``starting(index, count, id)`` is called before each row and ``progress(record)`` after.
    """
    if only:
        unknown = sorted(set(only) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown check id(s) {unknown}; known: {list(CHECKS)}")
    ids = [i for i in CHECKS if not only or i in only]
    records = []
    for k, id in enumerate(ids):
        if starting is not None:
            starting(k, len(ids), id)
        rec = run_check(id, full)
        if progress is not None:
            progress(rec)
        records.append(rec)
    return records


def _wrap(text: str, indent: str, width: int = 100) -> list:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent) or [indent]


def format_report(records, mode: str = "quick") -> str:
    """The teaching report: rows grouped by section, each with its statement in words and what
    was measured in plain terms; failing rows also print why."""
    n_fail = sum(not r.passed for r in records)
    total = sum(r.seconds for r in records)
    lines = [f"ssd_edu verify ({mode}): {len(records)} results checked in {total:.1f} s: "
             f"{len(records) - n_fail} hold, {n_fail} fail"]
    for key, (title, where) in SECTIONS.items():
        rows = [r for r in records if r.section == key]
        if not rows:
            continue
        lines += ["", f"{title}  [{where}]"]
        for r in rows:
            lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.id}  [{both_numberings(r.reference)}]"
                         f"  {r.seconds:.2f} s")
            lines += _wrap(r.statement, "        ")
            lines += _wrap("measured: " + (r.summary or f"{r.measured:.3g} against "
                                           f"{r.threshold:.3g}"), "        ")
            if r.detail and not r.passed:
                lines += _wrap("why it failed: " + r.detail, "        ")
    lines += ["", f"{len(records) - n_fail} passed, {n_fail} failed"
              + ("" if mode == "full" else "  (--full: larger grids, the T = 5 enumeration; "
                 "--detail ID: the whole record of one row)")]
    return "\n".join(lines)


def format_table(records) -> str:
    """One line per row (id, verdict, time, plain-terms measurement): the compact view."""
    lines = []
    for r in records:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.id:<24} {r.seconds:6.2f}s  "
                     f"{r.summary or r.detail}")
    n_fail = sum(not r.passed for r in records)
    lines.append(f"{len(records) - n_fail} passed, {n_fail} failed")
    return "\n".join(lines)


def format_detail(record: Record) -> str:
    """Everything one row recorded: statement, references, numbers, detail and its data."""
    lines = [f"{record.id}: {'PASS' if record.passed else 'FAIL'} ({record.seconds:.2f} s)",
             f"section: {SECTIONS[record.section][0]}  [{SECTIONS[record.section][1]}]",
             f"reference: {both_numberings(record.reference)}"]
    lines += _wrap("statement: " + record.statement, "")
    lines += _wrap("measured: " + record.summary, "")
    lines.append(f"measured value {record.measured:.6g}, threshold {record.threshold:.6g}")
    if record.detail:
        lines += _wrap("detail: " + record.detail, "")
    for key, value in record.data.items():
        if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float)):
            lines.append(f"{key}:")
            lines += [f"  {v}" for v in value]
        else:
            lines += _wrap(f"{key}: {value}", "")
    return "\n".join(lines)
