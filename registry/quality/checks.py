"""Every rule of :mod:`registry.quality`, checked set-wise over whole tables (pandas; no loop over records).

The nightly sweep checks 100,000 patients in seconds, and the on-save check runs the same functions
over one patient's rows: there is one implementation of each rule. Each check reads a :class:`Frames`
(one frame per clinical table, columns named as the Django model columns, see :data:`FRAME_COLUMNS`)
and :class:`CheckSettings` (today, the follow-up interval, the field labels, whether blinding is on),
and returns a frame of violations with :data:`VIOLATION_COLUMNS`: one row per problem, keyed by
``(rule_id, record_type, record_id, field)`` — ``record_type`` is the record's name in
``registry.crf`` (``initial_course``; the app maps it to its URL slug), ``field`` is ``""`` when the
problem is the record as a whole. ``message`` is the rule's message filled in, ``value_seen`` what the
field held (an implausible value confirmed as entered is not asked about again unless it changes).

Loops run over rule declarations (fields, ranges) and, for message texts and duplicate groups, over
the violations found — never over the records checked.

Definitions a trialist would ask about (each check's docstring has the details):

- *death*: a follow-up with vital status ``dead``; a patient's date of death is the earliest such death date;
- *on follow-up*: the patient's latest rechallenge episode, while the patient is not recorded dead and has
  not withdrawn consent (a patient whose vital status is unknown / lost is still to be traced);
- *outcome known*: a response assessment of the episode, or a follow-up of it that records progression, or
  death, or that is dated at least :data:`~registry.quality.OUTCOME_DUE_MONTHS` after the rechallenge start
  with no progression recorded (progression-free up to then; a progression date answered with a
  missing-data code documents nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from registry.quality import (
    FOLLOW_UP_INTERVAL_DAYS,
    OUTCOME_DUE_MONTHS,
    PLAUSIBLE_RANGES,
    REQUIRED_FIELDS,
    RULES_BY_ID,
    Equals,
    Given,
)

#: The columns each frame is read with (a missing column is added empty, for tests' small frames).
FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": (
        "id",
        "site_id",
        "registry_id",
        "local_identifier",
        "sex",
        "year_of_birth",
        "tumour_type",
        "consent_status",
        "pdl1_tps_percent",
        "pdl1_cps",
        "tmb_mut_per_mb",
        "missing_answers",
    ),
    "courses": (
        "id",
        "patient_id",
        "start_date",
        "stop_date",
        "stop_reason",
        "progression_date",
        "best_overall_response",
        "iraes_during_course",
        "missing_answers",
    ),
    "episodes": (
        "id",
        "patient_id",
        "sequence_number",
        "start_date",
        "enrolled_at",
        "clinical_justification",
        "ldh_u_per_l",
        "ldh_above_uln",
        "neutrophil_lymphocyte_ratio",
        "albumin_g_per_l",
        "brain_metastases",
        "liver_metastases",
        "current_prednisone_mg_per_day",
        "iraes_during_rechallenge",
        "missing_answers",
    ),
    "adverse_events": (
        "id",
        "patient_id",
        "episode_id",
        "grade",
        "onset_date",
        "resolution_date",
        "resolved_to_grade",
        "management",
        "peak_prednisone_mg_per_day",
        "led_to_discontinuation",
        "hospitalised",
        "missing_answers",
    ),
    # A response's and a follow-up's patient (and episode number) come from their episode; a reader may give
    # them already (a join), else :meth:`Frames.of` looks them up in ``episodes``.
    "responses": ("id", "episode_id", "patient_id", "assessment_date", "missing_answers"),
    "follow_ups": (
        "id",
        "episode_id",
        "patient_id",
        "episode_sequence_number",
        "follow_up_date",
        "vital_status",
        "progression_date",
        "rechallenge_stopped_date",
        "rechallenge_stop_reason",
        "death_date",
        "last_known_alive_date",
        "missing_answers",
    ),
    #: The category of the latest locked assessment of each enrolled episode.
    "categories": ("episode_id", "category"),
}

DATE_COLUMNS = {
    "courses": ("start_date", "stop_date", "progression_date"),
    "episodes": ("start_date",),
    "adverse_events": ("onset_date", "resolution_date"),
    "responses": ("assessment_date",),
    "follow_ups": (
        "follow_up_date",
        "progression_date",
        "rechallenge_stopped_date",
        "death_date",
        "last_known_alive_date",
    ),
}

#: The ids frames are merged on.
KEY_COLUMNS = frozenset({"id", "patient_id", "episode_id", "site_id"})

#: The frame holding each record type (its ``registry.crf`` name).
FRAME_OF_RECORD = {
    "patient": "patients",
    "initial_course": "courses",
    "episode": "episodes",
    "adverse_event": "adverse_events",
    "response": "responses",
    "follow_up": "follow_ups",
}

VIOLATION_COLUMNS = (
    "rule_id",
    "record_type",
    "record_id",
    "patient_id",
    "site_id",
    "field",
    "message",
    "value_seen",
    "coordinators_only",
)

DEAD = "dead"
TOXICITY = "toxicity"
WITHDRAWN = "withdrawn"
CONTRAINDICATED = "contraindicated"


@dataclass(frozen=True)
class CheckSettings:
    today: dt.date
    follow_up_interval_days: int = FOLLOW_UP_INTERVAL_DAYS
    outcome_due_months: int = OUTCOME_DUE_MONTHS
    #: ``{(record, field): label}`` as the forms show them; a field without one is named from its column.
    labels: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: Whether center staff are blinded to the decision category (queries that would reveal it are then
    #: for coordinators only).
    blinded: bool = False

    def label(self, record: str, name: str) -> str:
        return self.labels.get((record, name)) or name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Frames:
    """The clinical tables (see :data:`FRAME_COLUMNS`), prepared by :meth:`of`."""

    patients: pd.DataFrame
    courses: pd.DataFrame
    episodes: pd.DataFrame
    adverse_events: pd.DataFrame
    responses: pd.DataFrame
    follow_ups: pd.DataFrame
    categories: pd.DataFrame

    @classmethod
    def of(cls, **frames: pd.DataFrame | None) -> Frames:
        """Frames with every column of :data:`FRAME_COLUMNS` (absent ones empty), dates as ``datetime64``,
        and ``patient_id`` on responses and follow-ups (through their episode)."""
        unknown = set(frames) - set(FRAME_COLUMNS)
        if unknown:
            raise TypeError(f"unknown frames: {sorted(unknown)}")
        prepared: dict[str, pd.DataFrame] = {}
        for name, columns in FRAME_COLUMNS.items():
            frame = frames.get(name)
            frame = pd.DataFrame(columns=list(columns)) if frame is None else frame.reset_index(drop=True)
            frame = frame.copy()
            for column in columns:
                if column not in frame:
                    frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            for column in DATE_COLUMNS.get(name, ()):
                frame[column] = _as_dates(frame[column])
            for column in KEY_COLUMNS.intersection(columns):  # keys merge alike, whatever the reader gave
                if not pd.api.types.is_numeric_dtype(frame[column]):
                    frame[column] = pd.to_numeric(frame[column].astype(object), errors="coerce").astype("float64")
            prepared[name] = frame
        episodes = prepared["episodes"].set_index("id")
        for name, column, source in (
            ("responses", "patient_id", "patient_id"),
            ("follow_ups", "patient_id", "patient_id"),
            ("follow_ups", "episode_sequence_number", "sequence_number"),
        ):
            frame = prepared[name]
            if frame[column].isna().any():
                frame[column] = frame[column].where(frame[column].notna(), frame["episode_id"].map(episodes[source]))
        return cls(**prepared)

    def of_record(self, record: str) -> pd.DataFrame:
        return getattr(self, FRAME_OF_RECORD[record])


def _as_dates(values: pd.Series) -> pd.Series:
    """Calendar dates at second resolution: a date the CRF accepts (year 1 to 9999) never overflows, as
    nanoseconds would before 1677."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[s]")
    days = np.array(values.astype(object).where(values.notna(), None).tolist(), dtype="datetime64[D]")
    return pd.Series(days.astype("datetime64[s]"), index=values.index, name=values.name)


# --- Helpers ----------------------------------------------------------------------------------------------


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series([], dtype=object) for column in VIOLATION_COLUMNS})


def _violations(
    frames: Frames,
    rule_id: str,
    record: str,
    rows: pd.DataFrame,
    *,
    field_name: str,
    messages: Iterable[str] | str,
    values_seen: Iterable[str] | str = "",
    coordinators_only: bool = False,
) -> pd.DataFrame:
    """Violation rows for ``rows`` (records with ``id`` and ``patient_id``), their site joined."""
    if rows.empty:
        return _empty()
    out = pd.DataFrame(
        {
            "rule_id": rule_id,
            "record_type": record,
            "record_id": rows["id"].astype("int64").to_numpy(),
            "patient_id": rows["patient_id"].astype("int64").to_numpy(),
            "field": field_name,
            "message": list(messages) if not isinstance(messages, str) else messages,
            "value_seen": list(values_seen) if not isinstance(values_seen, str) else values_seen,
            "coordinators_only": coordinators_only,
        }
    )
    sites = frames.patients[["id", "site_id"]].rename(columns={"id": "patient_id"})
    sites = sites.astype({"patient_id": "int64"})
    out = out.merge(sites, on="patient_id", how="left")
    return out[list(VIOLATION_COLUMNS)]


def _blank(values: pd.Series) -> pd.Series:
    """Missing: null, or an empty text."""
    blank = values.isna()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        blank |= values.astype(object).eq("")
    return blank.astype(bool)


def _text_blank(values: pd.Series) -> pd.Series:
    """Missing or only whitespace (free text)."""
    return values.isna() | values.astype(object).where(values.notna(), "").astype(str).str.strip().eq("")


def _condition(when: Callable[..., bool] | None, frame: pd.DataFrame) -> pd.Series:
    """Where a :class:`~registry.quality.Required` condition holds, as a column mask."""
    if when is None:
        return pd.Series(True, index=frame.index)
    if isinstance(when, Given):
        return ~_blank(frame[when.name])
    if isinstance(when, Equals):
        return frame[when.name].isin(when.codes).astype(bool)
    # A condition of another shape is evaluated record by record (none is declared today).
    return frame.apply(lambda row: bool(when(row.to_dict())), axis=1).astype(bool)  # pragma: no cover


def missing_answered(frame: pd.DataFrame) -> dict[str, set[int]]:
    """``{field: {record ids}}`` of the fields answered with a missing-data code (the ``missing_answers`` column).

    Only the few records with a non-empty answer are parsed (JSON text from a database cursor, or dicts).
    """
    column = frame["missing_answers"]
    filled = column[column.notna() & ~column.isin(["{}", ""])]
    answered: dict[str, set[int]] = {}
    for record_id, value in zip(frame.loc[filled.index, "id"], filled, strict=True):
        codes = json.loads(value) if isinstance(value, str) else value
        for name, code in (codes or {}).items():
            if code:
                answered.setdefault(name, set()).add(int(record_id))
    return answered


def _number(value: Any) -> str:
    """A number as a site wrote it: 3.9, 250, 0.5 (no exponent, no trailing zeros)."""
    return np.format_float_positional(float(value), trim="-")


def _day(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _spaces(text: str) -> str:
    return re.sub(r" {2,}", " ", text)


def _days(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d")


def _dead_patients(frames: Frames) -> pd.Series:
    """The date of death of each patient recorded dead (the earliest death date of their follow-ups)."""
    dead = frames.follow_ups[frames.follow_ups["vital_status"].eq(DEAD)]
    return dead.groupby("patient_id")["death_date"].min()


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else _empty()


# --- The checks, one per rule -----------------------------------------------------------------------------


def required_missing(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """Fields of :data:`~registry.quality.REQUIRED_FIELDS` holding neither a value nor a missing-data code,
    where their condition holds (``stop_reason`` only once ICI-1 has a stop date)."""
    template = RULES_BY_ID["required_missing"].message
    parts = []
    for record, items in REQUIRED_FIELDS.items():
        frame = frames.of_record(record)
        if frame.empty or not items:
            continue
        frame = frame.assign(patient_id=frame["id"]) if record == "patient" else frame
        answered = missing_answered(frame)
        for item in items:
            mask = _condition(item.when, frame) & _blank(frame[item.field])
            if item.field in answered:
                mask &= ~frame["id"].isin(answered[item.field])
            message = template.format(label=settings.label(record, item.field))
            parts.append(
                _violations(frames, "required_missing", record, frame[mask], field_name=item.field, messages=message)
            )
    return _concat(parts)


def implausible_value(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """Values outside :data:`~registry.quality.PLAUSIBLE_RANGES` (unit slips: albumin 3.9 g/L is g/dL)."""
    template = RULES_BY_ID["implausible_value"].message
    parts = []
    for (record, name), plausible in PLAUSIBLE_RANGES.items():
        frame = frames.of_record(record)
        if frame.empty:
            continue
        frame = frame.assign(patient_id=frame["id"]) if record == "patient" else frame
        values = pd.to_numeric(frame[name].astype(object), errors="coerce").astype("float64")
        mask = values.notna() & ((values < plausible.low) | (values > plausible.high))
        seen = [_number(value) for value in values[mask]]
        label = settings.label(record, name)
        messages = [
            _spaces(
                template.format(
                    label=label,
                    value=value,
                    unit=plausible.unit,
                    low=_number(plausible.low),
                    high=_number(plausible.high),
                    hint=plausible.hint,
                )
            )
            for value in seen
        ]
        parts.append(
            _violations(
                frames, "implausible_value", record, frame[mask], field_name=name, messages=messages, values_seen=seen
            )
        )
    return _concat(parts)


def _order(
    frames: Frames,
    settings: CheckSettings,
    record: str,
    rows: pd.DataFrame,
    name: str,
    earlier: pd.Series,
    other_label: str,
) -> pd.DataFrame:
    """Violations where ``rows[name]`` is before ``earlier`` (aligned on ``rows``)."""
    mask = rows[name].notna() & earlier.notna() & (rows[name] < earlier)
    hits = rows[mask]
    if hits.empty:
        return _empty()
    template = RULES_BY_ID["date_order"].message
    label = settings.label(record, name)
    values, others = _days(hits[name]), _days(earlier[mask])
    messages = [
        template.format(label=label, value=value, other_label=other_label, other_value=other)
        for value, other in zip(values, others, strict=True)
    ]
    return _violations(frames, "date_order", record, hits, field_name=name, messages=messages, values_seen=list(values))


def date_order(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """ICI-1 start ≤ ICI-1 stop ≤ rechallenge start ≤ response assessments and follow-ups, across forms.

    Each pair points at the later record's date: the ICI-1 stop before its start; a rechallenge starting
    before ICI-1 stopped (before ICI-1 started, if no stop is recorded); a response assessment, a follow-up
    or an irAE of a rechallenge dated before that rechallenge started. As on save (``registry.rules``),
    follow-ups and scans are not ordered against each other: visits and scans interleave.
    """
    courses, episodes = frames.courses, frames.episodes
    parts = [_order(frames, settings, "initial_course", courses, "stop_date", courses["start_date"], "the ICI-1 start")]
    with_course = episodes.merge(
        courses[["patient_id", "start_date", "stop_date"]].rename(
            columns={"start_date": "ici1_start", "stop_date": "ici1_stop"}
        ),
        on="patient_id",
        how="inner",
    )
    stopped = with_course["ici1_stop"].notna()
    parts.append(
        _order(
            frames,
            settings,
            "episode",
            with_course[stopped],
            "start_date",
            with_course["ici1_stop"][stopped],
            "the ICI-1 stop",
        )
    )
    parts.append(
        _order(
            frames,
            settings,
            "episode",
            with_course[~stopped],
            "start_date",
            with_course["ici1_start"][~stopped],
            "the ICI-1 start",
        )
    )
    starts = episodes[["id", "start_date"]].rename(columns={"id": "episode_id", "start_date": "rechallenge_start"})
    responses = frames.responses.merge(starts, on="episode_id", how="inner")
    parts.append(
        _order(
            frames,
            settings,
            "response",
            responses,
            "assessment_date",
            responses["rechallenge_start"],
            "the rechallenge start",
        )
    )
    follow_ups = frames.follow_ups.merge(starts, on="episode_id", how="inner")
    parts.append(
        _order(
            frames,
            settings,
            "follow_up",
            follow_ups,
            "follow_up_date",
            follow_ups["rechallenge_start"],
            "the rechallenge start",
        )
    )
    events = frames.adverse_events[frames.adverse_events["episode_id"].notna()]
    events = events.merge(starts, on="episode_id", how="inner")
    parts.append(
        _order(
            frames,
            settings,
            "adverse_event",
            events,
            "onset_date",
            events["rechallenge_start"],
            "the rechallenge start",
        )
    )
    return _concat(parts)


def after_death(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """Response assessments, irAE onsets and follow-ups (other than those recording the death) dated after the
    patient's date of death."""
    deaths = _dead_patients(frames).rename("death")
    if deaths.empty:
        return _empty()
    template = RULES_BY_ID["after_death"].message
    parts = []
    follow_ups = frames.follow_ups[~frames.follow_ups["vital_status"].eq(DEAD)]
    for record, frame, name in (
        ("response", frames.responses, "assessment_date"),
        ("follow_up", follow_ups, "follow_up_date"),
        ("adverse_event", frames.adverse_events, "onset_date"),
    ):
        rows = frame.merge(deaths, left_on="patient_id", right_index=True, how="inner")
        hits = rows[rows[name] > rows["death"]]
        values, died = _days(hits[name]), _days(hits["death"])
        label = settings.label(record, name)
        messages = [
            template.format(label=label, value=value, death=death) for value, death in zip(values, died, strict=True)
        ]
        parts.append(
            _violations(
                frames, "after_death", record, hits, field_name=name, messages=messages, values_seen=list(values)
            )
        )
    return _concat(parts)


def toxicity_stop_without_irae(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """ICI-1 stopped for toxicity with no ICI-1 irAE (no episode) that led to discontinuation; a follow-up saying
    the rechallenge stopped for toxicity with no irAE of that rechallenge that led to discontinuation."""
    template = RULES_BY_ID["toxicity_stop_without_irae"].message
    events = frames.adverse_events
    led = events[events["led_to_discontinuation"].astype(object).eq(True)]
    courses = frames.courses
    ici1_led = set(led.loc[led["episode_id"].isna(), "patient_id"])
    hits = courses[courses["stop_reason"].eq(TOXICITY) & ~courses["patient_id"].isin(ici1_led)]
    parts = [
        _violations(
            frames,
            "toxicity_stop_without_irae",
            "initial_course",
            hits,
            field_name="stop_reason",
            messages=template.format(course="ICI-1"),
            values_seen=TOXICITY,
        )
    ]
    episode_led = set(led["episode_id"].dropna().astype("int64"))
    follow_ups = frames.follow_ups
    stopped = follow_ups[
        follow_ups["rechallenge_stop_reason"].eq(TOXICITY) & ~follow_ups["episode_id"].isin(episode_led)
    ]
    messages = [template.format(course=f"Rechallenge {int(number)}") for number in stopped["episode_sequence_number"]]
    parts.append(
        _violations(
            frames,
            "toxicity_stop_without_irae",
            "follow_up",
            stopped,
            field_name="rechallenge_stop_reason",
            messages=messages,
            values_seen=TOXICITY,
        )
    )
    return _concat(parts)


def grade5_without_death(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """A grade-5 (fatal) irAE of a patient no follow-up records as dead."""
    events = frames.adverse_events
    dead = set(_dead_patients(frames).index)
    hits = events[pd.to_numeric(events["grade"], errors="coerce").eq(5) & ~events["patient_id"].isin(dead)]
    return _violations(
        frames,
        "grade5_without_death",
        "adverse_event",
        hits,
        field_name="grade",
        messages=RULES_BY_ID["grade5_without_death"].message,
        values_seen="5",
    )


def contraindicated_without_justification(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """An enrolled episode whose latest locked assessment says ``contraindicated`` and whose clinical
    justification is blank. While blinding is on these are for coordinators only: the query alone would
    tell the site the category."""
    episodes = frames.episodes[frames.episodes["enrolled_at"].notna()]
    rows = episodes.merge(frames.categories, left_on="id", right_on="episode_id", how="inner")
    hits = rows[rows["category"].eq(CONTRAINDICATED) & _text_blank(rows["clinical_justification"])]
    return _violations(
        frames,
        "contraindicated_without_justification",
        "episode",
        hits,
        field_name="clinical_justification",
        messages=RULES_BY_ID["contraindicated_without_justification"].message,
        coordinators_only=settings.blinded,
    )


def follow_up_overdue(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """The episode a patient is followed on (their latest rechallenge) whose last follow-up — or its start, if it
    has none — is more than ``follow_up_interval_days`` before today. Not for patients recorded dead or who
    withdrew consent. The query is on the episode (no field); ``value_seen`` is the last contact date."""
    episodes = frames.episodes.sort_values(["patient_id", "sequence_number", "id"])
    latest = episodes.drop_duplicates("patient_id", keep="last")
    dead = set(_dead_patients(frames).index)
    withdrawn = set(frames.patients.loc[frames.patients["consent_status"].eq(WITHDRAWN), "id"])
    latest = latest[~latest["patient_id"].isin(dead | withdrawn)]
    last_visit = frames.follow_ups.groupby("episode_id")["follow_up_date"].max()
    contact = latest["id"].map(last_visit)
    contact = contact.where(contact.notna(), latest["start_date"]).astype("datetime64[ns]")
    days = (pd.Timestamp(settings.today) - contact).dt.days
    mask = days > settings.follow_up_interval_days
    template = RULES_BY_ID["follow_up_overdue"].message
    messages = [template.format(days=int(n), interval=settings.follow_up_interval_days) for n in days[mask]]
    return _violations(
        frames,
        "follow_up_overdue",
        "episode",
        latest[mask],
        field_name="",
        messages=messages,
        values_seen=list(_days(contact[mask])),
    )


def outcome_missing(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """An episode started at least ``outcome_due_months`` ago with no response assessment and no follow-up that
    documents progression status: a progression date, a death, or a follow-up dated at least
    ``outcome_due_months`` after the start without progression (progression-free until then). A
    progression date answered with a missing-data code ("unknown") documents nothing."""
    episodes = frames.episodes[frames.episodes["start_date"].notna()]
    due = episodes["start_date"] + pd.DateOffset(months=settings.outcome_due_months)
    episodes = episodes[due <= pd.Timestamp(settings.today)]
    follow_ups = frames.follow_ups.merge(
        episodes[["id", "start_date"]].rename(columns={"id": "episode_id", "start_date": "rechallenge_start"}),
        on="episode_id",
        how="inner",
    )
    unknown = missing_answered(follow_ups).get("progression_date", set())
    late_enough = follow_ups["follow_up_date"] >= follow_ups["rechallenge_start"] + pd.DateOffset(
        months=settings.outcome_due_months
    )
    documented = (
        follow_ups["progression_date"].notna()
        | follow_ups["vital_status"].eq(DEAD)
        | (late_enough & ~follow_ups["id"].isin(unknown))
    )
    known = set(frames.responses["episode_id"]) | set(follow_ups.loc[documented, "episode_id"])
    hits = episodes[~episodes["id"].isin(known)]
    return _violations(
        frames,
        "outcome_missing",
        "episode",
        hits,
        field_name="",
        messages=RULES_BY_ID["outcome_missing"].message,
    )


DUPLICATE_KEYS = ("site_id", "sex", "year_of_birth", "tumour_type", "ici1_start")


def duplicate_patient(frames: Frames, settings: CheckSettings) -> pd.DataFrame:
    """Patients of one site with the same sex, year of birth, tumour type and ICI-1 start date under different
    local identifiers. Each member of a group gets a query naming the others by registry ID (never by local
    identifier); ``value_seen`` is that list."""
    starts = frames.courses[["patient_id", "start_date"]].rename(columns={"start_date": "ici1_start"})
    patients = frames.patients.merge(starts, left_on="id", right_on="patient_id", how="inner")
    patients = patients.dropna(subset=list(DUPLICATE_KEYS))
    keys = list(DUPLICATE_KEYS)
    candidates = patients[patients.duplicated(keys, keep=False)]
    if candidates.empty:
        return _empty()
    distinct = candidates.groupby(keys)["local_identifier"].transform("nunique")
    members = candidates[distinct > 1].sort_values("registry_id")
    groups = members.groupby(keys, sort=False)["registry_id"].agg(list)
    member_group = members.set_index(keys).index.map(groups)
    others = [
        ", ".join(other for other in group if other != own)
        for own, group in zip(members["registry_id"], member_group, strict=True)
    ]
    template = RULES_BY_ID["duplicate_patient"].message
    return _violations(
        frames,
        "duplicate_patient",
        "patient",
        members.assign(patient_id=members["id"]),
        field_name="",
        messages=[template.format(other=other) for other in others],
        values_seen=others,
    )


#: The check of each rule, in the order of :data:`registry.quality.RULES`.
CHECKS: dict[str, Callable[[Frames, CheckSettings], pd.DataFrame]] = {
    "required_missing": required_missing,
    "implausible_value": implausible_value,
    "date_order": date_order,
    "after_death": after_death,
    "toxicity_stop_without_irae": toxicity_stop_without_irae,
    "grade5_without_death": grade5_without_death,
    "contraindicated_without_justification": contraindicated_without_justification,
    "follow_up_overdue": follow_up_overdue,
    "outcome_missing": outcome_missing,
    "duplicate_patient": duplicate_patient,
}


#: The frames each check reads besides ``patients`` (which every check reads for the site): a caller that runs
#: a few rules (the on-save check) loads only these.
FRAMES_READ: dict[str, frozenset[str]] = {
    "required_missing": frozenset(FRAME_OF_RECORD[record] for record, items in REQUIRED_FIELDS.items() if items),
    "implausible_value": frozenset(FRAME_OF_RECORD[record] for record, _ in PLAUSIBLE_RANGES),
    "date_order": frozenset({"courses", "episodes", "responses", "follow_ups"}),
    "after_death": frozenset({"episodes", "responses", "follow_ups", "adverse_events"}),
    "toxicity_stop_without_irae": frozenset({"courses", "adverse_events", "follow_ups"}),
    "grade5_without_death": frozenset({"adverse_events", "follow_ups"}),
    "contraindicated_without_justification": frozenset({"episodes", "categories"}),
    "follow_up_overdue": frozenset({"episodes", "follow_ups"}),
    "outcome_missing": frozenset({"episodes", "responses", "follow_ups"}),
    "duplicate_patient": frozenset({"courses"}),
}

#: Rules that compare patients with each other: checked over the whole registry only.
CROSS_PATIENT_RULES = frozenset({"duplicate_patient"})


def frames_read(rule_ids: Iterable[str]) -> frozenset[str]:
    """Every frame the checks of ``rule_ids`` read (``patients`` always)."""
    return frozenset({"patients"}).union(*(FRAMES_READ[rule_id] for rule_id in rule_ids))


def run_checks(frames: Frames, settings: CheckSettings, rule_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The violations of every rule (or of ``rule_ids``), one row per problem."""
    wanted = list(CHECKS) if rule_ids is None else list(dict.fromkeys(rule_ids))
    unknown = set(wanted) - set(CHECKS)
    if unknown:
        raise KeyError(f"unknown rule ids: {sorted(unknown)}")
    found = _concat([CHECKS[rule_id](frames, settings) for rule_id in wanted])
    return found.astype({"record_id": "int64", "patient_id": "int64"}) if not found.empty else found
