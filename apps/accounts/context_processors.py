"""Template context: the signed-in user's reach, so templates show only what applies."""

from __future__ import annotations

from typing import Any

from .selectors import access_for_user


def roles(request) -> dict[str, Any]:
    return {"access": access_for_user(getattr(request, "user", None))}
