"""Classroom exercises: graders that say precisely what is wrong, reference solutions, batch
grading and handing out the notebooks.

In a notebook::

    from ssd_edu.exercises import grade, check_one_ss_mask

    def one_ss_mask(a):
        ...                                   # the student's attempt

    grade(check_one_ss_mask, one_ss_mask)     # prints "one_ss_mask: all 12 cases passed", or
                                              # the first failing case's diagnosis and
                                              # "passed k of n cases (basic 3/3, ...)"

``check_*(fn)`` returns a :class:`GradeResult` (true when passed; ``.n_passed``, ``.n_cases``,
``.message``, ``.by_category``; ``.raise_if_failed()``); :func:`grade` prints it and never
raises. :data:`EXERCISES` lists, per exercise, the grader, the solution
(:mod:`ssd_edu.exercises.solutions`), the notebook, its points and difficulty. A class is
graded with ``ssd-edu grade PATH...`` (:mod:`ssd_edu.exercises.batch`); the notebooks are
handed out with ``ssd-edu exercises --out DIR`` (:mod:`ssd_edu.exercises.handout`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from . import checks, solutions
from .checks import (check_algorithm1, check_chunked_scan, check_count_new_columns,
                     check_diagonal_scan, check_one_ss_dual, check_one_ss_mask,
                     check_pass_states, check_power_kernel, check_segsum, check_split_points,
                     check_scalar_scan_backward, check_ss_rank, check_sum_of_heads)
from .grading import Case, ExerciseFailure, GradeResult, grade, run_cases


class Exercise(NamedTuple):
    """One exercise: the function the student writes, its grader, solution and notebook.

    points: the score of a passing answer; difficulty: "easy", "medium" or "hard";
    tutorial: the tutorial notebook whose "Try it yourself" cell points here.
    """

    name: str
    check: Callable
    solution: Callable
    notebook: str
    points: int
    difficulty: str
    tutorial: str


#: The exercises in notebook order: function names, and the notebooks ``<file>.ipynb``.
NAMES = ("one_ss_mask segsum diagonal_scan sum_of_heads pass_states count_new_columns "
         "algorithm1 chunked_scan ss_rank split_points one_ss_dual power_kernel "
         "scalar_scan_backward").split()
_NOTEBOOKS = ("ex01_one_ss_mask ex02_stable_segsum ex03_diagonal_scan ex04_sum_of_heads "
              "ex05_state_passing ex06_new_columns ex07_algorithm1 ex08_chunked_scan "
              "ex09_ss_rank ex10_split_points ex11_one_ss_dual ex12_power_kernel "
              "ex13_scalar_scan_backward").split()
#: Points of a passing answer, by difficulty.
POINTS = {"easy": 1, "medium": 2, "hard": 3}
_DIFFICULTY = dict(one_ss_mask="easy", segsum="medium", diagonal_scan="easy",
                   sum_of_heads="medium", pass_states="medium", count_new_columns="medium",
                   algorithm1="medium", chunked_scan="hard", ss_rank="easy", split_points="easy",
                   one_ss_dual="hard", power_kernel="easy",
                   scalar_scan_backward="medium")
#: tutorial -> the exercises its "Try it yourself" cell points to
_TUTORIALS = {
    "00_overview.ipynb": "diagonal_scan",
    "01_scalar_ssd.ipynb": "one_ss_mask segsum",
    "02_diagonal_ssd.ipynb": "sum_of_heads algorithm1",
    "03_chunked_and_cost.ipynb": "pass_states chunked_scan",
    "04_when_is_an_ssm_an_attention.ipynb": "count_new_columns ss_rank split_points one_ss_dual",
    "05_softmax_rank_explosion.ipynb": "power_kernel",
    "09_backward_is_an_ssd.ipynb": "scalar_scan_backward",
}
_TUTORIAL_OF = {name: tut for tut, names in _TUTORIALS.items() for name in names.split()}


def _exercise(name: str, notebook: str) -> Exercise:
    difficulty = _DIFFICULTY[name]
    return Exercise(name, getattr(checks, f"check_{name}"), getattr(solutions, name),
                    notebook + ".ipynb", POINTS[difficulty], difficulty, _TUTORIAL_OF[name])


#: name -> Exercise (grader check_<name>, solution solutions.<name>), in notebook order.
EXERCISES = {name: _exercise(name, nb) for name, nb in zip(NAMES, _NOTEBOOKS)}

__all__ = [
    "grade", "GradeResult", "ExerciseFailure", "Case", "run_cases", "EXERCISES", "Exercise",
    "solutions", "check_one_ss_mask", "check_segsum", "check_diagonal_scan",
    "check_sum_of_heads", "check_pass_states", "check_count_new_columns", "check_algorithm1",
    "check_chunked_scan", "check_ss_rank", "check_split_points", "check_one_ss_dual",
    "check_power_kernel", "check_scalar_scan_backward",
]
