"""chunk_size and initial_state are keyword-only in every form, VJP and bridge function.

``f(x, a, B, C, *, chunk_size=64, initial_state=None)`` and
``g(x, a, B, C, dy, dh=None, *, initial_state=None, chunk_size=64)``: ``inspect.signature``
shows the options as KEYWORD_ONLY, and a positional option gets a TypeError naming it.
Every registered callable (all backends: the CUDA ones run on the simulator here) and every
public function of the backend and bridge modules that takes an option is checked.
"""
import inspect

import pytest

import ssd_edu
from ssd_edu import cpu, gpu, reference
from ssd_edu._keyword_only import OPTIONS, keyword_only
from ssd_edu.bench import peers
from ssd_edu.bridges import fla, mamba2
from ssd_edu.cpu import backward as cpu_backward
from ssd_edu.cpu import plain
from ssd_edu.gpu import backward as gpu_backward
from ssd_edu.testing import make_inputs


def _public(module, first=None) -> dict:
    """``module``'s public functions that take an option (and whose first parameter is
    ``first``, when given: the forms and VJPs, not the steps), by qualified name."""
    found = {}
    for name in getattr(module, "__all__", dir(module)):
        fn = getattr(module, name)
        home = getattr(fn, "__module__", None) or ""        # listed, or defined here or below
        if (name.startswith("_") or not callable(fn) or isinstance(fn, type)
                or not hasattr(module, "__all__")
                and module.__name__ not in (home, home.rpartition(".")[0])):
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if any(p in params for p in OPTIONS) and first in (None, next(iter(params))):
            found[f"{module.__name__}.{name}"] = fn
    return found


BACKEND = {**_public(reference, "x"), **_public(cpu, "x"), **_public(gpu, "x"),
           **_public(cpu_backward, "x"), **_public(gpu_backward, "x")}
#: the four chunked steps of every backend -> their positional arrays
STEP_ARRAYS = {"intra_chunk": ["x", "a", "B", "C"], "chunk_states": ["x", "a", "B"],
               "state_passing": ["abar", "S"], "chunk_output": ["a", "C", "H_prev"]}
STEPS = {f"{m.__name__}.{step}": getattr(m, step) for step in STEP_ARRAYS
         for m in (reference.chunking, cpu.chunked, plain, gpu.chunked)}
FORMS = {**ssd_edu.IMPLEMENTATIONS,
         **{k: v for k, v in BACKEND.items() if "_vjp" not in k and k.rpartition(".")[2] not in STEP_ARRAYS}}
VJPS = {**{f"vjp {k}": v for k, v in ssd_edu.VJPS.items()},
        **{k: v for k, v in BACKEND.items() if k.endswith("_vjp")}}
BRIDGES = {**_public(mamba2), **_public(fla)}
#: the benchmark's torch peer rows, with the package's signature
PEERS = {"numpy_chunked": peers.numpy_chunked, "numpy_chunked_vjp": peers.numpy_chunked_vjp}


def test_every_backend_and_bridge_is_collected():
    backends = {k.split(".")[0] for k in ssd_edu.IMPLEMENTATIONS}
    assert {"numpy", "numba"} <= backends
    assert {"ssd_edu.bridges.mamba2.chunk_scan_combined", "ssd_edu.bridges.fla.simple_gla",
            "ssd_edu.bridges.fla.gla", "ssd_edu.bridges.mamba2.to_ssd",
            "ssd_edu.bridges.fla.to_ssd"} <= set(BRIDGES)
    assert "ssd_edu.gpu.scalar_chunked" in FORMS and "vjp numpy.diagonal.chunked" in VJPS


def _options(fn) -> list:
    return [p for p in inspect.signature(fn).parameters.values() if p.name in OPTIONS]


def _positional(fn) -> list:
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _check(name, fn, arrays):
    options = _options(fn)
    assert options, f"{name}: takes neither chunk_size nor initial_state"
    for p in options:
        assert p.kind is p.KEYWORD_ONLY, f"{name}: {p.name} is {p.kind.description}"
    if arrays is not None:
        assert _positional(fn) in arrays, f"{name}: positional {_positional(fn)}"
    # one positional argument too many: refused before any work, naming the options
    with pytest.raises(TypeError) as exc:
        fn(*[None] * (len(_positional(fn)) + 1))
    message = str(exc.value)
    for p in options:
        assert p.name in message, f"{name}: {message}"
    assert "keyword" in message, f"{name}: {message}"


@pytest.mark.parametrize("name", sorted(FORMS))
def test_form_options_are_keyword_only(name):
    _check(name, FORMS[name], (["x", "a", "B", "C"], ["x", "A", "B", "C"]))


@pytest.mark.parametrize("name", sorted(STEPS))
def test_step_options_are_keyword_only(name):
    _check(name, STEPS[name], (STEP_ARRAYS[name.rpartition(".")[2]],))


@pytest.mark.parametrize("name", sorted(VJPS))
def test_vjp_options_are_keyword_only(name):
    _check(name, VJPS[name], (["x", "a", "B", "C", "dy", "dh"],))


@pytest.mark.parametrize("name", sorted(BRIDGES))
def test_bridge_options_are_keyword_only(name):
    _check(name, BRIDGES[name], None)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_options_are_keyword_only(name):
    _check(name, PEERS[name], (["family", "x", "a", "B", "C"],
                               ["family", "x", "a", "B", "C", "dy", "dh"]))


def test_chunked_message_says_how_to_call():
    d = make_inputs("scalar", 4, N=2, P=2)
    with pytest.raises(TypeError, match=r"scalar_chunked\(\) takes chunk_size and initial_state "
                                        r"as keywords only .*scalar_chunked\(x, a, B, C, "
                                        r"chunk_size=64, initial_state=None\)"):
        ssd_edu.scalar_chunked(d["x"], d["a"], d["B"], d["C"], 2)
    y, h = ssd_edu.scalar_chunked(d["x"], d["a"], d["B"], d["C"], chunk_size=2,
                                  initial_state=d["initial_state"])
    assert y.shape == (4, 2) and h.shape == (2, 2)


def test_a_positional_option_in_a_def_line_is_refused_at_decoration():
    def form(x, a, B, C, chunk_size=64, *, initial_state=None):
        return x
    with pytest.raises(TypeError, match="chunk_size must follow"):
        keyword_only(form)
