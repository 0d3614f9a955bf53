"""Disclosure policy settings (issue 6): defaults, environment, malformed values stop startup."""

from __future__ import annotations

import pytest

from escrow.config import Settings
from escrow.errors import ConfigError
from escrow.services.disclosure import DisclosurePolicy


def test_policy_defaults_are_one_cosigner_from_another_org_two_orgs_no_cap_72_hours() -> None:
    policy = DisclosurePolicy.from_settings(Settings.from_env({}))
    assert (policy.cosigners, policy.cosigner_other_org, policy.min_organisations) == (1, True, 2)
    assert policy.monthly_cap is None
    assert policy.view_window.total_seconds() == 72 * 3600


def test_policy_is_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "ESCROW_DISCLOSURE_COSIGNERS": "2",
            "ESCROW_DISCLOSURE_COSIGNER_OTHER_ORG": "0",
            "ESCROW_DISCLOSURE_MIN_ORGANISATIONS": "3",
            "ESCROW_DISCLOSURE_MONTHLY_CAP": "10",
            "ESCROW_DISCLOSURE_VIEW_HOURS": "24",
        }
    )
    policy = DisclosurePolicy.from_settings(settings)
    assert (policy.cosigners, policy.cosigner_other_org, policy.min_organisations) == (2, False, 3)
    assert policy.monthly_cap == 10
    assert policy.view_window.total_seconds() == 24 * 3600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ESCROW_DISCLOSURE_COSIGNERS", "0"),
        ("ESCROW_DISCLOSURE_MIN_ORGANISATIONS", "two"),
        ("ESCROW_DISCLOSURE_MONTHLY_CAP", "-1"),
        ("ESCROW_DISCLOSURE_VIEW_HOURS", "0"),
        ("ESCROW_DISCLOSURE_COSIGNER_OTHER_ORG", "maybe"),
    ],
)
def test_malformed_policy_values_stop_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
