"""How many examples the generated tests draw: Hypothesis properties and the schemathesis fuzzing.

Two Hypothesis profiles, chosen with ``pytest --hypothesis-profile=NAME`` (``make pytest
GENERATED_TESTS=NAME``):

- ``full`` (also what a run without the option gets): every example each test asks for. CI's
  PostgreSQL pass runs it.
- ``smoke``: a tenth of them, at least one. Every generated test still runs, so a broken strategy,
  fixture or endpoint still fails, but the thorough search is left to the full pass. CI's SQLite pass
  runs it.

Both build on the profile Hypothesis chose by itself: ``ci`` where the ``CI`` variable is set
(derandomized, no example database, no deadline), else ``default``. A test that asks for a number
of examples other than Hypothesis' 100 writes ``examples(n)``, so the smoke profile shrinks it too.
"""

from __future__ import annotations

from hypothesis import settings

FULL_EXAMPLES = 100  # Hypothesis' default, and its ci profile's
SMOKE_EXAMPLES = 10

_CHOSEN = settings.get_profile(settings.get_current_profile_name())
settings.register_profile("full", _CHOSEN, max_examples=FULL_EXAMPLES)
settings.register_profile("smoke", _CHOSEN, max_examples=SMOKE_EXAMPLES)


def examples(full: int) -> int:
    """``full`` under the full profile, and the same share of the loaded profile's examples otherwise."""
    return max(1, full * settings.default.max_examples // FULL_EXAMPLES)
