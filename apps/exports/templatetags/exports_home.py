"""``{% exports_home_panel %}``: the exports part of the home page (projects, requests, ready downloads).

The home page belongs to ``apps.core``, which may not import the apps above it; it loads this tag
library by name instead, so the panel's reads stay in this app's selectors.
"""

from __future__ import annotations

from typing import Any

from django import template

from apps.exports import selectors

register = template.Library()


@register.inclusion_tag("exports/_home_panel.html", takes_context=True)
def exports_home_panel(context: template.Context) -> dict[str, Any]:
    user = context.get("user")
    reach = selectors.export_reach(user=user)
    if not reach:
        return {"reach": ""}
    return {
        "reach": reach,
        "projects": list(selectors.project_list_for_user(user=user)[:10]) if reach == "member" else [],
        "requests": list(selectors.request_list_for_user(user=user)[:5]),
        "ready": list(selectors.ready_downloads_for_user(user=user)[:10]) if reach == "member" else [],
        "queue": selectors.approval_queue().count() if reach == "all" else 0,
    }
