"""The normal form of local identifiers: one patient however the number was typed or pasted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.identifiers import local_identifiers_plan, normalise_local_identifier


@pytest.mark.parametrize(
    "typed",
    [
        "MRN1498824",
        "mrn1498824",
        "MRN1498824\u200b",  # zero width space, as pasted from a web page
        " MRN1498824 ",
        "MRN 1498 824",
        "\ufeffMRN1498824",  # byte order mark at the start of a spreadsheet cell
        "MRN\u00ad1498824",  # soft hyphen
        "MRN\u200d1498824\u2060",  # zero width joiner, word joiner
        "\u202aMRN1498824\u202c",  # bidi embedding marks
        "MRN1498824\x00",  # NUL
        "MRN\u00a01498824",  # no-break space
        "ＭＲＮ１４９８８２４",  # full-width letters and digits
        "Mrn1498824\ufe0f",  # a variation selector
    ],
)
def test_every_spelling_of_one_identifier_has_one_normal_form(typed):
    assert normalise_local_identifier(typed) == "MRN1498824"


def test_case_folding_goes_beyond_ascii():
    assert normalise_local_identifier("straße-1") == normalise_local_identifier("STRASSE-1") == "STRASSE-1"
    assert normalise_local_identifier("ǅ12") == "DŽ12"


def test_punctuation_and_letters_that_carry_meaning_are_kept():
    assert normalise_local_identifier("H-12/345.6") == "H-12/345.6"
    assert normalise_local_identifier("Émile-1") == "ÉMILE-1"


def test_an_identifier_of_only_invisible_characters_is_empty():
    assert normalise_local_identifier("\u200b \u200c\t\n") == ""


@given(st.text())
def test_normalising_twice_changes_nothing(text):
    once = normalise_local_identifier(text)
    assert normalise_local_identifier(once) == once


def test_the_plan_changes_each_identifier_not_yet_in_its_normal_form():
    plan = local_identifiers_plan([(1, "A", "mrn1"), (2, "A", "MRN2"), (3, "B", "mrn1\u200b")])
    assert plan.changes == {1: ("mrn1", "MRN1"), 3: ("mrn1\u200b", "MRN1")}
    assert plan.collisions == []


def test_identifiers_of_one_site_that_become_one_are_left_as_stored_and_reported():
    plan = local_identifiers_plan(
        [(1, "A", "MRN1498824"), (2, "A", "mrn1498824"), (3, "A", "MRN1498824\u200b"), (4, "A", "x-1")]
    )
    assert plan.changes == {4: ("x-1", "X-1")}
    assert plan.collisions == [("A", "MRN1498824", (1, 2, 3))]
