"""One-sided group-sequential efficacy bounds, and the standard normal law they rest on.

`efficacy_bounds` spends a false-positive probability ``alpha`` over ``K`` equally spaced looks
with the Lan-DeMets O'Brien-Fleming-type spending function, and finds each look's bound by the
Armitage-McPherson-Rowe recursive numerical integration. Pure Python (``math`` only), cached.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence

import attrs

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def normal_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def normal_cdf(x: float) -> float:
    """``Phi(x)``, accurate in relative terms in the lower tail."""
    return 0.5 * math.erfc(-x / _SQRT2)


def normal_sf(x: float) -> float:
    """``1 - Phi(x)``, accurate in relative terms in the upper tail."""
    return 0.5 * math.erfc(x / _SQRT2)


# Acklam's rational approximation of the normal quantile (relative error about 1e-9).
_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
_P_LOW = 0.02425


def _horner(coefficients: Sequence[float], x: float) -> float:
    acc = 0.0
    for c in coefficients:
        acc = acc * x + c
    return acc


def _lower_quantile(p: float) -> float:
    """The ``x <= 0`` with ``Phi(x) = p``, for ``0 < p <= 0.5``: Acklam's start, then Newton
    steps on ``Phi(x) - p`` (exact in relative terms there) until they stop moving ``x``."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = _horner(_C, q) / (_horner(_D, q) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = _horner(_A, r) * q / (_horner(_B, r) * r + 1.0)
    for _ in range(8):
        density = normal_pdf(x)
        if density == 0.0:
            break
        step = (normal_cdf(x) - p) / density
        x -= step
        if abs(step) <= 1e-15 * max(1.0, abs(x)):
            break
    return x


def normal_ppf(p: float) -> float:
    """``Phi^-1(p)`` for ``0 < p < 1``, to about 1e-15."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a probability strictly between 0 and 1 is needed, got {p}")
    return _lower_quantile(p) if p <= 0.5 else -_lower_quantile(1.0 - p)


def normal_isf(q: float) -> float:
    """The ``x`` with ``1 - Phi(x) = q``; exact for tiny ``q``, where ``normal_ppf(1 - q)``
    would lose ``q`` to rounding."""
    return -normal_ppf(q)


#: Grid step of the numerical integration, on the scale where one look adds an increment of
#: variance 1 to the score process. Halving it moves no bound by more than 1e-5.
GRID_STEP = 0.1
#: The sub-densities are integrated down to this many standard deviations below 0.
_TAIL_SD = 8.5


def obf_spending(alpha: float, t: float) -> float:
    """The Lan-DeMets O'Brien-Fleming-type spending function ``2 - 2 Phi(z_{1-alpha/2}/sqrt t)``:
    the false-dethrone probability spent by information fraction ``t`` (``alpha`` at 1)."""
    if t >= 1.0:
        return alpha
    return math.erfc(normal_isf(alpha / 2.0) / math.sqrt(t) / _SQRT2)


@attrs.frozen
class _SubDensity:
    """The density of the score process at one look over the paths that have not crossed yet,
    on ``u_j = top - j * step``; ``weights`` carries Simpson's weights and the step."""

    top: float
    step: float
    weights: tuple[float, ...]

    def point(self, j: int) -> float:
        return self.top - j * self.step


def _simpson_weights(values: Sequence[float], step: float) -> tuple[float, ...]:
    last = len(values) - 1
    out = []
    for j, v in enumerate(values):
        w = 1.0 if j in (0, last) else (4.0 if j % 2 else 2.0)
        out.append(v * w * step / 3.0)
    return tuple(out)


def _grid_size(top: float, information: int) -> int:
    """An even number of intervals reaching from ``top`` below ``-_TAIL_SD`` sd."""
    span = top + _TAIL_SD * math.sqrt(information)
    intervals = max(2, math.ceil(span / GRID_STEP))
    return intervals + intervals % 2


def _first_density(top: float) -> _SubDensity:
    m = _grid_size(top, 1)
    values = [normal_pdf(top - j * GRID_STEP) for j in range(m + 1)]
    return _SubDensity(top, GRID_STEP, _simpson_weights(values, GRID_STEP))


def _next_density(prev: _SubDensity, top: float, information: int) -> _SubDensity:
    """``f_k(s) = integral over u < top_{k-1} of f_{k-1}(u) phi(s - u)``, on the new grid."""
    m = _grid_size(top, information)
    n = len(prev.weights)
    shift = top - prev.top
    # s_i - u_j = shift + (j - i) * step: one table of the kernel serves every grid point.
    kernel = [normal_pdf(shift + o * GRID_STEP) for o in range(-m, n)]
    values = [
        math.fsum(map(operator.mul, prev.weights, kernel[m - i : m - i + n])) for i in range(m + 1)
    ]
    return _SubDensity(top, GRID_STEP, _simpson_weights(values, GRID_STEP))


def _crossing(prev: _SubDensity, top: float) -> float:
    """P(not crossed before, score process at this look >= top)."""
    return math.fsum(
        w * normal_sf(top - prev.point(j)) for j, w in enumerate(prev.weights) if w != 0.0
    )


def _solve_bound(prev: _SubDensity, information: int, target: float) -> float:
    """The ``c`` whose crossing probability at this look is ``target`` (bisection: the
    probability falls as ``c`` rises)."""
    root = math.sqrt(information)
    lo, hi = -10.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _crossing(prev, mid * root) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12:
            break
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=128)
def efficacy_bounds(alpha: float, looks: int) -> tuple[float, ...]:
    """One-sided bounds ``c_1..c_K`` on the standardised statistic at information fractions
    ``k/K``: under H0 (a Brownian score process observed at ``K`` equally spaced times) the
    first crossing happens at look ``k`` with probability ``alpha(t_k) - alpha(t_{k-1})`` of
    `obf_spending`, so some look is crossed with probability ``alpha``. Computed look by look by
    the Armitage-McPherson-Rowe recursion of the non-crossed sub-densities (Simpson's rule)."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    if looks < 1:
        raise ValueError(f"looks must be at least 1, got {looks}")
    spent = [obf_spending(alpha, k / looks) for k in range(1, looks + 1)]
    first = normal_isf(spent[0])
    bounds = [first]
    density = _first_density(first)
    for k in range(2, looks + 1):
        c = _solve_bound(density, k, spent[k - 1] - spent[k - 2])
        bounds.append(c)
        if k < looks:
            density = _next_density(density, c * math.sqrt(k), k)
    return tuple(bounds)
