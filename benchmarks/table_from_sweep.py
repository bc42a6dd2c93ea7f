"""The README's pruning table from a sweep's results: method × seeds, sparsity within 1 and 5 validation points.

    .venv/bin/gf-prune sweep examples/sweep_prune_methods.yaml --out sweep_methods --workers 2
    .venv/bin/python benchmarks/table_from_sweep.py sweep_methods

For every trial in ``DIR/sweep.csv`` it reads the trial's ``rounds.json`` (every recorded round, the dense
network first) and takes, for B = 1 and 5 points, the sparsest round whose **validation** accuracy is within B of
the dense network's validation accuracy; it reports that round's U/V sparsity, **test** accuracy and static power
(Σ included). Rows are grouped by the swept key (``variant`` by default): mean ± half the range over seeds.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from statistics import mean


def within(records: list[dict], budget: float) -> dict:
    """The sparsest record whose validation accuracy is within ``budget`` of the dense (first) record's."""
    dense = records[0]["acc_val"]
    ok = [r for r in records if r["acc_val"] >= dense - budget - 1e-12]
    return max(ok, key=lambda r: (r["sparsity_uv"], r["acc_val"]))


def fmt(values: list[float], scale: float = 100.0, unit: str = "%", digits: int = 1) -> str:
    m = mean(values) * scale
    half = (max(values) - min(values)) / 2 * scale
    return f"{m:.{digits}f}" + (f" ± {half:.{digits}f}" if len(values) > 1 else "") + (f" {unit}" if unit else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--key", default="variant", help="the sweep.csv column that names a configuration")
    ap.add_argument("--hardware", action="store_true", help="also a table of the laid-out chips (report.json)")
    args = ap.parse_args()
    with open(args.folder / "sweep.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        records = json.loads((args.folder / Path(row["report"]).parent / "rounds.json").read_text())["records"]
        r1, r5 = within(records, 0.01), within(records, 0.05)
        groups.setdefault(row[args.key], []).append(
            {
                "seed": row["seed"],
                "dense_test": records[0]["acc_test"],
                "uv1": r1["sparsity_uv"],
                "test1": r1["acc_test"],
                "w1": r1["power_mw"] / 1000,
                "uv5": r5["sparsity_uv"],
                "test5": r5["acc_test"],
                "w5": r5["power_mw"] / 1000,
                "saved5": 1 - r5["power_mw"] / records[0]["power_mw"],
                "wall": float(row["wall_s"]),
            }
        )
    print(
        "| method | seeds | dense test | U/V ≤ 1 pt | test ≤ 1 pt | power ≤ 1 pt | U/V ≤ 5 pt | test ≤ 5 pt "
        "| power ≤ 5 pt (saved) | trial wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, g in groups.items():

        def col(key: str, g: list[dict] = g) -> list[float]:
            return [x[key] for x in g]

        print(
            f"| {name} | {','.join(x['seed'] for x in g)} | {fmt(col('dense_test'))} | {fmt(col('uv1'))} | "
            f"{fmt(col('test1'))} | {fmt(col('w1'), 1, 'W', 2)} | {fmt(col('uv5'))} | {fmt(col('test5'))} | "
            f"{fmt(col('w5'), 1, 'W', 2)} ({fmt(col('saved5'))}) | {fmt(col('wall'), 1, 's', 0)} |"
        )

    if args.hardware:
        hardware_table(args.folder, rows, args.key)


def hardware_table(folder: Path, rows: list[dict], key: str) -> None:
    """The laid-out networks (report.json of each trial): phases, MZIs, crossings, area, accuracies, power,
    verification error; mean ± half the range over seeds."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        rep = json.loads((folder / Path(row["report"]).parent / "report.json").read_text())
        lay = rep.get("layout", {})
        area = lay.get("area_mm2", {})
        groups.setdefault(row[key], []).append(
            {
                "phases": rep["phases"]["total_uv"],
                "pruned": rep["phases"]["pruned_uv"] / rep["phases"]["total_uv"],
                "mzis": rep["mzis"]["total"],
                "removed": rep["mzis"]["removed"],
                "crossings": lay.get("crossings", 0),
                "area": area.get("compacted") or area.get("pruned") or float("nan"),
                "dense": rep["accuracy"]["dense"],
                "test": rep["accuracy"]["pruned"],
                "sax": rep["accuracy"]["sax"],
                "watts": rep["power_mw"]["pruned"] / 1000,
                "err": rep["verify"]["max_rel_error"],
            }
        )
    print()
    print(
        "| configuration | U/V phases | pruned (laid out) | MZIs | removed | crossings | area mm² | dense test "
        "| pruned test | SAX test | power | max verify error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, g in groups.items():

        def col(k: str, g: list[dict] = g) -> list[float]:
            return [x[k] for x in g]

        print(
            f"| {name} | {g[0]['phases']} | {fmt(col('pruned'))} | {g[0]['mzis']} | {fmt(col('removed'), 1, '', 0)} "
            f"| {g[0]['crossings']} | {fmt(col('area'), 1, '', 1)} | {fmt(col('dense'))} | {fmt(col('test'))} "
            f"| {fmt(col('sax'))} | {fmt(col('watts'), 1, 'W', 2)} | {max(col('err')):.1e} |"
        )


if __name__ == "__main__":
    main()
