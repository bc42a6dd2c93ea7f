"""Names are built and parsed by one module: every built name parses back to what built it."""

from __future__ import annotations

import pytest

from gf_prune import naming
from gf_prune.naming import SlotName


@pytest.mark.parametrize(
    ("slot", "name"),
    [
        (SlotName(0, "V", 3, 5), "mzi_V0_c3_r5"),
        (SlotName(12, "U", 0, 14), "mzi_U12_c0_r14"),
        (SlotName(1, "S", 0, 3), "att_S1_r3"),
    ],
)
def test_slot_names_round_trip(slot, name):
    assert str(slot) == naming.slot_instance(slot.layer, slot.mesh, slot.column, slot.row) == name
    assert naming.parse_slot(name) == slot
    assert naming.is_slot(name)
    assert naming.row_of(name) == slot.row


def test_every_other_name_is_not_a_slot():
    for name in ("pass_V0_c3_r4", "term_U0_r2", "V0", "layer0", "mzi_X0_c0_r0", "att_S0_r", "mzi_V0_c3_r5_theta"):
        assert naming.parse_slot(name) is None and not naming.is_slot(name)


def test_passthrough_and_terminator_names():
    name = naming.passthrough_instance(1, "U", 2, 4)
    assert name == "pass_U1_c2_r4"
    assert naming.parse_passthrough(name) == SlotName(1, "U", 2, 4)
    assert naming.terminator_instance(0, "V", 3) == "term_V0_r3"
    assert naming.row_of("term_V0_r3") == 3
    assert naming.block_instance(2, "S") == "S2" and naming.layer_instance(2) == "layer2"


@pytest.mark.parametrize("bad", ["X", "", "s"])
def test_unknown_mesh_is_an_error(bad):
    with pytest.raises(ValueError, match="mesh"):
        naming.slot_instance(0, bad, 0, 0)


def test_ports_round_trip():
    assert naming.mode_port("in", 3) == "in3"
    assert naming.chip_port(1, naming.mode_port("out", 2)) == "l1_out2"
    assert naming.parse_mode_port("in3") == naming.ModePort(None, "in", 3)
    assert naming.parse_mode_port("l1_out2") == naming.ModePort(1, "out", 2)
    assert naming.parse_mode_port("o1") is None


def test_heater_names():
    inst = "mzi_V0_c3_r5"
    assert naming.heater_label(inst, "theta") == "mzi_V0_c3_r5_theta"
    assert naming.heater_port(inst, "phi", 2) == "mzi_V0_c3_r5_phi_e2"
    assert naming.slot_heater_port("theta", 1) == "theta_e1"
    for label in ("mzi_V0_c3_r5_theta", "mzi_V0_c3_r5.ps_theta", "mzi_V0_c3_r5_heater_theta"):
        assert naming.parse_heater_label(label) == (SlotName(0, "V", 3, 5), "theta")
    assert naming.parse_heater_label("att_S2_r1_phi") == (SlotName(2, "S", 0, 1), "phi")
    assert naming.parse_heater_label("pass_V0_c0_r0_theta") is None


def test_light_order():
    names = ["mzi_U0_c0_r0", "att_S0_r1", "mzi_V0_c1_r0", "mzi_V0_c0_r2", "mzi_V1_c0_r0"]
    ordered = sorted(names, key=lambda n: naming.parse_slot(n).light_order)
    assert ordered == ["mzi_V0_c0_r2", "mzi_V0_c1_r0", "att_S0_r1", "mzi_U0_c0_r0", "mzi_V1_c0_r0"]


def test_heater_table_instances_are_the_layout_names():
    """heaters.csv's ``instance`` column and the GDS slot instances come from the same builder."""
    from gf_prune.phases import instance_name

    assert instance_name(0, "V", 3, 5) == naming.slot_instance(0, "V", 3, 5)
    assert instance_name(1, "S", 0, 2) == naming.slot_instance(1, "S", 0, 2)
