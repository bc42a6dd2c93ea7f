"""Heater wiring: every live heater to its own probe pad, returns to shared ground pads.

:func:`add_wiring` adds pads and metal routes to a top :class:`gdsfactory.Component` around the
network chip's reference (``core``) and returns the pad table (``pads.csv``) and the figures.

Plan (one routing metal, the PDK's ``metal_routing`` cross-section, so it works on a PDK with a
single metal such as cspdk's PAD layer)::

       pad_N0   pad_N1 ...                 pads in rows at a probe-card pitch (NORTH edge)
         │        │                        staircase fan-out: order kept, shallowest jog levels
    ─────┼────────┼──── core.ymax
         │        │   ┃ ground rail        every track runs in a vertical CHANNEL: an x interval with
     s ■─┘  phi   g ■━┫━■ g  theta  ■ s    no heater contact anywhere in the core (all layers)
      ═══════════════ ┃ ════════════       φ: signal = west contact, jogs east (over its heater);
                      ┃                       ground = east contact, jogs east;
                                           θ: mirrored, so the two grounds meet in one rail

- A contact's jog only crosses its own blocked x interval, so it crosses no other track; where its
  channel is full it jogs into the channel on its other side.
- In a channel, contacts entering from the west take positions from the west edge, those from the
  east from the east edge, each family nested (the contact nearest the track's pad edge outermost),
  so a jog crosses only tracks that do not exist at its height. A channel's contacts are split in y:
  the upper part runs NORTH, the lower SOUTH, reusing the same x positions (the split keeps a track
  pitch between them). Ground contacts alone share rails (up to ``heaters_per_ground`` each).
- At each edge the tracks leave in x order; consecutive ground tracks are joined by a bar into one
  ground pad (at most ``heaters_per_ground`` heaters); an order-keeping staircase brings each to
  its pad (right-moving tracks jog lowest first from the right, left-moving from the left).
- Pads sit in rows; a track to row j > 0 runs in the gap west of its pad column and enters the
  pad from the west (rows nearest the pad first), so the column pitch must hold ``rows − 1`` tracks.

The resistance R of a heater (for ``current_mA`` = √(P/R), ``voltage_V`` = I·R) comes from the
heater cell's ``info["resistance"]`` when the PDK sets it (gdsfactory computes it from
``ohms_per_square``), otherwise from R = V_π² / P_π with V_π read from the PDK's SAX heater model
(cspdk ``straight_heater_metal``'s ``vpi`` default, 1 V) or, for a PDK without one (gdsfactory's
generic PDK), :data:`V_PI_DEFAULT` = 4.36 V (pytorch-onn's heater law φ = γV², docs/design.md).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import gdsfactory as gf
import klayout.db as kdb

from gf_prune.naming import heater_port
from gf_prune.phases import NetworkPhases
from gf_prune.physics import P_PI_MW_DEFAULT

__all__ = [
    "PAD_COLUMNS",
    "ROUTERS",
    "V_PI_DEFAULT",
    "WiringError",
    "WiringResult",
    "add_wiring",
    "heater_resistance",
    "min_metal_spacing",
    "standard_die",
    "write_pad_table",
    "write_wired",
]

PAD_COLUMNS = (
    "pad",
    "x_um",
    "y_um",
    "net",
    "heater_instance",
    "layer",
    "mesh",
    "column",
    "row",
    "kind",
    "phase_rad",
    "power_mw",
    "current_mA",
    "voltage_V",
)
"""Columns of ``pads.csv`` (docs/design.md)."""

V_PI_DEFAULT = 4.36
"""V_π of a heater when the PDK gives neither a resistance nor a heater model (pytorch-onn default)."""

TEXT_LAYER = (66, 0)


class WiringError(ValueError):
    """The heaters cannot be wired as planned; the message names the channel, heaters and place."""


@dataclass(frozen=True)
class _Contact:
    heater: str  # {instance}_{kind}
    role: str  # signal | ground
    x: float
    y: float
    half: float
    row: dict[str, Any]
    east: bool = True  # jogs into the channel east of it (else west)


@dataclass
class _Track:
    x: float
    contacts: list[_Contact]
    role: str  # signal | ground
    rail: bool = False


@dataclass
class WiringResult:
    """What :func:`add_wiring` added: ``rows`` (``pads.csv``, :data:`PAD_COLUMNS`) and ``figures``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- PDK facts


def min_metal_spacing() -> float:
    """Minimum metal-to-metal spacing of the routing metal in the active PDK, µm: the ``metal_space``
    rule of :func:`gf_prune.design_rules.pdk_rules` (generic: ``constants.metal_spacing`` = 10 µm;
    cspdk: its metal router's pitch 15 µm − ``metal_routing`` width 10 µm = 5 µm); ``.source`` there."""
    from gf_prune.design_rules import pdk_rules

    return float(pdk_rules()["metal_space"].value)


def _rule(name: str) -> dict[str, Any]:
    from gf_prune.design_rules import pdk_rules

    r = pdk_rules()[name]
    return {"value_um": float(r.value), "source": r.source}


def heater_resistance(heater: Any = None, p_pi_mw: float = P_PI_MW_DEFAULT) -> tuple[float, str]:
    """(R in Ω, where it comes from) of the active PDK's heater (module docstring)."""
    pdk = gf.get_active_pdk()
    spec = heater or ("straight_heater_metal" if "straight_heater_metal" in pdk.cells else None)
    if spec is not None:
        try:
            r = gf.get_component(spec).info.get("resistance")
        except Exception:
            r = None
        if r:
            return float(r), f"{spec}.info['resistance']"
    model = (pdk.models or {}).get("straight_heater_metal")
    if model is not None and "vpi" in inspect.signature(model).parameters:
        vpi = float(inspect.signature(model).parameters["vpi"].default)
        return vpi**2 / (p_pi_mw * 1e-3), f"V_pi^2/P_pi, V_pi = {vpi:g} V from the PDK model straight_heater_metal"
    return V_PI_DEFAULT**2 / (p_pi_mw * 1e-3), f"V_pi^2/P_pi, V_pi = {V_PI_DEFAULT:g} V (gf_prune default)"


def standard_die() -> dict[str, Any] | None:
    """Size (mm) and pad count of the active PDK's standard die, the defaults of its ``die_with_pads``
    cell (cspdk and gdsfactory's generic PDK: 11.47 × 4.9 mm, 31 pads); None without that cell."""
    cell = gf.get_active_pdk().cells.get("die_with_pads")
    if cell is None:
        return None
    params = inspect.signature(cell).parameters
    if "size" not in params or "npads" not in params:
        return None
    size = params["size"].default
    return {"name": "die_with_pads", "size_mm": [size[0] / 1e3, size[1] / 1e3], "pads": params["npads"].default}


# ----------------------------------------------------------------------------- planning


def _contacts(core: Any, net: NetworkPhases, p_pi_mw: float, w: float, phase_offset_rad: float = 0.0) -> list[_Contact]:
    """Both contacts of every live heater: the point a jog of width ``w`` starts from (``w/2`` inside
    the port's edge, on the contact), the contact's half width; the west one is the signal. The rows carry
    what to program on this GDS (:func:`gf_prune.layout.programmed_heater_rows`), as ``heaters.csv`` does."""
    from gf_prune.layout import programmed_heater_rows

    ports = {p.name: p for p in core.ports if p.port_type == "electrical"}
    out = []
    for row in programmed_heater_rows(net, p_pi_mw, phase_offset_rad):
        if row["pruned"]:
            continue
        pair = []
        for i in (1, 2):
            name = heater_port(row["instance"], row["kind"], i)
            if name not in ports:
                raise WiringError(f"live heater {row['instance']} {row['kind']}: the core has no port {name}")
            p = ports[name]
            a = math.radians(float(p.orientation or 0.0))
            half = float(p.width) / 2
            inset = min(half, w / 2)
            pair.append((float(p.center[0]) - inset * math.cos(a), float(p.center[1]) - inset * math.sin(a), half))
        west, east = sorted(pair)
        heater = f"{row['instance']}_{row['kind']}"
        jog_east = row["kind"] != "theta"  # φ jogs east, θ west: their grounds meet in the channel between
        back, front = (west, east) if jog_east else (east, west)
        out.append(_Contact(heater, "signal", *back, row, jog_east))
        out.append(_Contact(heater, "ground", *front, row, jog_east))
    return out


def _channels(
    contacts: list[_Contact], xmin: float, xmax: float, w: float, s: float
) -> tuple[list[tuple[float, float]], list[int]]:
    """Free x intervals for track centres, and for each contact the channel east of it."""
    spans = sorted((c.x - c.half - s - w / 2, c.x + c.half + s + w / 2, k) for k, c in enumerate(contacts))
    blocks: list[list[float]] = []
    owner = [0] * len(contacts)
    for lo, hi, k in spans:
        if blocks and lo <= blocks[-1][1]:
            blocks[-1][1] = max(blocks[-1][1], hi)
        else:
            blocks.append([lo, hi])
        owner[k] = len(blocks)  # channel index east of block len-1
    chans = [(xmin + w / 2, blocks[0][0] if blocks else xmax - w / 2)]
    chans += [(blocks[i][1], blocks[i + 1][0] if i + 1 < len(blocks) else xmax - w / 2) for i in range(len(blocks))]
    return chans, owner


def _group_need(g: list[_Contact], per_rail: int, mid: float) -> int:
    """Tracks a group of a channel (centre x ``mid``) needs: ground contacts only share rails, one if
    they are at most ``per_rail``, else one per ``per_rail`` of each side; otherwise one track each."""
    if not g or any(c.role != "ground" for c in g):
        return len(g)
    if len(g) <= per_rail:
        return 1
    west = sum(c.x < mid for c in g)
    return math.ceil(west / per_rail) + math.ceil((len(g) - west) / per_rail)


def _halves(cs: list[_Contact], gap: float, per_rail: int, mid: float) -> tuple[list[_Contact], list[_Contact]]:
    """A channel's contacts split in y: (north group, south group), each nearest its edge first.

    The split lies where consecutive contacts are at least ``gap`` apart in y (a north and a south
    track may share an x position), as near the middle as the track counts allow."""
    cs = sorted(cs, key=lambda c: -c.y)
    cuts = [k for k in range(len(cs) + 1) if k in (0, len(cs)) or cs[k - 1].y - cs[k].y >= gap]
    k = min(
        cuts,
        key=lambda k: (
            max(_group_need(cs[:k], per_rail, mid), _group_need(cs[k:], per_rail, mid)),
            abs(2 * k - len(cs)),
        ),
    )
    return cs[:k], cs[k:][::-1]


def _need(cs: list[_Contact], gap: float, per_rail: int, mid: float) -> int:
    """Track positions a channel needs: its larger half (:func:`_group_need`)."""
    return max(_group_need(g, per_rail, mid) for g in _halves(cs, gap, per_rail, mid)) if cs else 0


def _plan_tracks(
    contacts: list[_Contact], xmin: float, xmax: float, w: float, s: float, per_rail: int = 8
) -> dict[str, list[_Track]]:
    """Tracks per edge (``"N"``, ``"S"``) with their x and contacts (module docstring).

    Each contact jogs into the channel east of it, or, where that channel is full, the one west
    of it. In a channel, contacts entering from the west take positions from the west edge,
    those entering from the east from the east edge, each family nested (nearest the track's pad
    edge outermost), so no jog crosses a track. A channel's contacts are split at the median y:
    the upper half runs NORTH, the lower half SOUTH; a north track exists only above its contact
    and a south track only below, and every north contact lies above every south one, so both
    halves reuse the same x positions."""
    p = w + s
    chans, owner = _channels(contacts, xmin, xmax, w, s)

    def room(ch: int) -> int:
        lo, hi = chans[ch]
        return int((hi - lo) // p) + 1 if hi >= lo - 1e-9 else 0

    def side(k: int, east: bool) -> int:  # the channel east or west of contact k
        return owner[k] if east else owner[k] - 1

    members: dict[int, list[int]] = {}
    for k, c in enumerate(contacts):
        members.setdefault(side(k, c.east), []).append(k)
    moved: set[int] = set()  # contacts sent to their other side

    def fits(ch: int, extra: list[int] = ()) -> bool:  # type: ignore[assignment]
        return _need([contacts[k] for k in (*members.get(ch, []), *extra)], p, per_rail, sum(chans[ch]) / 2) <= room(ch)

    for ch in sorted(members):
        while not fits(ch):
            movable = [k for k in members[ch] if k not in moved and fits(side(k, not contacts[k].east), [k])]
            if not movable:
                break
            k = movable[len(movable) // 2]
            other = side(k, not contacts[k].east)
            members[ch].remove(k)
            members.setdefault(other, []).append(k)
            moved.add(k)
    out: dict[str, list[_Track]] = {"N": [], "S": []}
    for ch, ks in members.items():
        lo, hi = chans[ch]
        if not fits(ch):
            group = [contacts[k] for k in ks]
            names = ", ".join(c.heater for c in group)
            raise WiringError(
                f"channel x = {lo:.1f}…{hi:.1f} µm needs {_need(group, p, per_rail, (lo + hi) / 2)} tracks "
                f"at pitch {p:g} µm but has room "
                f"for {room(ch)}: heaters {names} (first contact at x = {group[0].x:.1f}, y = {group[0].y:.1f} µm); "
                "use a narrower route width or a wider heater pitch"
            )
        for edge, group in zip(("N", "S"), _halves([contacts[k] for k in ks], p, per_rail, (lo + hi) / 2), strict=True):
            if not group:
                continue
            if _group_need(group, per_rail, (lo + hi) / 2) == 1 and group[0].role == "ground":
                out[edge].append(_Track(lo, group, "ground", rail=True))
                continue
            east_side = [c for c in group if c.x > hi]  # entered from the east (jog west)
            west_side = [c for c in group if c.x <= hi]
            if all(c.role == "ground" for c in group):  # rails of up to per_rail, nested per side
                wr = [west_side[i : i + per_rail] for i in range(0, len(west_side), per_rail)]
                er = [east_side[i : i + per_rail] for i in range(0, len(east_side), per_rail)]
                out[edge].extend(_Track(lo + i * p, g, "ground", rail=True) for i, g in enumerate(wr))
                out[edge].extend(_Track(lo + (room(ch) - 1 - i) * p, g, "ground", rail=True) for i, g in enumerate(er))
                continue
            out[edge].extend(_Track(lo + i * p, [c], c.role) for i, c in enumerate(west_side))
            out[edge].extend(_Track(lo + (room(ch) - 1 - i) * p, [c], c.role) for i, c in enumerate(east_side))
    for edge in out:
        out[edge].sort(key=lambda t: t.x)
    return out


MIN_ROUTE_WIDTH_UM = 2.0
"""The narrowest track :func:`add_wiring` tries when the cross-section's width does not fit."""


def _widths(w: float) -> list[float]:
    """Track widths to try: the cross-section's, then halving down to :data:`MIN_ROUTE_WIDTH_UM`."""
    out = [w]
    while out[-1] / 2 >= MIN_ROUTE_WIDTH_UM:
        out.append(out[-1] / 2)
    if out[-1] > MIN_ROUTE_WIDTH_UM:
        out.append(MIN_ROUTE_WIDTH_UM)
    return out


def _ground_groups(tracks: list[_Track], per_pad: int) -> list[list[_Track]]:
    """Tracks in x order → one group per pad: a signal alone, consecutive grounds together."""
    groups: list[list[_Track]] = []
    for t in tracks:
        last = groups[-1] if groups else None
        if (
            t.role == "ground"
            and last
            and last[0].role == "ground"
            and sum(len(g.contacts) for g in last) + len(t.contacts) <= per_pad
        ):
            last.append(t)
        else:
            groups.append([t])
    return groups


@dataclass
class _PadGrid:
    centers: list[tuple[float, float]]  # (x, distance from the core edge) per pad, entry order
    entries: list[float]  # x of the track entering each pad from below
    rows: list[int]
    pitch: float
    n_rows: int
    depth: float  # distance from the core edge to the far side of the last row
    width: float  # x extent of the pads


def _pad_grid(
    n: int,
    x_lo: float,
    x_hi: float,
    d0: float,
    pad: tuple[float, float],
    pitch: float,
    w: float,
    s: float,
    shift: float = 0.0,
) -> _PadGrid:
    pw, ph = pad
    p = w + s
    max_rows = max(1, int((pitch - pw - 2 * s - w) // p) + 2) if pitch - pw >= 2 * s + w else 1
    fit = max(1, int((x_hi - x_lo - pw) // pitch) + 1)
    n_rows = min(max_rows, max(1, math.ceil(n / fit)))
    m = math.ceil(n / n_rows) if n else 0
    xc = (x_lo + x_hi) / 2 + shift
    centers, entries, rows = [], [], []
    q = ph + 2 * s
    for i in range(m):
        xi = xc + (i - (m - 1) / 2) * pitch
        k = n // m + (1 if i < n % m else 0)
        for j in range(k - 1, -1, -1):
            centers.append((xi, d0 + ph / 2 + j * q))
            entries.append(xi if j == 0 else xi - pw / 2 - s - w / 2 - (j - 1) * p)
            rows.append(j)
    width = (m - 1) * pitch + pw if m else 0.0
    return _PadGrid(centers, entries, rows, pitch, n_rows, d0 + n_rows * q, width)


PAD_PITCH_MAX_UM = 150.0
"""The widest pad pitch :func:`add_wiring` widens to (a probe card's 100–150 µm) to fit more rows."""


def _fit_pad_grid(
    n: int, x_lo: float, x_hi: float, d0: float, pad: tuple[float, float], pitch: float, w: float, s: float
) -> _PadGrid:
    """The narrowest pad grid from ``pitch`` up to :data:`PAD_PITCH_MAX_UM` (5 µm steps): the first
    that fits in ``x_lo…x_hi``, else the one of least width (wider pitches hold more rows)."""
    best = None
    for k in range(int(max(0.0, PAD_PITCH_MAX_UM - pitch) // 5) + 1):
        grid = _pad_grid(n, x_lo, x_hi, d0, pad, pitch + 5 * k, w, s)
        if grid.width <= x_hi - x_lo + 1e-6:
            return grid
        if best is None or grid.width < best.width:
            best = grid
    assert best is not None
    return best


def _staircase_levels(xs: list[float], xe: list[float], p: float) -> list[int]:
    """Jog level of each track (0 = nearest the core), tracks in x order, ``xe`` their pad entries.

    A track moving east jogs above every east-mover to its right whose vertical lies under its jog
    (within ``p``); west-movers mirror that. Movers in opposite directions never meet (the order is
    kept), so a level is shared wherever the jogs do not overlap."""
    n = len(xs)
    lv = [0] * n
    right = [i for i in range(n) if xe[i] > xs[i] + 1e-6]
    left = [i for i in range(n) if xe[i] < xs[i] - 1e-6]
    for a, i in enumerate(reversed(right)):  # from the east
        below = [lv[k] for k in right[len(right) - a :] if xs[k] <= xe[i] + p]
        lv[i] = max(below, default=-1) + 1
    for a, i in enumerate(left):  # from the west
        below = [lv[k] for k in left[:a] if xs[k] >= xe[i] - p]
        lv[i] = max(below, default=-1) + 1
    return lv


# ----------------------------------------------------------------------------- drawing


ROUTERS = ("paths", "gdsfactory")
"""How :func:`add_wiring` draws the planned paths (same geometry, both checked by the read-back)."""


class _Router:
    """Draws a planned Manhattan path on the routing metal at the track width.

    ``"paths"`` (default): one klayout path per route (fast: 0.3 s for the default chip's ~850 paths).
    ``"gdsfactory"``: gdsfactory's ``route_single`` with the path's corners as waypoints and
    ``wire_corner`` bends; it builds a straight cell per distinct length (measured 15 s for the default
    chip, 82 s for a 64×64 layer). Where gdsfactory refuses a path (a jog shorter than a corner) it
    is drawn as a klayout path; an error marker from gdsfactory raises :class:`WiringError`."""

    def __init__(self, top: gf.Component, cross_section: Any, w: float, router: str = "paths") -> None:
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")
        self.router = router
        self.top = top
        self.xs = gf.get_cross_section(cross_section, width=w)
        self.w = w
        self.layer = gf.get_layer(self.xs.layer)
        self.shapes = top.shapes(top.kcl.layer(*_layer_tuple(self.xs.layer)))
        err = gf.get_active_pdk().layers
        self.err = (
            top.kcl.layer(*_layer_tuple(err.routing_error_marker)) if hasattr(err, "routing_error_marker") else None
        )
        self.routed = 0  # by gdsfactory's route_single
        self.drawn = 0  # as klayout paths

    def __call__(self, pts: list[tuple[float, float]]) -> None:
        clean = [pts[0]]
        for q in pts[1:]:
            if abs(q[0] - clean[-1][0]) > 1e-9 or abs(q[1] - clean[-1][1]) > 1e-9:
                clean.append(q)
        if len(clean) < 2:
            return
        keep = [clean[0]]  # drop points on a straight line
        for i in range(1, len(clean) - 1):
            if not _collinear(keep[-1], clean[i], clean[i + 1]):
                keep.append(clean[i])
        keep.append(clean[-1])
        if self.router == "paths" or not self._gdsfactory(keep):
            self.shapes.insert(kdb.DPath([kdb.DPoint(*q) for q in keep], self.w, self.w / 2, self.w / 2))
            self.drawn += 1

    def _gdsfactory(self, pts: list[tuple[float, float]]) -> bool:
        def angle(a: tuple[float, float], b: tuple[float, float]) -> float:
            return float(round(math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))) % 360)

        if len(pts) > 2 and any(math.dist(a, b) < self.w for a, b in pairwise(pts)):
            return False  # a jog shorter than a wire corner
        n_err = self.top.shapes(self.err).size() if self.err is not None else 0
        p1 = gf.Port(
            name="w1",
            center=pts[0],
            orientation=angle(pts[0], pts[1]),
            width=self.w,
            layer=self.layer,
            port_type="electrical",
        )
        p2 = gf.Port(
            name="w2",
            center=pts[-1],
            orientation=angle(pts[-1], pts[-2]),
            width=self.w,
            layer=self.layer,
            port_type="electrical",
        )
        try:
            gf.routing.route_single(
                self.top,
                p1,
                p2,
                waypoints=pts[1:-1] or None,
                cross_section=self.xs,
                bend="wire_corner",
                port_type="electrical",
                allow_width_mismatch=True,
            )
        except Exception:
            return False
        if self.err is not None and self.top.shapes(self.err).size() > n_err:
            raise WiringError(
                f"gdsfactory marked the route {pts[0]} → {pts[-1]} as an error (layer routing_error_marker)"
            )
        self.routed += 1
        return True


def _layer_tuple(layer: Any) -> tuple[int, int]:
    info = gf.get_layer_info(layer)
    return int(info.layer), int(info.datatype)


def _collinear(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    return abs((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])) < 1e-9


def add_wiring(
    top: gf.Component,
    core: Any,
    net: NetworkPhases,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    pad: Any = "pad",
    pad_pitch: float = 125.0,
    cross_section: Any = "metal_routing",
    route_width: float | None = None,
    min_spacing: float | None = None,
    heaters_per_ground: int = 8,
    heater: Any = None,
    router: str = "paths",
    phase_offset_rad: float = 0.0,
) -> WiringResult:
    """Add probe pads (NORTH and SOUTH of ``core``) and routes for every live heater of ``net``.

    Args:
        top: the component to draw in; ``core`` is its reference of the network chip.
        net: the phases laid out in ``core`` (live heaters, their phases and power).
        p_pi_mw: power of a π phase (power and current per heater).
        pad: the PDK's pad cell (:func:`gf_prune.components.pads.probe_pad`).
        pad_pitch: centre-to-centre pitch of the pads along a row, µm (probe card: 100–150 µm).
        cross_section: the routing metal; its layer and (unless ``route_width``) its width.
        route_width: track width, µm (default: the cross-section's width, halved down to
            :data:`MIN_ROUTE_WIDTH_UM` until every channel holds its tracks and the pads fit in the
            core's x range — narrower tracks let more pad rows share the gaps between pads).
        min_spacing: metal spacing, µm (default :func:`min_metal_spacing` of the active PDK). Tracks
            narrower than the PDK's ``metal_width`` rule are flagged in the figures
            (``route_width_below_metal_width_rule``).
        heaters_per_ground: the most heaters returning through one ground pad.
        heater: the heater cell spec for its resistance (default the PDK's ``straight_heater_metal``).
        router: ``"paths"`` (klayout paths) or ``"gdsfactory"`` (``gf.routing.route_single``), see
            :data:`ROUTERS`; the plan and the geometry are the same.

    Returns:
        :class:`WiringResult`: ``rows`` for ``pads.csv`` and ``figures`` (``pads``, ``heaters_wired``,
        ``pads_dense``, ``die_mm``, ground sharing, the standard die fit).
    """
    from gf_prune.components.pads import probe_pad

    xs = gf.get_cross_section(cross_section)
    w = float(route_width or xs.width)
    s = float(min_spacing if min_spacing is not None else min_metal_spacing())
    p = w + s
    bb = core.dbbox()
    pad_cell = probe_pad(pad=pad, cross_section=cross_section)
    pad_size = tuple(pad_cell.info["size_um"])
    widths = [w] if route_width else _widths(w)
    plan = None  # (width, contacts, tracks) of the widest track that routes; pads within core x preferred
    for width in widths:
        contacts = _contacts(core, net, p_pi_mw, width, phase_offset_rad)
        try:
            tracks = _plan_tracks(contacts, float(bb.left), float(bb.right), width, s, heaters_per_ground)
        except WiringError:
            if width == widths[-1] and plan is None:
                raise
            continue
        plan = plan or (width, contacts, tracks)
        n_pads = [len(_ground_groups(tracks[e], heaters_per_ground)) for e in ("N", "S")]
        grids = [_fit_pad_grid(n, float(bb.left), float(bb.right), 0.0, pad_size, pad_pitch, width, s) for n in n_pads]
        if all(g.width <= float(bb.width()) + 1e-6 for g in grids):  # narrower tracks allow more pad rows
            plan = (width, contacts, tracks)
            break
    assert plan is not None
    w, contacts, tracks = plan
    p = w + s
    resistance, r_source = heater_resistance(heater, p_pi_mw)
    wires = _new_component(f"{top.name}_wires")  # routes in their own cell: gdsfactory routes fast in a small one
    route = _Router(wires, cross_section, w, router)
    texts = top.shapes(top.kcl.layer(*TEXT_LAYER))
    rows: list[dict[str, Any]] = []
    ground_loads: list[dict[str, Any]] = []
    pitch_used, n_rows = pad_pitch, 0
    for edge, sign in (("N", 1.0), ("S", -1.0)):
        y_edge = float(bb.top) if edge == "N" else float(bb.bottom)

        def y(d: float, y_edge: float = y_edge, sign: float = sign) -> float:
            return y_edge + sign * d

        d0 = s + w / 2  # the bar / first level just outside the core
        for t in tracks[edge]:
            far = min(t.contacts, key=lambda c: sign * c.y)
            route([(t.x, far.y), (t.x, y(d0))])
            for c in t.contacts:
                route([(c.x, c.y), (t.x, c.y)])
        groups = _ground_groups(tracks[edge], heaters_per_ground)
        for g in groups:
            if len(g) > 1:
                route([(g[0].x, y(d0)), (g[-1].x, y(d0))])
        starts = [g[0].x for g in groups]
        n = len(groups)
        base = _fit_pad_grid(n, float(bb.left), float(bb.right), 0.0, pad_size, pad_pitch, w, s)
        free = max(0.0, float(bb.width()) - base.width) / 2
        best = None
        for shift in (0.0, -free, free, -free / 2, free / 2):  # the pads' x offset with the shallowest staircase
            cand = _pad_grid(n, float(bb.left), float(bb.right), 0.0, pad_size, base.pitch, w, s, shift)
            lv = _staircase_levels(starts, cand.entries, p)
            if best is None or max(lv, default=0) < max(best[1], default=0):
                best = (shift, lv)
        assert best is not None
        levels = best[1]
        d_pads = d0 + (max(levels, default=-1) + 2) * p + s
        grid = _pad_grid(n, float(bb.left), float(bb.right), d_pads, pad_size, base.pitch, w, s, best[0])
        n_rows = max(n_rows, grid.n_rows)
        pitch_used = max(pitch_used, grid.pitch)
        for k, g in enumerate(groups):
            xe = grid.entries[k]
            cx, dc = grid.centers[k]
            dl = d0 + (levels[k] + 1) * p
            if grid.rows[k] == 0:
                pts = [(g[0].x, y(d0)), (g[0].x, y(dl)), (xe, y(dl)), (xe, y(dc))]
            else:
                pts = [(g[0].x, y(d0)), (g[0].x, y(dl)), (xe, y(dl)), (xe, y(dc)), (cx, y(dc))]
            route(pts)
            name = f"pad_{edge}{k}"
            ref = top.add_ref(pad_cell, name=name)
            ref.dcenter = (cx, y(dc))
            texts.insert(kdb.DText(name, kdb.DTrans(kdb.DVector(cx, y(dc)))))
            rows.append(_pad_row(name, cx, y(dc), g, resistance))
            if g[0].role == "ground":
                ground_loads.append(
                    {"pad": name, "heaters": rows[-1]["_heaters"], "current_mA": rows[-1]["current_mA"]}
                )
    for r in rows:
        r.pop("_heaters")
    top.add_ref(wires, name="wires")
    top_bb = top.dbbox()
    die_mm = [float(top_bb.width()) / 1e3, float(top_bb.height()) / 1e3]
    live = len(contacts) // 2
    dense_heaters = 2 * (sum(layer.V.topo.n_mzis + layer.U.topo.n_mzis + layer.S.k for layer in net.layers))
    n_ground = len(ground_loads)
    figures = {
        "pads": len(rows),
        "pads_signal": len(rows) - n_ground,
        "pads_ground": n_ground,
        "heaters_wired": live,
        "pads_dense": dense_heaters + math.ceil(dense_heaters / heaters_per_ground),
        "die_mm": die_mm,
        "pad_pitch_um": pitch_used,
        "pad_rows_per_edge": n_rows,
        "route_width_um": w,
        "routes": {"router": router, "gdsfactory_route_single": route.routed, "drawn_paths": route.drawn},
        "min_spacing_um": s,
        "rules": {"metal_space": _rule("metal_space"), "metal_width": _rule("metal_width")},
        "route_width_below_metal_width_rule": w < _rule("metal_width")["value_um"] - 1e-9,
        "heaters_per_ground_max": max((g["heaters"] for g in ground_loads), default=0),
        "ground_current_mA_max": max((g["current_mA"] for g in ground_loads), default=0.0),
        "heater_resistance_ohm": resistance,
        "heater_resistance_source": r_source,
        "pads_within_core_x": all(
            float(bb.left) - 1e-6 <= r["x_um"] - pad_size[0] / 2
            and r["x_um"] + pad_size[0] / 2 <= float(bb.right) + 1e-6
            for r in rows
        ),
    }
    figures["standard_die"] = _die_fit(figures)
    return WiringResult(rows, figures)


def _pad_row(name: str, x: float, y: float, group: list[_Track], resistance: float) -> dict[str, Any]:
    contacts = [c for t in group for c in t.contacts]
    power = [float(c.row["power_mw"]) for c in contacts]
    current = [math.sqrt(pw * 1e-3 / resistance) * 1e3 for pw in power]
    base = {"pad": name, "x_um": round(x, 3), "y_um": round(y, 3), "_heaters": len(contacts)}
    if group[0].role == "signal":
        r = contacts[0].row
        return {
            **base,
            "net": contacts[0].heater,
            "heater_instance": r["instance"],
            "layer": r["layer"],
            "mesh": r["mesh"],
            "column": r["column"],
            "row": r["row"],
            "kind": r["kind"],
            "phase_rad": r["phase_rad"],
            "power_mw": power[0],
            "current_mA": current[0],
            "voltage_V": current[0] * 1e-3 * resistance,
        }
    return {
        **base,
        "net": f"gnd_{name}",
        "heater_instance": ";".join(c.heater for c in contacts),
        "layer": "",
        "mesh": "",
        "column": "",
        "row": "",
        "kind": "ground",
        "phase_rad": "",
        "power_mw": sum(power),
        "current_mA": sum(current),
        "voltage_V": 0.0,
    }


def _die_fit(figures: dict[str, Any]) -> dict[str, Any]:
    """Does the wired chip (core + pads + routes, no optical I/O) fit the PDK's standard die; if not,
    the split: one custom die of the wired size, or at least ⌈pads / pads per die⌉ standard dies."""
    die = standard_die()
    if die is None:
        return {"known": False}
    w, h = figures["die_mm"]
    too_many = figures["pads"] > die["pads"]
    too_big = w > die["size_mm"][0] or h > die["size_mm"][1]
    by_pads = math.ceil(figures["pads"] / die["pads"]) if die["pads"] else 0
    why = [f"{figures['pads']} pads > {die['pads']}"] * too_many + [
        f"{w:.2f} x {h:.2f} mm > {die['size_mm'][0]:g} x {die['size_mm'][1]:g} mm"
    ] * too_big
    split = (
        "fits one standard die"
        if not why
        else (
            f"does not fit ({'; '.join(why)}): one custom die of {w:.2f} x {h:.2f} mm with "
            f"{figures['pad_rows_per_edge']} pad row(s) on its north and south edges, or the meshes split over "
            f"at least {by_pads} standard dies ({die['pads']} pads each)"
        )
    )
    return {**die, "fits": not why, "dies_needed_by_pads": by_pads, "split": split}


# ----------------------------------------------------------------------------- files


def _new_component(name: str) -> gf.Component:
    """A component named ``name``, or ``name_2``, ``name_3``, … when that name is taken in the layout."""
    for k in range(1, 10_000):
        try:
            return gf.Component(name if k == 1 else f"{name}_{k}")
        except ValueError:
            continue
    raise ValueError(f"no free cell name like {name!r}")


def write_pad_table(rows: list[dict[str, Any]], path: Any) -> None:
    """``pads.csv`` (:data:`PAD_COLUMNS`), written to a temporary name, then renamed."""
    import csv
    from pathlib import Path

    from gf_prune.io import atomic_output

    def fmt(v: Any) -> Any:
        return f"{v:.12g}" if isinstance(v, float) else v

    with atomic_output(Path(path)) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(PAD_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r[k]) for k in PAD_COLUMNS})


def write_wired(
    net: NetworkPhases,
    chip: gf.Component,
    out_dir: Any,
    p_pi_mw: float = P_PI_MW_DEFAULT,
    check: bool = True,
    router: str = "paths",
    base: gf.Component | None = None,
    phase_offset_rad: float = 0.0,
) -> dict[str, Any]:
    """Wire ``chip`` (as instance ``core`` of a new top cell, or ``base``'s instance ``core`` with ``base``
    placed at the origin of the new top) and write ``network_wired.gds`` and
    ``pads.csv`` into ``out_dir``; with ``check`` read the GDS back (:func:`gf_prune.wiring_check.check_wiring`).

    Returns the figures for ``layout.json``: ``pads``, ``heaters_wired``, ``pads_dense``, ``die_mm``,
    ``standard_die`` and ``wiring`` (the rest of :attr:`WiringResult.figures`, the check, timings, files).
    A chip that cannot be wired returns ``wiring.ok = false`` with the planner's message."""
    import time
    from pathlib import Path

    from gf_prune.geometry_checks import NON_OPTICAL
    from gf_prune.io import atomic_output, recorded_path

    out = Path(out_dir)
    t0 = time.perf_counter()
    top = _new_component(f"{(base or chip).name}_wired")
    if base is None:
        core = top.add_ref(chip, name="core")
    else:  # network.gds's top (core at the origin, optical I/O around it): wire around its core
        ref = top.add_ref(base, name="chip")
        top.add_ports([p for p in ref.ports if p.port_type not in NON_OPTICAL])  # the fibre ports stay the chip's
        core = base.insts["core"]
    try:
        res = add_wiring(top, core, net, p_pi_mw, router=router, phase_offset_rad=phase_offset_rad)
    except WiringError as e:
        return {"wiring": {"ok": False, "error": str(e)}}
    gds = out / "network_wired.gds"
    with atomic_output(gds) as tmp:
        top.write_gds(tmp)
    write_pad_table(res.rows, out / "pads.csv")
    t1 = time.perf_counter()
    figs = dict(res.figures)
    top_keys = {k: figs.pop(k) for k in ("pads", "heaters_wired", "pads_dense", "die_mm", "standard_die")}
    wiring: dict[str, Any] = {"ok": True, **figs, "timings_s": {"route_write": t1 - t0}}
    if check:
        from gf_prune.wiring_check import check_wiring

        result = check_wiring(gds, res.rows, figs["min_spacing_um"])
        wiring["check"] = result.to_dict()
        wiring["ok"] = result.ok
        wiring["timings_s"]["check"] = time.perf_counter() - t1
    wiring["files"] = {"gds": recorded_path(gds, out), "pads": recorded_path(out / "pads.csv", out)}
    return {**top_keys, "wiring": wiring}
