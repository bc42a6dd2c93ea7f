"""The default job from Python: digits-FFT16, 16→16→16→10, prune, lay out, verify, report.

Same as ``gf-prune run --out out/digits``; a smaller, faster config is shown for a first try.

    .venv/bin/python examples/digits_run.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

from gf_prune.config import RunConfig
from gf_prune.pipeline import run_all


def main() -> None:
    cfg = RunConfig()
    if "--quick" in sys.argv:
        cfg.train.epochs = 60
    out = Path("out/digits")
    report = run_all(out, cfg, progress=lambda stage, msg: print(f"[{stage}] {msg}"))
    print("accuracy", report["accuracy"])
    print("phases", report["phases"])
    print("power (mW)", report["power_mw"])
    print("open", out / "report.html")


if __name__ == "__main__":
    main()
