"""Classroom exercises: graders that say precisely what is wrong, reference solutions, batch
grading (``ssd-edu grade PATH...``), the notebooks (``ssd-edu exercises --out DIR``). In a
notebook ``grade(check_one_ss_mask, one_ss_mask)`` prints "one_ss_mask: all 12 cases passed", or
the first failing case's diagnosis and "passed k of n cases (basic 3/3, ...)";
``check_<name>(fn)`` returns a :class:`GradeResult` (true when passed; ``.raise_if_failed()``)."""
from __future__ import annotations

from collections import namedtuple

from . import solutions
from .backward import check_scalar_scan_backward
from .duals import check_one_ss_dual, check_power_kernel
from .grading import Case, ExerciseFailure, GradeResult, grade, run_cases
from .masks import check_one_ss_mask, check_segsum, check_sum_of_heads
from .ranks import check_count_new_columns, check_split_points, check_ss_rank
from .scans import check_algorithm1, check_chunked_scan, check_diagonal_scan, check_pass_states


#: The function a student writes (``name``), its grader, solution, notebook, points, difficulty
#: and the tutorial whose "Try it yourself" cell points here.
Exercise = namedtuple("Exercise", "name check solution notebook points difficulty tutorial")


#: Points of a passing answer, by difficulty.
POINTS = {"easy": 1, "medium": 2, "hard": 3}
#: name, notebook, difficulty, tutorial (in notebook order)
_TABLE = """
one_ss_mask           ex01_one_ss_mask           easy    01_scalar_ssd
segsum                ex02_stable_segsum         medium  01_scalar_ssd
diagonal_scan         ex03_diagonal_scan         easy    00_overview
sum_of_heads          ex04_sum_of_heads          medium  02_diagonal_ssd
pass_states           ex05_state_passing         medium  03_chunked_and_cost
count_new_columns     ex06_new_columns           medium  04_when_is_an_ssm_an_attention
algorithm1            ex07_algorithm1            medium  02_diagonal_ssd
chunked_scan          ex08_chunked_scan          hard    03_chunked_and_cost
ss_rank               ex09_ss_rank               easy    04_when_is_an_ssm_an_attention
split_points          ex10_split_points          easy    04_when_is_an_ssm_an_attention
one_ss_dual           ex11_one_ss_dual           hard    04_when_is_an_ssm_an_attention
power_kernel          ex12_power_kernel          easy    05_softmax_rank_explosion
scalar_scan_backward  ex13_scalar_scan_backward  medium  09_backward_is_an_ssd
"""
#: name -> Exercise, in notebook order.
EXERCISES = {name: Exercise(name, globals()[f"check_{name}"], getattr(solutions, name),
                            f"{nb}.ipynb", POINTS[level], level, f"{tut}.ipynb")
             for name, nb, level, tut in map(str.split, _TABLE.strip().splitlines())}


def battery_text(name: str) -> str:
    """The notebook's "What the grader checks" paragraph: the grader's cases by category."""
    ex = EXERCISES[name]
    groups, n = {}, len(battery := ex.check(ex.solution).cases)
    for case, category in battery:
        groups.setdefault(category, []).append(case)
    lines = [f"**What the grader checks.** `{ex.check.__name__}` runs your function on {n} cases "
             f"and compares it with {ex.check.compares}. A call to the package's own version "
             f"fails. It prints `all {n} cases passed`, or the first failing case with its "
             f"diagnosis and how many cases of each category passed:", ""]
    lines += [f"- **{cat}** ({len(cases)}): " + "; ".join(cases) for cat, cases in groups.items()]
    return "\n".join(lines)


__all__ = ["grade", "GradeResult", "ExerciseFailure", "Case", "run_cases", "EXERCISES",
           "Exercise", "solutions", "battery_text", *(f"check_{name}" for name in EXERCISES)]
