"""The test tiers (tests/tiers.py) follow what a test really uses: its body, its fixtures and the
helpers they call, but not a type hint or a sentence that names the assistant."""
from __future__ import annotations

from inspect import unwrap

import pytest

from tests import (
    conftest,
    test_faq_selector,
    test_outreach_e2e,
    test_patch_parity,
    test_preflight,
    test_report_walkthrough,
    tier_samples,
)
from tests.tiers import tiers


def test_a_test_that_starts_the_assistant_in_its_body_is_e2e() -> None:
    assert tiers(test_report_walkthrough.test_a_report_is_filled_stored_and_survives_a_restart) == {"e2e"}
    assert tiers(tier_samples.calls_a_helper_that_starts_it) == {"e2e"}


def test_a_fixture_that_loads_the_model_through_a_helper_makes_the_test_model() -> None:
    assert tiers(unwrap(conftest.plain_serving_agent)) == {"model"}  # through tests.agents.serving_agent
    fixtures = [unwrap(test_faq_selector.parsed), unwrap(conftest.plain_serving_agent)]
    assert tiers(test_faq_selector.test_faq_questions_get_the_same_answer_and_ranking, fixtures) == {"model"}


def test_a_test_that_reads_the_model_file_is_model() -> None:
    # make test runs the unit tests while the model trains: reading the file is needing the model.
    assert tiers(test_preflight.test_the_projects_own_settings_pass) == {"model"}
    assert tiers(test_preflight.test_a_file_that_is_not_a_model_is_named) == {"unit"}  # a model of its own


def test_a_test_module_run_as_a_program_is_tiered_by_its_main_block() -> None:
    # The parity test loads the model twice, each time in a `python -m tests.test_patch_parity` of its own.
    assert tiers(test_patch_parity.test_the_patched_server_answers_exactly_as_stock_rasa) == {"model"}
    assert tiers(tier_samples.runs_this_module_as_a_program) == {"e2e"}
    assert tiers(tier_samples.names_this_module) == {"unit"}  # a module's name alone runs nothing


def test_a_fixture_that_opens_chromium_makes_the_test_browser() -> None:
    fixtures = [unwrap(test_outreach_e2e.server), unwrap(test_outreach_e2e.browser)]
    assert "browser" in tiers(test_outreach_e2e.test_the_index_lists_every_scenario, fixtures)


def test_hints_and_docstrings_start_nothing() -> None:
    assert tiers(tier_samples.names_the_assistant) == {"unit"}
    assert tiers(test_report_walkthrough.test_the_report_cli_rejects_an_unknown_reference,
                 [unwrap(test_report_walkthrough.reports_env)]) == {"unit"}


def test_collected_tests_carry_their_tier(request: pytest.FixtureRequest) -> None:
    assert [mark.name for mark in request.node.iter_markers() if mark.name in ("unit", "model", "e2e", "browser")] == ["unit"]
