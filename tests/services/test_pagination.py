"""The pure page arithmetic of list pages (issue 8)."""

from __future__ import annotations

import pytest

from escrow.errors import InvalidPageError, PageNotFoundError
from escrow.services.pagination import page_window


def test_an_empty_list_has_one_empty_page() -> None:
    window = page_window(1, 0, 25)
    assert (window.pages, window.offset, window.has_previous, window.has_next) == (1, 0, False, False)


def test_one_item_past_a_full_page_makes_a_second_page() -> None:
    first, second = page_window(1, 26, 25), page_window(2, 26, 25)
    assert (first.pages, first.has_next, first.has_previous) == (2, True, False)
    assert (second.offset, second.has_next, second.has_previous) == (25, False, True)


def test_exactly_full_pages_have_no_extra_page() -> None:
    assert page_window(2, 50, 25).pages == 2
    with pytest.raises(PageNotFoundError):
        page_window(3, 50, 25)


@pytest.mark.parametrize("number", [0, -1, True, 1.0, "1"])
def test_page_numbers_below_one_or_not_int_are_invalid(number: object) -> None:
    with pytest.raises(InvalidPageError):
        page_window(number, 10, 25)  # type: ignore[arg-type]


def test_page_size_must_be_positive() -> None:
    with pytest.raises(InvalidPageError):
        page_window(1, 10, 0)
