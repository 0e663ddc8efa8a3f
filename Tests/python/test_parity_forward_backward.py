"""scse forward and backward against PyTorch autograd on the reference
modules: every variant of the three reference designs, on shapes covering
N=1, C=1, C not divisible by r, C // r == 0, S=1, odd and prime sizes and
1-3 spatial dimensions, with inputs holding exact zeros (ReLU'(0), ties of
the max aggregate), an all-zero sample and saturating magnitudes."""

import pytest

import scse
from cases import INPUT_KINDS, SMALL_CASES, run_parity_case
from variants import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
@pytest.mark.parametrize("case", SMALL_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_forward_and_every_gradient_match_pytorch(variant, case, kind):
    run_parity_case(scse, variant, case, kind)
