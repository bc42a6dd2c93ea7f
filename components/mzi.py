"""MZI unit cell and its fixed-phase relatives: one column slot of a mesh.

Every cell here is a *slot* of identical width ``W`` (for the same arguments): the
MZI (heaters where a phase is live), the removed MZI (plain waveguides of matched
phase, or a crossing for ``zero_state="cross"``) and the single-mode passthrough.
They abut in a mesh column without routes, and with heaters off every path through
a slot has the same optical length as the MZI's reference (bottom) path, except the
convention's own bias (:mod:`gf_prune.physics`). Every path through every slot has
exactly 8 ninety-degree bends of the same cell, so the balance holds for any bend
model; the straights (and couplers/crossings, which are counted by their
port-to-port length, as the SAX models do) make up the rest.

Geometry of :func:`mzi_unit` (``pitch`` = vertical distance of the two modes, ``R`` the
bend's footprint, ``m`` = ``heater_margin``, ``Lh`` = ``heater_length``)::

              phi (heater or straight)                theta (+ bias/2 on each vertical)
     o1 ──m──[======Lh======]──m──┐            ┌─vt─┐──m──[=====Lh=====]──m──┌─vt─┐            ┌── o3   y = 0
                                  vf           │    │                       │    │            vf
                                  └──┐ ┌────┐ ─┘                                   └─ ┌────┐ ┌──┘
                                     └─┤ cp1├─┐                                      ┌─┤ cp2├─┘
                                     ┌─┤    ├─┘                                      └─┤    ├─┐
                                  ┌──┘ └────┘ ─┐                                   ┌─ └────┘ └──┐
                                  vf           │    │                       │    │            vf
     o2 ──m──[phi_ref Lh       ]──m──┘            └─vb─┘──m──[theta_ref Lh]──m──└─vb─┘            └── o4   y = −pitch

Ports: ``o1`` top input (mode 0, west, y = 0), ``o2`` bottom input (mode 1, west,
y = −pitch), ``o3`` top output (east, y = 0), ``o4`` bottom output (east, y = −pitch);
electrical ``theta_e1``, ``theta_e2``, ``phi_e1``, ``phi_e2`` for each live heater.
The coupler (gdsfactory's ``mmi2x2``: ``o1`` west-bottom, ``o2`` west-top, ``o3``
east-top, ``o4`` east-bottom) is entered on its ``o2``/``o1`` and left on ``o3``/``o4``.
"""

from __future__ import annotations

__all__ = [
    "BIAS_LENGTH_UM",
    "attenuator",
    "attenuator_pdk",
    "mzi_bar",
    "mzi_removed",
    "mzi_removed_pdk",
    "mzi_unit",
    "mzi_unit_pdk",
    "passthrough",
    "passthrough_pdk",
    "pdk_variant",
    "slot_geometry",
]

import inspect
from dataclasses import dataclass
from functools import partial
from typing import Any

import gdsfactory as gf
from gdsfactory.component import Component
from gdsfactory.typings import ComponentSpec, CrossSectionSpec

from gf_prune.physics import GRID_UM, NEFF_DESIGN, WL0_UM, ZeroState, bias_length_um

BIAS_LENGTH_UM = bias_length_um(WL0_UM, NEFF_DESIGN)
"""π bias ΔL = λ/(2·n_eff) of the top internal arm for ``zero_state="bar"`` (µm).

Derived by :func:`gf_prune.physics.bias_length_um` at the design wavelength and index
(0.31 µm at λ = 1.55 µm, n_eff = 2.5); it and its half (the quarter-wave of a removed
cross-state MZI) lie on the 1 nm grid.
"""


def _nm(x: float) -> int:
    """Length in whole nm; raises if ``x`` is off gdsfactory's 1 nm grid."""
    n = round(x / GRID_UM)
    if abs(n * GRID_UM - x) > 1e-9:
        raise ValueError(f"length {x!r} µm is not on the 1 nm grid")
    return n


def _um(n: int) -> float:
    return round(n * GRID_UM, 3)


@dataclass(frozen=True)
class SlotGeometry:
    """Numbers shared by all slot cells built with the same arguments (µm)."""

    pitch: float
    radius: float  # footprint of one 90° bend (dx = dy)
    bend_length: float  # netlist length of one 90° bend
    coupler_length: float  # port-to-port x span of the coupler
    coupler_sep: float  # vertical distance of the coupler's two ports on one side
    heater_length: float
    heater_margin: float
    bias: float  # extra length of the top internal arm (0 for cross)
    v_fan: float  # vertical straight of each fan-in/fan-out
    width: float  # slot width W

    @property
    def ref_straights(self) -> float:
        """Sum of straight lengths (heaters included) on the MZI's reference path."""
        return 4 * self.heater_margin + 2 * self.heater_length + 4 * self.v_fan

    @property
    def ref_length(self) -> float:
        """Optical length of the reference path: straights + 8 bends + 2 couplers."""
        return self.ref_straights + 8 * self.bend_length + 2 * self.coupler_length


def _port_sep(comp: Component, a: str, b: str) -> float:
    return abs(comp.ports[a].center[1] - comp.ports[b].center[1])


def slot_geometry(
    pitch: float = 100.0,
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    zero_state: ZeroState = "bar",
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
) -> SlotGeometry:
    """Compute (and validate) the slot geometry; raises ValueError when ``pitch`` is too small."""
    cp = gf.get_component(coupler)
    b = gf.get_component(bend, cross_section=cross_section)
    radius = abs(b.ports["o2"].center[0] - b.ports["o1"].center[0])
    sep = _port_sep(cp, "o1", "o2")
    lc = abs(cp.ports["o3"].center[0] - cp.ports["o2"].center[0])
    bias = bias_length if zero_state == "bar" else 0.0
    v_fan = round(pitch / 2 - sep / 2 - 2 * radius, 3)
    if v_fan < 0:
        raise ValueError(f"pitch {pitch} µm too small: needs ≥ {sep + 4 * radius} µm for this bend and coupler")
    for x in (pitch / 2, v_fan, bias / 2, heater_length, heater_margin):
        _nm(x)
    width = 4 * heater_margin + 2 * heater_length + 8 * radius + 2 * lc
    return SlotGeometry(
        pitch=pitch,
        radius=radius,
        bend_length=float(b.info["length"]),
        coupler_length=lc,
        coupler_sep=sep,
        heater_length=heater_length,
        heater_margin=heater_margin,
        bias=bias,
        v_fan=v_fan,
        width=round(width, 3),
    )


def _slot_geometry_of(cell_args: dict[str, Any]) -> SlotGeometry:
    """:func:`slot_geometry` called with the keywords of a cell's arguments that it takes."""
    return slot_geometry(**{k: cell_args[k] for k in _GEOMETRY_ARGS})


_GEOMETRY_ARGS = tuple(inspect.signature(slot_geometry).parameters)


# ----------------------------------------------------------------------------- path builder


class _Path:
    """Chain of references connected port to port, starting at a port of ``c``."""

    def __init__(self, c: Component, port: Any, straight: Any, bend: Any, cross_section: Any) -> None:
        self.c = c
        self.port = port
        self.straight = straight
        self.bend = bend
        self.xs = cross_section
        self.n = 0

    def _name(self, name: str | None, tag: str) -> str:
        self.n += 1
        return name or f"{tag}{self.n}"

    def forward(self, length: float, name: str | None = None, prefix: str = "") -> _Path:
        """A straight of ``length`` µm (on the 1 nm grid) from the current port."""
        if _nm(length) == 0:
            return self
        comp = gf.get_component(self.straight, length=_um(_nm(length)), cross_section=self.xs)
        ref = self.c.add_ref(comp, name=prefix + self._name(name, "s"))
        ref.connect("o1", self.port)
        self.port = ref.ports["o2"]
        return self

    def turn(self, left: bool, prefix: str = "", bend: Any = None) -> _Path:
        comp = bend if bend is not None else self.bend
        ref = self.c.add_ref(comp, name=prefix + self._name(None, "b"))
        if left:
            ref.connect("o1", self.port)
            self.port = ref.ports["o2"]
        else:
            ref.connect("o2", self.port)
            self.port = ref.ports["o1"]
        return self

    def left(self, prefix: str = "", bend: Any = None) -> _Path:
        """A 90° bend turning left."""
        return self.turn(True, prefix, bend)

    def right(self, prefix: str = "", bend: Any = None) -> _Path:
        """A 90° bend turning right."""
        return self.turn(False, prefix, bend)

    def dev(self, comp: Component, name: str, port_in: str, port_out: str) -> Any:
        ref = self.c.add_ref(comp, name=name)
        ref.connect(port_in, self.port)
        self.port = ref.ports[port_out]
        return ref

    def bump(self, up: bool, vertical: float, prefix: str = "") -> _Path:
        """U-shaped excursion: 4 bends, two verticals of ``vertical`` µm, no horizontal straight."""
        if up:
            return (
                self.left(prefix)
                .forward(vertical, prefix=prefix)
                .right(prefix)
                .right(prefix)
                .forward(vertical, prefix=prefix)
                .left(prefix)
            )
        return (
            self.right(prefix)
            .forward(vertical, prefix=prefix)
            .left(prefix)
            .left(prefix)
            .forward(vertical, prefix=prefix)
            .right(prefix)
        )


def _start(c: Component, x: float, y: float, wg: tuple[float, int], name: str) -> Any:
    """A temporary east-facing port at (x, y) to start a path from (``wg``: :func:`_wg_width`)."""
    return gf.Port(name=name, center=(x, y), orientation=0, width=wg[0], layer=wg[1])


def _wg_width(straight: Any, cross_section: Any) -> tuple[float, int]:
    """Width (µm) and layer (index) of the waveguide's ports: the PDK's own core layer."""
    port = gf.get_component(straight, length=1, cross_section=cross_section).ports["o1"]
    return port.width, port.layer


def _check_end(port: Any, x: float, y: float, what: str) -> None:
    px, py = port.center
    if abs(px - x) > 1e-6 or abs(py - y) > 1e-6:
        raise AssertionError(f"{what} ends at ({px}, {py}), expected ({x}, {y})")  # pragma: no cover


# ----------------------------------------------------------------------------- MZI


_DELAY_BENDS: dict[Any, tuple[Any, float]] = {}


def _delay_bend(bend: Any, cross_section: Any, bias: float) -> tuple[Any, float]:
    """A bend whose footprint is δ larger and whose netlist length, less 2δ, differs from the
    standard bend's by an odd number of ``bias`` (a π at the design index): ``(bend, δ in µm)``.

    Used in an S-shaped fan-in (bend, vertical, bend) with the straight before it and the
    vertical after it each δ shorter: same end points, a passive π on that path. Lengths are the
    netlist's (whole nm), as the SAX models read them.
    """
    if not bias:
        raise ValueError("a π delay needs zero_state='bar' (a bias length)")
    key = (str(bend), str(cross_section), bias)
    if key in _DELAY_BENDS:
        return _DELAY_BENDS[key]
    b0 = gf.get_component(bend, cross_section=cross_section)
    r0 = _nm(round(abs(b0.ports["o2"].center[0] - b0.ports["o1"].center[0]), 3))
    l0 = round(float(b0.info["length"]) / GRID_UM)
    target = _nm(bias)

    def trial(dnm: int) -> tuple[Any, int, int] | None:
        b = gf.get_component(bend, cross_section=cross_section, radius=_um(r0 + dnm))
        dx = abs(b.ports["o2"].center[0] - b.ports["o1"].center[0])
        dy = abs(b.ports["o2"].center[1] - b.ports["o1"].center[1])
        fx = round(dx / GRID_UM)
        if abs(dx - dy) > 1e-9 or abs(fx * GRID_UM - dx) > 1e-9:
            return None
        return b, fx - r0, round(float(b.info["length"]) / GRID_UM) - l0 - 2 * (fx - r0)

    probe = trial(1000)
    slope = probe[2] / 1000 if probe and probe[2] else -0.4
    guess = max(1, round(target / abs(slope)))
    for dnm in sorted(range(max(1, guess - 300), guess + 300), key=lambda d: abs(d - guess)):
        hit = trial(dnm)
        if hit and hit[1] > 0 and hit[2] % (2 * target) == target:
            _DELAY_BENDS[key] = (hit[0], _um(hit[1]))
            return _DELAY_BENDS[key]
    raise ValueError(f"no bend radius near {_um(r0 + guess)} µm gives a π delay on the 1 nm grid")


@dataclass(frozen=True)
class _DelayBump:
    """A π delay as a U-bump (4 bends, two verticals of ``vertical`` µm) inside an input's plain phase
    section: for a bias too long for :func:`_delay_bend` (a foundry PDK's n_eff). Only where that
    section has no heater: the bottom input always, the top one when its φ is pruned."""

    vertical: float


def _fan_in_delay(bend: Any, cross_section: Any, g: SlotGeometry) -> tuple[Any, float] | _DelayBump | None:
    """The π delay a fan-in can take: a larger first bend (:func:`_delay_bend`) where the growth it needs
    fits the margin and the fan-in vertical, else a :class:`_DelayBump` if one fits, else None."""
    b0 = gf.get_component(bend, cross_section=cross_section)
    r0 = _nm(round(abs(b0.ports["o2"].center[0] - b0.ports["o1"].center[0]), 3))
    b1 = gf.get_component(bend, cross_section=cross_section, radius=_um(r0 + 1000))  # _delay_bend's own probe
    slope = abs(round(float(b1.info["length"]) / GRID_UM) - round(float(b0.info["length"]) / GRID_UM) - 2000) / 1000
    if slope and g.bias / slope < min(g.heater_margin, g.v_fan):
        return _delay_bend(bend, cross_section, g.bias)
    extra = 4 * (_nm(float(b0.info["length"])) - r0)  # a bump's 4 bends less the straight they replace (nm)
    for k in (1, 3, 5):
        twice_v = k * _nm(g.bias) - extra
        if twice_v >= 0 and twice_v % 2 == 0:
            v = _um(twice_v // 2)
            fits = 4 * g.radius <= g.heater_length and 2 * (2 * g.radius + v) + 2.0 < g.pitch
            return _DelayBump(v) if fits else None
    return None


def _add_mzi(
    c: Component,
    g: SlotGeometry,
    x0: float,
    theta_heater: bool,
    phi_heater: bool,
    coupler: Any,
    heater: Any,
    straight: Any,
    bend: Any,
    cross_section: Any,
    heater_ports: tuple[str, str],
    coupler_ports: tuple[str, str, str, str],
    in_delay: tuple[bool, bool] = (False, False),
    delay_bend: tuple[Any, float] | _DelayBump | None = None,
    theta_arm: str = "top",
) -> dict[str, Any]:
    """Build the MZI of :func:`mzi_unit` into ``c`` with its top input at (x0, 0); return its ports.
    ``theta_arm="bottom"``: θ and the bias on the bottom internal arm (a P·B coupler,
    :mod:`gf_prune.pdk_convention`)."""
    if theta_arm not in ("top", "bottom"):
        raise ValueError(f"theta_arm must be 'top' or 'bottom', got {theta_arm!r}")
    on_top = theta_arm == "top"
    cp = gf.get_component(coupler)
    w = _wg_width(straight, cross_section)
    ht = gf.get_component(heater, length=g.heater_length)
    cin_b, cin_t, cout_t, cout_b = coupler_ports
    m, lh, vf = g.heater_margin, g.heater_length, g.v_fan
    ports: dict[str, Any] = {}

    def phase_section(p: _Path, live: bool, name: str, shorten: float = 0.0, bump: float | None = None) -> None:
        p.forward(m, prefix=name + "_m")
        if live:
            ref = p.dev(ht, name, "o1", "o2")
            ports[f"{name}_e1"] = ref.ports[heater_ports[0]]
            ports[f"{name}_e2"] = ref.ports[heater_ports[1]]
        elif bump is not None:  # a π delay: a U-bump away from the MZI, in the middle of the plain section
            a = _um(_nm(lh - 4 * g.radius) // 2)
            p.forward(a, name=name).bump(name == "phi", bump, prefix=name + "_d")
            p.forward(round(lh - 4 * g.radius - a, 3), prefix=name + "_d")
        else:
            p.forward(lh, name=name)
        p.forward(round(m - shorten, 3), prefix=name + "_m")

    # a π delay on an input: its fan-in's first bend δ larger, the margin before it and the
    # vertical after it δ shorter (same end points, length changed by an odd number of λ/(2·n_eff));
    # or, for a long bias, a U-bump in the input's plain phase section (_DelayBump)
    delay = delay_bend if any(in_delay) else None
    if any(in_delay) and delay is None:
        raise ValueError("in_delay needs the delay bend (_delay_bend)")
    bump = delay if isinstance(delay, _DelayBump) else None
    if bump is not None:
        if in_delay[0] and phi_heater:
            raise ValueError("a π-delay bump needs the top input's φ pruned (no room beside its heater)")
        delay = None
    bt = bump.vertical if bump is not None and in_delay[0] else None
    bb = bump.vertical if bump is not None and in_delay[1] else None
    dt = delay[1] if delay and in_delay[0] else 0.0
    db = delay[1] if delay and in_delay[1] else 0.0

    # top input: φ section, fan-in down to the coupler's top west port
    top = _Path(c, _start(c, x0, 0.0, w, "t"), straight, bend, cross_section)
    ports["o1"] = top.port.copy()
    ports["o1"].orientation = 180
    phase_section(top, phi_heater, "phi", dt, bt)
    top.right("fin_t", bend=delay[0] if dt else None).forward(round(vf - dt, 3), prefix="fin_t").left("fin_t")
    cp1 = top.dev(cp, "cp1", cin_t, cout_t)
    # bottom input: plain φ reference, fan-in up to the coupler's bottom west port
    bot = _Path(c, _start(c, x0, -g.pitch, w, "b"), straight, bend, cross_section)
    ports["o2"] = bot.port.copy()
    ports["o2"].orientation = 180
    phase_section(bot, False, "phi_ref", db, bb)
    bot.left("fin_b", bend=delay[0] if db else None).forward(round(vf - db, 3), prefix="fin_b").right("fin_b")
    _check_end(bot.port, *cp1.ports[cin_b].center, "bottom fan-in")
    # internal arms: top goes up, bottom goes down; θ and the bias on ``theta_arm`` (default: top)
    vt = round(vf + g.bias / 2, 3) if on_top else vf
    vb = vf if on_top else round(vf + g.bias / 2, 3)
    arm_t = _Path(c, cp1.ports[cout_t], straight, bend, cross_section)
    arm_t.left("arm_t").forward(vt, prefix="arm_t").right("arm_t")
    phase_section(arm_t, theta_heater and on_top, "theta" if on_top else "theta_ref")
    arm_t.right("arm_t").forward(vt, prefix="arm_t").left("arm_t")
    cp2 = arm_t.dev(cp, "cp2", cin_t, cout_t)
    arm_b = _Path(c, cp1.ports[cout_b], straight, bend, cross_section)
    arm_b.right("arm_b").forward(vb, prefix="arm_b").left("arm_b")
    phase_section(arm_b, theta_heater and not on_top, "theta_ref" if on_top else "theta")
    arm_b.left("arm_b").forward(vb, prefix="arm_b").right("arm_b")
    _check_end(arm_b.port, *cp2.ports[cin_b].center, "bottom arm")
    # fan-out back to the mode lines
    out_t = _Path(c, cp2.ports[cout_t], straight, bend, cross_section)
    out_t.left("fout_t").forward(vf, prefix="fout_t").right("fout_t")
    out_b = _Path(c, cp2.ports[cout_b], straight, bend, cross_section)
    out_b.right("fout_b").forward(vf, prefix="fout_b").left("fout_b")
    _check_end(out_t.port, x0 + g.width, 0.0, "top output")
    _check_end(out_b.port, x0 + g.width, -g.pitch, "bottom output")
    ports["o3"], ports["o4"] = out_t.port, out_b.port
    return ports


def _expose(c: Component, ports: dict[str, Any], names: tuple[str, ...] = ("o1", "o2", "o3", "o4")) -> None:
    for name in names:
        c.add_port(name, port=ports[name])
    for name, p in ports.items():
        if name.startswith(("theta_e", "phi_e")):
            c.add_port(name, port=p, port_type="electrical")


@gf.cell
def mzi_unit(
    pitch: float = 100.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    in_delay: tuple[bool, bool] = (False, False),
) -> Component:
    """MZI slot of the gf_prune convention: T(θ, φ) = B·diag(e^{i(θ+b)}, 1)·B·diag(e^{iφ}, 1).

    See the module docstring for the sketch. Sub-instances (all names fixed):

    - ``phi`` (top input) and ``theta`` (top internal arm): the ``heater`` cell when
      the phase is live, else a plain ``straight`` of the same length
      ``heater_length`` (no heater metal at all);
    - ``phi_ref`` / ``theta_ref``: the bottom (reference) arm's plain straights of
      ``heater_length``; ``*_m<k>``: straights of ``heater_margin`` around each;
    - ``cp1``, ``cp2``: the couplers; ``fin_*``/``arm_*``/``fout_*``: bends ``b<k>``
      and vertical straights ``s<k>`` (``v_fan``; the top arm's are ``v_fan + bias/2``).

    Lengths (``g = slot_geometry(...)``): the reference path has straights
    ``g.ref_straights = 4·margin + 2·heater_length + 4·v_fan``, 8 bends and 2 couplers;
    the top internal arm is longer by exactly ``bias_length`` for ``zero_state="bar"``
    (π at n_eff = λ/(2·bias_length)), equal for ``"cross"``.

    Args:
        pitch: vertical distance of the two modes (µm).
        theta_heater: build the θ heater (False: pruned θ, plain waveguide).
        phi_heater: build the φ heater (False: pruned φ, plain waveguide).
        zero_state: "bar" (π-biased top arm) or "cross" (balanced).
        heater_length: optical length of each phase section (µm).
        heater_margin: plain straight on both sides of each phase section (µm).
        bias_length: π bias length (µm) for "bar".
        coupler: 2×2 coupler spec (ports ``coupler_ports``).
        heater: phase-shifter spec, called with ``length=heater_length``; optical
            ports o1/o2 and electrical ``heater_ports``.
        straight: straight spec; bend: 90° bend spec; cross_section: waveguide.
        heater_ports: the heater's two electrical ports exposed as ``{kind}_e1/e2``.
        coupler_ports: coupler's (west-bottom, west-top, east-top, east-bottom).
        in_delay: a passive π on the (top, bottom) input, ``T·diag(±1, ±1)`` (``zero_state="bar"``
            only): where a compacted mesh keeps a removed MZI's π without a column of its own
            (:mod:`gf_prune.compaction`). The fan-in's first bend is a few hundred nm larger
            (:func:`_delay_bend`); for a long bias (a foundry PDK), a U-bump in the input's plain
            phase section instead (:class:`_DelayBump`; top input only with φ pruned). The slot's
            width and ports do not change.
        theta_arm (:func:`mzi_unit_pdk` only): ``"top"`` (a coupler c·B) or ``"bottom"``: θ and the bias
            on the bottom internal arm,
            for a coupler c·P·B (cspdk's ``mmi2x2``), which makes the MZI the convention's
            (:mod:`gf_prune.pdk_convention`); ``theta_ref`` is then the top arm's plain section.
    """
    return _mzi_unit(**locals())


@gf.cell
def mzi_unit_pdk(
    pitch: float = 100.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    in_delay: tuple[bool, bool] = (False, False),
    theta_arm: str = "top",
) -> Component:
    """:func:`mzi_unit` with ``theta_arm`` (a foundry PDK's convention, :mod:`gf_prune.pdk_convention`)."""
    return _mzi_unit(**locals())


def _mzi_unit(
    pitch: float = 100.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    in_delay: tuple[bool, bool] = (False, False),
    theta_arm: str = "top",
) -> Component:
    """Builds :func:`mzi_unit` and :func:`mzi_unit_pdk`."""
    g = _slot_geometry_of(locals())
    c = Component()
    b = gf.get_component(bend, cross_section=cross_section)
    ports = _add_mzi(
        c,
        g,
        0.0,
        theta_heater,
        phi_heater,
        coupler,
        heater,
        straight,
        b,
        cross_section,
        heater_ports,
        coupler_ports,
        in_delay=tuple(in_delay),
        delay_bend=_fan_in_delay(bend, cross_section, g) if any(in_delay) else None,
        theta_arm=theta_arm,
    )
    _expose(c, ports)
    c.info["width"] = g.width
    c.info["ref_length"] = round(g.ref_length, 3)
    c.info["bias_length"] = g.bias
    c.info["heaters"] = [k for k, live in (("theta", theta_heater), ("phi", phi_heater)) if live]
    return c


mzi_bar = partial(mzi_unit, theta_heater=False, phi_heater=False)
"""Unpowered MZI (no heater metal): the fixed bar state for ``zero_state="bar"``."""


@gf.cell
def passthrough(
    pitch: float = 100.0,
    up: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    bias: bool = False,
) -> Component:
    """Single-mode slot (width W) with the optical length of the MZI's reference path.

    ``o1`` (west) and ``o2`` (east) at y = 0. Two U-bumps (``up`` or down), each
    4 bends + two verticals of ``v_fan``; horizontals fill the width. Straights
    total ``g.ref_straights + 2·coupler_length``: with the 8 bends the length is
    ``g.ref_length``. Sub-instances ``s<k>`` (straights) and ``b<k>`` (bends).
    ``pitch`` and the MZI arguments only fix the geometry to match :func:`mzi_unit`.
    ``bias=True``: the first bump's verticals are ``bias_length/2`` longer (as the top path of
    :func:`mzi_removed`): a passive π delay on this mode, where compaction keeps a removed MZI's π
    (:mod:`gf_prune.compaction`). Only for ``zero_state="bar"``.
    ``extra_length`` (:func:`passthrough_pdk` only; µm, even nm, may be < 0): added to the path, half in
    each bump's verticals, so that the slot's phase is an MZI's whose couplers are not their length's
    phase (a foundry PDK's, :func:`gf_prune.pdk_convention.slot_extra_length`). ``loss_pair`` (twin only):
    (extra for a down, for an up passthrough) — the path runs through two ``coupler`` cells in series
    (``lp1``, ``lp2``: in on the west-bottom port, out on the east-top one, c²·i; unused ports end in
    ``terminator`` cells) so that it has an MZI's coupler loss; ``extra_length`` is then the pair's entry.
    Its first bump always turns down and its second up (``up`` is not used).
    """
    return _passthrough(**locals())


@gf.cell
def passthrough_pdk(
    pitch: float = 100.0,
    up: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    bias: bool = False,
    extra_length: float = 0.0,
    loss_pair: tuple[float, float] | None = None,
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    terminator: ComponentSpec = "terminator",
) -> Component:
    """:func:`passthrough` with ``extra_length`` (a foundry PDK's convention, :mod:`gf_prune.pdk_convention`)."""
    return _passthrough(**locals())


def _passthrough(
    pitch: float = 100.0,
    up: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    bias: bool = False,
    extra_length: float = 0.0,
    loss_pair: tuple[float, float] | None = None,
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    terminator: ComponentSpec = "terminator",
) -> Component:
    """Builds :func:`passthrough` and :func:`passthrough_pdk`."""
    g = _slot_geometry_of(locals())
    c = Component()
    b = gf.get_component(bend, cross_section=cross_section)
    w = _wg_width(straight, cross_section)
    p = _Path(c, _start(c, 0.0, 0.0, w, "p"), straight, b, cross_section)
    o1 = p.port.copy()
    o1.orientation = 180
    h = g.width - 8 * g.radius  # horizontal straights in total
    h1 = round(h / 4, 3)
    if bias and not g.bias:
        raise ValueError("a π-delay passthrough (bias=True) needs zero_state='bar'")
    shim, dx = None, 0.0
    if loss_pair is not None:
        extra_length = loss_pair[1 if up else 0]
        if _nm(extra_length) % 2:  # odd: the second bump's first bend is a shim of odd netlist-length change
            shim, _ = _shim_bend(bend, cross_section, 1)
            dx = round(abs(shim.ports["o2"].center[0] - shim.ports["o1"].center[0]) - g.radius, 3)
            dl = _nm(float(shim.info["length"])) - _nm(g.bend_length) - 2 * _nm(dx)
            extra_length = _um(_nm(extra_length) - dl)
    e1, e2 = _split_extra(extra_length, g)
    v1 = round(g.v_fan + g.bias / 2 + e1, 3) if bias else round(g.v_fan + e1, 3)
    if loss_pair is None:
        p.forward(h1).bump(up, v1).forward(round(h - 2 * h1, 3)).bump(up, round(g.v_fan + e2, 3)).forward(h1)
    else:  # two couplers in series (c²·i, the MZI's coupler loss), back to y = 0 by an uneven second bump
        mid = round(h - 2 * h1 - 2 * g.coupler_length, 3)
        if mid < 0:
            raise ValueError(f"no room for two {g.coupler_length} µm couplers in a {g.width} µm passthrough")
        cp, term = gf.get_component(coupler), gf.get_component(terminator)
        wb, wt, et, eb = coupler_ports
        # first bump down, the pair right after it (in west-bottom, out east-top: sep higher), the second bump
        # up and back: the unused west-top port's terminator runs west above the first bump's return, the
        # east-bottom one east on y = 0 below the raised path, clear of the second bump (``mid`` ≥ 30 µm)
        p.forward(h1).bump(False, v1)
        m1 = p.dev(cp, "lp1", wb, eb)
        m2 = p.dev(cp, "lp2", wb, et)
        for name, ref, port in (("lp_t1", m1, wt), ("lp_t2", m2, eb)):
            c.add_ref(term, name=name).connect("o1", ref.ports[port])
        va = round(g.v_fan + e2, 3)
        p.forward(mid).left(bend=shim).forward(round(va - dx, 3)).right().right()
        p.forward(round(va + g.coupler_sep, 3)).left().forward(round(h1 - dx, 3))
    _check_end(p.port, g.width, 0.0, "passthrough")
    c.add_port("o1", port=o1)
    c.add_port("o2", port=p.port)
    c.info["width"] = g.width
    c.info["ref_length"] = round(g.ref_length + (g.bias if bias else 0.0) + extra_length, 3)
    return c


def _split_extra(extra_length: float, g: SlotGeometry) -> tuple[float, float]:
    """The verticals' extra (µm) of a slot path's two U-bumps for ``extra_length`` in all (even nm)."""
    n = _nm(extra_length)
    if n % 2:
        raise ValueError(f"extra_length {extra_length} µm must be an even number of nm (two verticals)")
    half = n // 2
    e1, e2 = _um(half // 2), _um(half - half // 2)
    if g.v_fan + min(e1, e2) < 0:
        raise ValueError(f"extra_length {extra_length} µm shortens the verticals ({g.v_fan} µm) below zero")
    return e1, e2


def _shim_bend(bend: Any, cross_section: Any, parity: int) -> tuple[Any, float]:
    """A bend whose netlist length differs from the standard one in nm parity (for the cross shim)."""
    b0 = gf.get_component(bend, cross_section=cross_section)
    r0 = abs(b0.ports["o2"].center[0] - b0.ports["o1"].center[0])
    for dnm in range(1, 200):
        r = _um(_nm(r0) + dnm)
        b = gf.get_component(bend, cross_section=cross_section, radius=r)
        delta = _nm(float(b.info["length"])) - _nm(float(b0.info["length"])) - 2 * dnm
        if delta % 2 == parity:
            return b, r
    raise ValueError("no bend radius within 200 nm gives the needed length parity")  # pragma: no cover


@gf.cell
def mzi_removed(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
) -> Component:
    """Removed MZI: plain waveguides with the phase of the heater-off MZI (slot width W).

    Ports as :func:`mzi_unit` (o1/o2 west top/bottom, o3/o4 east top/bottom).

    - ``zero_state="bar"`` (T = diag(−1, 1)): two passthrough-like paths, bottom of
      length ``g.ref_length`` (bumps down), top longer by ``bias_length`` (bumps up,
      verticals ``v_fan + bias/2`` in the first bump): sub-instances ``top_*``, ``bot_*``.
      A bias longer than the coupler's port separation (e.g. 38.75 µm at cspdk's n_eff,
      :mod:`gf_prune.pdk`) would reach the slot above: the top path's bumps then turn down,
      into the slot's own free middle.
    - ``zero_state="cross"`` (T = i·[[0, 1], [1, 0]]): a ``crossing`` (instance ``x``,
      counted by its port-to-port length) at the slot centre; path ``a_*`` o1→o4 crosses
      west→east, path ``b_*`` o2→o3 south→north; each has 8 bends and total length
      ``g.ref_length + bias_length/2``: a quarter wave λ/(4·n_eff) at the design index
      n_eff = λ/(2·bias_length), i.e. the ``+i``. A quarter wave is an odd number of nm
      and Manhattan paths between grid points differ by even numbers, so the first bend
      of a path may be a few nm larger in radius (``a_b1``, ``b_b1``): its netlist length
      restores the parity. The crossing's own phase is that of its length (8 µm).
    - ``extra_length`` (:func:`mzi_removed_pdk` only; µm, even nm): added to every path, as in a passthrough;
      ``crossing_extra`` (µm) also to a cross-state path, whose crossing is not its length's phase.
    """
    return _mzi_removed(**locals())


@gf.cell
def mzi_removed_pdk(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    extra_length: float = 0.0,
    crossing_extra: float = 0.0,
) -> Component:
    """:func:`mzi_removed` with ``extra_length`` (a foundry PDK's convention, :mod:`gf_prune.pdk_convention`)."""
    return _mzi_removed(**locals())


def _mzi_removed(
    pitch: float = 100.0,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    coupler: ComponentSpec = "mmi2x2",
    crossing: ComponentSpec = "crossing",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    extra_length: float = 0.0,
    crossing_extra: float = 0.0,
) -> Component:
    """Builds :func:`mzi_removed` and :func:`mzi_removed_pdk`."""
    g = _slot_geometry_of(locals())
    c = Component()
    b = gf.get_component(bend, cross_section=cross_section)
    w = _wg_width(straight, cross_section)
    h = g.width - 8 * g.radius
    h1 = round(h / 4, 3)
    h2 = round(h - 2 * h1, 3)
    ports: dict[str, Any] = {}
    if zero_state == "bar":
        inward = g.bias > g.coupler_sep  # a long bias (a foundry PDK's n_eff) would meet the slot above
        e1, e2 = _split_extra(extra_length, g)
        for name, y, top, extra in (("top", 0.0, True, g.bias / 2), ("bot", -g.pitch, False, 0.0)):
            up = top and not inward
            p = _Path(c, _start(c, 0.0, y, w, name), straight, b, cross_section)
            ports["o1" if top else "o2"] = p.port.copy()
            pre = name + "_"
            p.forward(h1, prefix=pre).bump(up, round(g.v_fan + extra + e1, 3), pre).forward(h2, prefix=pre)
            p.bump(up, round(g.v_fan + e2, 3), pre).forward(h1, prefix=pre)
            _check_end(p.port, g.width, y, f"removed MZI {name} path")
            ports["o3" if top else "o4"] = p.port
    else:
        quarter_nm = _nm(bias_length / 2)
        xc = gf.get_component(crossing)
        target_nm = _nm(round(g.ref_length, 3)) + quarter_nm + _nm(extra_length) + _nm(crossing_extra)
        for path in ("a", "b"):
            shim = None
            scratch = Component()  # dry run: how long would the path be without a shim?
            if _cross_path(scratch, g, xc, path, straight, b, cross_section, w, target_nm, None) % 2:
                shim, _ = _shim_bend(bend, cross_section, 1)
            scratch.delete()
            inward = bias_length / 2 > g.coupler_sep  # a long quarter wave (a foundry PDK's n_eff)
            _cross_path(c, g, xc, path, straight, b, cross_section, w, target_nm, shim, ports, inward=inward)
    for k in ("o1", "o2"):
        ports[k].orientation = 180
    _expose(c, ports)
    c.info["width"] = g.width
    c.info["ref_length"] = round(g.ref_length + extra_length, 3)
    return c


def _cross_path(
    c: Component,
    g: SlotGeometry,
    xc: Component,
    path: str,
    straight: Any,
    b: Any,
    cross_section: Any,
    w: tuple[float, int],
    target_nm: int,
    shim: Any,
    ports: dict[str, Any] | None = None,
    inward: bool = False,
) -> int:
    """Build path ``a`` (o1→o4, W→E through the crossing) or ``b`` (o2→o3, S→N) of a removed
    cross-state MZI; returns the excess length (nm) the final bump must add (its parity if odd).
    ``inward``: path ``b``'s final bump turns down into the slot's middle, not up towards the slot above
    (whose path ``a`` bumps down): for a long quarter wave."""
    r = g.radius
    r1 = r if shim is None else abs(shim.ports["o2"].center[0] - shim.ports["o1"].center[0])
    lx = abs(xc.ports["o3"].center[0] - xc.ports["o1"].center[0])
    x_mid = round(g.width / 2, 3)
    half = round(g.pitch / 2, 3)
    pre = path + "_"
    if path == "a":
        p = _Path(c, _start(c, 0.0, 0.0, w, "a"), straight, b, cross_section)
        start = p.port.copy()
        p.forward(round(x_mid - lx / 2 - r - r1, 3), prefix=pre).right(pre, bend=shim).forward(
            round(half - r - r1, 3), prefix=pre
        )
        p.left(pre)
        p.dev(xc, "x", "o1", "o3")
        p.right(pre).forward(round(half - 2 * r, 3), prefix=pre).left(pre)
        y_end, up = -g.pitch, False
    else:
        p = _Path(c, _start(c, 0.0, -g.pitch, w, "b"), straight, b, cross_section)
        start = p.port.copy()
        p.forward(round(x_mid - r1, 3), prefix=pre).left(pre, bend=shim).forward(
            round(half - r1 - lx / 2, 3), prefix=pre
        )
        if "x" in [i.name for i in c.insts]:
            xref = c.insts["x"]
            _check_end(p.port, *xref.ports["o4"].center, "removed MZI path B at the crossing")
            p.port = xref.ports["o2"]
        else:  # dry run: step over the crossing
            p.forward(lx, prefix="dry_")
        p.right(pre).left(pre).forward(round(half - lx / 2 - 3 * r, 3), prefix=pre).right(pre)
        y_end, up = 0.0, True
    final = round(g.width - p.port.center[0] - 4 * r, 3)
    length = _path_length_nm(c, pre, lx) + 4 * _nm(g.bend_length) + _nm(final)
    excess = target_nm - length
    if ports is None:
        return excess
    if excess < 0 or excess % 2:
        raise ValueError(f"pitch {g.pitch} µm too small (or off-grid) for a removed cross-state MZI")
    p.bump(up and not inward, _um(excess // 2), pre).forward(final, prefix=pre)  # path b may turn inward
    _check_end(p.port, g.width, y_end, f"removed MZI path {path}")
    ports["o1" if path == "a" else "o2"] = start
    ports["o4" if path == "a" else "o3"] = p.port
    return excess


def _path_length_nm(c: Component, prefix: str, crossing_length: float) -> int:
    """Netlist length (nm) of the instances named ``prefix*`` plus the crossing."""
    total = _nm(crossing_length)
    for inst in c.insts:
        if inst.name.startswith(prefix):
            total += _nm(round(float(inst.cell.info["length"]), 3))
    return total


@gf.cell
def attenuator(
    pitch: float = 50.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    spacer: float = 60.0,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    terminator: ComponentSpec = "terminator",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
) -> Component:
    """Σ attenuator: one mode in (``o1``, west, y = 0), one out (``o2``, east, y = 0).

    An MZI (sub-instances named exactly as in :func:`mzi_unit`: ``theta``, ``phi``, ...;
    internal mode pitch ``pitch``) whose through element
    ``physics.attenuator_port(zero_state)`` is used: ``"bar"`` top→top, ``"cross"``
    top→bottom, then ``out_*`` (2 bends + a vertical of ``pitch − 2R``) back up to
    y = 0. Straights ``in_wg`` and ``out_s*`` of ``spacer`` µm keep the
    ``term_in``/``term_out`` terminators (on the unused MZI ports) inside the cell.
    ``theta_arm`` (:func:`attenuator_pdk` only) as :func:`mzi_unit_pdk`.
    """
    return _attenuator(**locals())


@gf.cell
def attenuator_pdk(
    pitch: float = 50.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    spacer: float = 60.0,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    terminator: ComponentSpec = "terminator",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    theta_arm: str = "top",
) -> Component:
    """:func:`attenuator` with ``theta_arm`` (a foundry PDK's convention, :mod:`gf_prune.pdk_convention`)."""
    return _attenuator(**locals())


def _attenuator(
    pitch: float = 50.0,
    theta_heater: bool = True,
    phi_heater: bool = True,
    zero_state: ZeroState = "bar",
    heater_length: float = 100.0,
    heater_margin: float = 16.0,
    bias_length: float = BIAS_LENGTH_UM,
    spacer: float = 60.0,
    coupler: ComponentSpec = "mmi2x2",
    heater: ComponentSpec = "straight_heater_metal",
    terminator: ComponentSpec = "terminator",
    straight: ComponentSpec = "straight",
    bend: ComponentSpec = "bend_euler",
    cross_section: CrossSectionSpec = "strip",
    heater_ports: tuple[str, str] = ("l_e2", "r_e2"),
    coupler_ports: tuple[str, str, str, str] = ("o1", "o2", "o3", "o4"),
    theta_arm: str = "top",
) -> Component:
    """Builds :func:`attenuator` and :func:`attenuator_pdk`."""
    g = _slot_geometry_of(locals())
    c = Component()
    b = gf.get_component(bend, cross_section=cross_section)
    w = _wg_width(straight, cross_section)
    inp = _Path(c, _start(c, 0.0, 0.0, w, "i"), straight, b, cross_section)
    o1 = inp.port.copy()
    o1.orientation = 180
    inp.forward(spacer, name="in_wg")
    ports = _add_mzi(
        c,
        g,
        spacer,
        theta_heater,
        phi_heater,
        coupler,
        heater,
        straight,
        b,
        cross_section,
        heater_ports,
        coupler_ports,
        theta_arm=theta_arm,
    )
    term = gf.get_component(terminator)
    t_in = c.add_ref(term, name="term_in")
    t_in.connect("o1", ports["o2"])
    out_used, out_dump = ("o3", "o4") if zero_state == "bar" else ("o4", "o3")
    t_out = c.add_ref(term, name="term_out")
    t_out.connect("o1", ports[out_dump])
    out = _Path(c, ports[out_used], straight, b, cross_section)
    if zero_state == "bar":
        out.forward(spacer, name="out_s1")
    else:
        out.forward(spacer, name="out_s1").left("out_").forward(round(pitch - 2 * g.radius, 3), name="out_s2").right(
            "out_"
        )
    c.add_port("o1", port=o1)
    c.add_port("o2", port=out.port)
    for name, p in ports.items():
        if name.startswith(("theta_e", "phi_e")):
            c.add_port(name, port=p, port_type="electrical")
    c.info["heaters"] = [k for k, live in (("theta", theta_heater), ("phi", phi_heater)) if live]
    return c


PDK_VARIANTS: dict[Any, tuple[Any, tuple[str, ...]]] = {
    mzi_unit: (mzi_unit_pdk, ("theta_arm",)),
    attenuator: (attenuator_pdk, ("theta_arm",)),
    passthrough: (passthrough_pdk, ("extra_length", "loss_pair")),
    mzi_removed: (mzi_removed_pdk, ("extra_length", "crossing_extra")),
}
"""Slot cell → its ``*_pdk`` twin and the keywords only the twin takes. The twins exist so that the generic
cells keep their signatures, hence their names and the generic chip's GDS bytes."""


def pdk_variant(cell: Any, kwargs: dict[str, Any]) -> Any:
    """``cell``'s ``*_pdk`` twin when ``kwargs`` hold a keyword only the twin takes, else ``cell``."""
    twin = PDK_VARIANTS.get(cell)
    return twin[0] if twin is not None and any(k in kwargs for k in twin[1]) else cell
