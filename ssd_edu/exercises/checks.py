"""The graders, one per exercise: ``check_<exercise>(fn, allow_package=False) -> GradeResult``.

They live by topic (masks and kernels in :mod:`.masks`, recurrences in :mod:`.scans`, ranks and
split points in :mod:`.ranks`, duals and the softmax kernel in :mod:`.duals`); this module
gathers them under one name.
"""
from __future__ import annotations

from .backward import check_scalar_scan_backward
from .duals import check_one_ss_dual, check_power_kernel
from .masks import check_one_ss_mask, check_segsum, check_sum_of_heads
from .ranks import check_count_new_columns, check_split_points, check_ss_rank
from .scans import check_algorithm1, check_chunked_scan, check_diagonal_scan, check_pass_states

__all__ = ["check_scalar_scan_backward", "check_one_ss_mask", "check_segsum", "check_diagonal_scan", "check_sum_of_heads",
           "check_pass_states", "check_count_new_columns", "check_algorithm1",
           "check_chunked_scan", "check_ss_rank", "check_split_points", "check_one_ss_dual",
           "check_power_kernel"]
