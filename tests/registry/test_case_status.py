"""A case's status is computed from its records: draft, complete (every record marked complete), signed."""

from registry.quality.case_status import (
    DEFAULT_SIGNATURE_MEANING,
    SIGNATURE_MEANINGS,
    CaseStatus,
    RecordState,
    case_status,
    incomplete_descriptions,
    sign_refusals,
)

DONE = RecordState("the ICI-1 course", True)
OPEN = RecordState("rechallenge 1", False)


def test_a_patient_with_nothing_recorded_beyond_their_own_record_is_a_draft():
    assert case_status(signed=False, patient_complete=True, records=[]) is CaseStatus.DRAFT


def test_one_record_not_marked_complete_keeps_the_case_a_draft():
    assert case_status(signed=False, patient_complete=True, records=[DONE, OPEN]) is CaseStatus.DRAFT
    assert case_status(signed=False, patient_complete=False, records=[DONE]) is CaseStatus.DRAFT


def test_every_record_marked_complete_makes_the_case_complete():
    assert case_status(signed=False, patient_complete=True, records=[DONE, DONE]) is CaseStatus.COMPLETE


def test_a_signature_makes_the_case_signed_whatever_its_records():
    assert case_status(signed=True, patient_complete=False, records=[OPEN]) is CaseStatus.SIGNED


def test_the_records_not_complete_are_named_patient_first():
    assert incomplete_descriptions(patient_complete=False, records=[DONE, OPEN]) == [
        "the patient record",
        "rechallenge 1",
    ]


def test_a_complete_case_without_open_queries_has_no_refusal():
    assert sign_refusals(status=CaseStatus.COMPLETE, incomplete=[], has_records=True, open_queries=0) == []


def test_each_reason_a_case_cannot_be_signed_is_given():
    refusals = sign_refusals(status=CaseStatus.DRAFT, incomplete=["rechallenge 1"], has_records=True, open_queries=2)
    assert refusals == [
        "Every record must be marked complete first: rechallenge 1 is not.",
        "2 data queries are still open or awaiting a coordinator's review: they must be closed before the case is "
        "signed.",
    ]
    empty = sign_refusals(status=CaseStatus.DRAFT, incomplete=[], has_records=False, open_queries=0)
    assert empty == ["Nothing is recorded beyond the patient record yet: there is no case to sign."]


def test_a_signed_case_is_not_signed_again():
    assert sign_refusals(status=CaseStatus.SIGNED, incomplete=[], has_records=True, open_queries=0) == [
        "This case is already signed; a coordinator must unlock it before it is signed again."
    ]


def test_the_default_meaning_is_the_first_offered():
    assert SIGNATURE_MEANINGS[0] == DEFAULT_SIGNATURE_MEANING
    assert CaseStatus.COMPLETE.label == "Complete, not signed"
