"""The model specification: shipped as data, hashed, versioned side by side, and validated."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import registry.decision
from registry.decision import (
    DEFAULT_VERSION,
    ModelSpec,
    available_versions,
    canonical_json,
    evaluate,
    get_spec,
)
from registry.vocabularies import COMBINATION_REGIMENS, SEVERE_NEUROLOGICAL_TERMS, STOP_REASONS
from tests.registry.decision.helpers import BASE, make

SPEC_FILE = Path(registry.decision.__file__).parent / "specs" / "v1.json"


def v1() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def test_v1_is_shipped_and_default() -> None:
    assert DEFAULT_VERSION == "1.0"
    assert "1.0" in available_versions()
    assert get_spec().version == "1.0"
    assert get_spec("1.0") is get_spec()


def test_unknown_version_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"version '9\.9' does not exist \(available: 1\.0"):
        get_spec("9.9")


def test_hash_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(json.dumps(v1(), sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
    assert get_spec().hash == expected
    assert canonical_json(get_spec().data) == json.dumps(v1(), sort_keys=True, separators=(",", ":"))


def test_hash_is_stable() -> None:
    spec = get_spec()
    assert ModelSpec.from_dict(v1()).hash == spec.hash
    assert ModelSpec.from_dict(spec.to_dict()).hash == spec.hash
    assert len(spec.hash) == 64
    # Key order in the source document does not matter.
    reordered = dict(reversed(list(v1().items())))
    assert ModelSpec.from_dict(reordered).hash == spec.hash


def test_changing_a_weight_changes_the_hash() -> None:
    data = v1()
    data["factors"]["pfs1"]["bands"][2]["points"] = 3
    assert ModelSpec.from_dict(data).hash != get_spec().hash


def test_changing_a_reason_text_changes_the_hash() -> None:
    data = v1()
    data["factors"]["ecog"]["missing_reason"] = "ECOG not recorded"
    assert ModelSpec.from_dict(data).hash != get_spec().hash


def test_two_versions_coexist() -> None:
    data = v1()
    data["version"] = "2.0"
    data["factors"]["strategy"]["points"]["favourable"] = 2
    data["category_thresholds"]["favourable"] = 6
    v2 = ModelSpec.from_dict(data)
    inputs = make(strategy="ici_chemotherapy")

    old, new = evaluate(inputs), evaluate(inputs, v2)
    assert (old.model_version, old.model_hash) == ("1.0", get_spec().hash)
    assert (new.model_version, new.model_hash) == ("2.0", v2.hash)
    assert (old.score, old.category) == (6, "favourable")
    assert (new.score, new.category) == (7, "favourable")
    assert evaluate(BASE, v2).category == "intermediate"
    assert get_spec("1.0").hash == old.model_hash  # the shipped version is untouched


def test_spec_is_read_only_and_isolated_from_its_source() -> None:
    data = v1()
    spec = ModelSpec.from_dict(data)
    data["factors"]["pfs1"]["cut_points"][0] = 99
    assert spec.factors["pfs1"]["cut_points"][0] == 6.0
    with pytest.raises(TypeError):
        spec.data["version"] = "x"  # type: ignore[index]
    copied = spec.to_dict()
    copied["version"] = "x"
    assert spec.version == "1.0"


def test_v1_content_matches_the_design() -> None:
    factors = get_spec().factors
    irae = factors["prior_irae"]
    terms = irae["contraindications"]["terms"]
    assert {code for code, rule in terms.items() if rule["min_grade"] == 1} == {
        "myocarditis",
        *SEVERE_NEUROLOGICAL_TERMS,
    }
    assert terms["pneumonitis"]["min_grade"] == 3
    assert irae["contraindications"]["non_endocrine"]["min_grade"] == 4
    assert irae["prednisone_threshold_mg_per_day"] == 10
    assert get_spec().key_factors == ("pfs1", "tfi", "ecog", "prior_irae")
    strategy = factors["strategy"]["levels_by_code"]
    assert {code for code, level in strategy.items() if level == "favourable"} == COMBINATION_REGIMENS
    assert set(factors["stop_reason"]["levels_by_code"]) == set(STOP_REASONS.codes())


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_set("version", ""), "version must be a non-empty string", id="empty-version"),
        pytest.param(_set("factors.ecog", _DELETE), "factors: missing key(s) ecog", id="factor-missing"),
        pytest.param(_set("factors.age", {}), "factors: unknown key(s) age", id="unknown-factor"),
        pytest.param(_set("key_factors", ["pfs1", "age"]), "'age' is not a factor", id="unknown-key-factor"),
        pytest.param(
            _set("category_thresholds.favourable", 0),
            "favourable must be above intermediate",
            id="thresholds-inverted",
        ),
        pytest.param(_set("factors.pfs1.cut_points", [12.0, 6.0]), "must be strictly increasing", id="cuts-decreasing"),
        pytest.param(_set("factors.pfs1.cut_points", [6.0]), "must list 2 bands", id="band-count"),
        pytest.param(_set("factors.tfi.bands.0.level", "dreadful"), "level must be one of", id="unknown-level"),
        pytest.param(_set("factors.tfi.bands.0.points", 5), "a better value must never get", id="non-monotone-bands"),
        pytest.param(_set("factors.ecog.bands.0.points", "1"), "must be an integer", id="points-not-int"),
        pytest.param(
            _set("factors.ecog.bands.0.reason", "ECOG {value.__class__}"),
            "placeholder {value.__class__} is not allowed",
            id="template-attribute-access",
        ),
        pytest.param(
            _set("factors.ecog.bands.0.reason", "ECOG {age}"),
            "placeholder {age} is not allowed",
            id="bad-field",
        ),
        pytest.param(
            _set("factors.prior_irae.contraindications.terms.sunburn", {"min_grade": 1, "reason": "x"}),
            "'sunburn' is not a CTCAE term code",
            id="unknown-ctcae-term",
        ),
        pytest.param(
            _set("factors.prior_irae.points.contraindicated", 5),
            "contraindicated must not score more than unfavourable",
            id="contraindicated-rewarded",
        ),
        pytest.param(
            _set("factors.prior_irae.rules.not_recorded.level", "favourable"),
            "level must be one of missing",
            id="unknown-grade-not-missing",
        ),
        pytest.param(
            _set("factors.prior_irae.prednisone_threshold_mg_per_day", -1),
            "must be positive",
            id="bad-threshold",
        ),
        pytest.param(
            _set("factors.strategy.levels_by_code.ici_magic", "favourable"),
            "'ici_magic' is not a code of Regimen type",
            id="unknown-regimen",
        ),
        pytest.param(
            _set("factors.tfi.progressed_on_ici1.points", 1),
            "progression on treatment must not beat the worst band",
            id="progression-rewarded",
        ),
        pytest.param(_set("factors.pfs1.cut_point", [6.0]), "unknown key(s) cut_point", id="typo-key"),
    ],
)
def test_malformed_spec_is_rejected(change: Any, message: str) -> None:
    data = copy.deepcopy(v1())
    change(data)
    with pytest.raises(ValueError) as caught:
        ModelSpec.from_dict(data)
    assert message in str(caught.value)


def test_non_object_and_non_json_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        ModelSpec.from_dict([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelSpec.from_json("{version: 1")


def test_decision_package_imports_no_framework() -> None:
    code = (
        "import sys, registry.decision as d; d.evaluate(d.DecisionInputs(8, 8, False, 1, ()));"
        "bad = {'django', 'rest_framework', 'celery', 'kombu', 'apps', 'config'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    root = Path(registry.decision.__file__).parents[2]
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
