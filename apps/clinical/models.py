"""The case report form (DESIGN §3): patient, ICI-1 course, irAEs, rechallenge episodes, outcomes.

Dates of what happened before enrollment may be known only to the month; such a date is stored as
the 15th of its month with a ``*_precision`` of ``month`` (the mid-month rule of ``registry.dates``)
and every derived value it feeds is flagged as imputed. Both rules every date obeys — the mid-month
rule and "not after today" — live once, in :class:`CaseRecord`, whose ``full_clean`` every channel
(web form, API, import, admin) runs through ``apps.clinical.services``.

Missing is not zero: yes/no facts that may be unknown are yes/no/unknown (``None`` = unknown), and
"no irAEs during this course" is an explicit answer, distinct from a question left unanswered.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import DEFERRED, F, Max, Min, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst

from apps.core.models import ClinicalRecord
from apps.core.records import record_type_for
from registry import rules
from registry import vocabularies as v
from registry.dates import IMPUTED_DAY_OF_MONTH, DatePrecision, PartialDate
from registry.identifiers import normalise_local_identifier
from registry.quality.case_status import CaseStatus


class Precision(models.TextChoices):
    DAY = DatePrecision.DAY.value, "Exact day"
    MONTH = DatePrecision.MONTH.value, "Month only (day imputed to the 15th)"


def precision_field(what: str) -> models.CharField:
    return models.CharField(
        f"{what} precision",
        max_length=5,
        choices=Precision.choices,
        default=Precision.DAY,
        help_text=f"Choose 'month only' if the exact day of the {what.lower()} is unknown.",
    )


def partial(value, precision: str) -> PartialDate | None:
    """The stored date and its precision as a ``registry.dates.PartialDate``."""
    return None if value is None else PartialDate(value, DatePrecision(precision))


def _check_second_agent(course, errors: dict[str, str]) -> None:
    if course.regimen_type == "ici_ici" and not course.second_agent:
        errors["second_agent"] = "An ICI + ICI regimen needs the second ICI."
    if course.second_agent and course.regimen_type != "ici_ici":
        errors["second_agent"] = "A second ICI is only given with an ICI + ICI regimen."
    if course.second_agent and course.second_agent == course.primary_agent:
        errors["second_agent"] = "The second ICI must differ from the first."


PRECISION_SUFFIX = "_precision"
FUTURE_DATE = "This date is after today."
FUTURE_MONTH = "This month is after the current month."


def yes_no_unknown_field(verbose_name: str | None = None, **kwargs) -> models.BooleanField:
    """A yes/no fact that may be unknown: ``None`` is "unknown", and there is no default answer."""
    return models.BooleanField(verbose_name, null=True, blank=True, **kwargs)


def irae_history_field(course: str) -> models.CharField:
    """The explicit answer "were there irAEs during this course?"; empty means not answered."""
    return models.CharField(
        f"irAEs during {course}?",
        max_length=7,
        choices=v.IRAE_HISTORY.choices(),
        blank=True,
        help_text=f"Answer 'no' only if {course} had no irAE at all; leave empty if not yet checked.",
    )


class CaseRecord(ClinicalRecord):
    """A case-report-form record: the rules every date of every record obeys, in one place.

    ``full_clean`` (run by the services for every channel, and by forms and the import while
    validating) moves a month-precision date to the 15th and refuses dates after today; a record
    with further storage rules (the patient's local identifier) adds them to ``apply_storage_rules``.
    """

    class Meta:
        abstract = True

    def date_fields(self) -> list[models.DateField]:
        """The record's editable calendar dates (timestamps excluded)."""
        return [
            field
            for field in self._meta.concrete_fields
            if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField) and field.editable
        ]

    def precision_of(self, name: str) -> str:
        return getattr(self, f"{name}{PRECISION_SUFFIX}", DatePrecision.DAY)

    def apply_mid_month_rule(self) -> None:
        """A date known only to the month is stored on the 15th (``registry.dates`` mid-month rule)."""
        for field in self.date_fields():
            value = getattr(self, field.attname)
            if isinstance(value, dt.date) and self.precision_of(field.name) == DatePrecision.MONTH:
                setattr(self, field.attname, value.replace(day=IMPUTED_DAY_OF_MONTH))

    def future_date_errors(self, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
        """Dates after today; a month-precision date only when its month is after this month."""
        today = timezone.localdate()
        errors: dict[str, str] = {}
        for field in self.date_fields():
            value = getattr(self, field.attname)
            if field.name in exclude or not isinstance(value, dt.date):
                continue
            if self.precision_of(field.name) == DatePrecision.MONTH:
                if (value.year, value.month) > (today.year, today.month):
                    errors[field.name] = FUTURE_MONTH
            elif value > today:
                errors[field.name] = FUTURE_DATE
        return errors

    def apply_storage_rules(self, exclude: set[str] | frozenset[str] = frozenset()) -> None:
        """Put entered values in the form they are stored in (dates, missing-data answers without the
        cleared ones, and a record's own rules); fields in ``exclude`` (not being validated) keep their value."""
        self.apply_mid_month_rule()
        if self.missing_answers is None:
            self.missing_answers = {}
        self.missing_answers = rules.clean_missing_answers(self.missing_answers)

    @classmethod
    def crf_record(cls) -> str:
        """The record's name in ``registry.crf`` / ``registry.quality`` (``follow_up``)."""
        return record_type_for(cls).crf_name

    def label_of(self, name: str) -> str:
        """A field's label as messages start with it ("Date of follow-up")."""
        return capfirst(str(self._meta.get_field(name).verbose_name))

    def missing_answer_errors(self) -> dict[str, str]:
        """Codes for undeclared fields, unknown codes, and a code beside a value (``registry.rules``)."""
        values = {field.name: getattr(self, field.attname) for field in self._meta.concrete_fields}
        return rules.missing_answer_errors(
            record=self.crf_record(), values=values, missing_answers=self.missing_answers
        )

    def changed_or_new(self, *names: str) -> bool:
        """Whether the record is new or any of ``names`` differs from its stored value: a rule across
        records that held when the stored values were saved needs no second read."""
        return not self.holds_stored(names)

    @classmethod
    def from_db(cls, db, field_names, values):
        """Keeps the values as loaded, so validation knows which stored values a change left alone."""
        instance = super().from_db(db, field_names, values)
        instance._stored = {
            name: value for name, value in zip(field_names, values, strict=True) if value is not DEFERRED
        }
        return instance

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        saved = kwargs.get("update_fields")
        fields = [f for f in self._meta.concrete_fields if saved is None or f.name in saved or f.attname in saved]
        self._stored = {**getattr(self, "_stored", {}), **{f.attname: getattr(self, f.attname) for f in fields}}

    def holds_stored(self, names) -> bool:
        """Whether every field in ``names`` still holds the value loaded from the database."""
        stored = getattr(self, "_stored", None)
        if stored is None or self._state.adding:
            return False
        attnames = [self._meta.get_field(name).attname for name in names]
        return all(attname in stored and stored[attname] == getattr(self, attname) for attname in attnames)

    def _unique_as_stored(self, constraint: models.UniqueConstraint) -> bool:
        """A unique constraint over fields that all hold their stored values (no condition, no expression)."""
        return bool(constraint.fields) and constraint.condition is None and self.holds_stored(constraint.fields)

    def _loaded_links(self) -> set[str]:
        """Links to a record already loaded (or saved) in this request: that it exists needs no query."""
        return {
            field.name
            for field in self._meta.concrete_fields
            if field.is_relation
            and field.is_cached(self)
            and getattr(self, field.attname) is not None
            and getattr(getattr(self, field.name), "pk", None) == getattr(self, field.attname)
        }

    def clean_fields(self, exclude=None) -> None:
        self.apply_storage_rules(set(exclude or ()))
        errors: dict = {}
        try:
            super().clean_fields(exclude={*(exclude or ()), *self._loaded_links()})
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        skip = set(exclude or ()) | set(errors)
        for name, message in self.future_date_errors(skip).items():
            errors[name] = [message]
        # Checked whether or not a form offers the JSON field itself (the web form fills it from its
        # "or: not done / unknown / not applicable" selects); a message about a field left out is not given.
        for name, message in self.missing_answer_errors().items():
            if name == rules.MISSING_ANSWERS or (name not in skip and name not in errors):
                errors.setdefault(name, []).append(message)
        if errors:
            raise ValidationError(errors)

    def validate_unique(self, exclude=None) -> None:
        """A unique value the change left as stored cannot collide: the database holds it as unique."""
        unchanged = {
            field.name for field in self._meta.concrete_fields if field.unique and self.holds_stored([field.name])
        }
        super().validate_unique(exclude={*(exclude or ()), *unchanged})

    def get_constraints(self):
        """The constraints ``full_clean`` checks with a query: the unique ones whose values changed.

        Each CHECK constraint repeats a field validator or a rule of ``clean()``, which has already
        said it with a field message (``tests/apps/clinical/test_check_constraints.py`` shows this for
        every one), and the database enforces it on every write; asking it beforehand cost a query and two
        savepoint statements per constraint.
        """
        return [
            (
                model,
                [c for c in constraints if isinstance(c, models.UniqueConstraint) and not self._unique_as_stored(c)],
            )
            for model, constraints in super().get_constraints()
        ]


def crf_fields(model: type[models.Model], *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fields a person enters for ``model``, in case-report-form order (forms and API share them)."""
    return tuple(
        field.name
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in {"is_complete", "missing_answers", *skip}
    )


ECOG_CHOICES = [(int(term.code), term.label) for term in v.ECOG]
GRADE_CHOICES = [(int(term.code), term.label) for term in v.CTCAE_GRADES]
RESOLVED_GRADE_CHOICES = [(int(term.code), term.label) for term in v.RESOLVED_GRADES]


class Patient(CaseRecord):
    """A registered patient; the registry ID is generated and never derived from identifiers."""

    registry_id = models.CharField(
        "Registry ID", max_length=20, unique=True, editable=False, help_text="Generated, site-prefixed."
    )
    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="patients")
    local_identifier = models.CharField(
        "Local identifier",
        max_length=64,
        help_text="Hospital number or other local identifier. Visible to your own site only. Stored in "
        "upper case without spaces or invisible characters (mrn 123 and MRN123 are one patient).",
    )
    sex = models.CharField(max_length=10, choices=v.SEX.choices())
    year_of_birth = models.PositiveSmallIntegerField(validators=[MinValueValidator(1900), MaxValueValidator(2100)])
    date_of_birth = models.DateField(
        null=True, blank=True, help_text="Optional. An identifier: visible to your own site only."
    )
    tumour_type = models.CharField(
        "Tumour type", max_length=10, choices=v.TUMOUR_TYPES.choices(), help_text="OncoTree code."
    )
    histology = models.CharField(max_length=200, blank=True, help_text="Histological subtype, if known.")
    consent_status = models.CharField(max_length=10, choices=v.CONSENT_STATUS.choices(), default="consented")
    consent_date = models.DateField(null=True, blank=True)
    pdl1_tps_percent = models.DecimalField(
        "PD-L1 TPS (%)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    pdl1_cps = models.DecimalField(
        "PD-L1 CPS", max_digits=5, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    tmb_mut_per_mb = models.DecimalField(
        "TMB (mut/Mb)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    msi_status = models.CharField("MSI status", max_length=10, choices=v.MSI_STATUS.choices(), default="unknown")
    # Sign-off (21 CFR Part 11 §11.50: the signer's name, the time, the meaning). A signed case accepts no
    # change on any channel until a coordinator unlocks it with a reason; each step is audited.
    signed_at = models.DateTimeField(
        "Signed at", null=True, blank=True, editable=False, help_text="When the site PI signed this case."
    )
    signed_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The site PI who signed this case.",
    )
    signature_meaning = models.CharField("Meaning of the signature", max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["registry_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "local_identifier"], name="patient_unique_local_id_per_site"),
            models.CheckConstraint(
                condition=Q(year_of_birth__gte=1900) & Q(year_of_birth__lte=2100), name="patient_year_of_birth_range"
            ),
            models.CheckConstraint(
                condition=Q(pdl1_tps_percent__isnull=True)
                | (Q(pdl1_tps_percent__gte=0) & Q(pdl1_tps_percent__lte=100)),
                name="patient_pdl1_tps_0_100",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "registry_id"], name="patient_site_registry_idx"),
            # A local identifier found by its start within one's own sites (LIKE 'MRN12%'): PostgreSQL needs the
            # pattern operator class for a prefix under a non-C collation; other databases ignore it. The
            # registry ID's prefix reads the pattern index Django gives a unique text column.
            models.Index(
                fields=["site", "local_identifier"],
                name="patient_site_local_prefix_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.registry_id

    def apply_storage_rules(self, exclude: set[str] | frozenset[str] = frozenset()) -> None:
        """Also stores the local identifier in its normal form, so one number typed two ways is one patient."""
        super().apply_storage_rules(exclude)
        if "local_identifier" not in exclude and isinstance(self.local_identifier, str):
            self.local_identifier = normalise_local_identifier(self.local_identifier)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.date_of_birth and self.year_of_birth and self.date_of_birth.year != self.year_of_birth:
            errors["date_of_birth"] = "The date of birth does not fall in the year of birth."
        if self.consent_status == "consented" and self.consent_date is None:
            errors["consent_date"] = "Give the date consent was signed."
        if errors:
            raise ValidationError(errors)

    def get_absolute_url(self) -> str:
        return reverse("clinical:patient-detail", kwargs={"registry_id": self.registry_id})


def _summary_indexes(field: str, short: str) -> list[models.Index]:
    """The patient list's order by ``field`` then registry ID, ascending and descending (registry IDs ascending
    within a value), over all sites and within one site: a page is an index range. Empty values are read as a
    part of their own (``selectors.ListOrder``), so no index needs SQLite's missing NULLS LAST."""
    desc = F(field).desc()
    return [
        models.Index(F(field).asc(), F("registry_id").asc(), name=f"psum_{short}_idx"),
        models.Index(desc, F("registry_id").asc(), name=f"psum_{short}_desc_idx"),
        models.Index(F("site"), F(field).asc(), F("registry_id").asc(), name=f"psum_site_{short}_idx"),
        models.Index(F("site"), desc, F("registry_id").asc(), name=f"psum_site_{short}_desc_idx"),
    ]


#: The case status (``registry.quality.case_status``) as a number to sort by: a draft first, a signed case last.
CASE_STATUS_RANKS: tuple[CaseStatus, ...] = (CaseStatus.DRAFT, CaseStatus.COMPLETE, CaseStatus.SIGNED)


class PatientSummary(models.Model):
    """What the patient list shows and sorts by for one patient, computed from the case and kept exact by
    ``apps.clinical.summaries`` inside the transaction of every write (a copy: never entered, never audited)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="summary")
    #: The patient's site and registry ID, copied so one index serves a site's list in any order.
    site = models.ForeignKey("accounts.Site", on_delete=models.CASCADE, related_name="+")
    registry_id = models.CharField(max_length=20)
    has_initial_course = models.BooleanField("ICI-1 recorded", default=False)
    episode_count = models.PositiveSmallIntegerField("Episodes", default=0)
    enrolled = models.BooleanField("Enrolled", default=False)
    last_follow_up_date = models.DateField("Last follow-up", null=True, blank=True)
    case_status = models.PositiveSmallIntegerField(
        "Case status", choices=[(rank, status.label) for rank, status in enumerate(CASE_STATUS_RANKS)], default=0
    )

    class Meta:
        verbose_name_plural = "patient summaries"
        indexes = [
            *_summary_indexes("case_status", "status"),
            *_summary_indexes("has_initial_course", "ici1"),
            *_summary_indexes("episode_count", "episodes"),
            *_summary_indexes("enrolled", "enrolled"),
            *_summary_indexes("last_follow_up_date", "follow_up"),
        ]

    def __str__(self) -> str:
        return self.registry_id

    @property
    def status(self) -> CaseStatus:
        return CASE_STATUS_RANKS[self.case_status]


class InitialCourse(CaseRecord):
    """The first ICI course (ICI-1) whose stop led to the rechallenge question."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="initial_course")
    primary_agent = models.CharField(max_length=20, choices=v.ICI_AGENTS.choices())
    second_agent = models.CharField(
        "Second ICI", max_length=20, choices=v.ICI_AGENTS.choices(), blank=True, help_text="For ICI + ICI only."
    )
    regimen_type = models.CharField(max_length=20, choices=v.REGIMEN_TYPES.choices())
    line_of_therapy = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(10)])
    start_date = models.DateField()
    start_date_precision = precision_field("Start date")
    stop_date = models.DateField(null=True, blank=True, help_text="Empty while still on treatment.")
    stop_date_precision = precision_field("Stop date")
    ecog_at_start = models.PositiveSmallIntegerField("ECOG at start", choices=ECOG_CHOICES)
    best_overall_response = models.CharField(
        "Best overall response (RECIST 1.1)", max_length=2, choices=v.RECIST_CATEGORIES.choices(), blank=True
    )
    progression_date = models.DateField(
        null=True, blank=True, help_text="First progression after ICI-1 start (on or after treatment)."
    )
    progression_date_precision = precision_field("Progression date")
    stop_reason = models.CharField("Reason stopped", max_length=20, choices=v.STOP_REASONS.choices(), blank=True)
    iraes_during_course = irae_history_field("ICI-1")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ecog_at_start__lte=5), name="initial_course_ecog_0_5"),
            models.CheckConstraint(
                condition=Q(stop_date__isnull=True) | Q(stop_date__gte=F("start_date")),
                name="initial_course_stop_after_start",
            ),
            models.CheckConstraint(
                condition=Q(progression_date__isnull=True) | Q(progression_date__gte=F("start_date")),
                name="initial_course_progression_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"ICI-1 of {self.patient}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        _check_second_agent(self, errors)
        if self.stop_date and self.start_date and self.stop_date < self.start_date:
            errors["stop_date"] = "The stop date is before the start date."
        if self.progression_date and self.start_date and self.progression_date < self.start_date:
            errors["progression_date"] = "The progression date is before the start date."
        if self.stop_date and not self.stop_reason:
            errors["stop_reason"] = "Give the reason ICI-1 stopped."
        if self.stop_reason and not self.stop_date:
            errors["stop_date"] = "Give the stop date (month only is fine) when a reason is given."
        if self.stop_reason == "progression" and not self.progression_date:
            errors["progression_date"] = "ICI-1 stopped for progression: give the progression date."
        recorded = self.iraes_during_course == "no" and bool(self.patient_id) and self.recorded_iraes().exists()
        errors.update(
            rules.no_iraes_answer_errors(
                field="iraes_during_course", answer=self.iraes_during_course, has_iraes=recorded, course="ICI-1"
            )
        )
        if "stop_date" not in errors:
            errors.update(self.date_order_errors())
        if errors:
            raise ValidationError(errors)

    def date_order_errors(self) -> dict[str, str]:
        """``date_order`` seen from ICI-1: its stop moved past the start of a rechallenge already recorded
        (a new course has none; an unchanged stop was checked when the rechallenge was saved)."""
        if self.pk is None or self.stop_date is None or not self.changed_or_new("stop_date"):
            return {}
        first = (
            RechallengeEpisode.objects.filter(patient_id=self.patient_id)
            .order_by("start_date")
            .values_list("sequence_number", "start_date")
            .first()
        )
        if first is None:
            return {}
        number, start = first
        return rules.not_after_errors(
            field="stop_date", label="ICI-1 stop date", value=self.stop, later=[(f"Rechallenge {number} start", start)]
        )

    def recorded_iraes(self) -> models.QuerySet[AdverseEvent]:
        """The irAEs recorded for ICI-1 (those of the patient without a rechallenge episode)."""
        return AdverseEvent.objects.filter(patient_id=self.patient_id, episode__isnull=True)

    @property
    def start(self) -> PartialDate | None:
        return partial(self.start_date, self.start_date_precision)

    @property
    def stop(self) -> PartialDate | None:
        return partial(self.stop_date, self.stop_date_precision)

    @property
    def progression(self) -> PartialDate | None:
        return partial(self.progression_date, self.progression_date_precision)


class RechallengeEpisode(CaseRecord):
    """One rechallenge of a patient; its predictors refer to the immediately preceding ICI course."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="episodes")
    sequence_number = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="1 for the first rechallenge, 2 for the second…"
    )
    start_date = models.DateField("Rechallenge start date")
    rechallenge_type = models.CharField(max_length=20, choices=v.RECHALLENGE_TYPES.choices())
    agent_relation = models.CharField(
        "Agent relative to the preceding course", max_length=20, choices=v.AGENT_RELATIONS.choices()
    )
    primary_agent = models.CharField(max_length=20, choices=v.ICI_AGENTS.choices())
    second_agent = models.CharField(
        "Second ICI", max_length=20, choices=v.ICI_AGENTS.choices(), blank=True, help_text="For ICI + ICI only."
    )
    regimen_type = models.CharField(max_length=20, choices=v.REGIMEN_TYPES.choices())
    ecog_at_rechallenge = models.PositiveSmallIntegerField("ECOG at rechallenge", choices=ECOG_CHOICES)
    ldh_u_per_l = models.DecimalField(
        "LDH (U/L)", max_digits=7, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    ldh_above_uln = models.BooleanField("LDH above upper limit of normal", null=True, blank=True)
    neutrophil_lymphocyte_ratio = models.DecimalField(
        "Neutrophil-to-lymphocyte ratio",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    albumin_g_per_l = models.DecimalField(
        "Albumin (g/L)", max_digits=5, decimal_places=1, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    brain_metastases = models.BooleanField(null=True, blank=True)
    liver_metastases = models.BooleanField(null=True, blank=True)
    current_prednisone_mg_per_day = models.DecimalField(
        "Current prednisone-equivalent dose (mg/day)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Corticosteroid dose at rechallenge start, prednisone-equivalent. "
        "Leave empty if not recorded; 0 if none.",
    )
    intervening_therapy = models.CharField(
        "Therapy since the preceding ICI course",
        max_length=20,
        choices=v.INTERVENING_THERAPIES.choices(),
        default="none",
    )
    intervening_therapy_lines = models.PositiveSmallIntegerField(
        "Lines of intervening systemic therapy", default=0, validators=[MaxValueValidator(10)]
    )
    iraes_during_rechallenge = irae_history_field("this rechallenge")
    clinical_justification = models.TextField(
        "Clinical justification",
        blank=True,
        help_text="Why this rechallenge was chosen, above all where guidelines or the decision model advise "
        "against it. Free text: never exported.",
    )
    enrolled_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the episode was enrolled and the model locked."
    )

    class Meta:
        ordering = ["patient_id", "sequence_number"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "sequence_number"], name="episode_unique_sequence"),
            models.CheckConstraint(condition=Q(ecog_at_rechallenge__lte=5), name="episode_ecog_0_5"),
            models.CheckConstraint(condition=Q(sequence_number__gte=1), name="episode_sequence_positive"),
            models.CheckConstraint(
                condition=Q(current_prednisone_mg_per_day__isnull=True) | Q(current_prednisone_mg_per_day__gte=0),
                name="episode_prednisone_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient.registry_id} rechallenge {self.sequence_number}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        _check_second_agent(self, errors)
        if self.patient_id and self.start_date:
            context = self.patient_context()
            ici1_stop = partial(context["ici1_stop"], context["ici1_stop_precision"] or DatePrecision.DAY)
            errors.update(
                rules.rechallenge_needs_stopped_ici1_errors(
                    ici1_recorded=context["ici1"] is not None, ici1_stop=ici1_stop
                )
            )
            errors.update(rules.rechallenge_after_ici1_errors(start=self.start_date, ici1_stop=ici1_stop))
            if context["previous_number"] is not None:
                errors.update(
                    rules.rechallenge_order_errors(
                        number=self.sequence_number,
                        start=self.start_date,
                        previous_number=context["previous_number"],
                        previous_start=context["previous_start"],
                    )
                )
        recorded = self.iraes_during_rechallenge == "no" and self.pk is not None and self.adverse_events.exists()
        errors.update(
            rules.no_iraes_answer_errors(
                field="iraes_during_rechallenge",
                answer=self.iraes_during_rechallenge,
                has_iraes=recorded,
                course="this rechallenge",
            )
        )
        if "start_date" not in errors:
            errors.update(self.date_order_errors())
        if errors:
            raise ValidationError(errors)

    #: The dates of an episode's own records that cannot precede its start, and how a message names them.
    _OWN_RECORD_DATES = (
        ("first response assessment", "responses", "assessment_date"),
        ("first follow-up", "follow_ups", "follow_up_date"),
        ("first irAE onset", "adverse_events", "onset_date"),
    )

    def date_order_errors(self) -> dict[str, str]:
        """``date_order`` seen from the rechallenge: its start moved past the dates of its own responses,
        follow-ups or irAEs (a new episode has none; an unchanged start was checked as each was saved)."""
        if self.pk is None or self.start_date is None or not self.changed_or_new("start_date"):
            return {}
        models_by_relation = {"responses": ResponseAssessment, "follow_ups": FollowUp, "adverse_events": AdverseEvent}
        earliest = {
            f"first_{relation}": Subquery(
                models_by_relation[relation]
                .objects.filter(episode_id=OuterRef("pk"))
                .order_by()
                .values("episode_id")
                .annotate(first=Min(field))
                .values("first")[:1]
            )
            for _, relation, field in self._OWN_RECORD_DATES
        }
        row = RechallengeEpisode.objects.filter(pk=self.pk).values(**earliest).first() or {}
        later = [
            (f"The {label} of this rechallenge", row.get(f"first_{relation}"))
            for label, relation, _ in self._OWN_RECORD_DATES
        ]
        return rules.not_after_errors(
            field="start_date", label="the rechallenge start date", value=self.start_date, later=later
        )

    def get_absolute_url(self) -> str:
        return reverse("clinical:episode-detail", kwargs={"pk": self.pk})

    def patient_context(self) -> dict:
        """What the rules across records need of the patient, in one query: ICI-1 (``ici1`` is its id,
        None if not recorded) and its stop, and the rechallenge before this one (number and start)."""
        previous = (
            RechallengeEpisode.objects.filter(patient_id=OuterRef("pk"))
            .exclude(pk=self.pk)
            .order_by("-sequence_number")
        )
        if self.sequence_number is not None:
            previous = previous.filter(sequence_number__lt=self.sequence_number)
        else:
            previous = previous.none()
        row = (
            Patient.objects.filter(pk=self.patient_id)
            .values(
                ici1=F("initial_course__id"),
                ici1_stop=F("initial_course__stop_date"),
                ici1_stop_precision=F("initial_course__stop_date_precision"),
            )
            .annotate(
                previous_number=Subquery(previous.values("sequence_number")[:1]),
                previous_start=Subquery(previous.values("start_date")[:1]),
            )
            .first()
        )
        empty = dict.fromkeys(("ici1", "ici1_stop", "ici1_stop_precision", "previous_number", "previous_start"))
        return row or empty


class AdverseEvent(CaseRecord):
    """An immune-related adverse event during ICI-1 (no episode) or during a rechallenge episode."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="adverse_events")
    episode = models.ForeignKey(
        RechallengeEpisode,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="adverse_events",
        help_text="The rechallenge the irAE occurred during; empty for an irAE of ICI-1 (the first ICI course)",
    )
    ctcae_version = models.CharField(
        "CTCAE version", max_length=5, choices=v.CTCAE_VERSIONS.choices(), default=v.CTCAE_DEFAULT_VERSION
    )
    ctcae_term = models.CharField("CTCAE term", max_length=40, choices=v.CTCAE_TERMS.choices())
    #: Free text that may identify a patient (a rare event named in full): never exported (``registry.crf``).
    ctcae_term_other = models.CharField(
        "Other CTCAE term",
        max_length=200,
        blank=True,
        help_text="The term as CTCAE names it, when it is not in the list (CTCAE term 'Other (specify)').",
    )
    meddra_code = models.CharField(
        "MedDRA code", max_length=10, editable=False, help_text="Filled from the CTCAE term."
    )
    organ_category = models.CharField(
        max_length=20, choices=v.ORGAN_CATEGORIES.choices(), editable=False, help_text="Filled from the CTCAE term."
    )
    grade = models.PositiveSmallIntegerField(choices=GRADE_CHOICES, help_text="Worst CTCAE grade reached.")
    onset_date = models.DateField()
    onset_date_precision = precision_field("Onset date")
    resolution_date = models.DateField(null=True, blank=True)
    resolution_date_precision = precision_field("Resolution date")
    resolved_to_grade = models.PositiveSmallIntegerField(
        choices=RESOLVED_GRADE_CHOICES, null=True, blank=True, help_text="Empty while the irAE is ongoing."
    )
    management = models.CharField(max_length=20, choices=v.IRAE_MANAGEMENT.choices(), default="none")
    peak_prednisone_mg_per_day = models.DecimalField(
        "Peak prednisone-equivalent dose (mg/day)",
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    second_line_immunosuppressant = models.CharField(max_length=30, choices=v.IMMUNOSUPPRESSANTS.choices(), blank=True)
    steroid_refractory = yes_no_unknown_field(help_text="No improvement after 48–72 h of high-dose corticosteroids.")
    hospitalised = yes_no_unknown_field()
    led_to_discontinuation = yes_no_unknown_field("Led to discontinuation")
    recurrence_status = models.CharField(
        "Recurrence of a prior irAE?",
        max_length=12,
        choices=v.RECURRENCE_STATUS.choices(),
        blank=True,
        help_text="For irAEs during a rechallenge only.",
    )

    class Meta:
        ordering = ["patient_id", "onset_date"]
        constraints = [
            models.CheckConstraint(condition=Q(grade__gte=1) & Q(grade__lte=5), name="ae_grade_1_5"),
            models.CheckConstraint(
                condition=Q(resolved_to_grade__isnull=True) | Q(resolved_to_grade__lte=F("grade")),
                name="ae_resolved_grade_not_above_grade",
            ),
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=F("onset_date")),
                name="ae_resolution_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term_label} grade {self.grade}"

    @property
    def term_label(self) -> str:
        """The term as the pages name it: the typed term for "Other (specify)", else the CTCAE term's label."""
        if self.ctcae_term == v.CTCAE_OTHER_TERM and self.ctcae_term_other:
            return f"{self.ctcae_term_other} (other)"
        return self.get_ctcae_term_display()

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.episode_id and self.patient_id and self.episode.patient_id != self.patient_id:
            errors["episode"] = "This rechallenge episode belongs to another patient."
        if self.resolved_to_grade is not None and self.grade and self.resolved_to_grade > self.grade:
            errors["resolved_to_grade"] = "The grade it resolved to cannot be above the worst grade."
        if self.resolution_date and self.onset_date and self.resolution_date < self.onset_date:
            errors["resolution_date"] = "The resolution date is before the onset date."
        if self.resolution_date and self.resolved_to_grade is None:
            errors["resolved_to_grade"] = "Give the grade the irAE resolved to."
        if self.ctcae_term == v.CTCAE_OTHER_TERM and not self.ctcae_term_other.strip():
            errors["ctcae_term_other"] = "Name the term: the CTCAE term is 'Other (specify)'."
        elif self.ctcae_term_other and self.ctcae_term != v.CTCAE_OTHER_TERM:
            errors["ctcae_term_other"] = "Only for the CTCAE term 'Other (specify)': clear it, or choose that term."
        if self.recurrence_status and not self.episode_id:
            errors["recurrence_status"] = "Only irAEs during a rechallenge can be recurrences."
        if self.episode_id and not self.recurrence_status:
            errors["recurrence_status"] = "Say whether this irAE during rechallenge is a recurrence or new."
        if self.episode_id:
            errors.update(
                rules.not_before_rechallenge_errors(
                    rechallenge_start=self.episode.start_date, dates={"onset_date": self.onset_date}
                )
            )
        if self.management == "second_line" and not self.second_line_immunosuppressant:
            errors["second_line_immunosuppressant"] = "Name the second-line immunosuppressant."
        if self.grade == 5 and self.resolved_to_grade is not None:
            errors["resolved_to_grade"] = "A grade-5 (fatal) irAE does not resolve."
        if "episode" not in errors:
            errors.update(
                rules.irae_in_no_irae_course_errors(
                    course_answer="no" if self.course_answered_no_iraes() else "",
                    during_rechallenge=bool(self.episode_id),
                )
            )
        if "onset_date" not in errors and self.patient_id and self.changed_or_new("onset_date"):
            errors.update(
                rules.after_death_errors(
                    field="onset_date",
                    label=self.label_of("onset_date"),
                    value=self.onset_date,
                    death=recorded_death_date(self.patient_id),
                )
            )
        if errors:
            raise ValidationError(errors)

    def course_answered_no_iraes(self) -> bool:
        """Whether the course this irAE belongs to is answered "no irAEs during this course"."""
        if self.episode_id:
            return self.episode.iraes_during_rechallenge == "no"
        if self.patient_id is None:  # an unsaved patient (bulk import) has no course in the database yet
            return False
        answers = InitialCourse.objects.filter(patient_id=self.patient_id).values_list("iraes_during_course", flat=True)
        return "no" in answers

    def save(self, *args, **kwargs) -> None:
        term = v.CTCAE_TERMS.get(self.ctcae_term)
        self.meddra_code, self.organ_category = term.meddra_code, term.organ_category
        super().save(*args, **kwargs)

    @property
    def onset(self) -> PartialDate | None:
        return partial(self.onset_date, self.onset_date_precision)

    @property
    def resolution(self) -> PartialDate | None:
        return partial(self.resolution_date, self.resolution_date_precision)


class ResponseAssessment(CaseRecord):
    """A tumour response assessment during a rechallenge episode."""

    episode = models.ForeignKey(RechallengeEpisode, on_delete=models.CASCADE, related_name="responses")
    assessment_date = models.DateField()
    criteria = models.CharField(max_length=12, choices=v.RESPONSE_CRITERIA.choices(), default="recist_1_1")
    category = models.CharField(
        max_length=4,
        choices=[*v.RECIST_CATEGORIES.choices(), *v.IRECIST_CATEGORIES.choices()[:-1]],
        help_text="RECIST 1.1: CR/PR/SD/PD/NE; iRECIST: iCR/iPR/iSD/iUPD/iCPD/NE.",
    )

    class Meta:
        ordering = ["episode_id", "assessment_date"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(criteria="recist_1_1") & Q(category__in=v.RECIST_CATEGORIES.codes()))
                | (Q(criteria="irecist") & Q(category__in=v.IRECIST_CATEGORIES.codes())),
                name="response_category_matches_criteria",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.category} on {self.assessment_date}"

    def clean(self) -> None:
        if self.criteria and self.category and self.category not in v.response_categories(self.criteria):
            raise ValidationError(
                {"category": f"{self.category} is not a {v.RESPONSE_CRITERIA.label(self.criteria)} category."}
            )
        if self.episode_id:
            errors = rules.not_before_rechallenge_errors(
                rechallenge_start=self.episode.start_date, dates={"assessment_date": self.assessment_date}
            )
            if not errors and self.changed_or_new("assessment_date", "episode"):
                errors = rules.after_death_errors(
                    field="assessment_date",
                    label=self.label_of("assessment_date"),
                    value=self.assessment_date,
                    death=recorded_death_date(self.episode.patient_id),
                )
            if errors:
                raise ValidationError(errors)


class FollowUp(CaseRecord):
    """A follow-up contact after rechallenge start."""

    episode = models.ForeignKey(RechallengeEpisode, on_delete=models.CASCADE, related_name="follow_ups")
    follow_up_date = models.DateField("Date of follow-up")
    vital_status = models.CharField(max_length=10, choices=v.VITAL_STATUS.choices())
    progression_date = models.DateField(
        "Progression since rechallenge", null=True, blank=True, help_text="Date of first progression, if any."
    )
    rechallenge_stopped_date = models.DateField(null=True, blank=True)
    rechallenge_stop_reason = models.CharField(max_length=20, choices=v.STOP_REASONS.choices(), blank=True)
    death_date = models.DateField(null=True, blank=True)
    last_known_alive_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["episode_id", "follow_up_date"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(vital_status="dead") | Q(death_date__isnull=False), name="follow_up_dead_has_death_date"
            ),
            models.CheckConstraint(
                condition=Q(death_date__isnull=True) | Q(vital_status="dead"), name="follow_up_death_date_only_if_dead"
            ),
        ]

    def __str__(self) -> str:
        return f"Follow-up on {self.follow_up_date}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.episode_id:
            dates = {
                name: getattr(self, name)
                for name in ("follow_up_date", "progression_date", "rechallenge_stopped_date", "death_date")
            }
            errors.update(rules.not_before_rechallenge_errors(rechallenge_start=self.episode.start_date, dates=dates))
        if self.vital_status == "dead" and not self.death_date:
            errors["death_date"] = "Give the date of death."
        if self.death_date and self.vital_status != "dead":
            errors["vital_status"] = "A death date is given: vital status must be 'dead'."
        if self.death_date and self.follow_up_date and self.death_date > self.follow_up_date:
            errors["death_date"] = "The death date is after the follow-up date."
        if self.last_known_alive_date and self.follow_up_date and self.last_known_alive_date > self.follow_up_date:
            errors["last_known_alive_date"] = "The last-known-alive date is after the follow-up date."
        if self.rechallenge_stopped_date and not self.rechallenge_stop_reason:
            errors["rechallenge_stop_reason"] = "Give the reason the rechallenge stopped."
        if self.episode_id and self.changed_or_new("episode", "follow_up_date", "vital_status", "death_date"):
            for name, message in self.death_order_errors().items():
                errors.setdefault(name, message)
        if errors:
            raise ValidationError(errors)

    def death_order_errors(self) -> dict[str, str]:
        """``after_death`` across the patient's records, in one query: this follow-up dated after a death
        another follow-up records, or the death it records before the patient's other records' dates.

        A follow-up recording the death is itself dated on or after it (the day the death was learnt of),
        so other follow-ups that record the death are not "after" it.
        """
        others = FollowUp.objects.filter(episode__patient_id=OuterRef("pk")).exclude(pk=self.pk)

        def per_patient(queryset, patient: str, aggregate) -> Subquery:
            return Subquery(queryset.order_by().values(patient).annotate(value=aggregate).values("value")[:1])

        row = (
            Patient.objects.filter(pk=self.episode.patient_id)
            .values(
                death=per_patient(others.filter(death_date__isnull=False), "episode__patient", Min("death_date")),
                last_follow_up=per_patient(
                    others.exclude(vital_status="dead"), "episode__patient", Max("follow_up_date")
                ),
                last_response=per_patient(
                    ResponseAssessment.objects.filter(episode__patient_id=OuterRef("pk")),
                    "episode__patient",
                    Max("assessment_date"),
                ),
                last_irae=per_patient(
                    AdverseEvent.objects.filter(patient_id=OuterRef("pk")), "patient", Max("onset_date")
                ),
            )
            .first()
        )
        if row is None:
            return {}
        errors: dict[str, str] = {}
        if self.vital_status != "dead":
            errors.update(
                rules.after_death_errors(
                    field="follow_up_date",
                    label=self.label_of("follow_up_date"),
                    value=self.follow_up_date,
                    death=row["death"],
                )
            )
        errors.update(
            rules.death_before_records_errors(
                death=self.death_date,
                records=[
                    ("The patient's last response assessment", row["last_response"]),
                    ("The patient's last irAE onset", row["last_irae"]),
                    ("The patient's last other follow-up", row["last_follow_up"]),
                ],
            )
        )
        return errors


def recorded_death_date(patient_id: int | None) -> dt.date | None:
    """The date of death a follow-up of the patient records (the earliest, should two differ)."""
    if patient_id is None:
        return None
    return (
        FollowUp.objects.filter(episode__patient_id=patient_id, death_date__isnull=False)
        .order_by("death_date")
        .values_list("death_date", flat=True)
        .first()
    )
