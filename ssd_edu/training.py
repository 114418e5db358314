"""Training a small SSM with its VJP (tutorial 09): a learner (scalar or diagonal, parameters a,
B, C shared by every step) fitted by Adam to a hidden diagonal SSM with decays
``HIDDEN_DECAYS``. A shared parameter is tiled over time, so its gradient is the VJP's summed
over t.
"""
from __future__ import annotations

import numpy as np

from .registry import IMPLEMENTATIONS, VJPS

#: Decays of the hidden diagonal SSM's modes.
HIDDEN_DECAYS = (0.9, 0.5, -0.6, 0.0)


def _tiled(family: str, params: dict, T: int):
    """Per-step a, B, C of a time-invariant SSM: a (T,) or (T, N); B, C (T, N)."""
    a = np.tile(params["a"], (T, 1))
    return (a[:, 0] if family == "scalar" else a), np.tile(params["B"], (T, 1)), \
        np.tile(params["C"], (T, 1))


def hidden_ssm(N: int = 4, seed: int = 0) -> dict:
    """The target's parameters: a = HIDDEN_DECAYS (N = 4), B and C ~ N(0, 1) (N,)."""
    rng = np.random.default_rng(seed)
    return {"a": np.array(HIDDEN_DECAYS[:N]), "B": rng.standard_normal(N),
            "C": rng.standard_normal(N)}


def predict(family: str, params: dict, x, key: str = "numpy.{}.scan"):
    """y (batch, T, 1) of the time-invariant SSM ``params`` on inputs x (batch, T, 1)."""
    a, B, C = _tiled(family, params, x.shape[-2])
    return IMPLEMENTATIONS[key.format(family)](x, a, B, C)[0]


def loss_and_grads(family: str, params: dict, x, target, key: str = "numpy.{}.scan"):
    """(loss, grads): loss = mean (y - target)^2 and its gradient per parameter (the VJP's, with
    dy = 2 (y - target) / size, summed over t)."""
    a, B, C = _tiled(family, params, x.shape[-2])
    y = IMPLEMENTATIONS[key.format(family)](x, a, B, C)[0]
    r = y - target
    # d loss / d y = 2 (y - target) / size
    g = VJPS[key.format(family)](x, a, B, C, 2 * r / r.size)
    grads = {"a": g.da.sum(axis=0) if family == "diagonal" else g.da.sum(keepdims=True),
             "B": g.dB.sum(axis=0), "C": g.dC.sum(axis=0)}
    return float(np.mean(r**2)), grads


def adam_step(params: dict, grads: dict, state: dict, lr: float = 0.02,
              b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
    """One Adam update of every parameter, in place (``state`` starts as ``{}``)."""
    t = state["t"] = state.get("t", 0) + 1
    for k, g in grads.items():
        m = state[k, "m"] = b1 * state.get((k, "m"), 0) + (1 - b1) * g
        v = state[k, "v"] = b2 * state.get((k, "v"), 0) + (1 - b2) * g**2
        params[k] = params[k] - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def fit(family: str, steps: int = 300, N: int = 4, T: int = 48, batch: int = 8,
        lr: float = 0.02, seed: int = 0) -> dict:
    """Fit a ``family`` learner of state size N by ``steps`` Adam steps: {"losses" (steps + 1,),
    "params", "hidden"}."""
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((batch, T, 1))
    hidden = hidden_ssm(N, seed)
    target = predict("diagonal", hidden, x)
    params = {"a": rng.uniform(0.2, 0.8, N if family == "diagonal" else 1),
              "B": 0.5 * rng.standard_normal(N), "C": 0.5 * rng.standard_normal(N)}
    state: dict = {}
    losses = []
    for _ in range(steps):
        loss, grads = loss_and_grads(family, params, x, target)
        losses.append(loss)
        adam_step(params, grads, state, lr)
    losses.append(loss_and_grads(family, params, x, target)[0])
    return {"losses": np.array(losses), "params": params, "hidden": hidden}
