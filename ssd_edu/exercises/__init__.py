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

from . import solutions
from .checks import (check_algorithm1, check_chunked_scan, check_count_new_columns,
                     check_diagonal_scan, check_one_ss_dual, check_one_ss_mask,
                     check_pass_states, check_power_kernel, check_segsum, check_split_points,
                     check_ss_rank, check_sum_of_heads)
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


#: name -> Exercise, in the order of the notebooks in tutorials/exercises/.
EXERCISES = {e.name: e for e in (
    Exercise("one_ss_mask", check_one_ss_mask, solutions.one_ss_mask, "ex01_one_ss_mask.ipynb",
             1, "easy", "01_scalar_ssd.ipynb"),
    Exercise("segsum", check_segsum, solutions.segsum, "ex02_stable_segsum.ipynb",
             2, "medium", "01_scalar_ssd.ipynb"),
    Exercise("diagonal_scan", check_diagonal_scan, solutions.diagonal_scan,
             "ex03_diagonal_scan.ipynb", 1, "easy", "00_overview.ipynb"),
    Exercise("sum_of_heads", check_sum_of_heads, solutions.sum_of_heads,
             "ex04_sum_of_heads.ipynb", 2, "medium", "02_diagonal_ssd.ipynb"),
    Exercise("pass_states", check_pass_states, solutions.pass_states,
             "ex05_state_passing.ipynb", 2, "medium", "03_chunked_and_cost.ipynb"),
    Exercise("count_new_columns", check_count_new_columns, solutions.count_new_columns,
             "ex06_new_columns.ipynb", 2, "medium", "04_when_is_an_ssm_an_attention.ipynb"),
    Exercise("algorithm1", check_algorithm1, solutions.algorithm1, "ex07_algorithm1.ipynb",
             2, "medium", "02_diagonal_ssd.ipynb"),
    Exercise("chunked_scan", check_chunked_scan, solutions.chunked_scan,
             "ex08_chunked_scan.ipynb", 3, "hard", "03_chunked_and_cost.ipynb"),
    Exercise("ss_rank", check_ss_rank, solutions.ss_rank, "ex09_ss_rank.ipynb",
             1, "easy", "04_when_is_an_ssm_an_attention.ipynb"),
    Exercise("split_points", check_split_points, solutions.split_points,
             "ex10_split_points.ipynb", 1, "easy", "04_when_is_an_ssm_an_attention.ipynb"),
    Exercise("one_ss_dual", check_one_ss_dual, solutions.one_ss_dual, "ex11_one_ss_dual.ipynb",
             3, "hard", "04_when_is_an_ssm_an_attention.ipynb"),
    Exercise("power_kernel", check_power_kernel, solutions.power_kernel,
             "ex12_power_kernel.ipynb", 1, "easy", "05_softmax_rank_explosion.ipynb"),
)}

__all__ = [
    "grade", "GradeResult", "ExerciseFailure", "Case", "run_cases", "EXERCISES", "Exercise",
    "solutions", "check_one_ss_mask", "check_segsum", "check_diagonal_scan",
    "check_sum_of_heads", "check_pass_states", "check_count_new_columns", "check_algorithm1",
    "check_chunked_scan", "check_ss_rank", "check_split_points", "check_one_ss_dual",
    "check_power_kernel",
]
