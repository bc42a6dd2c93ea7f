"""Every instance, port and heater-label name of a gf_prune layout, built and parsed here.

The layout compiler (:mod:`gf_prune.components`) builds these names, the verification
(:mod:`gf_prune.verify`) and the robustness stage (:mod:`gf_prune.robustness`) read them
back, and ``heaters.csv`` carries them: one module does both, the way SAX's ``PortNamer``
does for ports. Nothing here imports from the rest of the package.

A *slot* is one MZI or Σ attenuator, addressed by (layer ℓ, mesh V|S|U, column c, row r):
``column`` is the LOGICAL mesh column of the topology (:func:`gf_prune.mesh.topology`), not
a physical position; ``row`` is the slot's top mode (an MZI spans modes r and r + 1).
A ``slot`` is the PHYSICAL column of a mesh on the chip (x = slot · slot width): without
compaction slot = column; a compacted mesh (:mod:`gf_prune.compaction`) puts each live MZI in
the earliest slot its modes allow and builds no removed MZI (slot −1 in ``heaters.csv``). MZI
instance names keep the logical column; passthroughs, which have no logical column, are named
by their slot (``pass_V0_c{slot}_r{r}``).
Names (see ``docs/design.md``)::

    layer{ℓ}                    an SVD layer in the chip         layer0
    V{ℓ} S{ℓ} U{ℓ}              a mesh / the Σ column            V0
    mzi_{V|U}{ℓ}_c{c}_r{r}      an MZI slot                      mzi_V0_c3_r5
    att_S{ℓ}_r{r}               a Σ attenuator                   att_S0_r3
    pass_{V|U}{ℓ}_c{c}_r{r}     a single-mode passthrough slot   pass_U1_c0_r4
    term_{V|U}{ℓ}_r{r}          a Σ column's terminator          term_V0_r3
    xing_{V|U}{ℓ}_s{s}_k{k}_r{r}  butterfly: swap (crossing) slot   xing_V0_s1_k2_r4
    pwg_{V|U}{ℓ}_s{s}_k{k}_r{r}   butterfly: permutation waveguide pwg_V0_s1_k2_r5
    pad_{V|U}{ℓ}_{in|out}{r}    terminator of a dark padded mode pad_U2_out12
    in{r} out{r}                optical ports of a mesh/Σ/layer  in2
    l{ℓ}_in{r} l{ℓ}_out{r}      optical ports of the chip        l0_out2
    {kind}_e1 {kind}_e2         a slot's heater ports            theta_e1
    {slot}_{kind}               heater label (TEXT 66/0)         mzi_V0_c3_r5_theta
    {slot}_{kind}_e1/_e2        heater ports of the chip         mzi_V0_c3_r5_phi_e2

``kind`` is ``theta`` (internal arm) or ``phi`` (external, top input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CORE_INSTANCE",
    "HEATER_KINDS",
    "LABEL_PATTERN",
    "MESHES",
    "SLOT_IN_PORTS",
    "SLOT_OUT_PORTS",
    "ModePort",
    "SlotName",
    "block_instance",
    "chip_port",
    "fiber_array_instance",
    "heater_label",
    "heater_port",
    "instance_port",
    "is_slot",
    "layer_instance",
    "mode_port",
    "name_unnamed_instances",
    "pad_instance",
    "parse_heater_label",
    "parse_mode_port",
    "parse_passthrough",
    "parse_slot",
    "passthrough_instance",
    "permutation_instance",
    "row_of",
    "slot_heater_port",
    "slot_instance",
    "terminator_instance",
]

Mesh = Literal["V", "S", "U"]
HeaterKind = Literal["theta", "phi"]
MESHES: tuple[str, ...] = ("V", "S", "U")
"""The blocks of an SVD layer, in the order light meets them."""
HEATER_KINDS: tuple[str, ...] = ("theta", "phi")
SLOT_IN_PORTS = ("o1", "o2")
"""An MZI slot's west ports: top (mode r), bottom (mode r + 1) — :mod:`gf_prune.components.mzi`."""
SLOT_OUT_PORTS = ("o3", "o4")
"""An MZI slot's east ports: top, bottom."""

_SLOT = re.compile(
    r"^(?:mzi_(?P<mesh>[UV])(?P<layer>\d+)_c(?P<col>\d+)_r(?P<row>\d+)|att_S(?P<slayer>\d+)_r(?P<srow>\d+))$"
)
_PASS = re.compile(r"^pass_(?P<mesh>[UV])(?P<layer>\d+)_c(?P<col>\d+)_r(?P<row>\d+)$")
_ROW = re.compile(r"_r(\d+)$")
_MODE_PORT = re.compile(r"^(?:l(?P<layer>\d+)_)?(?P<direction>in|out)(?P<row>\d+)$")

LABEL_PATTERN = r"^(?P<instance>mzi_[UV]\d+_c\d+_r\d+|att_S\d+_r\d+)\W?_?(?:ps_|heater_)?(?P<kind>theta|phi)$"
"""Heater labels :func:`parse_heater_label` accepts by default: ``{slot}_{kind}`` as written by
:func:`heater_label`, and the ``{slot}.ps_{kind}`` / ``{slot}_heater_{kind}`` forms of other tools."""


@dataclass(frozen=True, order=True)
class SlotName:
    """Address of one MZI or Σ attenuator; ``str()`` is its GDS instance name."""

    layer: int
    mesh: str  # V | S | U
    column: int  # logical mesh column (0 for Σ)
    row: int  # top mode of the slot

    def __str__(self) -> str:
        return slot_instance(self.layer, self.mesh, self.column, self.row)

    @property
    def light_order(self) -> tuple[int, int, int, int]:
        """Sort key: layer, then V → Σ → U, then column, then row."""
        return (self.layer, MESHES.index(self.mesh), self.column, self.row)


@dataclass(frozen=True)
class ModePort:
    """An optical port ``[l{layer}_]{in|out}{row}``; ``layer`` is None below the chip."""

    layer: int | None
    direction: str  # in | out
    row: int


def _check_mesh(mesh: str, allowed: str = "USV") -> None:
    if mesh not in tuple(allowed):
        raise ValueError(f"mesh must be one of {', '.join(repr(m) for m in allowed)}, got {mesh!r}")


# ----------------------------------------------------------------------------- build


def slot_instance(layer: int, mesh: str, column: int, row: int) -> str:
    """GDS instance name of an MZI (``mzi_V0_c3_r5``) or a Σ attenuator (``att_S0_r3``; column ignored)."""
    _check_mesh(mesh)
    if mesh == "S":
        return f"att_S{layer}_r{row}"
    return f"mzi_{mesh}{layer}_c{column}_r{row}"


def passthrough_instance(layer: int, mesh: str, column: int, row: int) -> str:
    """Instance name of the single-mode passthrough on mode ``row`` of a mesh column: ``pass_V0_c3_r4``.

    ``column`` is the passthrough's physical slot (= the logical column in a mesh that is not compacted)."""
    _check_mesh(mesh, "UV")
    return f"pass_{mesh}{layer}_c{column}_r{row}"


def terminator_instance(layer: int, mesh: str, row: int) -> str:
    """Instance name of a Σ column's terminator: V outputs ``term_V0_r4``, U inputs ``term_U0_r4``."""
    _check_mesh(mesh, "UV")
    return f"term_{mesh}{layer}_r{row}"


def permutation_instance(layer: int, mesh: str, stage: int, step: int, row: int, swap: bool) -> str:
    """Butterfly permutation after stage ``stage``, swap column ``step``: the crossing slot on modes
    ``row``, ``row + 1`` (``xing_V0_s1_k2_r4``) or the waveguide on mode ``row`` (``pwg_V0_s1_k2_r5``)."""
    _check_mesh(mesh, "UV")
    return f"{'xing' if swap else 'pwg'}_{mesh}{layer}_s{stage}_k{step}_r{row}"


def pad_instance(layer: int, mesh: str, port: str) -> str:
    """Terminator on a dark padded mode of a butterfly mesh: ``pad_V0_in12`` (unused input), ``pad_U2_out10``."""
    _check_mesh(mesh, "UV")
    return f"pad_{mesh}{layer}_{port}"


def block_instance(layer: int, mesh: str) -> str:
    """Instance name of a mesh or Σ column inside its SVD layer: ``V0``, ``S0``, ``U0``."""
    _check_mesh(mesh)
    return f"{mesh}{layer}"


def layer_instance(layer: int) -> str:
    """Instance name of an SVD layer inside the chip: ``layer0``."""
    return f"layer{layer}"


def mode_port(direction: str, row: int) -> str:
    """Optical port of a mesh, Σ column or SVD layer: ``in3`` (west) or ``out3`` (east)."""
    if direction not in ("in", "out"):
        raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")
    return f"{direction}{row}"


def chip_port(layer: int, port: str) -> str:
    """Chip port re-exporting an SVD layer's port: ``l0_in3``."""
    return f"l{layer}_{port}"


def slot_heater_port(kind: str, end: int) -> str:
    """Electrical port of a slot cell's heater: ``theta_e1`` (``end`` 1 or 2)."""
    return f"{kind}_e{end}"


def heater_label(instance: str, kind: str) -> str:
    """Text label of a live heater (TEXT layer, at its ``e1``): ``mzi_V0_c3_r5_theta``."""
    return f"{instance}_{kind}"


def instance_port(instance: str, port: str) -> str:
    """A slot port re-exported above the slot: ``mzi_V0_c3_r5`` + ``theta_e1`` → ``mzi_V0_c3_r5_theta_e1``."""
    return f"{instance}_{port}"


def heater_port(instance: str, kind: str, end: int) -> str:
    """Chip-level electrical port of a heater: ``mzi_V0_c3_r5_theta_e1``."""
    return instance_port(instance, slot_heater_port(kind, end))


# ----------------------------------------------------------------------------- parse


def parse_slot(name: str) -> SlotName | None:
    """The :class:`SlotName` of an MZI or attenuator instance name, else None."""
    m = _SLOT.match(name)
    if m is None:
        return None
    if m["mesh"]:
        return SlotName(int(m["layer"]), m["mesh"], int(m["col"]), int(m["row"]))
    return SlotName(int(m["slayer"]), "S", 0, int(m["srow"]))


def is_slot(name: str) -> bool:
    """Whether ``name`` is an MZI or attenuator instance name."""
    return _SLOT.match(name) is not None


def parse_passthrough(name: str) -> SlotName | None:
    """Address (layer, mesh, column, mode) of a passthrough instance name, else None."""
    m = _PASS.match(name)
    return SlotName(int(m["layer"]), m["mesh"], int(m["col"]), int(m["row"])) if m else None


def row_of(name: str) -> int | None:
    """The mode in a name ending ``_r{row}`` (slots, passthroughs, terminators), else None."""
    m = _ROW.search(name)
    return int(m[1]) if m else None


def parse_mode_port(name: str) -> ModePort | None:
    """A :class:`ModePort` from ``in3``, ``out3``, ``l0_in3``…, else None."""
    m = _MODE_PORT.match(name)
    if m is None:
        return None
    return ModePort(None if m["layer"] is None else int(m["layer"]), m["direction"], int(m["row"]))


def parse_heater_label(text: str, pattern: str | re.Pattern[str] = LABEL_PATTERN) -> tuple[SlotName, str] | None:
    """(slot, kind) of a heater label, else None.

    ``pattern`` needs the named groups ``instance`` (a slot instance name) and ``kind``.

    >>> parse_heater_label("mzi_V0_c3_r5_theta")
    (SlotName(layer=0, mesh='V', column=3, row=5), 'theta')
    """
    hit = re.match(pattern, text)
    if hit is None:
        return None
    slot = parse_slot(hit["instance"])
    return None if slot is None else (slot, hit["kind"])


CORE_INSTANCE = "core"
"""Instance name of the network chip inside a tape-out top cell (optical I/O, pads around it)."""


def fiber_array_instance(side: str) -> str:
    """Instance name of the fibre array (grating column) on ``side`` (west|east) of the core."""
    return f"fibers_{side}"


def name_unnamed_instances(component: Any, prefix: str) -> None:
    """Give the instances a router placed without a name (kfactory's ``PROPID.NAME`` unset) stable names
    ``{prefix}_{k}``, so every instance of the GDS is named and it reads back with ``klayout.db`` alone
    (:func:`gf_prune.netlist.read_gds_netlist`)."""
    k = 0
    for inst in component.insts:
        if inst.instance.property(0) is None:
            inst.name = f"{prefix}_{k}"
            k += 1
