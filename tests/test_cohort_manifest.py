"""Manifest validation: every problem reported at once; missing files are per-case problems."""

from __future__ import annotations

import pytest

from alnpredictor.cohort.manifest import ManifestError, load_manifest, parse_points
from alnpredictor.errors import InputError


def _write(tmp_path, text):
    p = tmp_path / "m.csv"
    p.write_text(text)
    return p


def test_parse_points_negative_and_several():
    assert parse_points("-12.5,40,3; 1,2,-3") == [[-12.5, 40.0, 3.0], [1.0, 2.0, -3.0]]
    with pytest.raises(ValueError, match="R,A,S"):
        parse_points("1,2")


def test_all_structural_problems_reported_at_once(tmp_path, breast1_image):
    img = str(breast1_image)
    path = _write(tmp_path, (
        "case_id,pathway,image_T1C,image_T2,image_ADC,seeds_tumor,seeds_nodes,shoe_size\n"
        f"p1,mri,{img},{img},{img},\"1,2,3\",\"4,5\",42\n"
        f"p1,mri,{img},{img},,\"1,2,3\",\"4,5,6\",40\n"
        f"bad id,xray,{img},{img},{img},,,1\n"
    ))
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    problems = "\n".join(err.value.problems)
    assert "shoe_size" in problems  # unknown column
    assert "duplicate case_id" in problems
    assert "seeds_nodes" in problems  # malformed seed on line 2
    assert "missing image_ADC" in problems
    assert "pathway must be" in problems
    assert len(err.value.problems) >= 5


def test_missing_file_is_a_case_problem_not_fatal(tmp_path, breast1_image, breast1_label):
    img, lab = str(breast1_image), str(breast1_label)
    path = _write(tmp_path, (
        "case_id,site,pathway,image_T1C,image_T2,image_ADC,mask_tumor,mask_nodes,age,clin_er,label\n"
        f"ok1,A,mri,{img},{img},{img},{lab},{lab},55,pos,1\n"
        f"gone,A,mri,{img},missing_t2.nrrd,{img},{lab},{lab},61,neg,0\n"
    ))
    mf = load_manifest(path)
    assert [c.case_id for c in mf.runnable()] == ["ok1"]
    assert "missing_t2.nrrd" in mf.case_problems["gone"][0]
    ok = mf.cases[0]
    assert ok.clinical == {"age": 55, "clin_er": "pos"} and ok.label == "1" and ok.site == "A"
    with pytest.raises(ManifestError, match="missing_t2"):
        load_manifest(path, strict=True)


def test_ids_are_trimmed_before_the_duplicate_check(tmp_path, breast1_image, breast1_label):
    img, lab = str(breast1_image), str(breast1_label)
    row = f"{img},{img},{img},{lab},{lab}"
    path = _write(tmp_path, "case_id,image_T1C,image_T2,image_ADC,mask_tumor,mask_nodes\n"
                            f"P1,{row}\n P1 ,{row}\nP2,{row}\n")
    with pytest.raises(ManifestError, match=r"duplicate case_id.*'P1' on lines 2, 3"):
        load_manifest(path)


def test_excel_quirks_are_read_and_misreadings_named(tmp_path, breast1_image, breast1_label):
    img, lab = str(breast1_image), str(breast1_label)
    # Excel's "CSV UTF-8" byte-order mark, spaces around header names, a trailing empty field, a blank line
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeffcase_id , image_T1C,image_T2,image_ADC,mask_tumor,mask_nodes\n"
                      f"P1,{img},{img},{img},{lab},{lab},\n\n").encode())
    assert [c.case_id for c in load_manifest(path).cases] == ["P1"]
    path = _write(tmp_path, "case_id,age,age\nP1,5,6\n")
    with pytest.raises(ManifestError, match=r"\['age'\] appear more than once"):
        load_manifest(path)
    path.write_bytes(b"case_id,age\nP1,\xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_manifest(path)
