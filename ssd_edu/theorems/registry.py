"""The ``verify`` rows and their report. A row ``fn(full) -> dict(measured, threshold, passed[,
summary, detail, data])`` is registered with :func:`check` (id, section, statement, arXiv v2
reference); :func:`run_check` makes it a :class:`Record` (an exception: a failed one)."""
from __future__ import annotations

import re
import textwrap
from collections import namedtuple
from dataclasses import dataclass, field
from time import perf_counter as stopwatch  # a row's duration in the report, never a verdict
from typing import Callable

#: Sections of the report, in reading order: key -> (title, where in the paper).
SECTIONS = {
    "scalar": ("Scalar SSD: the recurrence is a masked attention", "arXiv Sec. 3 / ICML Sec. 2"),
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


_Check = namedtuple("_Check", "id section statement reference fn")
CHECKS: dict = {}  #: id -> registered row, in registration (reading) order


def check(id: str, section: str, statement: str | None = None, reference: str = ""):
    """Register a row (``statement``: its docstring by default); it decides by math, not time."""
    if section not in SECTIONS:
        raise ValueError(f"section must be one of {list(SECTIONS)}, got {section!r}")

    def wrap(fn):
        words = statement if statement is not None else " ".join((fn.__doc__ or "").split())
        if not words:
            raise ValueError(f"check {id!r}: give a statement or a docstring")
        CHECKS[id] = _Check(id, section, words, reference, fn)
        return fn
    return wrap


def _paper(part: str) -> bool:
    return not any(k in part for k in ("Dao & Gu", "Woerdeman", "docs/theory.md"))


def both_numberings(reference: str) -> str:
    """``"arXiv Thm 4.1 = ICML Thm 3.1; Dao & Gu 2024"``: the paper's parts in both numberings."""
    paper = "; ".join(p for p in reference.split("; ") if _paper(p))
    shown = [f"arXiv {paper} = ICML {icml_reference(paper)}"] if paper else []
    return "; ".join(shown + [p for p in reference.split("; ") if not _paper(p)])


def icml_reference(reference: str) -> str:
    """The ICML numbering of an arXiv v2 reference: main-text results one section lower (Thm 4.1
    -> Thm 3.1), appendices one letter later (App. B.3 -> App. C.3); other references as is."""
    def icml(part):
        part = re.sub(r"App\. ([A-Z])", lambda m: f"App. {chr(ord(m[1]) + 1)}", part)
        part = re.sub(r"(?<![\w.])(\d)\.(\d+)", lambda m: f"{int(m[1]) - 1}.{m[2]}", part)
        return re.sub(r"Sec\. (\d)(?![\d.])", lambda m: f"Sec. {int(m[1]) - 1}", part)
    return "; ".join(icml(p) if _paper(p) else p for p in reference.split("; "))


def summarize(cases: list, measured, threshold, summary: str = "", extra: str = "",
              data: dict | None = None, tally: bool = False) -> dict:
    """Passed iff every case passed; detail: the first failures or ``extra``; tally: K failures."""
    bad = [c for c in cases if not c["passed"]]
    summary += f"; {len(bad)} failures" if tally else ""
    detail = "; ".join(c["detail"] for c in bad[:4]) if bad else extra
    out = dict(measured=measured, threshold=threshold, passed=not bad, summary=summary,
               detail=detail, data=dict(data or {}))
    out["data"].setdefault("cases", [c.get("detail", "") for c in cases])
    return out


def case(passed, detail: str, measured=0.0, threshold=0) -> dict:
    """One case of a row: ``dict(measured, threshold, passed, detail)``."""
    return dict(measured=measured, threshold=threshold, passed=bool(passed), detail=detail)


def failures(cases: list) -> int:
    return sum(not c["passed"] for c in cases)


def refused(call: Callable, error=ValueError):
    """The ``error`` that ``call()`` raised, or None when it returned; others propagate."""
    try:
        call()
    except error as exc:
        return exc
    return None


def run_check(id: str, full: bool = False) -> Record:
    c, start = CHECKS[id], stopwatch()
    try:
        out = c.fn(full)
        result = (float(out["measured"]), float(out["threshold"]), bool(out["passed"]))
        words = (str(out.get("summary", "")), str(out.get("detail", "")), dict(out.get("data", {})))
    except Exception as exc:  # reported as a failure with the reason
        result = (float("nan"), float("nan"), False)
        words = ("the check raised", f"{type(exc).__name__}: {exc}", {})
    return Record(c.id, c.section, c.statement, c.reference, icml_reference(c.reference),
                  *result, stopwatch() - start, *words)


def run_checks(only=None, full: bool = False, progress: Callable = lambda *args: None) -> list:
    """Run the rows in ``only`` (all: None); ``progress(k, n, id, record or None)`` around each."""
    unknown = sorted(set(only or ()) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check id(s) {unknown}; known: {list(CHECKS)}")
    ids, records = [i for i in CHECKS if not only or i in only], []
    for k, id in enumerate(ids):
        progress(k, len(ids), id, None)
        records.append(run_check(id, full))
        progress(k, len(ids), id, records[-1])
    return records


def _wrap(text: str, indent: str) -> list:
    return textwrap.wrap(text, 100, initial_indent=indent, subsequent_indent=indent) or [indent]


def format_report(records, mode: str = "quick") -> str:
    """The teaching report: rows by section, statement, what was measured; why a row failed."""
    n_fail, total = sum(not r.passed for r in records), sum(r.seconds for r in records)
    lines = [f"ssd_edu verify ({mode}): {len(records)} results checked in {total:.1f} s: "
             f"{len(records) - n_fail} hold, {n_fail} fail"]
    for key, (title, where) in SECTIONS.items():
        rows = [r for r in records if r.section == key]
        lines += ["", f"{title}  [{where}]"] if rows else []
        for r in rows:
            lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.id}  "
                         f"[{both_numberings(r.reference)}]  {r.seconds:.2f} s")
            lines += _wrap(r.statement, " " * 8) + _wrap("measured: " + (
                r.summary or f"{r.measured:.3g} against {r.threshold:.3g}"), " " * 8)
            lines += _wrap("why it failed: " + r.detail, " " * 8) if r.detail and not r.passed \
                else []
    lines += ["", f"{len(records) - n_fail} passed, {n_fail} failed"
              + ("" if mode == "full" else "  (--full: larger grids, the T = 5 enumeration; "
                 "--detail ID: the whole record of one row)")]
    return "\n".join(lines)


def format_detail(record: Record) -> str:
    """Everything one row recorded: statement, references, numbers, detail and its data."""
    lines = [f"{record.id}: {'PASS' if record.passed else 'FAIL'} ({record.seconds:.2f} s)",
             f"section: {SECTIONS[record.section][0]}  [{SECTIONS[record.section][1]}]",
             f"reference: {both_numberings(record.reference)}"]
    lines += _wrap("statement: " + record.statement, "") + _wrap("measured: " + record.summary, "")
    lines.append(f"measured value {record.measured:.6g}, threshold {record.threshold:.6g}")
    lines += _wrap("detail: " + record.detail, "") if record.detail else []
    for key, value in record.data.items():
        if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float)):
            lines += [f"{key}:"] + [f"  {v}" for v in value]
        else:
            lines += _wrap(f"{key}: {value}", "")
    return "\n".join(lines)
