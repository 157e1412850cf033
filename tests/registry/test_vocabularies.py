"""The vocabularies' terms that the forms, the decision model and the exports read in their own ways."""

from __future__ import annotations

import pytest

from registry import crf
from registry import vocabularies as v
from registry.decision import available_versions, evaluate, get_spec
from registry.deid import IRAES, SAFE_HARBOR, Flag, default_field_meta
from registry.deid.profiles import LIMITED_DATASET
from tests.registry.decision.helpers import irae, make


def test_an_irae_outside_the_ctcae_list_is_other_without_a_meddra_code():
    term = v.CTCAE_TERMS.get(v.CTCAE_OTHER_TERM)
    assert (term.label, term.meddra_code, term.organ_category) == ("Other (specify)", "", "other")
    assert v.CTCAE_TERMS.codes()[-1] == "other"  # offered last, after every listed term


@pytest.mark.parametrize("version", available_versions())
@pytest.mark.parametrize("grade", [1, 2, 3, 4, 5])
def test_the_decision_model_scores_an_other_irae_as_a_listed_term_of_the_other_organ_category(version, grade):
    """An unlisted term is read like the infusion reaction (organ "other", no term rule): never endocrine."""
    spec = get_spec(version)

    def scored(term: str) -> tuple[str, int]:
        factor = evaluate(make(prior_iraes=(irae(term, grade, None, steroid_refractory=False),)), spec).factor(
            "prior_irae"
        )
        return factor.level, factor.points

    assert scored("other") == scored("infusion_related_reaction")


def test_the_other_term_typed_is_free_text_that_no_export_profile_releases():
    assert "ctcae_term_other" in crf.FREE_TEXT_FIELDS["adverse_event"]
    meta = {field.name: field for field in default_field_meta()[IRAES]}
    assert meta["ctcae_term_other"].flags == frozenset({Flag.FREE_TEXT})
    for profile in (SAFE_HARBOR, LIMITED_DATASET):
        assert Flag.FREE_TEXT in profile.drop


def test_an_other_irae_exports_its_missing_meddra_code_as_missing_not_as_a_code():
    meddra = next(field for field in default_field_meta()[IRAES] if field.name == "meddra_code")
    assert "" not in meddra.codes
    assert meddra.missing[0][0] == "" and "Other" not in meddra.missing[0][1]
    assert "'other'" in meddra.missing[0][1]


def test_tumour_types_are_offered_with_their_oncotree_code_beside_the_name():
    assert v.TUMOUR_TYPES.choices_with_codes()[0] == ("NSCLC", "Non-small cell lung cancer (NSCLC)")
    assert len(v.TUMOUR_TYPES.choices_with_codes()) == len(v.TUMOUR_TYPES)
