"""ssd_edu.training: the few lines of Adam and the loss that tutorial 09 trains with.

The tutorial's own asserts (a final loss, diagonal beating scalar) are loose; these pin the
optimizer's step, its learning rate and the loss's gradient exactly.
"""
import numpy as np
import pytest

import ssd_edu
from ssd_edu.training import adam_step, fit, hidden_ssm, loss_and_grads, predict


def test_adam_first_step_moves_each_parameter_by_lr_against_the_gradient():
    # step 1 with bias correction: m_hat = g, v_hat = g^2, so the step is lr g / |g| = lr sign(g)
    params = {"w": np.array([1.0, -2.0, 0.5])}
    adam_step(params, {"w": np.array([0.5, -3.0, 1e-3])}, {}, lr=0.1)
    np.testing.assert_allclose(params["w"], [0.9, -1.9, 0.4], rtol=1e-4)


def test_fit_uses_its_learning_rate():
    frozen = fit("diagonal", steps=3, T=8, batch=2, lr=0.0)
    assert np.all(frozen["losses"] == frozen["losses"][0])
    assert fit("diagonal", steps=3, T=8, batch=2, lr=0.05)["losses"][-1] < frozen["losses"][0]


@pytest.mark.parametrize("fam", ssd_edu.FAMILIES)
def test_training_gradients_match_finite_differences_of_the_loss(fam):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 1))
    target = predict("diagonal", hidden_ssm(), x)
    params = {"a": rng.uniform(0.2, 0.8, 4 if fam == "diagonal" else 1),
              "B": rng.standard_normal(4), "C": rng.standard_normal(4)}
    _, grads = loss_and_grads(fam, params, x, target)
    for k, p in params.items():
        for i in range(p.size):
            up, down = ({**params, k: p + s * 1e-6 * (np.arange(p.size) == i)} for s in (1, -1))
            fd = (loss_and_grads(fam, up, x, target)[0]
                  - loss_and_grads(fam, down, x, target)[0]) / 2e-6
            assert abs(grads[k][i] - fd) <= 1e-6 * max(1.0, abs(fd)), (k, i)
