"""validate_only: every check of the in-place fills runs, nothing is written or drawn."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.dry_run import validate_only, validating


@pytest.mark.parametrize("fill", [
    lambda t: gi.init.uniform_(t, -1, 1),
    lambda t: gi.init.normal_(t, 0, 2),
    lambda t: gi.init.trunc_normal_(t, 0, 1, -1, 1),
    lambda t: gi.init.xavier_normal_(t),
    lambda t: gi.init.kaiming_uniform_(t, mode="fan_out"),
    lambda t: gi.init.orthogonal_(t),
    lambda t: gi.init.sparse_(t, 0.5),
    lambda t: gi.init.eye_(t),
    lambda t: gi.init.constant_(t, 3.0),
], ids=["uniform", "normal", "trunc_normal", "xavier", "kaiming", "orthogonal", "sparse",
        "eye", "constant"])
def test_fills_write_nothing_and_draw_no_seed(fill):
    tensor = np.full((6, 4), 7.0, dtype=np.float32)
    transposed = np.full((4, 6), 7.0, dtype=np.float32).T  # not C-contiguous: no direct out=
    gi.manual_seed(11)
    with validate_only():
        assert validating()
        assert fill(tensor) is tensor
        assert fill(transposed) is transposed
    assert not validating()
    assert (tensor == 7.0).all() and (transposed == 7.0).all()
    # The sequence did not advance: the next unseeded call draws the first seed.
    gi.manual_seed(11)
    expected = gi.init.normal_(np.empty(8, np.float32))
    gi.manual_seed(11)
    with validate_only():
        fill(tensor)
    np.testing.assert_array_equal(gi.init.normal_(np.empty(8, np.float32)), expected)


@pytest.mark.parametrize("fill, error", [
    (lambda t: gi.init.uniform_(t, 2, 1), ValueError),
    (lambda t: gi.init.normal_(t, 0, -1), ValueError),
    (lambda t: gi.init.kaiming_normal_(t, mode="fan"), ValueError),
    (lambda t: gi.init.dirac_(t), ValueError),
    (lambda t: gi.init.orthogonal_(t, gain="x"), TypeError),
    (lambda t: gi.init.normal_(t, seed=-1), ValueError),
    (lambda t: gi.init.uniform_(t.astype(np.int32)), ValueError),
])
def test_validation_raises_what_the_real_call_raises(fill, error):
    tensor = np.full((6, 4), 7.0, dtype=np.float32)
    with pytest.raises(error) as real:
        fill(tensor)
    with validate_only(), pytest.raises(error) as checked:
        fill(tensor)
    assert str(checked.value) == str(real.value)
    assert (tensor == 7.0).all()
