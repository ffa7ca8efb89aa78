"""Legendre Memory Unit state-space matrices (numpy, float64 internally).

Copied from the interface specification ``spec/tern_ops.py`` (functions
``lmu_matrices`` and ``_expm``) that sits beside the project's DESIGN.md, so
that this package is self-contained: exporters, tests and the C++ side all
build the same discretized (A, B). Keep the two copies identical; the test
``models/tests/test_tern_ops.py`` compares them when the spec is reachable.
"""
import numpy as np


def lmu_matrices(order, theta, dt=1.0):
    """Continuous LMU (A, B) from Legendre polynomials, discretized by zero-order hold.

    Returns float32 arrays A [order, order] and B [order]. Equivalent to
    scipy.signal.cont2discrete(method="zoh"), which the reference LMU code uses.
    """
    q = np.arange(order, dtype=np.float64)
    r = (2 * q + 1)[:, None] / theta
    i, j = np.meshgrid(q, q, indexing="ij")
    Ac = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    Bc = ((-1.0) ** q)[:, None] * r
    # zero-order hold: expm of the block matrix [[A, B], [0, 0]] * dt
    M = np.zeros((order + 1, order + 1))
    M[:order, :order] = Ac * dt
    M[:order, order:] = Bc * dt
    E = _expm(M)
    return E[:order, :order].astype(np.float32), E[:order, order].astype(np.float32)


def _expm(M, terms=30):
    # scaling and squaring with a Taylor series; enough for the small matrices here
    s = max(0, int(np.ceil(np.log2(max(np.abs(M).sum(axis=1).max(), 1e-12)))) + 1)
    X = M / (2 ** s)
    E = np.eye(M.shape[0])
    term = np.eye(M.shape[0])
    for k in range(1, terms):
        term = term @ X / k
        E = E + term
    for _ in range(s):
        E = E @ E
    return E


def lmu_impulse_response(A, B, length):
    """H[k] = A^k B for k in [0, length): the LMU memory's response to a unit impulse.

    Computed in float64 from the float32 (A, B) the op uses, returned as float32
    [length, order]. m_t = sum_{s<=t} H[t-s] u_s when the initial state is zero.
    """
    A64 = np.asarray(A, np.float64)
    h = np.asarray(B, np.float64).copy()
    out = np.empty((length, A64.shape[0]), np.float64)
    for k in range(length):
        out[k] = h
        h = A64 @ h
    return out.astype(np.float32)
