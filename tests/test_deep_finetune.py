"""Fine-tuning: the study's recipe on a tiny synthetic set, weights round-trip, exact resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alnpredictor.cli import main
from alnpredictor.errors import InputError
from alnpredictor.features import deep, finetune
from alnpredictor.synthetic.us_cohort import generate_cohort, write_cohort

#: tiny and fast: 64-pixel inputs, 8 training + 4 validation crops, one optimizer step per epoch
CFG = dict(batch_size=8, input_size=64, seed=3)


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(12, seed=5)


@pytest.fixture(scope="module")
def crops(cohort):
    c = [deep.crop_to_roi(x.image, x.mask) for x in cohort]
    y = np.array([x.label for x in cohort])
    y[:2], y[8:10] = (0, 1), (0, 1)  # both classes in training and validation
    return c[:8], y[:8], c[8:], y[8:]


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory, crops):
    """An uninterrupted 2-epoch run (its weights are used by the round-trip test too)."""
    d = tmp_path_factory.mktemp("full")
    res = finetune.finetune(
        *crops, d / "ft.pt", finetune.FinetuneConfig(epochs=2, **CFG), checkpoint_dir=d / "ckpt", progress=False
    )
    return d, res


@pytest.mark.slow
def test_weights_round_trip(two_epoch_run, cohort):
    d, res = two_epoch_run
    out = d / "ft.pt"
    assert res.best_epoch in (1, 2) and out.is_file() and len(res.history) == 2
    meta = json.loads((d / "ft.pt.json").read_text())
    assert meta["weights_sha256"] == deep.file_sha256(out) and meta["init_weights"] == deep.UNTRAINED
    assert meta["best_epoch"] == res.best_epoch and meta["config"]["lr"] == 1e-4
    state = torch.load(out, weights_only=True)
    assert tuple(state["fc.weight"].shape) == (2, 2048)  # the study's form: 2-class head
    ext = deep.DeepFeatureExtractor(weights=out, input_size=64)
    imgs, masks = [c.image for c in cohort[:3]], [c.mask for c in cohort[:3]]
    tuned = ext.extract(imgs, masks)
    assert tuned.shape == (3, 2048) and np.isfinite(tuned).all()
    untrained = deep.DeepFeatureExtractor(input_size=64).extract(imgs, masks)
    assert np.abs(tuned - untrained).max() > 1e-4  # training changed the backbone
    assert ext.provenance["weights_sha256"] == meta["weights_sha256"]


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, crops, two_epoch_run):
    d, full = two_epoch_run
    finetune.finetune(
        *crops, tmp_path / "b.pt", finetune.FinetuneConfig(epochs=1, **CFG), checkpoint_dir=tmp_path / "cb", progress=False
    )
    resumed = finetune.finetune(
        *crops, tmp_path / "b.pt", finetune.FinetuneConfig(epochs=2, **CFG), checkpoint_dir=tmp_path / "cb", progress=False
    )
    assert resumed.resumed_from == 2 and [h["epoch"] for h in resumed.history] == [1, 2]
    assert full.history == resumed.history
    a = torch.load(d / "ckpt" / finetune.CHECKPOINT_NAME, weights_only=True)["model"]
    b = torch.load(tmp_path / "cb" / finetune.CHECKPOINT_NAME, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # resuming with other settings is refused, naming the setting
    with pytest.raises(InputError, match="lr"):
        finetune.finetune(
            *crops, tmp_path / "b.pt", finetune.FinetuneConfig(epochs=3, lr=1e-3, **CFG),
            checkpoint_dir=tmp_path / "cb", progress=False,
        )


def test_bad_inputs(tmp_path, crops):
    c, y, vc, vy = crops
    with pytest.raises(InputError, match="0/1"):
        finetune.finetune(c, y + 2, vc, vy, tmp_path / "x.pt", finetune.FinetuneConfig(epochs=1, **CFG), progress=False)
    with pytest.raises(InputError, match="labels"):
        finetune.finetune(c, y[:3], vc, vy, tmp_path / "x.pt", finetune.FinetuneConfig(epochs=1, **CFG), progress=False)
    with pytest.raises(InputError, match="monitor"):
        finetune.FinetuneConfig(monitor="accuracy").validate()


def test_split_is_stratified_and_seeded():
    y = np.array([0] * 14 + [1] * 6)
    tr, va = finetune.split_train_validation(y, 0.25, seed=1)
    assert len(va) == 5 and y[va].sum() in (1, 2) and set(tr) | set(va) == set(range(20))
    assert np.array_equal(va, finetune.split_train_validation(y, 0.25, seed=1)[1])


def test_cli_finetune_on_a_manifest(tmp_path, cohort):
    manifest = write_cohort(cohort, tmp_path / "cohort", seeds=False)
    out = tmp_path / "w" / "resnet50-site.pt"
    rc = main([
        "finetune", "--manifest", str(manifest), "--out", str(out), "--epochs", "1", "--batch-size", "8",
        "--input-size", "64", "--val-fraction", "0.34", "--quiet",
    ])
    assert rc == 0 and out.is_file()
    assert deep.DeepFeatureExtractor(weights=out, input_size=64).provenance["untrained"] is False
