"""Graders of the diagonal scan (ex03), state passing (ex05), Algorithm 1 (ex07) and the chunked
algorithm (ex08); a known mistake's answer is ``reference.diagonal_scan`` on altered inputs."""
from __future__ import annotations

import sys

import numpy as np

from .. import reference as ref
from ..registry import BACKEND_MODULES, IMPLEMENTATIONS
from ..testing import make_inputs
from .answers import TupleAnswer
from .grading import Case, grader

_STATE_FORBIDDEN = ("ssd_edu.reference.chunking.state_passing",)
_DIAGONAL_FORMS = ("ssd_edu.reference.diagonal.diagonal_algorithm1",
                   "ssd_edu.reference.general.general_scan")
#: The package's chunked steps other than state passing.
_CHUNK_STEPS = tuple(f"ssd_edu.{mod}.{step}" for mod in ("reference.chunking", "cpu.chunked")
                     for step in ("intra_chunk", "chunk_states", "chunk_output"))


def _forms(*families) -> tuple:
    """The registered forms of these families in every backend loaded so far (grading loads
    no Numba or CUDA backend)."""
    loaded = {b for b, (module, _, _) in BACKEND_MODULES.items() if module in sys.modules}
    return tuple(IMPLEMENTATIONS[key] for key in IMPLEMENTATIONS
                 if key.split(".")[0] in loaded and key.split(".")[1] in families)


def _state_shape_pre(y, h, case):
    h_exp, T = np.asarray(case.expected[1]), np.asarray(case.expected[0]).shape[-2]
    if h.shape == h_exp.shape[:-2] + (T,) + h_exp.shape[-2:]:
        return (f"the final state h has shape {h.shape}: that is every state h_0 .. h_{{T-1}}; "
                f"return only the last one, shape {h_exp.shape}")
    return None


SCAN_ANSWER = TupleAnswer((("y", "(..., T, P)"), ("the final state h", "(..., N, P)")),
                         ". The recurrence needs only products and sums: no log, no division",
                         _state_shape_pre)

_LATE = ("off by one step: your y_t = h_{t-1}^T C_t reads the state before the update; update "
         "first, h_t = diag(a_t) h_{t-1} + B_t x_t^T, then y_t = h_t^T C_t")
_PREV_DECAY = ("the decay is a[t-1]: step t decays the state by its own a_t, "
               "h_t = diag(a_t) h_{t-1} + B_t x_t^T")
_SHARED = ("one decay shared by all modes (the {} of the modes' decays): in the diagonal "
           "family row n of the state decays by its own a[t, n]")


def _start(h0, shape) -> np.ndarray:
    return np.zeros(shape) if h0 is None else np.broadcast_to(h0, shape).astype(np.float64)


def _scan_variants(x, a, B, C, h0, expected, Q=None) -> list:
    """The known mistakes of a diagonal recurrence, each as the (y, h) it produces."""
    y_exp, h_exp = expected
    h0_arr = _start(h0, h_exp.shape)

    def scan(a=a, B=B, C=C, h0=h0):
        return ref.diagonal_scan(x, a, B, C, initial_state=h0)

    def shared(decay):
        return scan(a=np.broadcast_to(decay[..., None], a.shape).copy())
    ones = np.ones_like(a[..., :1, :])
    C_next = np.concatenate([C[..., 1:, :], C[..., :1, :]], axis=-2)
    y_first = np.einsum("...np,...n->...p", h0_arr, C[..., 0, :])[..., None, :]
    y_late = np.concatenate([y_first, scan(C=C_next)[0][..., :-1, :]], axis=-2)
    no_h0 = ref.diagonal_scan(x, a, B, C)
    return [
        ("ignore_h0", "initial_state is ignored: start from h_{-1} = initial_state (zeros only "
         "when it is None)", no_h0),
        ("y_no_h0", "y leaves out the initial state: y_t = h_t^T C_t must include the decayed "
         "h_{-1} (your final h does include it)", (no_h0[0], h_exp)),
        ("h0_returned", "y is right but the returned h is the initial state; return h_{T-1}",
         (y_exp, h0_arr)),
        ("late", _LATE, (y_late, None)),
        ("decay_input", "the decay also multiplies the new input: h_t = diag(a_t) (h_{t-1} + "
         "B_t x_t^T); decay only the old state, h_t = diag(a_t) h_{t-1} + B_t x_t^T",
         scan(B=a * B)),
        ("swapped", "B and C are swapped: B_t (the key) writes x_t into the state, C_t (the "
         "query) reads y_t out", scan(B=C, C=B)),
        ("mode0", "every mode used the decay of mode 0: in the diagonal family row n of the "
         "state decays by its own a[t, n]", shared(a[..., 0])),
        ("mean", _SHARED.format("mean"), shared(a.mean(axis=-1))),
        ("product", _SHARED.format("product"), shared(a.prod(axis=-1))),
        ("no_decay0", "the decay at t = 0 is missing: h_0 = diag(a_0) h_{-1} + B_0 x_0^T, so "
         "the initial state decays by a_0 too", scan(a=np.concatenate([ones, a[..., 1:, :]], -2))),
        ("prev_decay", _PREV_DECAY, scan(a=np.roll(a, 1, axis=-2))),
        ("prev_decay1", _PREV_DECAY, scan(a=np.concatenate([ones, a[..., :-1, :]], -2))),
        ("no_decay", "the state never decays (h_t = h_{t-1} + B_t x_t^T, a running sum): "
         "multiply the old state by the decays first, h_t = diag(a_t) h_{t-1} + B_t x_t^T",
         scan(a=np.ones_like(a)))]


_SCAN_ARGS = ("x", "a", "B", "C", "initial_state")


def scan_battery(variants=_scan_variants, chunked: bool = False) -> list:
    """The cases shared by the three recurrence exercises (``chunked`` adds chunk sizes)."""
    def case(name, category, *sizes, Q=4, scale=1.0, dtype=np.float64, **kw):
        d = make_inputs("diagonal", *sizes, dtype=dtype, **kw)
        d["x"] = d["x"] * dtype(scale)
        x, a, B, C, h0 = (None if d[k] is None else np.asarray(d[k], dtype=np.float64)
                          for k in _SCAN_ARGS)
        expected = ref.diagonal_scan(x, a, B, C, initial_state=h0)
        args = tuple(d[k] for k in _SCAN_ARGS)
        args = args[:4] + (Q,) + args[4:] if chunked else args
        return Case(name, args, expected, SCAN_ANSWER, category,
                    variants(x, a, B, C, h0, expected, Q))
    cases = [
        case("T = 6, N = 3, P = 2, random decays", "basic", 6, 3, 2, seed=10),
        case("negative decays", "basic", 7, 2, 2, regime="negative", seed=13),
        case("T = 1", "edge", 1, 2, 3, seed=11),
        case("initial_state=None (start from zeros)", "edge", 5, 2, 3, seed=14,
             initial_state=False),
        case("N = 1, P = 1", "edge", 9, 1, 1, seed=16),
        case("zero decays (a = 0 erases that mode's state)", "zero decays", 8, 3, 2,
             regime="zero", seed=12),
        case("leading batch axes (2, 3), T = 5, N = 2, P = 2", "batch", 5, 2, 2, (2, 3),
             regime="zero", seed=15),
        case("strong decays down to 1e-300, T = 10", "extreme", 10, 3, 2, regime="strong", seed=17),
        case("mixed decays 0, 1, -1, 1e-300, T = 12", "extreme", 12, 2, 2, regime="mixed", seed=18),
        case("x scaled by 1e8, T = 8", "scaled", 8, 2, 3, scale=1e8, seed=19),
        case("float32 inputs, T = 24, N = 4, P = 3", "float32", 24, 4, 3, dtype=np.float32, seed=9)]
    if chunked:
        cases += [
            case("T = 10, chunk_size 4: a short last chunk", "chunk sizes", 10, 2, 2, seed=40),
            case("chunk_size 1", "chunk sizes", 5, 2, 2, seed=41, Q=1),
            case("chunk_size 16 > T = 5: one chunk", "chunk sizes", 5, 2, 2, seed=42, Q=16),
            case("T = 12, chunk_size 3, zero decays at chunk starts", "chunk sizes", 12, 2, 2,
                 regime="zero", seed=43, Q=3)]
    return cases


check_diagonal_scan = grader(
    "diagonal_scan", scan_battery, _SCAN_ARGS, "fn(x, a, B, C, initial_state=None) -> (y, h): "
    "h_t = diag(a_t) h_{t-1} + B_t x_t^T, y_t = h_t^T C_t; x (..., T, P), a, B, C (..., T, N)",
    lambda: _forms("diagonal") + _DIAGONAL_FORMS)


def _algorithm1_variants(x, a, B, C, h0, expected, Q=None) -> list:
    ones = np.ones_like(B)
    y_exp, h_exp = expected
    h0_arr = _start(h0, h_exp.shape)
    last = ref.diagonal_scan(x, a[..., -1:], B[..., -1:], C[..., -1:],
                             initial_state=h0_arr[..., -1:, :])[0]
    return [
        ("no_C", "y is the plain sum of the mode scans H^n: weight each by its query, "
         "y += C[:, n] o H^n", (ref.diagonal_scan(x, a, B, ones, initial_state=h0)[0], h_exp)),
        ("no_B", "Z = x for every mode: the input of mode n is Z = B[:, n] o x",
         ref.diagonal_scan(x, a, ones, C, initial_state=h0)),
        ("last_only", "y holds only the last mode: accumulate y += C[:, n] o H^n over all n "
         "(you overwrote y in the loop)", (last, None)),
        ("h0_row0", "every mode started from row 0 of the initial state: mode n starts from "
         "initial_state[n]", ref.diagonal_scan(
             x, a, B, C, initial_state=np.broadcast_to(h0_arr[..., :1, :], h0_arr.shape))),
        ("swapped", "B and C are swapped: Z = B[:, n] o x goes in, C[:, n] o H comes out",
         ref.diagonal_scan(x, a, C, B, initial_state=h0)),
        ("ignore_h0", "initial_state is ignored: mode n's scan starts from initial_state[n]",
         ref.diagonal_scan(x, a, B, C))]


check_algorithm1 = grader(
    "algorithm1", lambda: scan_battery(_algorithm1_variants), _SCAN_ARGS,
    "fn(x, a, B, C, initial_state=None) -> (y, h), the diagonal SSM mode by mode (its outputs; "
    "the package's scalar forms may be called)", lambda: _forms("diagonal") + _DIAGONAL_FORMS)


def _chunked_variants(x, a, B, C, h0, expected, Q) -> list:
    """Chunk by chunk with the oracle: the mistakes of steps 3 and 4 and of the padding."""
    y_exp, h_exp = expected
    T = x.shape[-2]
    H = _start(h0, h_exp.shape)
    ys = {"nopass": [], "nodecay": [], "after": []}
    for c0 in range(0, T, Q):
        part = [v[..., c0:c0 + Q, :] for v in (x, a, B, C)]
        y_zero, S_c = ref.diagonal_scan(*part)                       # the chunk from a zero state
        y_c, H_next = ref.diagonal_scan(*part, initial_state=H)
        ys["nopass"].append(y_c if c0 == 0 else y_zero)
        ys["nodecay"].append(y_zero + np.einsum("...tn,...np->...tp", part[3], H))
        ys["after"].append(y_zero + ref.diagonal_scan(np.zeros_like(part[0]), *part[1:],
                                                      initial_state=H_next)[0])
        last_own, H = (H_next if c0 == 0 else S_c), H_next
    cat = {k: np.concatenate(v, axis=-2) for k, v in ys.items()}
    found = [
        ("ignore_h0", "initial_state is ignored: the state entering chunk 0 is initial_state",
         ref.diagonal_scan(x, a, B, C)),
        ("nopass", "no state passing: each chunk started from a zero state; step 3 carries "
         "H_c = diag(abar_c) H_{c-1} + S_c into the next chunk", (cat["nopass"], last_own)),
        ("nodecay", "step 4 forgot the decay inside the chunk: Y_off[t] = (C_t o delta_t)^T "
         "H_{c-1}, delta[t] = product of a from the chunk start to t", (cat["nodecay"], None)),
        ("after", "off by one chunk in step 4: chunk c reads the state entering it, H_{c-1}, "
         "not the state after it", (cat["after"], None))]
    if T % Q:
        found.append(("pad0", "the final state is 0 when T is not a multiple of chunk_size: "
                      "you padded the decays with 0, which erases the state; pad a with 1 "
                      "(and x, B, C with 0)", (y_exp, np.zeros_like(h_exp))))
    return found


check_chunked_scan = grader(
    "chunked_scan", lambda: scan_battery(_chunked_variants, chunked=True),
    ("x", "a", "B", "C", "chunk_size", "initial_state"),
    "fn(x, a, B, C, chunk_size, initial_state=None) -> (y, h), the four-step chunked "
    "algorithm (its outputs; one_ss_mask, segsum and state passing may be called)",
    lambda: _forms("diagonal", "scalar") + _DIAGONAL_FORMS + _CHUNK_STEPS)


PASS_ANSWER = TupleAnswer((("H_prev", "(..., J, N, P): the state entering each chunk"),
                          ("H_last", "(..., N, P): the final state")))
_PREV_CHUNK = ("the chunk decay is abar[c-1]: the update of chunk c uses its own decay, "
               "H_c = abar_c H_{c-1} + S_c")


def pass_cases() -> list:
    def case(name: str, abar, S, h0, category: str) -> Case:
        a64, S64, h64 = (np.asarray(v, dtype=np.float64) for v in (abar, S, h0))
        Hp, Hl = ref.state_passing(a64, S64, initial_state=h64)
        ones = np.ones_like(a64[..., :1, :])
        after = np.concatenate([Hp[..., 1:, :, :], Hl[..., None, :, :]], axis=-3)
        return Case(name, (abar, S, h0), (Hp, Hl), PASS_ANSWER, category, [
            ("after", "off by one chunk: H_prev[c] must be the state *entering* chunk c "
             "(H_{c-1}, with H_prev[0] = initial_state), not the state after it", (after, Hl)),
            ("ignore_h0", "initial_state is ignored: H_{-1} = initial_state",
             ref.state_passing(a64, S64, initial_state=np.zeros_like(h64))),
            ("decay_S", "the chunk decay also multiplies the chunk's own state: H_c = abar_c "
             "(H_{c-1} + S_c); S_c already holds the decay inside chunk c, so H_c = abar_c "
             "H_{c-1} + S_c", ref.state_passing(a64, a64[..., None] * S64, initial_state=h64)),
            ("last_entering", "H_last is the state entering the last chunk; apply the last "
             "update too", (Hp, Hp[..., -1, :, :])),
            ("prev_decay", _PREV_CHUNK, ref.state_passing(np.roll(a64, 1, axis=-2), S64,
                                                          initial_state=h64)),
            ("prev_decay1", _PREV_CHUNK, ref.state_passing(
                np.concatenate([ones, a64[..., :-1, :]], -2), S64, initial_state=h64))])
    rng = np.random.default_rng(3)

    def data(J, N, P, batch=(), low=0.3, scale=1.0, dtype=np.float64):
        return tuple(v.astype(dtype) for v in (
            rng.uniform(low, 1, (*batch, J, N)), scale * rng.standard_normal((*batch, J, N, P)),
            rng.standard_normal((*batch, N, P))))

    zero = data(5, 2, 3)
    zero[0][2, 0] = 0.0
    tiny = data(6, 2, 2)
    tiny[0][1:4, :] = 1e-300
    return [
        case("J = 4 chunks, N = 2, P = 3", *data(4, 2, 3), "basic"),
        case("negative chunk decays", *data(5, 2, 2, low=-1), "basic"),
        case("one chunk (J = 1)", *data(1, 3, 2), "edge"),
        case("N = 1, P = 1", *data(6, 1, 1), "edge"),
        case("a chunk decay of 0 (mode 0 forgets everything before chunk 3)", *zero,
             "zero decays"),
        case("leading batch axes (2, 3), J = 3", *data(3, 2, 2, batch=(2, 3)), "batch"),
        case("chunk decays of 1e-300", *tiny, "extreme"),
        case("chunk states scaled by 1e7", *data(4, 2, 2, scale=1e7), "scaled"),
        case("float32 inputs, J = 8", *data(8, 3, 2, dtype=np.float32), "float32")]


check_pass_states = grader(
    "pass_states", pass_cases, ("abar", "S", "initial_state"),
    "fn(abar, S, initial_state) -> (H_prev, H_last): H_c = abar_c H_{c-1} + S_c, H_prev[c] = "
    "H_{c-1}, H_last = H_{J-1}; abar (..., J, N), S (..., J, N, P)", _STATE_FORBIDDEN)
