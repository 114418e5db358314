"""What an exercise notebook must hold: the grader's battery described, and nbgrader metadata.

:func:`battery_text` is the "What the grader checks" paragraph of each exercise notebook,
generated from the grader itself (its case names by category), so the text says exactly what
the grader checks; a test compares it with the stored notebooks. :func:`nbgrader_metadata`
is the cell metadata of an nbgrader course (grade ids, points, solution and locked cells).
"""
from __future__ import annotations

from . import EXERCISES

#: cell role -> (nbgrader solution, grade, locked)
ROLES = {"text": (False, False, True), "setup": (False, False, True),
         "answer": (True, False, False), "report": (False, False, True),
         "autograde": (False, True, True)}


#: what a grader compares the answer with, unless it says otherwise (a ``compares`` attribute)
COMPARES = ("the package (arrays within the package's tolerance `ssd_edu.testing.TOLERANCES` "
            "for your answer's dtype, float32 for float32 data)")


def battery_text(name: str) -> str:
    """Markdown: the grader's cases by category, e.g. "- **basic** (3): T = 5, random ...; ..."."""
    ex = EXERCISES[name]
    result = ex.check(ex.solution)
    groups = {}
    for case, category in result.cases:
        groups.setdefault(category, []).append(case)
    compares = getattr(ex.check, "compares", COMPARES)
    lines = [f"**What the grader checks.** `{ex.check.__name__}` runs your function on "
             f"{len(result.cases)} cases and compares it with {compares}. A call to the "
             f"package's own version fails. It "
             f"prints `all {len(result.cases)} cases passed`, or the first failing case with its "
             f"diagnosis and how many cases of each category passed:", ""]
    lines += [f"- **{cat}** ({len(cases)}): " + "; ".join(cases) for cat, cases in groups.items()]
    return "\n".join(lines)


def nbgrader_metadata(name: str, role: str, index: int) -> dict:
    """The ``nbgrader`` cell metadata of cell ``index`` with ``role`` (see :data:`ROLES`)."""
    ex = EXERCISES[name]
    solution, grade, locked = ROLES[role]
    number = ex.notebook.split("_")[0]
    meta = {"grade": grade, "grade_id": f"{number}-{role}-{index}" if role == "text"
            else f"{number}-{role}", "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = ex.points
    return meta
