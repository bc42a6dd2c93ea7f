"""Shared test helpers: random pruned networks and the bundled digits data."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from gf_prune.mesh import topology
from gf_prune.phases import LayerPhases, MeshPhases, NetworkPhases, SigmaPhases


def random_network(
    sizes,
    p_live: float = 0.5,
    seed: int = 0,
    zero_state: str = "bar",
    kind: str = "clements",
    *,
    sigma_live: tuple[float, float] | None = None,
    gain: float = 1.0,
) -> NetworkPhases:
    """Random phases with random pruning masks (pruned phases exactly 0): live with probability ``p_live``
    (Σ θ/φ with ``sigma_live`` when given), Σ θ in [0, π], the rest in [0, 2π)."""
    rng = np.random.default_rng(seed)

    def masked(k: int, hi: float, p: float) -> tuple[np.ndarray, np.ndarray]:
        live = rng.random(k) < p
        return np.where(live, rng.uniform(0, hi, k), 0.0), live

    def mesh(n: int) -> MeshPhases:
        k = topology(n, kind).n_mzis
        (t, tl), (p, pl) = masked(k, 2 * np.pi, p_live), masked(k, 2 * np.pi, p_live)
        return MeshPhases(n, kind, t, p, tl, pl)

    st, sp = sigma_live or (p_live, p_live)
    layers = []
    for a, b in pairwise(sizes):
        k = min(a, b)
        (t, tl), (p, pl) = masked(k, np.pi, st), masked(k, 2 * np.pi, sp)
        layers.append(LayerPhases(a, b, mesh(a), SigmaPhases(t, p, tl, pl, gain=gain), mesh(b)))
    return NetworkPhases(layers, zero_state, kind)


@pytest.fixture(scope="session")
def digits():
    """The default data set: bundled digits through FFT-16, fixed train/validation/test split."""
    from gf_prune.data import load_dataset

    return load_dataset()
