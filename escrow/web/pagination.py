"""The ``?page=N`` parameter of list pages (issue 8); pages render with templates/_pagination.html."""

from __future__ import annotations

import re

from flask import request

from escrow.errors import InvalidPageError

PAGE_PARAMETER = "page"
_PAGE_NUMBER = re.compile(r"^[1-9][0-9]{0,8}$")


def requested_page() -> int:
    """Returns the page number asked for in the query string (1 if absent).

    Raises InvalidPageError (400) unless it is a whole number from 1 written in plain digits.
    """
    value = request.args.get(PAGE_PARAMETER)
    if value is None:
        return 1
    if not _PAGE_NUMBER.match(value):
        raise InvalidPageError("the page number must be a whole number from 1")
    return int(value)
