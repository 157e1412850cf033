"""Template context: the number beside "Queries" in the navigation bar.

For center staff, the open (and re-opened) queries of their sites; for coordinators, the answered queries waiting
for their decision. One COUNT, run only when a template shows it, and only for those who reach queries.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import SimpleLazyObject

from apps.accounts.selectors import access_for_user

from .selectors import waiting_count_for_user


def query_count(request) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not access_for_user(user).reaches_records:
        return {"query_count": None}
    return {"query_count": SimpleLazyObject(lambda: waiting_count_for_user(user=user))}
