"""The backward pass's figure: training a small SSM with its VJP (tutorial 09).

``plot_training()`` returns the figure of ``figures/backward_training.png`` (listed in
``ssd_edu.figures.FIGURES``): the training loss of a diagonal and a scalar learner of equal
state size N = 4, fitted by Adam (``ssd_edu.training.fit``) to a hidden diagonal SSM.
"""
from __future__ import annotations

from .training import HIDDEN_DECAYS, fit


def plot_training(steps: int = 300, N: int = 4, seed: int = 0, results: dict | None = None):
    """Loss curves (log scale) of the diagonal and the scalar learner; fixed seeds.

    ``results`` ({family: fit(...) result}) reuses fits already made (the tutorial's).
    """
    import matplotlib.pyplot as plt

    results = results or {}
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for family, style in (("diagonal", "-"), ("scalar", "--")):
        run = results.get(family) or fit(family, steps=steps, N=N, seed=seed)
        losses = run["losses"]
        ax.semilogy(losses, style, label=f"{family} learner, N = {N} "
                                          f"(final {losses[-1]:.1e})")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("mean squared error")
    ax.set_title(f"fitting a hidden diagonal SSM (decays {', '.join(map(str, HIDDEN_DECAYS))})",
                 fontsize=10)
    ax.legend()
    fig.tight_layout()
    return fig
