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


def test_1_0_and_1_1_are_shipped_and_1_1_is_the_default() -> None:
    assert DEFAULT_VERSION == "1.1"
    assert available_versions() == ("1.0", "1.1")
    assert get_spec().version == "1.1"
    assert get_spec("1.1") is get_spec()
    assert get_spec("1.0").version == "1.0"


def test_unknown_version_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"version '9\.9' does not exist \(available: 1\.0, 1\.1\)"):
        get_spec("9.9")


def test_hash_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(json.dumps(v1(), sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
    assert get_spec("1.0").hash == expected
    assert canonical_json(get_spec("1.0").data) == json.dumps(v1(), sort_keys=True, separators=(",", ":"))


def test_hash_is_stable() -> None:
    spec = get_spec("1.0")
    assert ModelSpec.from_dict(v1()).hash == spec.hash
    assert ModelSpec.from_dict(spec.to_dict()).hash == spec.hash
    assert len(spec.hash) == 64
    # Key order in the source document does not matter.
    reordered = dict(reversed(list(v1().items())))
    assert ModelSpec.from_dict(reordered).hash == spec.hash


def test_changing_a_weight_changes_the_hash() -> None:
    data = v1()
    data["factors"]["pfs1"]["bands"][2]["points"] = 3
    assert ModelSpec.from_dict(data).hash != get_spec("1.0").hash


def test_changing_a_reason_text_changes_the_hash() -> None:
    data = v1()
    data["factors"]["ecog"]["missing_reason"] = "ECOG not recorded"
    assert ModelSpec.from_dict(data).hash != get_spec("1.0").hash


def test_two_versions_coexist() -> None:
    data = v1()
    data["version"] = "2.0"
    data["factors"]["strategy"]["points"]["favourable"] = 2
    data["category_thresholds"]["favourable"] = 6
    v2 = ModelSpec.from_dict(data)
    inputs = make(strategy="ici_chemotherapy")

    old, new = evaluate(inputs, get_spec("1.0")), evaluate(inputs, v2)
    assert (old.model_version, old.model_hash) == ("1.0", get_spec("1.0").hash)
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
    factors = get_spec("1.0").factors
    irae = factors["prior_irae"]
    terms = irae["contraindications"]["terms"]
    assert {code for code, rule in terms.items() if rule["min_grade"] == 1} == {
        "myocarditis",
        *SEVERE_NEUROLOGICAL_TERMS,
    }
    assert terms["pneumonitis"]["min_grade"] == 3
    assert irae["contraindications"]["non_endocrine"]["min_grade"] == 4
    assert irae["prednisone_threshold_mg_per_day"] == 10
    assert get_spec("1.0").key_factors == ("pfs1", "tfi", "ecog", "prior_irae")
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


# --- spec 1.1: format, provenance, pinned hashes ---------------------------------------------------

SPEC_FOLDER = SPEC_FILE.parent

#: SHA-256 of each shipped file's bytes and of its canonical JSON (the hash locked in assessments).
#: Computed once with hashlib when each version shipped; a change here means a locked spec was edited.
PINNED = {
    "v1.json": (
        "36e824b2f3d5f9040f5f09190b7f2870be83c7ceaf2bd890fae62823d9a6dc13",
        "90f26af1d57db68da16145ba09726e7333a9fd320cf93731ab8856d046f9affc",
    ),
    "v1_1.json": (
        "6dd7e58f4977fe6771c6f353142e161509ee017ba81e4a18b120208417f94482",
        "3792482877cb6e393506fc6c328807609deb6e6f5ce26d1ff4a289ae72b9b0d4",
    ),
}


def v1_1() -> dict[str, Any]:
    return json.loads((SPEC_FOLDER / "v1_1.json").read_text(encoding="utf-8"))


def test_every_shipped_spec_is_pinned() -> None:
    assert sorted(path.name for path in SPEC_FOLDER.glob("*.json")) == sorted(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_shipped_spec_hashes_are_pinned(name: str) -> None:
    file_hash, content = PINNED[name]
    raw = (SPEC_FOLDER / name).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == file_hash
    version = json.loads(raw)["version"]
    assert get_spec(version).hash == content


def test_1_1_declares_its_format_inputs_and_review_criteria() -> None:
    spec = get_spec("1.1")
    assert (spec.format, spec.has_provenance) == ("1.1", True)
    assert (get_spec("1.0").format, get_spec("1.0").has_provenance) == ("1.0", False)
    assert spec.data["review_criteria"]["pfs1_min_months"] == 6.0
    assert spec.data["review_criteria"]["tfi_min_months"] == 6.0
    assert spec.data["review_criteria"]["ecog_max"] == 1
    assert spec.data["review_criteria"]["irae_resolved_max_grade"] == 1


def _sources(value: Any, path: str = "") -> dict[str, str]:
    """Every provenance in a document, by path (keys named source, *_source or *_sources)."""
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if key == "sources" and not path:
                continue  # the glossary itself
            if key == "source" and path == "":
                continue  # the document's own bibliographic note
            if key in ("source", "level_sources") or key.endswith(("_source", "_sources")):
                if isinstance(item, str):
                    found[here] = item
                elif isinstance(item, dict):
                    found.update({f"{here}.{code}": text for code, text in item.items()})
                else:
                    found.update({f"{here}[{index}]": text for index, text in enumerate(item)})
            else:
                found.update(_sources(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(_sources(item, f"{path}[{index}]"))
    return found


def test_only_the_four_review_criteria_and_published_figures_come_from_the_review() -> None:
    review = {path for path, source in _sources(v1_1()).items() if "review" in source.split("; ")}
    assert review == {
        "review_criteria.source",
        # PFS1 ≥ 6 months, preferably ≥ 12
        "factors.pfs1.cut_point_sources[0]",
        "factors.pfs1.cut_point_sources[1]",
        "factors.pfs1.bands[1].source",
        "factors.pfs1.bands[2].source",
        # TFI ≥ 6 months
        "factors.tfi.cut_point_sources[1]",
        "factors.tfi.bands[2].source",
        # ECOG ≤ 1
        "factors.ecog.cut_point_sources[0]",
        "factors.ecog.bands[0].source",
        # prior irAEs none or resolved to ≤ grade 1
        "factors.prior_irae.resolved_max_grade_source",
        "factors.prior_irae.none_source",
        "factors.prior_irae.rules.resolved.source",
        "factors.prior_irae.rules.not_recorded_low_grade.source",
        # published figures: toxicity stop 5.1 vs progression 2.9 months; combinations improve response
        "factors.stop_reason.level_sources.toxicity",
        "factors.stop_reason.level_sources.progression",
        "factors.strategy.level_sources.ici_chemotherapy",
        "factors.strategy.level_sources.ici_antiangiogenic",
        "factors.strategy.level_sources.ici_radiotherapy",
    }


def test_every_weight_of_1_1_is_inferred() -> None:
    weights = {path: source for path, source in _sources(v1_1()).items() if "points_source" in path}
    assert weights
    assert set(weights.values()) == {"inferred"}
    assert v1_1()["category_thresholds"]["source"] == "inferred"


def test_every_rule_of_1_1_has_a_source() -> None:
    """Independent of the validator: every object with a level or a grade threshold names its source."""

    def walk(value: Any, path: str) -> list[str]:
        bare = []
        if isinstance(value, dict):
            if ("level" in value or "min_grade" in value) and "source" not in value:
                bare.append(path)
            for key, item in value.items():
                bare.extend(walk(item, f"{path}.{key}"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                bare.extend(walk(item, f"{path}[{index}]"))
        return bare

    assert walk(v1_1(), "spec") == []


def _drop(path: str) -> Any:
    return _set(path, _DELETE)


def _both(first: Any, second: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        first(data)
        second(data)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_drop("factors.pfs1.bands.1.source"), "bands[1]: missing key(s) source", id="band-source"),
        pytest.param(
            _drop("factors.prior_irae.contraindications.terms.uveitis.source"),
            "terms.uveitis: missing key(s) source",
            id="contraindication-source",
        ),
        pytest.param(
            _set("factors.prior_irae.rules.resolved.source", "hearsay"),
            "source 'hearsay' is not in the spec's sources",
            id="unknown-source",
        ),
        pytest.param(
            _set("factors.ecog.bands.0.source", "guideline: ESMO 2030"),
            "source 'guideline: ESMO 2030' is not in the spec's sources",
            id="undeclared-guideline",
        ),
        pytest.param(_set("sources.blog", "a blog post"), "'blog' is not review, inferred", id="bad-glossary-key"),
        pytest.param(_drop("sources.inferred"), "sources: missing key(s) inferred", id="glossary-needs-inferred"),
        pytest.param(_set("format", "2.0"), "format must be one of 1.1", id="unknown-format"),
        pytest.param(_drop("inputs"), "spec: missing key(s) inputs", id="inputs-required"),
        pytest.param(_set("inputs.months", "lunar"), "inputs.months: must be one of", id="month-basis"),
        pytest.param(_set("review_criteria.ecog_max", 7), "must be between 0 and 4", id="review-ecog"),
        pytest.param(
            _set("factors.tfi.cut_point_sources", ["review"]),
            "must give one source per cut-point",
            id="cut-sources",
        ),
        pytest.param(
            _drop("factors.strategy.level_sources.ici_ici"),
            "level_sources: missing key(s) ici_ici",
            id="level-sources",
        ),
        pytest.param(
            _set("factors.pfs1.censored.below_lowest_cut.points", 2),
            "must score between the lowest band and the band above it",
            id="censored-beats-observed-6",
        ),
        pytest.param(
            _set("factors.pfs1.censored.below_lowest_cut.level", "contraindicated"),
            "level must be one of favourable, intermediate, unfavourable, missing",
            id="censored-contraindicated",
        ),
        pytest.param(
            _set("factors.pfs1.censored.below_lowest_cut.points", -3),
            "must score between the lowest band and the band above it",
            id="censored-worse-than-progression",
        ),
        pytest.param(
            _both(
                _set("factors.pfs1.censored.event_not_recorded_below_lowest_cut.level", "missing"),
                _set("factors.pfs1.censored.event_not_recorded_below_lowest_cut.points", -1),
            ),
            "a missing outcome scores 0",
            id="missing-with-points",
        ),
        pytest.param(
            _set("factors.prior_irae.contraindications.steroid_refractory.not_recorded.level", "favourable"),
            "level must be one of missing",
            id="unknown-refractoriness-not-missing",
        ),
    ],
)
def test_malformed_1_1_spec_is_rejected(change: Any, message: str) -> None:
    data = v1_1()
    change(data)
    with pytest.raises(ValueError) as caught:
        ModelSpec.from_dict(data)
    assert message in str(caught.value)


def test_a_censored_value_may_be_declared_missing() -> None:
    data = v1_1()
    data["version"] = "1.1-missing"
    data["factors"]["pfs1"]["censored"]["below_lowest_cut"].update(level="missing", points=0)
    spec = ModelSpec.from_dict(data)
    result = evaluate(make(pfs1_months=5.0, pfs1_event=False), spec)
    assert (result.factor("pfs1").level, result.category) == ("missing", "insufficient_data")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            _set("inputs", {"months": "calendar", "missing": "missing"}), "unknown key(s) inputs", id="inputs"
        ),
        pytest.param(_set("factors.pfs1.bands.0.source", "review"), "unknown key(s) source", id="band-source"),
        pytest.param(_set("format", "1.0"), "format must be one of 1.1", id="explicit-1.0"),
    ],
)
def test_a_1_0_document_cannot_carry_1_1_sections(change: Any, message: str) -> None:
    data = v1()
    change(data)
    with pytest.raises(ValueError) as caught:
        ModelSpec.from_dict(data)
    assert message in str(caught.value)


def test_prednisone_not_recorded_may_be_missing_in_any_format() -> None:
    data = v1()
    data["version"] = "1.0-missing-prednisone"
    data["factors"]["prior_irae"]["prednisone"]["not_recorded"]["level"] = "missing"
    spec = ModelSpec.from_dict(data)
    result = evaluate(make(current_prednisone_mg_per_day=None), spec)
    assert (result.factor("prior_irae").level, result.category) == ("missing", "insufficient_data")
