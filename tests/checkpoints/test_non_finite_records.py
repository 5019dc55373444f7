"""config.json is strict JSON: ``save_pretrained(training={"x": nan})`` wrote ``"x": NaN``, which the Hugging Face
Hub's and JavaScript's parsers refuse, and the card showed NaN. A NaN or Inf anywhere in a record is refused as an
object JSON cannot hold is, naming where it is; a run's export records a validation figure that is not finite as
None (a finished run keeps its export)."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch

NAN, INF = math.nan, math.inf


def strict(text: str) -> object:
    """``json.loads`` as a strict parser reads: NaN, Infinity and -Infinity are no JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("records", "where", "number"), [
    ({"training": {"x": NAN}}, "training['x']", "nan"),
    ({"metrics": {"psnr": INF}}, "metrics['psnr']", "inf"),
    ({"metrics": {"per_domain": {"he": [1.0, -INF]}}}, "metrics['per_domain']['he'][1]", "-inf"),
    ({"training": {"losses": torch.tensor([0.5, NAN])}}, "training['losses'][1]", "nan"),
    ({"training": {"loss": np.float32(NAN)}}, "training['loss']", "nan"),
    ({"training": {"loss": np.float64(INF)}}, "training['loss']", "inf"),
])
def test_a_non_finite_number_in_a_record_is_refused_naming_where_it_is(small_stylizer, tmp_path, records, where,
                                                                      number):
    with pytest.raises(ValueError) as refused:
        small_stylizer.save_pretrained(tmp_path / "saved", **records)
    said = str(refused.value)
    assert said.startswith(f"cannot store {number} (at {where}) in config.json"), said
    assert "store None or a string such as" in said and "JSON.parse" in said
    assert not (tmp_path / "saved").exists()  # refused before anything is written


def test_a_saved_record_is_strict_json_and_none_or_a_string_is_stored(small_stylizer, tmp_path):
    records = {"training": {"x": None, "y": "nan", "z": np.float32(1.5)}, "metrics": {"psnr": 100.0}}
    small_stylizer.save_pretrained(tmp_path / "saved", **records)
    config = strict((tmp_path / "saved" / "config.json").read_text(encoding="utf-8"))
    assert config["provenance"]["training"] == {"x": None, "y": "nan", "z": 1.5}
    assert config["provenance"]["metrics"] == {"psnr": 100.0}
    assert "NaN" not in (tmp_path / "saved" / "README.md").read_text(encoding="utf-8")


def test_an_exports_figure_that_is_not_finite_is_recorded_as_none_and_said(caplog):
    """A validation figure with no finite value over the crops is NaN by design; the export would be refused."""
    from stylizing_vit_aug.train.export import recorded_metrics

    with caplog.at_level(logging.WARNING):
        kept = recorded_metrics({"val_loss": 0.5, "ssim": NAN, "psnr": INF, "val_same_domain_pairs": 0})
    assert kept == {"val_loss": 0.5, "ssim": None, "psnr": None, "val_same_domain_pairs": 0}
    assert "ssim, psnr as None" in caplog.text
    assert recorded_metrics(None) is None and recorded_metrics({}) == {}
