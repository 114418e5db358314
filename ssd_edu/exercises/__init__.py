"""Classroom exercises: graders that say precisely what is wrong, and reference solutions.

In a notebook::

    from ssd_edu.exercises import grade, check_one_ss_mask

    def one_ss_mask(a):
        ...                                   # the student's attempt

    grade(check_one_ss_mask, one_ss_mask)     # prints "one_ss_mask: all 9 cases passed"
                                              # or e.g. "... case 3/9 (a zero decay at t = 2)
                                              # failed: L has 6 non-finite entries (NaN ...)"

``check_*(fn)`` returns a :class:`GradeResult` (true when passed; ``.message``;
``.raise_if_failed()``); :func:`grade` prints it and never raises. The reference solutions
are in :mod:`ssd_edu.exercises.solutions`; :data:`EXERCISES` lists, per exercise, the
grader, the solution and the notebook in ``tutorials/exercises/``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from . import solutions
from .checks import (check_count_new_columns, check_diagonal_scan, check_one_ss_mask,
                     check_pass_states, check_segsum, check_sum_of_heads)
from .grading import Case, ExerciseFailure, GradeResult, grade, run_cases


class Exercise(NamedTuple):
    """One exercise: the function the student writes, its grader, solution and notebook."""

    name: str
    check: Callable
    solution: Callable
    notebook: str


#: name -> Exercise, in the order of the notebooks in tutorials/exercises/.
EXERCISES = {e.name: e for e in (
    Exercise("one_ss_mask", check_one_ss_mask, solutions.one_ss_mask, "ex01_one_ss_mask.ipynb"),
    Exercise("segsum", check_segsum, solutions.segsum, "ex02_stable_segsum.ipynb"),
    Exercise("diagonal_scan", check_diagonal_scan, solutions.diagonal_scan,
             "ex03_diagonal_scan.ipynb"),
    Exercise("sum_of_heads", check_sum_of_heads, solutions.sum_of_heads,
             "ex04_sum_of_heads.ipynb"),
    Exercise("pass_states", check_pass_states, solutions.pass_states,
             "ex05_state_passing.ipynb"),
    Exercise("count_new_columns", check_count_new_columns, solutions.count_new_columns,
             "ex06_new_columns.ipynb"),
)}

__all__ = [
    "grade", "GradeResult", "ExerciseFailure", "Case", "run_cases", "EXERCISES", "Exercise",
    "solutions", "check_one_ss_mask", "check_segsum", "check_diagonal_scan",
    "check_sum_of_heads", "check_pass_states", "check_count_new_columns",
]
