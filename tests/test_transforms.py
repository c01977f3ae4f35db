"""Accuracy of the 24-bit Box-Muller pieces (our own polynomials) against libm.

float32 needs about 1e-8; the polynomials are far inside that, and the same
operations are rounded the same way on every target (see test_cuda_agreement).
"""

import math

import numpy as np
import pytest

from gpuinit.kernels import cpu

LIB = cpu.LIB
EDGE_M = [1, 2, 3, 4, 5, 1 << 12, (1 << 23) - 1, 1 << 23, 11863283, 11863284, (1 << 24) - 1]
EDGE_K = [0, 1, 1 << 21, (1 << 21) + 1, 1 << 22, 3 << 21, 1 << 23, 3 << 22, (1 << 24) - 1]


def test_floor_log2_is_exact_on_every_power_boundary():
    for e in range(32):
        assert LIB.floor_log2(1 << e) == e
        if e > 1:
            assert LIB.floor_log2((1 << e) - 1) == e - 1


def test_neg2_log_u24_matches_libm():
    ms = EDGE_M + [int(m) for m in np.random.default_rng(1).integers(1, 1 << 24, 3000)]
    for m in ms:
        expected = -2.0 * math.log(m / (1 << 24))  # m / 2^24 is exact
        got = LIB.neg2_log_u24(m)
        assert got > 0.0
        assert abs(got - expected) <= 2e-12 * expected, m


def test_neg2_log_u24_is_zero_at_one_and_tiny_just_below():
    assert LIB.neg2_log_u24(1 << 24) == 0.0
    assert LIB.neg2_log_u24((1 << 24) - 1) == pytest.approx(2.0 / (1 << 24), rel=1e-6)


def test_sincos_2pi_u24_matches_libm():
    ks = EDGE_K + [int(k) for k in np.random.default_rng(2).integers(0, 1 << 24, 3000)]
    for k in ks:
        theta = 2.0 * math.pi * k / (1 << 24)
        s, c = LIB.sincos_2pi_u24(k)
        assert abs(s - math.sin(theta)) <= 1e-11, k
        assert abs(c - math.cos(theta)) <= 1e-11, k
    assert LIB.sincos_2pi_u24(0) == (0.0, 1.0)
