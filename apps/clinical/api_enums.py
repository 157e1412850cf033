"""Choice sets shared by several API fields, so the schema names one enum per vocabulary.

``SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]`` points here: without a name, drf-spectacular
would name a shared set after whichever field it met first (``SecondAgentEnum`` for all agents).
"""

from __future__ import annotations

from registry import vocabularies as v

from .models import ECOG_CHOICES, Precision

ICI_AGENTS = v.ICI_AGENTS.choices()
REGIMEN_TYPES = v.REGIMEN_TYPES.choices()
STOP_REASONS = v.STOP_REASONS.choices()
ECOG = ECOG_CHOICES
DATE_PRECISION = Precision.choices
IRAE_HISTORY = v.IRAE_HISTORY.choices()
