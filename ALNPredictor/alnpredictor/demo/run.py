"""``alnpredictor demo``: the whole product on built-in synthetic data.

1. generate a synthetic three-site MRI cohort (``synthetic.mri_cohort``; seeds placed as a user
   would click them);
2. run the cohort pipeline on it (grow-cut → propagation with registration → N4 → PyRadiomics,
   resumable, in parallel processes);
3. train on site A: the ``mri-yu2021`` ALN-tumor radiomic signature, the multiomic signature
   (+ age, clinical T/N stage, Ki-67, subtype) and a nomogram (signature + clinical) for points;
4. validate on sites B and C (AUC with DeLong CI, calibration, decision curves; figures);
5. predict one patient and write the PDF + JSON report;
6. print a results table and where everything is.

The models are demonstrations trained on synthetic data, never for patients.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from alnpredictor import __version__, study
from alnpredictor.settings import MRISettings

DEFAULT_SIZES = {"A": 32, "B": 14, "C": 14}
#: N4 schedule of the demo: two fitting levels instead of the default three (the synthetic bias
#: field is a smooth ramp; this keeps the demo within its 10-minute budget on 2 cores).
DEMO_N4_ITERATIONS = (30, 20)
#: The demo's pathway settings: the study's defaults with the demo N4 schedule; an ROI too small on
#: a coarse grid becomes a recorded NaN block instead of failing the patient.
DEMO_SETTINGS = MRISettings(n4_iterations=DEMO_N4_ITERATIONS, on_roi_error="nan")
BANNER = (
    "DEMONSTRATION ONLY: every image is synthetic and every model below is trained on synthetic data.\n"
    "Nothing here is a clinical result; ALNPredictor is research software, not for diagnostic use."
)


def _step(n: int, text: str) -> float:
    print(f"\n[{n}/6] {text}", flush=True)
    return time.perf_counter()


def _fmt_auc(v: dict[str, Any]) -> str:
    lo, hi = v["auc_ci"]
    return f"{v['auc']:.3f} ({lo:.3f}–{hi:.3f})"


def run_demo(out_dir: str | Path = "demo-output", seed: int = 7, sizes: dict[str, int] | None = None,
             workers: int | None = None) -> dict[str, Any]:
    """Run the demo; returns its summary (also written to ``OUT/demo-summary.json``)."""
    from tqdm.auto import tqdm

    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.models import save_bundle, train_model, validate
    from alnpredictor.outputs import write_json
    from alnpredictor.pathways import mri
    from alnpredictor.report.figures import validation_figures
    from alnpredictor.synthetic.mri_cohort import make_cohort, write_patients

    t_start = time.perf_counter()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sizes = sizes or DEFAULT_SIZES
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    print(f"ALNPredictor {__version__} — demo\n{BANNER}")

    t = _step(1, f"Generating a synthetic multi-centre MRI cohort (sites {', '.join(f'{k}: {v}' for k, v in sizes.items())}; "
                 "T1C, T2WI, ADC per patient; motion and scanner effects)")
    data = out / "data"
    manifest = data / "manifest.csv"
    if not manifest.exists():  # generated patients are written one by one: memory stays small
        write_patients(tqdm(make_cohort(seed, sizes), total=sum(sizes.values()), unit="patient", desc="generate"), data)
    print(f"    manifest: {manifest} ({time.perf_counter() - t:.0f} s)")

    t = _step(2, f"Cohort pipeline: grow-cut from seeds → registration of T2/ADC to T1C → N4 → "
                 f"PyRadiomics original+wavelet (6 ROI×sequence blocks); {workers} worker process(es)")
    res = run_cohort(manifest, out / "extract", mri.process_case, DEMO_SETTINGS, workers=workers)
    print(f"    {res.done} cases done, {res.failed} failed, {res.skipped} resumed; "
          f"peak worker memory {res.peak_worker_rss_mb:.0f} MB ({time.perf_counter() - t:.0f} s)")
    table = pd.read_csv(res.features_csv)
    feats = [c for c in table.columns if study.is_mri_feature(c)]
    complete = table.dropna(subset=feats)
    if len(complete) < len(table):
        print(f"    {len(table) - len(complete)} case(s) with an empty ROI left out of modelling")
    train = complete[complete["site"] == "A"]
    tests = {s: complete[complete["site"] == s] for s in sorted(set(complete["site"])) if s != "A"}

    t = _step(3, "Training on site A: mri-yu2021 radiomic signature, multiomic signature, LASSO-signature nomogram")
    common = {"features": feats, "site": "A", "intended_use": "Demonstration on synthetic data only."}
    models = {
        "radiomic": train_model(train, "label", "mri-yu2021", name="ALN-tumor radiomic signature (demo)", **common),
        "multiomic": train_model(train, "label", "mri-yu2021", clinical=list(study.MRI_CLINICAL),
                                 name="Multiomic signature (demo)", **common),
    }
    # The nomogram (points per predictor) combines a LASSO radiomic signature with clinical
    # variables, as the ultrasound study's DLRN does; the SVM signatures have no points scale.
    # 5-fold CV for lambda: a 32-patient training site has too few positives for 10 folds.
    models["nomogram"] = train_model(train, "label", "nomogram", clinical=["age", "clinical_N", "ki67"],
                                     name="Radiomic nomogram (demo)", n_folds=5, **common)
    bundles = {}
    for key, model in models.items():
        bundles[key] = save_bundle(model, out / "models" / f"demo-{key}.alnmodel")
    print(f"    bundles: {', '.join(str(p) for p in bundles.values())} ({time.perf_counter() - t:.0f} s)")

    t = _step(4, f"External validation on site(s) {', '.join(tests)}: AUC (DeLong 95% CI), calibration, decision curve")
    results: dict[str, dict[str, Any]] = {}
    for key, model in models.items():
        results[key] = {"A (training)": validate(model, train, "label")}
        for site, df in tests.items():
            results[key][site] = validate(model, df, "label")
            validation_figures(model, df, "label", out / "validation" / key / f"site-{site}")
    write_json(out / "validation" / "validation.json", results, default=float)
    print(f"    figures: {out / 'validation'} ({time.perf_counter() - t:.0f} s)")

    t = _step(5, "Predicting one patient of site B and writing the report")
    report_paths = _report_one(out, manifest, tests, models, feats)
    print(f"    report: {report_paths['pdf']} and {report_paths['json']} ({time.perf_counter() - t:.0f} s)")

    _step(6, "Results (demonstration on synthetic data)")
    sites = list(results["radiomic"])
    header = f"    {'model':28s}" + "".join(f"{s:>26s}" for s in sites)
    print(header)
    for key in models:
        print(f"    {models[key].name[:28]:28s}" + "".join(f"{_fmt_auc(results[key][s]):>26s}" for s in sites))
    for key in models:
        for s in sites:
            codes = sorted({w["code"] for w in results[key][s].get("warnings", [])})
            if codes:
                print(f"    sanity warnings, {key} on site {s}: {', '.join(codes)} (details in validation.json)")
    wall = time.perf_counter() - t_start
    summary = {
        "version": __version__, "seconds": round(wall, 1), "cases": int(len(table)), "failed": res.failed,
        "auc": {k: {s: [v["auc"], *v["auc_ci"]] for s, v in r.items()} for k, r in results.items()},
        "bundles": {k: str(v) for k, v in bundles.items()}, "report": {k: str(v) for k, v in report_paths.items()},
        "features_csv": str(res.features_csv),
    }
    write_json(out / "demo-summary.json", summary)
    print(f"\n    outputs in {out} — features.csv, models/, validation/, report/; wall time {wall:.0f} s")
    print(f"    {BANNER.splitlines()[0]}")
    return summary


def _report_one(out: Path, manifest: Path, tests: dict[str, pd.DataFrame], models: dict, feats: list[str]) -> dict:
    """Re-run the pathway for one validation patient (masks for key images) and write the report."""
    from dataclasses import replace

    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.pathways import mri
    from alnpredictor.report.export import export_patient_report

    site = next(iter(tests))
    row = tests[site].iloc[0]
    case = next(c for c in load_manifest(manifest).cases if c.case_id == row["case_id"])
    settings = replace(DEMO_SETTINGS, cache_dir=str(out / "extract" / "cache"))
    inputs = mri.read_case(case.to_dict(), settings)
    images = inputs["images"]
    result = mri.run_case(settings=settings, **inputs)
    values = {**{k: row[k] for k in feats}, **case.clinical}
    nomogram = models["nomogram"]
    def on(seq: str) -> dict:
        return {s: result.masks[(study.roi_code(s), seq)] for s in study.structure_names()
                if (study.roi_code(s), seq) in result.masks}

    ref = study.reference_sequence()
    paths = export_patient_report(
        out / "report", nomogram.predict_case(values), nomogram, images[ref], on(ref),
        features={k: float(row[k]) for k in feats}, clinical=case.clinical, identifiers={"case_id": case.case_id},
        include_identifiers=False, quality=result.quality, image_label=ref, demo=True, stem="report",
        sequences={seq: (images[seq], on(seq)) for seq in settings.sequences}, provenance=result.provenance)
    return {"pdf": paths["pdf"], "json": paths["json"]}
