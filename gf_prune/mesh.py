"""Clements (rectangular), Reck (triangular) and butterfly MZI meshes.

A mesh maps N modes through columns of MZIs (:func:`gf_prune.physics.mzi_transfer`)
followed by an optional output phase screen D::

    U = D · M_{C-1} ⋯ M_1 · M_0,     M_c = ⊕ T(θ_k, φ_k) over the MZIs of column c

MZI ``k`` sits on modes (row_k, row_k + 1) in column col_k; MZIs are ordered by
(column, row). Provided here: the topology, phases → unitary in numpy float64
(the reference) and in torch (differentiable, one batched 2×2 update per column,
columns multiplied as a balanced product tree; meshes deeper than ``TREE_MAX_COLS``
first merge groups of ≈√C columns by batched 2×2 row updates), and unitary → phases
(Clements 2016; Reck 1994) in the same convention.

A butterfly mesh (PSNN, Feng, Gu et al. 2021; FFT-ONN) has log₂N stages of N/2 MZIs on the adjacent
pairs (0, 1), (2, 3), … and a fixed waveguide permutation ``P_c`` after every stage but the last::

    U = D · M_{L-1} · P_{L-2} · M_{L-2} ⋯ P_0 · M_0

Stage s mixes the logical modes ℓ and ℓ XOR 2^s (see :func:`butterfly_positions`); ``perms[c][p]`` is
the waveguide position that position p moves to after stage c. It has N/2·log₂N MZIs and is not
universal: :func:`decompose` refuses it (:func:`fit_unitary` fits by optimisation and reports the
residual). N must be a power of two (a layer pads its meshes, :func:`padded_size`).
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from gf_prune.physics import (
    ZeroState,
    bias_rad,
    check_zero_state,
    mzi_elements,
    mzi_transfer,
    mzi_transfer_torch,
    wrap_phase,
)

MeshKind = Literal["clements", "reck", "butterfly"]
MESH_KINDS: tuple[str, ...] = ("clements", "reck", "butterfly")
UNIVERSAL_KINDS: tuple[str, ...] = ("clements", "reck")
"""Mesh kinds that realise every N×N unitary (and that :func:`decompose` handles)."""
UNITARY_TOL = 1e-8
TWO_PI_F = 2.0 * math.pi


@dataclass(frozen=True, eq=False)
class MeshTopology:
    """Where the MZIs of an N-mode mesh sit: ``rows[k]``, ``cols[k]`` for MZI k."""

    n: int
    kind: str
    rows: np.ndarray
    cols: np.ndarray
    perms: tuple[np.ndarray, ...] | None = None
    """Butterfly only: waveguide permutation after each column but the last (position p → perms[c][p])."""

    @property
    def n_crossings(self) -> int:
        """Waveguide crossings of the permutations (inversions; 0 for Clements/Reck)."""
        return sum(_inversions(p) for p in self.perms) if self.perms else 0

    @property
    def n_mzis(self) -> int:
        return int(self.rows.size)

    @property
    def n_cols(self) -> int:
        return int(self.cols.max()) + 1 if self.rows.size else 0

    def index(self, col: int, row: int) -> int:
        """Index k of the MZI at (col, row); KeyError if there is none."""
        hit = np.flatnonzero((self.cols == col) & (self.rows == row))
        if hit.size != 1:
            raise KeyError(f"no MZI at column {col}, row {row} in this {self.kind} mesh")
        return int(hit[0])


def _reck_sequence(n: int) -> list[int]:
    """Rows of Reck's MZIs in the order light meets them."""
    return [j for i in range(n - 1, 0, -1) for j in range(i)]


def _schedule(n: int, rows_in_order: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ASAP column of each MZI; returns (rows, cols, order) sorted by (col, row)."""
    last = [-1] * n
    cols = []
    for r in rows_in_order:
        c = max(last[r], last[r + 1]) + 1
        last[r] = last[r + 1] = c
        cols.append(c)
    rows = np.asarray(rows_in_order, dtype=np.int64)
    cols_a = np.asarray(cols, dtype=np.int64)
    order = np.lexsort((rows, cols_a))
    return rows[order], cols_a[order], order


def crossings_per_waveguide(perm: np.ndarray) -> np.ndarray:
    """How many crossings the waveguide starting at each position passes in a planar drawing of ``perm``
    (one crossing per inversion it takes part in); the counts sum to twice the inversions."""
    p = np.asarray(perm)
    i = np.arange(p.size)
    inv = ((i[:, None] < i[None, :]) & (p[:, None] > p[None, :])) | (
        (i[:, None] > i[None, :]) & (p[:, None] < p[None, :])
    )
    return inv.sum(1)


def _inversions(perm: np.ndarray) -> int:
    """Pairs i < j with perm[i] > perm[j]: the crossings of a planar drawing of the permutation."""
    p = np.asarray(perm)
    return int(np.triu(p[:, None] > p[None, :], 1).sum())


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def padded_size(n: int, kind: str) -> int:
    """Mesh width that carries ``n`` modes: ``n`` itself, or for a butterfly the next power of two
    (the extra modes are dark: their inputs and outputs end in terminators in the layout)."""
    if kind != "butterfly" or is_power_of_two(n):
        return n
    return 1 << (int(n) - 1).bit_length()


def butterfly_positions(n: int, stage: int) -> np.ndarray:
    """Waveguide position of each logical mode ℓ at butterfly stage ``stage``.

    Bit ``stage`` of ℓ becomes bit 0 of the position and the lower bits move up by one, so the
    pair (ℓ, ℓ XOR 2^stage) sits on the adjacent positions (2j, 2j + 1), lower ℓ on top.
    """
    ell = np.arange(n, dtype=np.int64)
    bit = (ell >> stage) & 1
    rest = ((ell >> (stage + 1)) << stage) | (ell & ((1 << stage) - 1))
    return (rest << 1) | bit


def _butterfly(n: int) -> MeshTopology:
    if not is_power_of_two(n):
        raise ValueError(
            f"a butterfly mesh needs a power-of-two number of modes, got {n}; "
            f"an SVD layer pads it to {padded_size(n, 'butterfly')} (gf_prune.mesh.padded_size)"
        )
    stages = n.bit_length() - 1
    rows = np.tile(np.arange(0, n - 1, 2, dtype=np.int64), stages)
    cols = np.repeat(np.arange(stages, dtype=np.int64), n // 2)
    perms = []
    for s in range(stages - 1):
        a, b = butterfly_positions(n, s), butterfly_positions(n, s + 1)
        p = np.empty(n, dtype=np.int64)
        p[a] = b
        p.setflags(write=False)
        perms.append(p)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return MeshTopology(int(n), "butterfly", rows, cols, tuple(perms))


@cache
def topology(n: int, kind: MeshKind = "clements") -> MeshTopology:
    """Topology of an N-mode Clements or Reck mesh with N(N−1)/2 MZIs, or of a butterfly
    (N a power of two) with N/2·log₂N MZIs."""
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"mesh size must be an integer ≥ 1, got {n!r}")
    if kind == "butterfly":
        return _butterfly(int(n))
    if kind == "clements":
        rc = [(r, c) for c in range(n) for r in range(c % 2, n - 1, 2)]
        rows = np.array([r for r, _ in rc], dtype=np.int64)
        cols = np.array([c for _, c in rc], dtype=np.int64)
    elif kind == "reck":
        rows, cols, _ = _schedule(n, _reck_sequence(n))
    else:
        raise ValueError(f"mesh kind must be one of {MESH_KINDS}, got {kind!r}")
    rows.setflags(write=False)
    cols.setflags(write=False)
    return MeshTopology(int(n), kind, rows, cols)


def _check_phases(topo: MeshTopology, theta: Any, phi: Any, screen: Any) -> tuple[np.ndarray, ...]:
    theta = np.asarray(theta, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    for name, arr, size in (("theta", theta, topo.n_mzis), ("phi", phi, topo.n_mzis)):
        if arr.shape != (size,):
            raise ValueError(f"{name} must have shape ({size},) for a {topo.n}-mode mesh, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite phases")
    if screen is not None:
        screen = np.asarray(screen, dtype=np.float64)
        if screen.shape != (topo.n,) or not np.all(np.isfinite(screen)):
            raise ValueError(f"screen must be {topo.n} finite phases, got shape {screen.shape}")
    return theta, phi, screen


def mesh_unitary(
    topo: MeshTopology,
    theta: Any,
    phi: Any,
    screen: Any = None,
    zero_state: ZeroState = "bar",
) -> np.ndarray:
    """Reference N×N unitary of a mesh (numpy complex128, column by column)."""
    theta, phi, screen = _check_phases(topo, theta, phi, screen)
    t = mzi_transfer(theta, phi, zero_state)
    u = np.eye(topo.n, dtype=np.complex128)
    for c in range(topo.n_cols):
        ks = np.flatnonzero(topo.cols == c)
        r = topo.rows[ks]
        top, bot = u[r].copy(), u[r + 1].copy()
        u[r] = t[ks, 0, 0, None] * top + t[ks, 0, 1, None] * bot
        u[r + 1] = t[ks, 1, 0, None] * top + t[ks, 1, 1, None] * bot
        if topo.perms is not None and c < len(topo.perms):
            u[topo.perms[c]] = u.copy()  # position p moves to perms[c][p]
    if screen is not None:
        u = np.exp(1j * screen)[:, None] * u
    return u


def check_unitary(u: Any, name: str = "matrix", tol: float = UNITARY_TOL) -> np.ndarray:
    """Return ``u`` as complex128 if it is a finite square unitary, else raise ValueError."""
    u = np.asarray(u)
    if u.ndim != 2 or u.shape[0] != u.shape[1] or u.shape[0] < 1:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {u.shape}")
    u = u.astype(np.complex128)
    if not np.all(np.isfinite(u)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    err = float(np.linalg.norm(u.conj().T @ u - np.eye(u.shape[0])))
    if err > tol * max(1.0, math.sqrt(u.shape[0])):
        raise ValueError(f"{name} is not unitary: ‖U†U − I‖_F = {err:.3e} (tolerance {tol:.0e}·√N)")
    return u


def _phi_and_theta(mag_num: float, mag_den: float, phase_c_pos: float, zero_state: ZeroState) -> tuple[float, float]:
    """Choose the (θ, φ) branch with θ ∈ [0, π] for a nulling condition.

    The condition fixes tan(θ_int/2) = ± mag_num/mag_den; branch c ≥ 0 has
    φ = phase_c_pos, branch c ≤ 0 has φ = phase_c_pos + π.
    """
    half = math.atan2(mag_num, mag_den)  # in [0, π/2]
    b = bias_rad(zero_state)
    theta1 = (2 * half - b) % (2 * math.pi)
    if theta1 <= math.pi + 1e-15:
        return theta1, phase_c_pos % (2 * math.pi)
    theta2 = (2 * math.pi - 2 * half - b) % (2 * math.pi)
    return theta2, (phase_c_pos + math.pi) % (2 * math.pi)


def _null_right(x: complex, y: complex, zero_state: ZeroState) -> tuple[float, float]:
    """(θ, φ) such that [x, y]·T(θ, φ)^† has a zero first entry."""
    # T = i e^{iθi/2}[[s p, c], [c p, -s]]: condition x s p* + y c = 0.
    return _phi_and_theta(abs(y), abs(x), cmath.phase(x) - cmath.phase(y) + math.pi, zero_state)


def _null_left(x: complex, y: complex, zero_state: ZeroState) -> tuple[float, float]:
    """(θ, φ) such that T(θ, φ)·[x, y]ᵀ has a zero second entry."""
    # condition c p x − s y = 0.
    return _phi_and_theta(abs(x), abs(y), cmath.phase(y) - cmath.phase(x), zero_state)


def _t_scalar(theta: float, phi: float, zero_state: ZeroState) -> tuple[complex, ...]:
    """T(θ, φ) elements as Python complex scalars (fast path of the same convention)."""
    return mzi_elements(float(theta), float(phi), zero_state)


def _apply_right_inverse(u: np.ndarray, m: int, t: tuple[complex, ...], stop: int | None = None) -> None:
    """u[:stop, m:m+2] ← u[:stop, m:m+2] · t^†  (in place; rows from ``stop`` on are already 0 there)."""
    t00, t01, t10, t11 = t
    u[:stop, m : m + 2] = u[:stop, m : m + 2] @ np.array(
        [[t00.conjugate(), t10.conjugate()], [t01.conjugate(), t11.conjugate()]]
    )


def _apply_left(u: np.ndarray, m: int, t: tuple[complex, ...], start: int = 0) -> None:
    """u[m:m+2, start:] ← t · u[m:m+2, start:]  (in place; columns before ``start`` are already 0 there)."""
    u[m : m + 2, start:] = np.array([[t[0], t[1]], [t[2], t[3]]]) @ u[m : m + 2, start:]


def decompose(
    u: Any, kind: MeshKind = "clements", zero_state: ZeroState = "bar"
) -> tuple[MeshTopology, np.ndarray, np.ndarray, np.ndarray]:
    """Unitary → mesh phases: returns ``(topology, theta, phi, screen)``.

    Every θ is in [0, π] (the cheaper of the two equivalent branches) and every φ
    and screen phase in [0, 2π); ``mesh_unitary(*decompose(U)) == U`` to ~1e-13.
    Raises ValueError for a non-square, non-finite or non-unitary input, stating
    the measured ‖U†U − I‖.
    """
    check_zero_state(zero_state)
    if kind == "butterfly":
        raise ValueError(
            "a butterfly mesh is not universal: no exact decomposition exists for a general unitary; "
            "use gf_prune.mesh.fit_unitary (optimisation, reports the residual) or mesh_kind clements/reck"
        )
    if kind not in MESH_KINDS:
        raise ValueError(f"mesh kind must be one of {MESH_KINDS}, got {kind!r}")
    w = np.array(check_unitary(u, "U"), dtype=np.complex128, order="F")
    n = w.shape[0]
    right: list[tuple[int, float, float]] = []  # (row, θ, φ) in order of nulling
    left: list[tuple[int, float, float]] = []
    if kind == "reck":
        for i in range(n - 1, 0, -1):
            for j in range(i):
                th, ph = _null_right(w[i, j], w[i, j + 1], zero_state)
                _apply_right_inverse(w, j, _t_scalar(th, ph, zero_state), i + 1)  # rows > i are done
                right.append((j, th, ph))
    else:
        wl = None  # rows are touched by left ops: keep a C-ordered copy only when needed
        for i in range(n - 1):
            if i % 2 == 0:
                if wl is not None:
                    w = np.asfortranarray(wl)
                    wl = None
                for j in range(i + 1):
                    r, m = n - 1 - j, i - j
                    th, ph = _null_right(w[r, m], w[r, m + 1], zero_state)
                    _apply_right_inverse(w, m, _t_scalar(th, ph, zero_state), r + 1)  # rows > r: 0 in m, m+1
                    right.append((m, th, ph))
            else:
                if wl is None:
                    wl = np.ascontiguousarray(w)
                for j in range(i + 1):
                    r, m = n - 1 - i + j, n - 2 - i + j
                    th, ph = _null_left(wl[r - 1, j], wl[r, j], zero_state)
                    _apply_left(wl, m, _t_scalar(th, ph, zero_state), j)  # columns < j: 0 in m, m+1
                    left.append((m, th, ph))
        if wl is not None:
            w = wl
    d = [complex(z) for z in np.diag(w)]  # Python complex: scalar arithmetic below is 5× faster
    # U = T_L1^{-1} ⋯ T_Lk^{-1} · D · T_Rn ⋯ T_R1 ; push D left through each T_L^{-1}.
    pushed: list[tuple[int, float, float]] = []
    for m, th, ph in reversed(left):
        d1, d2 = d[m], d[m + 1]
        ph2 = (cmath.phase(d1) - cmath.phase(d2)) % (2 * math.pi)
        a00, a01, a10, a11 = _t_scalar(th, ph, zero_state)
        b00, b01, b10, b11 = _t_scalar(th, ph2, zero_state)
        # diagonal of T^† · diag(d1, d2) · T2^†  (off-diagonal vanishes for this φ2)
        d[m] = a00.conjugate() * d1 * b00.conjugate() + a10.conjugate() * d2 * b01.conjugate()
        d[m + 1] = a01.conjugate() * d1 * b10.conjugate() + a11.conjugate() * d2 * b11.conjugate()
        pushed.append((m, th, ph2))
    sequence = right + pushed  # order in which light meets the MZIs
    rows, cols, order = _schedule(n, [m for m, _, _ in sequence])
    topo = topology(n, kind)
    if not (np.array_equal(rows, topo.rows) and np.array_equal(cols, topo.cols)):
        raise AssertionError("decomposition does not fill the canonical mesh")  # pragma: no cover
    theta = np.minimum(np.array([sequence[k][1] for k in order]), math.pi)  # θ1 may exceed π by an ulp
    phi = wrap_phase(np.array([sequence[k][2] for k in order]))
    screen = wrap_phase(np.angle(np.array(d)))
    return topo, theta, phi, screen


# ----------------------------------------------------------------------------- torch


@cache
def _column_index(topo: MeshTopology) -> tuple[Any, ...]:
    """(col, row, identity-diagonal mask) index tensors of a topology (cached)."""
    import torch

    col = torch.tensor(np.array(topo.cols), dtype=torch.long)
    row = torch.tensor(np.array(topo.rows), dtype=torch.long)
    touched = torch.zeros(max(topo.n_cols, 1), topo.n, dtype=torch.bool)
    touched[col, row] = True
    touched[col, row + 1] = True
    return col, row, ~touched


@cache
def _column_scatter(topo: MeshTopology, dtype: Any, device: Any) -> tuple[Any, ...]:
    """Cached (C, N, N) identity-on-untouched-modes base and the (col, out, in) targets of t00, t01, t10, t11."""
    import torch

    with torch.inference_mode(False):  # cached tensors must stay usable by autograd later
        col, row, untouched = _column_index(topo)
        base = torch.diag_embed(untouched.to(dtype)).to(device)
        cols = torch.cat([col, col, col, col]).to(device)
        outs = torch.cat([row, row, row + 1, row + 1]).to(device)
        ins = torch.cat([row, row + 1, row, row + 1]).to(device)
    return base, cols, outs, ins


def column_matrices_torch(topo: MeshTopology, theta: Any, phi: Any, zero_state: ZeroState = "bar") -> Any:
    """Column matrices M_c as one (C, N, N) complex tensor (differentiable).

    ``theta``/``phi`` may carry leading batch dims: ``(..., K)`` → ``(..., C, N, N)``.
    """
    import torch

    t00, t01, t10, t11 = mzi_transfer_torch(theta, phi, zero_state)
    base, cols, outs, ins = _column_scatter(topo, t00.dtype, theta.device)
    m = base.expand(*theta.shape[:-1], *base.shape).clone()
    m[..., cols, outs, ins] = torch.cat([t00, t01, t10, t11], -1)
    return permute_columns(topo, m)


@cache
def _perm_gather(topo: MeshTopology, device: Any) -> tuple[Any, Any] | None:
    """(column index, row source) tensors that apply P_c to the rows of each column matrix (cached)."""
    import torch

    if not topo.perms:
        return None
    c = max(topo.n_cols, 1)
    src = np.tile(np.arange(topo.n), (c, 1))
    for k, p in enumerate(topo.perms):
        src[k, p] = np.arange(topo.n)  # row perms[p] of P_c·M_c is row p of M_c
    with torch.inference_mode(False):
        return torch.arange(c, device=device)[:, None], torch.as_tensor(src, device=device)


def permute_columns(topo: MeshTopology, m: Any) -> Any:
    """P_c · M_c for a (..., C, N, N) stack of column matrices: one index gather (identity without perms)."""
    idx = _perm_gather(topo, m.device)
    if idx is None:
        return m
    return m[..., idx[0], idx[1], :]


def product_tree(mats: Any) -> Any:
    """M_{C-1} ⋯ M_1 · M_0 of a (..., C, N, N) stack in ⌈log₂ C⌉ batched matmuls."""
    import torch

    while mats.shape[-3] > 1:
        c = mats.shape[-3]
        if c % 2:
            last = mats[..., -1:, :, :]
            pairs = mats[..., 1:-1:2, :, :] @ mats[..., 0:-1:2, :, :]
            mats = torch.cat([pairs, last], dim=-3)
        else:
            mats = mats[..., 1::2, :, :] @ mats[..., 0::2, :, :]
    return mats[..., 0, :, :]


TREE_MAX_COLS = 16
"""Meshes up to this many columns are multiplied as a pure product tree of column matrices."""


@cache
def _group_index(topo: MeshTopology, group: int) -> tuple[Any, ...]:
    """Index tensors of :func:`_grouped_product`: (padded columns, scatter cols, scatter rows, partner)."""
    import torch

    c = max(topo.n_cols, 1)
    c_pad = -(-c // group) * group
    with torch.inference_mode(False):  # cached tensors must stay usable by autograd later
        col = torch.tensor(np.array(topo.cols), dtype=torch.long)
        row = torch.tensor(np.array(topo.rows), dtype=torch.long)
        partner = torch.arange(topo.n).repeat(c_pad, 1)
        partner[col, row] = row + 1
        partner[col, row + 1] = row
        partner = partner.reshape(c_pad // group, group, topo.n)
        return c_pad, torch.cat([col, col]), torch.cat([row, row + 1]), partner


def _grouped_product(topo: MeshTopology, theta: Any, phi: Any, zero_state: ZeroState) -> Any:
    """M_{C-1} ⋯ M_0 for deep meshes: groups of G ≈ √C consecutive columns are built by G batched
    2×2 row updates (all groups at once, O(N²) each), then the C/G group products form a product tree.

    Same result as ``product_tree(column_matrices_torch(...))`` to rounding, with ~G× fewer N³ matmuls.
    Row i of column c maps to ``a[c, i]·row_i + b[c, i]·row_partner(i)`` (untouched rows: a = 1, b = 0).
    """
    import torch

    t00, t01, t10, t11 = mzi_transfer_torch(theta, phi, zero_state)
    batch, n = theta.shape[:-1], topo.n
    group = max(1, round(math.sqrt(max(topo.n_cols, 1))))
    c_pad, cols2, rows2, partner = _group_index(topo, group)
    n_groups = c_pad // group
    a = torch.ones(*batch, c_pad, n, dtype=t00.dtype, device=theta.device)
    b = torch.zeros(*batch, c_pad, n, dtype=t00.dtype, device=theta.device)
    a[..., cols2, rows2] = torch.cat([t00, t11], -1)
    b[..., cols2, rows2] = torch.cat([t01, t10], -1)
    a = a.reshape(*batch, n_groups, group, n, 1)
    b = b.reshape(*batch, n_groups, group, n, 1)
    g_idx = torch.arange(n_groups)[:, None]
    partner = partner.to(theta.device)
    m = torch.eye(n, dtype=t00.dtype, device=theta.device).expand(*batch, n_groups, n, n)
    for j in range(group):
        m = a[..., j, :, :] * m + b[..., j, :, :] * m[..., g_idx, partner[:, j, :], :]
    return product_tree(m)


def mesh_unitary_torch(
    topo: MeshTopology,
    theta: Any,
    phi: Any,
    screen: Any = None,
    zero_state: ZeroState = "bar",
) -> Any:
    """Differentiable mesh unitary in torch (complex128 for float64 phases)."""
    import torch

    k = topo.n_mzis
    if theta.shape[-1:] != (k,) or phi.shape != theta.shape:
        raise ValueError(
            f"theta and phi must have shape (..., {k}) for a {topo.n}-mode mesh, "
            f"got {tuple(theta.shape)} and {tuple(phi.shape)}"
        )
    if screen is not None and screen.shape[-1:] != (topo.n,):
        raise ValueError(f"screen must have shape (..., {topo.n}), got {tuple(screen.shape)}")
    if topo.n_mzis == 0:
        u = torch.eye(topo.n, dtype=torch.complex128 if theta.dtype == torch.float64 else torch.complex64)
        u = u.expand(*theta.shape[:-1], topo.n, topo.n)
    elif topo.n_cols <= TREE_MAX_COLS or topo.perms is not None:
        u = product_tree(column_matrices_torch(topo, theta, phi, zero_state))
    else:
        u = _grouped_product(topo, theta, phi, zero_state)
    if screen is not None:
        u = torch.polar(torch.ones_like(screen), screen).unsqueeze(-1) * u
    return u


def mesh_unitaries_one_zeroed(
    topo: MeshTopology, theta: Any, phi: Any, kind: str, idx: Any, zero_state: ZeroState = "bar"
) -> Any:
    """The mesh's unitary with one phase set to 0, for many candidates: ``kind`` (theta|phi) of MZI
    ``idx[b]`` zeroed in candidate b → (B, N, N).

    With U = L_c · M_c · R_c (L_c, R_c the products of the columns after and before column c), changing one
    MZI changes only a 2×2 block of M_c: U' = U + L_c[:, r:r+2] · ΔT · R_c[r:r+2, :], a rank-2 update, O(N²)
    per candidate after O(C·N³) once. ``theta``/``phi`` are 1-D (K,).
    """
    import torch

    m = column_matrices_torch(topo, theta, phi, zero_state)  # (C, N, N)
    n_cols, n = m.shape[0], topo.n
    eye = torch.eye(n, dtype=m.dtype, device=m.device)
    before = [eye]
    for c in range(n_cols - 1):
        before.append(m[c] @ before[-1])
    after: list[Any] = [eye] * n_cols
    acc = eye
    for c in range(n_cols - 1, -1, -1):
        after[c] = acc
        acc = acc @ m[c]
    r_stack, l_stack = torch.stack(before), torch.stack(after)
    idx = torch.as_tensor(idx, dtype=torch.long)
    col = torch.tensor(np.array(topo.cols), dtype=torch.long)[idx]
    row = torch.tensor(np.array(topo.rows), dtype=torch.long)[idx]
    th, ph = theta[idx], phi[idx]
    th0 = torch.zeros_like(th) if kind == "theta" else th
    ph0 = torch.zeros_like(ph) if kind == "phi" else ph
    old, new = mzi_transfer_torch(th, ph, zero_state), mzi_transfer_torch(th0, ph0, zero_state)
    delta = torch.stack([b - a for a, b in zip(old, new, strict=True)], -1).reshape(-1, 2, 2)
    left = torch.stack([l_stack[col, :, row], l_stack[col, :, row + 1]], -1)  # (B, N, 2)
    right = torch.stack([r_stack[col, row, :], r_stack[col, row + 1, :]], -2)  # (B, 2, N)
    return acc + left @ delta @ right


def mesh_unitary_torch_naive(topo: MeshTopology, theta: Any, phi: Any, zero_state: ZeroState = "bar") -> Any:
    """One 2×2 at a time, as most research code does (benchmark baseline only)."""
    import torch

    if topo.perms:
        raise ValueError("the naive baseline handles Clements/Reck meshes only")
    cdtype = torch.complex128 if theta.dtype == torch.float64 else torch.complex64
    u = torch.eye(topo.n, dtype=cdtype)
    for k in range(topo.n_mzis):
        r = int(topo.rows[k])
        t00, t01, t10, t11 = mzi_transfer_torch(theta[k], phi[k], zero_state)
        top, bot = u[r], u[r + 1]
        u = torch.cat([u[:r], (t00 * top + t01 * bot)[None], (t10 * top + t11 * bot)[None], u[r + 2 :]])
    return u


def fit_unitary(
    u: Any,
    topo: MeshTopology,
    zero_state: ZeroState = "bar",
    steps: int = 300,
    restarts: int = 3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Best mesh phases for a target unitary by optimisation (for non-universal meshes).

    Minimises ‖D·U_mesh(θ, φ) − U‖_F / ‖U‖_F over the phases and an output screen D (L-BFGS,
    ``restarts`` random starts). Returns ``(theta, phi, screen, residual)``, phases in [0, 2π);
    ``residual`` is the achieved relative Frobenius error (0 only if U lies on the mesh's manifold).
    """
    import torch

    target = torch.as_tensor(check_unitary(u, "U"))
    if target.shape[0] != topo.n:
        raise ValueError(f"U is {target.shape[0]}×{target.shape[0]} but the mesh has {topo.n} modes")
    g = torch.Generator().manual_seed(seed)
    norm = float(torch.linalg.norm(target))
    best: tuple[float, Any, Any, Any] | None = None
    for _ in range(max(1, restarts)):
        th = (torch.rand(topo.n_mzis, generator=g, dtype=torch.float64) * TWO_PI_F).requires_grad_()
        ph = (torch.rand(topo.n_mzis, generator=g, dtype=torch.float64) * TWO_PI_F).requires_grad_()
        sc = torch.zeros(topo.n, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [th, ph, sc],
            lr=1,
            max_iter=steps,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-14,
            tolerance_change=1e-24,
        )

        def closure(opt: Any = opt, th: Any = th, ph: Any = ph, sc: Any = sc) -> Any:
            opt.zero_grad()
            loss = (mesh_unitary_torch(topo, th, ph, sc, zero_state) - target).abs().pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            err = float(torch.linalg.norm(mesh_unitary_torch(topo, th, ph, sc, zero_state) - target)) / norm
        if best is None or err < best[0]:
            best = (err, th.detach(), ph.detach(), sc.detach())
    assert best is not None
    err, th, ph, sc = best
    return wrap_phase(th.numpy()), wrap_phase(ph.numpy()), wrap_phase(sc.numpy()), err
