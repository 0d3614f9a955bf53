"""Server-side pagination for list pages (issue 8): one page of a query, by LIMIT/OFFSET in the database.

`page_window` is the pure arithmetic (which rows, how many pages, is the page in range); `fetch_page`
runs a SELECT for one page of it. Services return a `Page`; the web layer renders it with the one
macro in templates/_pagination.html.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from escrow.errors import InvalidPageError, PageNotFoundError

PAGE_SIZE: Final = 25  # rows per list page; small enough to render fast, large enough to scan (issue 8)

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class PageWindow:
    """Where page ``number`` of ``total`` rows lies: rows [offset, offset + size)."""

    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        """Number of pages; an empty list still has one (empty) page."""
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items and where it lies."""

    items: tuple[T, ...]
    window: PageWindow

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """Returns the same page with each item converted."""
        return Page(tuple(convert(item) for item in self.items), self.window)


def page_window(number: int, total: int, size: int = PAGE_SIZE) -> PageWindow:
    """Returns the window of page ``number`` (1-based) over ``total`` rows.

    Raises InvalidPageError if ``number`` or ``size`` is below 1, PageNotFoundError if the page is past
    the last one (page 1 always exists).
    """
    if type(number) is not int or number < 1 or type(size) is not int or size < 1:
        raise InvalidPageError("the page number must be a whole number from 1")
    window = PageWindow(number, size, total)
    if number > window.pages:
        raise PageNotFoundError(f"there is no page {number}: the last page is {window.pages}")
    return window


def fetch_page(session: Session, statement: Select[Any], *, number: int, size: int = PAGE_SIZE) -> Page[Any]:
    """Returns page ``number`` of ``statement``'s first column (it must have a total ORDER BY).

    Counts the rows, then selects one page with LIMIT/OFFSET. Raises as page_window.
    """
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    window = page_window(number, total, size)
    rows: Sequence[Any] = session.scalars(statement.limit(window.size).offset(window.offset)).all()
    return Page(tuple(rows), window)
