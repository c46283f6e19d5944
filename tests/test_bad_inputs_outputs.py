"""Bad-input catalogue, outputs (issue 14 items 4-5 and the output tracebacks): writes never report
false success and output paths are checked before any work.

Every writer here goes through :mod:`alnpredictor.outputs`. A full disk and a read-only folder are
real: a small tmpfs is mounted for the test (root), filled to the last byte or mounted read-only,
and unmounted afterwards. Each row is run as the user types it (``alnpredictor segment ...``) on
real images (breast1 MRI, a busi-dev ultrasound frame) and checks what :mod:`bad_inputs` says:
exit 2, one ``error:`` line naming the file, no traceback, the folder exactly as before, and no
success line on stdout. The report has no command of its own (``alnpredictor demo`` writes one
after a ten-minute run), so it is driven through ``export_patient_report``, the function the demo
and the Slicer panel call.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.errors import OutputError
from alnpredictor.imaging.io import read_mask, read_volume, write_mask

BUSI_FRAME = ("busi-dev", "images/busi_benign_008.png", "masks/busi_benign_008_mask.png")
US_SPACING = 0.1  # BUSI frames are about 0.1 mm per pixel (busi-dev README)


# -- real small disks ---------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "64k", *, read_only: bool = False, full: bool = False):
    """A tmpfs of ``size`` at ``folder`` (read-only, or filled to the last byte), unmounted after."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test ({done.stderr.strip()}): run the tests as root")
    try:
        if full:
            _fill(folder)
        yield folder
    finally:  # a file still held open (a failed writer in a traceback) makes umount busy: detach lazily then
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Write zeros until the disk says ENOSPC (the last partial block too)."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while fh.write(b"\0" * size):
                    pass


@pytest.fixture(params=["full", "read-only"])
def bad_disk(request, tmp_path):
    """An output folder on a full disk, or on a read-only one."""
    with tmpfs(tmp_path / "disk", read_only=request.param == "read-only", full=request.param == "full") as folder:
        yield folder


def _refused(result, name: str, folder: Path, before: dict) -> None:
    assert_refused(result, name, before=before, folder=folder)
    assert result.out.strip() == "", f"a success line was printed: {result.out}"


# -- inputs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def breast1_seed(breast1) -> str:
    """The tumor's centroid as the user types it (RAS mm)."""
    _, label = breast1
    centre = np.argwhere(sitk.GetArrayViewFromImage(label) > 0)[:, ::-1].mean(axis=0)
    x, y, z = label.TransformContinuousIndexToPhysicalPoint(centre.tolist())
    return f"{-x:.3f},{-y:.3f},{z:.3f}"


def _segment(image, seed, out) -> list[str]:
    return ["segment", "--image", str(image), "--seed-ras", seed, "--out", str(out)]


@pytest.fixture(scope="module")
def propagate_inputs(breast1, tmp_path_factory):
    """breast1 as reference and moving image, and its tumor mask (``--no-register``: the write path
    is the same with or without registration)."""
    image, label = breast1
    folder = tmp_path_factory.mktemp("propagate")
    sitk.WriteImage(image, str(folder / "ref.nrrd"))
    write_mask(label, folder / "mask.nrrd")
    return folder


def _propagate(folder: Path, out, *extra) -> list[str]:
    return ["propagate", "--reference", folder / "ref.nrrd", "--moving", folder / "ref.nrrd", "--mask",
            folder / "mask.nrrd", "--no-register", "--out", out, *extra]


# -- segment --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tumor.nrrd", "tumor.seg.nrrd", "tumor.nii.gz"])
def test_segment_on_a_full_or_read_only_disk(bad_disk, name, breast1_image, breast1_seed, capsys):
    before = snapshot(bad_disk)
    result = run_cli(_segment(breast1_image, breast1_seed, bad_disk / name), capsys)
    _refused(result, name, bad_disk, before)


BAD_MASK_OUTS = [  # (--out relative to an empty folder, what the error line must say)
    ("tumor.png", ["tumor.png", "3-D mask", ".nrrd"]),  # a 21-slice mask in a 2-D picture: one slice would be kept
    ("tumor.jpg", ["tumor.jpg", "lossy"]),
    ("tumor.bmp", ["tumor.bmp", "slice axis"]),
    ("tumor", ["tumor", "no file type", ".nrrd"]),
    ("tumor.foo", ["tumor.foo", "unknown file type"]),
    ("tumor.mhd", ["tumor.mhd", ".mha"]),  # a header plus a data file: cannot be written atomically
    ("sub", ["sub", "is a folder"]),  # an existing folder
]


@pytest.mark.parametrize("out, says", BAD_MASK_OUTS, ids=[o for o, _ in BAD_MASK_OUTS])
def test_segment_refuses_an_output_that_cannot_hold_the_mask(out, says, breast1_image, breast1_seed, tmp_path, capsys):
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    before = snapshot(folder)
    result = run_cli(_segment(breast1_image, breast1_seed, folder / out), capsys)
    _refused(result, out, folder, before)
    line = result.err.strip().splitlines()[-1]
    for text in says:
        assert text in line, line


def _busi(shared_dir):
    folder, image, mask = BUSI_FRAME
    return shared_dir / "data" / folder / image, shared_dir / "data" / folder / mask


def test_a_2d_frame_mask_may_be_a_png_and_reads_back_whole(shared_dir, tmp_path, capsys):
    """A one-slice mask fits a PNG: it is read back on the frame's grid, voxel for voxel the .nrrd."""
    image_path, mask_path = _busi(shared_dir)
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path)))
    rows, cols = np.nonzero(truth if truth.ndim == 2 else truth[..., 0])
    corner = [(rows.min() - 5, cols.min() - 5), (rows.max() + 5, cols.max() + 5)]
    box = ";".join(f"{-c * US_SPACING:.3f},{-r * US_SPACING:.3f},0" for r, c in corner)
    masks = {}
    for name in ("lesion.png", "lesion.tif", "lesion.nrrd"):
        result = run_cli(["segment", "--image", image_path, "--spacing-mm", US_SPACING, "--box-ras", box, "--out",
                          tmp_path / name], capsys)
        assert result.rc == 0, result.err
        assert json.loads(result.out.strip().splitlines()[-1])["voxels"] > 100
        masks[name] = read_mask(tmp_path / name, read_volume(image_path, spacing_mm=US_SPACING))
    for name in ("lesion.png", "lesion.tif"):
        assert np.array_equal(sitk.GetArrayViewFromImage(masks[name]), sitk.GetArrayViewFromImage(masks["lesion.nrrd"]))


def test_segment_batch_on_a_full_disk_and_into_a_file(breast1_image, breast1_seed, tmp_path, capsys):
    manifest = tmp_path / "prompts.csv"
    pd.DataFrame([{"image": str(breast1_image), "out": "tumor.nrrd", "seeds_tumor": breast1_seed},
                  {"image": str(breast1_image), "out": "tumor.png", "seeds_tumor": breast1_seed}]).to_csv(manifest,
                                                                                                        index=False)
    with tmpfs(tmp_path / "disk", full=True) as disk:
        before = snapshot(disk)
        result = run_cli(["segment", "--manifest", manifest, "--out", disk], capsys)
        _refused(result, "summary.csv", disk, before)  # every mask failed, then the summary could not be written
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    result = run_cli(["segment", "--manifest", manifest, "--out", a_file], capsys)
    assert_refused(result, "a-file", "is a file")
    assert a_file.read_text() == "keep me"
    # on a good disk the PNG row fails alone, saying why
    result = run_cli(["segment", "--manifest", manifest, "--out", tmp_path / "masks"], capsys)
    assert result.rc == 1
    summary = pd.read_csv(tmp_path / "masks" / "summary.csv", keep_default_na=False)
    assert list(summary["status"]) == ["ok", "failed"] and "cannot hold a 3-D mask" in summary["error"][1]
    assert (tmp_path / "masks" / "tumor.nrrd").is_file() and not (tmp_path / "masks" / "tumor.png").exists()


# -- propagate ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["moved.nrrd", "moved.seg.nrrd"])
def test_propagate_on_a_full_or_read_only_disk(bad_disk, name, propagate_inputs, capsys):
    before = snapshot(bad_disk)
    result = run_cli(_propagate(propagate_inputs, bad_disk / name, "--transform-out", bad_disk / "t.tfm"), capsys)
    _refused(result, name, bad_disk, before)


def test_propagate_writes_the_mask_and_transform_together_or_neither(propagate_inputs, tmp_path, capsys):
    """The mask on a good disk, the transform on a full one: neither is kept."""
    good = tmp_path / "good"
    good.mkdir()
    with tmpfs(tmp_path / "disk", full=True) as disk:
        before = snapshot(disk)
        result = run_cli(_propagate(propagate_inputs, good / "moved.nrrd", "--transform-out", disk / "t.tfm"), capsys)
        _refused(result, "t.tfm", disk, before)
    assert snapshot(good) == {}
    # and both on a good disk: the transform reads back
    result = run_cli(_propagate(propagate_inputs, good / "moved.nrrd", "--transform-out", good / "t.tfm"), capsys)
    assert result.rc == 0, result.err
    assert sorted(snapshot(good)) == ["moved.nrrd", "t.tfm"]
    assert isinstance(sitk.ReadTransform(str(good / "t.tfm")), sitk.Transform)


BAD_PROPAGATE_OUTS = [  # (arguments after --out, the file named, what the error line must say)
    (["moved.png"], "moved.png", "3-D mask"),
    (["moved"], "moved", "no file type"),
    (["sub"], "sub", "is a folder"),
    (["moved.nrrd", "--transform-out", "t.xyz"], "t.xyz", "unknown file type"),
    (["moved.nrrd", "--transform-out", "t"], "--transform-out", "no file type"),
    (["moved.nrrd", "--transform-out", "sub"], "sub", "is a folder"),
]


@pytest.mark.parametrize("args, name, says", BAD_PROPAGATE_OUTS, ids=[" ".join(a) for a, _, _ in BAD_PROPAGATE_OUTS])
def test_propagate_refuses_outputs_it_cannot_write(args, name, says, propagate_inputs, tmp_path, capsys):
    folder = tmp_path / "out"
    (folder / "sub").mkdir(parents=True)
    before = snapshot(folder)
    argv = _propagate(propagate_inputs, folder / args[0], *[folder / a if i % 2 else a for i, a in enumerate(args[1:])])
    result = run_cli(argv, capsys)
    _refused(result, name, folder, before)
    assert says in result.err


# -- report ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report_case(breast1):
    """A nomogram whose model, feature and level names hold mathtext (``$\\x$``), breast1 and its tumor."""
    from alnpredictor.models import train_model

    rng = np.random.default_rng(0)
    n = 200
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({"US_a": rng.normal(size=n) + 0.9 * y, "US_$\\x$": rng.normal(size=n) - 0.6 * y})
    df["age"] = rng.integers(30, 80, n) - 5 * y
    df["subtype"] = rng.choice(["LumA", "$\\x$", "TN"], n)
    df["ALN"] = y
    model = train_model(df, "ALN", "nomogram", clinical=["age", "subtype"], features=["US_a", "US_$\\x$"],
                        name="$\\x$ nomogram", n_lambda=20, n_folds=5)
    row = df.iloc[0].to_dict()
    image, label = breast1
    return model, row, image, label


def _export(report_case, out, **options):
    from alnpredictor.report.export import export_patient_report

    model, row, image, label = report_case
    return export_patient_report(out, model.predict_case(row), model, image, {"tumor": label},
                                 features={k: row[k] for k in model.features},
                                 clinical={"age": row["age"], "subtype": row["subtype"]}, **options)


@pytest.mark.slow
def test_report_on_a_full_or_read_only_disk(bad_disk, report_case):
    before = snapshot(bad_disk)
    with pytest.raises(OutputError, match="could not write .*(disk is full|not writable).*nothing was written"):
        _export(report_case, bad_disk / "report")
    assert snapshot(bad_disk) == before


@pytest.mark.slow
def test_report_whose_pdf_fails_after_its_pictures_leaves_nothing(report_case, tmp_path):
    """The issue's case: the PNGs fit, the PDF does not. Before, the PNGs and a 0-byte JSON stayed."""
    sizes = {Path(p).name: Path(p).stat().st_size for p in snapshot_paths(_export(report_case, tmp_path / "whole"))}
    pictures = sum(v for k, v in sizes.items() if not k.endswith(".pdf"))
    assert sizes["ALNPredictor-report.pdf"] > 3 * 4096
    room = f"{(pictures // 4096 + 4) * 4}k"  # every picture and the JSON fit, the PDF does not
    with tmpfs(tmp_path / "disk", size=room) as disk:
        with pytest.raises(OutputError, match="ALNPredictor-report.pdf"):
            _export(report_case, disk)
        assert snapshot(disk) == {}


def snapshot_paths(paths: dict) -> list[str]:
    """Every file an export reported (PDF, JSON, pictures) plus the nomogram's SVG."""
    files = [paths["pdf"], paths["json"], *paths["key_images"], paths["nomogram"]]
    return files + [str(Path(paths["nomogram"]).with_suffix(".svg"))]


LONG_AND_FOREIGN_NAMES = [
    "A" * 5000,  # one unbreakable word taller than a page once wrapped
    "Ünal " * 1000,
    "שלום כהן — مريم العلي",  # right-to-left scripts
    "Zoë 😀🧪 \u200f\u202e\x00\x07 Ωμέγα Жанна",  # emoji, direction marks, control characters
]


@pytest.mark.slow
@pytest.mark.parametrize("name", LONG_AND_FOREIGN_NAMES, ids=["5000-chars", "5000-chars-words", "rtl", "emoji-ctrl"])
def test_report_prints_any_patient_name(name, report_case, tmp_path):
    from pypdf import PdfReader

    paths = _export(report_case, tmp_path, identifiers={"patient_name": name}, include_identifiers=True,
                    image_label=name)
    data = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert data["identifiers"]["patient_name"] == name  # the JSON keeps the value whole
    reader = PdfReader(paths["pdf"])
    fonts = {str(f.get("/BaseFont")) for page in reader.pages for f in (page["/Resources"].get("/Font") or {}).values()
             for f in [f.get_object()]}
    assert any("DejaVuSans" in f for f in fonts), fonts  # an embedded Unicode font, not Helvetica
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    if len(name) > 1000:
        assert f"cut: {len(name)} characters" in text and "whole value" in text
    elif name.startswith("Zoë"):
        assert "Zoë" in text and "Ωμέγα Жанна" in text and "\ufffd" in text  # emoji become U+FFFD


def _validation_inputs(report_case, folder: Path) -> tuple[Path, Path]:
    """The report's model as a bundle and a labelled table with the same (mathtext) columns."""
    from alnpredictor.models import save_bundle

    model = report_case[0]
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"US_a": rng.normal(size=80), "US_$\\x$": rng.normal(size=80),
                          "age": rng.integers(30, 80, 80), "subtype": rng.choice(["LumA", "$\\x$", "TN"], 80),
                          "ALN": rng.integers(0, 2, 80)})
    table.to_csv(folder / "table.csv", index=False)
    return save_bundle(model, folder / "model.alnmodel"), folder / "table.csv"


@pytest.mark.slow
def test_mathtext_in_model_column_and_level_names_is_drawn_as_typed(report_case, tmp_path, capsys):
    """``$\\x$`` in a model name, a feature name and a clinical level: the report and ``validate --plots``."""
    from alnpredictor.report.figures import nomogram_figure

    paths = _export(report_case, tmp_path / "report")
    assert Path(paths["nomogram"]).stat().st_size > 5000 and Path(paths["pdf"]).is_file()
    model, row, _, _ = report_case
    texts = {t.get_text() for t in nomogram_figure(model, row).axes[0].texts}
    assert "\\$\\x\\$" in texts  # the level, escaped: matplotlib prints it as "$\x$"
    bundle, table = _validation_inputs(report_case, tmp_path)
    result = run_cli(["validate", "--model", bundle, "--features", table, "--label", "ALN", "--plots",
                      tmp_path / "plots"], capsys)
    assert result.rc == 0, result.err
    figures = sorted((tmp_path / "plots").iterdir())
    assert len(figures) == 8 and all(p.stat().st_size > 1000 for p in figures)


@pytest.mark.slow
def test_validate_plots_on_a_full_or_read_only_disk(bad_disk, report_case, tmp_path, capsys):
    """The four figures (PNG + SVG each) appear together or not at all."""
    bundle, table = _validation_inputs(report_case, tmp_path)
    before = snapshot(bad_disk)
    result = run_cli(["validate", "--model", bundle, "--features", table, "--label", "ALN", "--plots",
                      bad_disk / "plots"], capsys)
    assert_refused(result, "plots", before=before, folder=bad_disk)


# -- caches and checkpoints -------------------------------------------------------------------------
def test_n4_cache_entry_on_a_full_disk_is_skipped_with_a_warning(breast1, tmp_path, caplog):
    from alnpredictor.imaging.preprocess import _atomic_write

    image, _ = breast1
    with tmpfs(tmp_path / "disk", full=True) as disk:
        before = snapshot(disk)
        _atomic_write(image, disk / "n4-x.nrrd")
        assert snapshot(disk) == before
    assert "N4 cache entry not kept" in caplog.text


@pytest.mark.slow
def test_finetune_checkpoint_on_a_full_disk_keeps_the_previous_one(tmp_path):
    torch = pytest.importorskip("torch")
    from alnpredictor.features.finetune import _atomic_save

    with tmpfs(tmp_path / "disk", size="256k") as disk:
        _atomic_save({"w": torch.zeros(10)}, disk / "last.pt")
        good = (disk / "last.pt").read_bytes()
        _fill(disk)
        before = snapshot(disk)
        with pytest.raises(OutputError, match="last.pt"):
            _atomic_save({"w": torch.zeros(100_000)}, disk / "last.pt")
        assert snapshot(disk) == before and (disk / "last.pt").read_bytes() == good


def test_outputs_get_the_permissions_of_a_plain_open(tmp_path):
    """Atomic writes go through mkstemp (0600): the result must still be readable as any file the
    user writes (0666 less the umask), e.g. masks and reports in a shared folder."""
    import os

    from alnpredictor import outputs

    old = os.umask(0o022)
    try:
        path = outputs.write_text(tmp_path / "a.txt", "x")
        with outputs.OutputGroup() as group:
            group.write_json(tmp_path / "b.json", {"a": 1})
            group.commit()
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert oct((tmp_path / "b.json").stat().st_mode & 0o777) == oct(0o644)
