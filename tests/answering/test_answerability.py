"""The answerability model: the packaged file, its arithmetic worked out by hand, clear errors for
a file that does not fit the code."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from service.answering.answerability import (
    FEATURES,
    MODEL_PATH,
    AnswerabilityModel,
    ModelError,
    load_model,
    packaged_model,
    rarest_found,
    term_share,
)


def _model(**changes: Any) -> AnswerabilityModel:
    n = len(FEATURES)
    fields: dict[str, Any] = {
        "features": FEATURES,
        "mean": (0.0,) * n,
        "scale": (1.0,) * n,
        "coef": (0.0,) * n,
        "intercept": 0.0,
        "threshold": 0.5,
        "fitted": {},
    }
    fields.update(changes)
    return AnswerabilityModel(**fields)


def test_packaged_model_is_fitted_on_trial_never_dev() -> None:
    model = load_model(MODEL_PATH)
    assert model is packaged_model() or model == packaged_model()
    assert set(model.features) == set(FEATURES)
    assert 0.0 < model.threshold < 1.0
    command = model.fitted["command"]
    assert command.startswith("zhiwen fit-answerability") and "--split TRIAL" in command
    assert "DEV" not in command
    assert model.fitted["left_out_questions"] > 0


def test_probability_by_hand() -> None:
    # one feature with weight 2 around mean 0.5, scale 0.25: x = 0.75 → z = 1 + 2·1 = 3
    n = len(FEATURES)
    coef = (2.0,) + (0.0,) * (n - 1)
    model = _model(mean=(0.5,) * n, scale=(0.25,) * n, coef=coef, intercept=1.0)
    values = dict.fromkeys(FEATURES, 0.5) | {FEATURES[0]: 0.75}
    assert model.probability(values) == pytest.approx(1 / (1 + math.exp(-3.0)))
    # every feature at its mean: the intercept alone
    assert model.probability(dict.fromkeys(FEATURES, 0.5)) == pytest.approx(1 / (1 + math.exp(-1.0)))
    assert model.answerable(0.5) and not model.answerable(0.4999)


def test_missing_feature_is_named() -> None:
    values = dict.fromkeys(FEATURES[1:], 0.0)
    with pytest.raises(ModelError, match=FEATURES[0]):
        _model().probability(values)


def test_file_of_another_version_or_feature_set_asks_for_a_refit(tmp_path: Path) -> None:
    data = _model().to_json()
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data | {"format_version": 0}), encoding="utf-8")
    with pytest.raises(ModelError, match="fit-answerability"):
        load_model(old)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data | {"features": ["no_such_feature"], "mean": [0], "scale": [1], "coef": [1]}))
    with pytest.raises(ModelError, match="refit"):
        load_model(other)
    # a model on fewer or other features the code computes loads (``zhiwen eval --answerability``)
    fewer = tmp_path / "fewer.json"
    fewer.write_text(json.dumps(data | {"features": ["coverage", "literals_missing"], "mean": [0, 0],
                                        "scale": [1, 1], "coef": [1, 1]}))
    assert load_model(fewer).features == ("coverage", "literals_missing")
    with pytest.raises(ModelError, match="no answerability model"):
        load_model(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ModelError, match="not JSON"):
        load_model(broken)


def test_model_round_trips_through_its_file(tmp_path: Path) -> None:
    n = len(FEATURES)
    model = _model(coef=tuple(float(i) for i in range(n)), intercept=-0.3, threshold=0.42, fitted={"data": "x"})
    path = tmp_path / "m.json"
    model.save(path)
    assert load_model(path) == model


def test_invalid_numbers_are_refused() -> None:
    n = len(FEATURES)
    with pytest.raises(ModelError, match="scale"):
        _model(scale=(0.0,) * n)
    with pytest.raises(ModelError, match="threshold"):
        _model(threshold=1.5)


def test_term_shares() -> None:
    assert term_share(("九水", "书记"), (3.0, 1.0), "九水街道") == pytest.approx(0.75)
    assert term_share((), (), "anything") == 1.0
    assert rarest_found(("九水", "书记"), (3.0, 1.0), "街道书记") == 0.0
    assert rarest_found(("九水", "书记"), (3.0, 1.0), "九水街道") == 1.0
