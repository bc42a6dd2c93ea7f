"""Passive fabrication errors and calibration of the live heaters (tiny networks)."""

from __future__ import annotations

import torch

from gf_prune.fabrication import calibrate, calibration_loss, draw_errors, fabricated_matrices, fabrication_study
from gf_prune.model import PhotonicMLP


def _model(prune: bool) -> PhotonicMLP:
    model = PhotonicMLP((4, 4, 3), seed=0)
    if prune:
        with torch.no_grad():
            layer = model.layers[0]
            layer.V_theta_mask[:2] = False
            layer.V_phi_mask[:1] = False  # MZI 0 removed (θ and φ pruned), MZI 1 in bar with a live φ
            model.apply_masks()
    return model


@torch.no_grad()
def test_zero_error_is_the_trained_network_and_removed_mzis_have_no_internal_error():
    model = _model(True)
    g = torch.Generator().manual_seed(0)
    zero = [{k: torch.zeros_like(v) for k, v in e.items()} for e in draw_errors(model, 0.0, g)]
    for a, b in zip(fabricated_matrices(model, zero), model.matrices(), strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    errs = draw_errors(model, 0.02, g)
    assert float(errs[0]["V_theta"][0]) == 0.0 and float(errs[0]["V_theta"][1]) != 0.0  # removed vs bar
    assert float(errs[0]["V_phi"][0]) != 0.0  # its waveguides still differ in length


def test_calibration_of_live_heaters_recovers_a_dense_chip_but_not_the_pruned_sites():
    model = _model(False)
    errs = draw_errors(model, 0.05, torch.Generator().manual_seed(1))
    targets = [w.detach() for w in model.matrices()]
    with torch.no_grad():
        before = float(calibration_loss(fabricated_matrices(model, errs), targets))
    _, after = calibrate(model, errs, steps=300, lr=0.02)
    assert after < 0.05 * before  # every site has a heater: the chip trims back
    pruned = _model(True)
    errs = draw_errors(pruned, 0.05, torch.Generator().manual_seed(1))
    _, after_pruned = calibrate(pruned, errs, steps=300, lr=0.02)
    assert after_pruned > after  # the bar MZI's internal error cannot be trimmed


def test_study_reports_dense_and_pruned_rows():
    x = torch.randn(20, 4, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    y = torch.arange(20) % 3
    res = fabrication_study({"dense": _model(False), "pruned": _model(True)}, x, y, (0.01,), trials=2, steps=5)
    for name in ("dense", "pruned"):
        row = res["models"][name]["rows"][0]
        assert 0.0 <= row["uncalibrated"] <= 1.0 and 0.0 <= row["calibrated"] <= 1.0
