"""Exact ties of the max aggregate: with every parameter zero both gates are
exactly sigmoid(0) = 1/2 in any program, so cSE(x) == sSE(x) everywhere and
torch.max sends half of every element's gradient to each branch. (Inputs
with exact zeros, the other source of exact ties, run in every parity test
through the "relu" input kind.)"""

import pytest

import scse
from cases import SMALL_CASES, run_parity_case
from variants import VARIANTS_BY_NAME

MAX_VARIANTS = ["aimed-scse-max-bias", "aimed-scse-max-nobias", "conv-scse-max"]
CASES = [c for c in SMALL_CASES if c.id in
         ("1x1x5-r2", "2x8x3x5-r16", "2x5x4x3-r2", "1x16x1x1-r2", "2x12x3x4x5-r3", "2x33x6x6-r2")]


def zero_all_parameters(module):
    for param in module.parameters():
        param.zero_()


@pytest.mark.parametrize("name", MAX_VARIANTS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("kind", ["randn", "relu"])
def test_every_element_tied(name, case, kind):
    run_parity_case(scse, VARIANTS_BY_NAME[name], case, kind, setup=zero_all_parameters,
                    label=f"all-tied/{name}/{case.id}/{kind}")


def zero_spatial_gate(module):
    # cSE keeps its random parameters; with C // r == 0 and no bias its gate
    # is exactly 1/2 too, like the zeroed sSE gate.
    for param in module.sSE.parameters():
        param.zero_()


@pytest.mark.parametrize("case", [c for c in CASES if c.channels // c.ratio == 0],
                         ids=lambda c: c.id)
def test_zero_width_channel_gate_ties_a_zero_spatial_gate(case):
    run_parity_case(scse, VARIANTS_BY_NAME["aimed-scse-max-nobias"], case, "randn",
                    setup=zero_spatial_gate, label=f"zero-width-tie/{case.id}")
