"""Accuracy of the library's vectorised sigmoid, measured through the sSE gate.

With two channels, x[0, s] = t_s, x[1, s] = 1, conv weight (1, 0) and no bias,
the logit is exactly t_s and y[1, s] = 1 * sigmoid(t_s) = sigmoid(t_s) exactly,
so the output exposes the gate itself. The README quotes the numbers measured
here (max 2.47 ulp over the normal range).
"""
import numpy as np

import scse

MAX_ULP_NORMAL = 3.0
MAX_ABS_SUBNORMAL = 1e-38


def _gates(t):
    t = np.asarray(t, dtype=np.float32)
    layer = scse.SpatialSELayer(2, bias=False)
    layer.load_state_dict({"conv.weight": np.array([1.0, 0.0], np.float32).reshape(1, 2, 1, 1)})
    x = np.stack([t, np.ones_like(t)])[None, :, :]
    return layer(x)[0, 1]


def test_sigmoid_error_in_ulp():
    rng = np.random.default_rng(0)
    t = np.concatenate([np.linspace(-110, 90, 2_000_001, dtype=np.float32),
                        (rng.standard_normal(1_000_000) * 8).astype(np.float32)])
    got = _gates(t).astype(np.float64)
    exact = 1.0 / (1.0 + np.exp(-t.astype(np.float64)))
    normal = exact >= np.finfo(np.float32).tiny
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    worst_ulp = float(np.max(np.abs(got - exact)[normal] / ulp[normal]))
    worst_sub = float(np.max(np.abs(got - exact)[~normal]))
    print(f"sigmoid: max {worst_ulp:.2f} ulp (normal results), max abs {worst_sub:.2e} (subnormal)")
    assert worst_ulp <= MAX_ULP_NORMAL
    assert worst_sub <= MAX_ABS_SUBNORMAL


def test_sigmoid_special_values():
    got = _gates([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 88.8, -88.8, -104.0, -200.0])
    assert np.isnan(got[0])
    assert got[1] == 1.0 and got[2] == 0.0
    assert got[3] == 0.5 and got[4] == 0.5
    assert got[5] == 1.0 and got[6] == 0.0
    assert got[7] == 1.0
    assert 0 <= got[8] < 1e-37  # exp(88.8) overflows float32, as in torch.sigmoid
    assert got[9] >= 0 and got[10] == 0.0
