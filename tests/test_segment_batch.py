"""``alnpredictor segment``: caliper line / box / click from the command line, and the batch mode
(``--manifest prompts.csv --out DIR``: masks on each image's grid, DIR/summary.csv, bad rows fail alone)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import dice

from alnpredictor.cli import main

SPACING = 0.1


def _lesion_png(path, centre=(70, 90), axes=(28, 45), seed=0):
    """A dark elliptical lesion in speckled tissue, as an 8-bit PNG (no spacing in the file)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:150, :200]
    lesion = ((yy - centre[0]) / axes[0]) ** 2 + ((xx - centre[1]) / axes[1]) ** 2 < 1
    arr = ndimage.gaussian_filter(np.where(lesion, 40.0, 130.0) * rng.rayleigh(1.0, lesion.shape), 1.0)
    sitk.WriteImage(sitk.GetImageFromArray(np.clip(arr, 0, 255).astype(np.uint8)), str(path))
    return lesion


def _ras(row, col, s=SPACING):
    """RAS of pixel (row, col) on a frame read with spacing s (the documented 2-D geometry)."""
    return f"{-col * s:.3f},{-row * s:.3f},0"


@pytest.fixture()
def frames(tmp_path):
    lesion = _lesion_png(tmp_path / "a.png")
    return tmp_path, lesion


def test_single_image_caliper_line(frames, capsys):
    folder, lesion = frames
    out = folder / "line.nrrd"
    line = f"{_ras(70, 50)};{_ras(70, 130)}"
    assert main(["segment", "--image", str(folder / "a.png"), "--spacing-mm", "0.1", "--line-ras", line,
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["structure"] == "tumor" and summary["engine"] == "grow-cut" and "warnings" not in summary
    mask = sitk.ReadImage(str(out))
    assert mask.GetSize() == (200, 150, 1) and np.allclose(mask.GetSpacing()[:2], (0.1, 0.1))
    assert dice(sitk.GetArrayFromImage(mask)[0], lesion) > 0.85
    # without a spacing: segmented on the 1 mm placeholder grid, with a warning that says so
    out2 = folder / "nospacing.nrrd"
    line_px = f"{_ras(70, 50, 1.0)};{_ras(70, 130, 1.0)}"
    assert main(["segment", "--image", str(folder / "a.png"), "--line-ras", line_px, "--out", str(out2)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert any("no pixel spacing" in w for w in summary["warnings"])


def test_cli_needs_a_prompt(frames, capsys):
    folder, _ = frames
    assert main(["segment", "--image", str(folder / "a.png"), "--out", str(folder / "x.nrrd")]) == 2
    assert "give a prompt" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: a line is two points
        main(["segment", "--image", str(folder / "a.png"), "--line-ras", "1,2,3", "--out", "x.nrrd"])
    assert "is not two points R,A,S;R,A,S" in capsys.readouterr().err


def test_batch_with_bad_rows(frames, capsys):
    folder, lesion = frames
    _lesion_png(folder / "b.png", centre=(80, 110), axes=(35, 50), seed=1)
    rows = [
        {"image": "a.png", "out": "masks/a_line.nrrd", "spacing_mm": "0.1", "line_tumor": f"{_ras(70, 50)};{_ras(70, 130)}"},
        {"image": "a.png", "out": "masks/a_box.nrrd", "spacing_mm": "0.1",
         "box_tumor": f"{_ras(40, 43)};{_ras(100, 137)}"},
        {"image": "a.png", "out": "masks/a_click.nrrd", "spacing_mm": "0.1", "seeds_tumor": _ras(70, 90)},
        {"image": "missing.png", "out": "masks/m.nrrd", "spacing_mm": "0.1", "seeds_tumor": _ras(70, 90)},
        {"image": "b.png", "out": "masks/b.nrrd", "spacing_mm": "0.1", "line_tumor": _ras(80, 60)},  # one point
        {"image": "b.png", "out": "masks/b.nrrd", "spacing_mm": "0.1", "line_tumor": f"{_ras(80, 62)};{_ras(80, 158)}"},
    ]
    manifest = folder / "prompts.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image", "out", "spacing_mm", "seeds_tumor", "line_tumor", "box_tumor"])
        writer.writeheader()
        writer.writerows(rows)
    out = folder / "out"
    assert main(["segment", "--manifest", str(manifest), "--out", str(out)]) == 1  # some rows failed
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["rows"] == 6 and printed["failed"] == 2
    with open(out / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    status = [r["status"] for r in summary]
    assert status[3] == "failed" and "does not exist" in summary[3]["error"]
    assert status[4] == "failed" and "two points" in summary[4]["error"]
    for k in (0, 1, 2, 5):
        assert status[k] in ("ok", "warning"), summary[k]
        assert summary[k]["spacing_source"] == "given" and float(summary[k]["seconds"]) > 0
        assert float(summary[k]["area_mm2"]) == pytest.approx(int(summary[k]["voxels"]) * 0.01, rel=1e-6)
    for name in ("a_line", "a_box", "a_click"):
        mask = sitk.ReadImage(str(out / "masks" / f"{name}.nrrd"))
        assert mask.GetSize() == (200, 150, 1)
        assert dice(sitk.GetArrayFromImage(mask)[0], lesion) > 0.8, name
    assert (out / "masks" / "b.nrrd").is_file() and not (out / "masks" / "m.nrrd").exists()


def test_batch_manifest_errors(tmp_path):
    from alnpredictor.cli.segment import run_batch
    from alnpredictor.errors import InputError

    bad = tmp_path / "bad.csv"
    bad.write_text("image,output\na.png,x.nrrd\n")
    with pytest.raises(InputError, match="no out column"):
        run_batch(bad, tmp_path / "o")
    bad.write_text("image,out,seed\na.png,x.nrrd,1\n")
    with pytest.raises(InputError, match="unknown column.*seed"):
        run_batch(bad, tmp_path / "o")
