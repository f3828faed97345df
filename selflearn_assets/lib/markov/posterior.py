"""P(θ_X > θ_Y) for independent Beta posteriors: deterministic and vectorised.

With X ~ Beta(a_x, b_x) and Y ~ Beta(a_y, b_y) independent,

    P(X > Y) = ∫ f_Y(t) (1 − F_X(t)) dt = ∫ f_X(t) F_Y(t) dt.

The integral is taken against the *narrower* of the two densities (smaller variance): its CDF
partner is then smooth on that density's scale, and a Gauss–Legendre rule on the interval holding
all but 2e-15 of the narrow density's mass (its 1e-15 and 1 − 1e-15 quantiles) converges
geometrically. The sum is divided by the rule's own integral of the density, which cancels most of
the rule's error on peaked densities. No random sampling, so the result is reproducible.

With integer parameters (posteriors of counts, Beta(1 + s, 1 + f)) the densities are smooth up to
the interval's ends and 48 nodes give about 1e-12 (checked against the closed form and 400 nodes
over counts up to 1e5). A fractional parameter just above 1 puts a cusp (x^0.2, say) at an end,
where Gauss–Legendre converges slowly (errors near 1e-4): pass counts, not fractional pseudo-counts.
"""

from __future__ import annotations

import numpy as np
from scipy import special

QUADRATURE_NODES = 48
_TAIL = 1e-15


def prob_beta_greater(
    a_x: np.ndarray | float,
    b_x: np.ndarray | float,
    a_y: np.ndarray | float,
    b_y: np.ndarray | float,
    nodes: int = QUADRATURE_NODES,
) -> np.ndarray:
    """P(X > Y) elementwise for X ~ Beta(a_x, b_x), Y ~ Beta(a_y, b_y); parameters > 0."""
    a_x, b_x, a_y, b_y = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (a_x, b_x, a_y, b_y))
    a_x, b_x, a_y, b_y = np.broadcast_arrays(a_x, b_x, a_y, b_y)
    # Integrate against the narrower density: (a_n, b_n) is it, (a_w, b_w) the wider partner.
    x_narrow = _variance(a_x, b_x) <= _variance(a_y, b_y)
    a_n, b_n = np.where(x_narrow, a_x, a_y), np.where(x_narrow, b_x, b_y)
    a_w, b_w = np.where(x_narrow, a_y, a_x), np.where(x_narrow, b_y, b_x)

    lo = special.betaincinv(a_n, b_n, _TAIL)[:, None]
    hi = special.betaincinv(a_n, b_n, 1.0 - _TAIL)[:, None]
    t, w = np.polynomial.legendre.leggauss(nodes)
    pts = np.clip(lo + (hi - lo) * (t[None, :] + 1.0) / 2.0, 0.0, 1.0)
    weights = w[None, :] * (hi - lo) / 2.0
    log_pdf = (
        special.xlogy(a_n[:, None] - 1.0, pts)
        + special.xlog1py(b_n[:, None] - 1.0, -pts)
        - special.betaln(a_n, b_n)[:, None]
    )
    density = weights * np.exp(log_pdf)
    # X narrow: P = E_X[F_Y(X)]. Y narrow: P = E_Y[1 − F_X(Y)] = E_Y[I_{1−t}(b_x, a_x)] (tail-accurate).
    partner = np.empty_like(pts)
    xn, yn = x_narrow, ~x_narrow
    partner[xn] = special.betainc(a_w[xn, None], b_w[xn, None], pts[xn])
    partner[yn] = special.betainc(b_w[yn, None], a_w[yn, None], 1.0 - pts[yn])
    return np.clip((density * partner).sum(axis=1) / density.sum(axis=1), 0.0, 1.0)


def _variance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a * b / ((a + b) ** 2 * (a + b + 1.0))
