"""gdsfactory cells of gf_prune: MZI slots, meshes, SVD layer and network chip.

Every cell is a ``@gf.cell`` whose parts are specs (coupler, heater, crossing,
terminator, straight, bend, cross-section), so a PDK's own cells can be swapped in.
See :mod:`gf_prune.components.mzi` (slot geometry, phase balance, sub-instance
names) and :mod:`gf_prune.components.mesh` (placement, port and instance naming).
"""

from gf_prune.components.fiber_io import FIBER_PITCH_UM, fiber_array
from gf_prune.components.mesh import mesh, network_chip, sigma_column, slot_states, svd_layer
from gf_prune.components.mzi import (
    BIAS_LENGTH_UM,
    attenuator,
    mzi_bar,
    mzi_removed,
    mzi_unit,
    passthrough,
    slot_geometry,
)

__all__ = [
    "BIAS_LENGTH_UM",
    "FIBER_PITCH_UM",
    "attenuator",
    "fiber_array",
    "mesh",
    "mzi_bar",
    "mzi_removed",
    "mzi_unit",
    "network_chip",
    "passthrough",
    "sigma_column",
    "slot_geometry",
    "slot_states",
    "svd_layer",
]
