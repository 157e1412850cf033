"""The API's JSON parser: refuses text with NUL characters before it can reach a query.

PostgreSQL text cannot hold NUL (0x00); without this, a NUL inside any JSON string (a site code,
a registry ID reference) would surface as a database error instead of a 400. The check is
``registry.text.contains_nul``, the one the forms and the import use too.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from registry.text import NUL_MESSAGE, contains_nul


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data
