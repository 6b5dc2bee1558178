from __future__ import annotations

from callplane.errors import Conflict, NotFound


class AgentTestNotFound(NotFound):
    code = "agent_test_not_found"
    default_detail = "Agent test not found."


class TestRunNotFound(NotFound):
    __test__ = False
    code = "test_run_not_found"
    default_detail = "Test run not found."


class TestNameTaken(Conflict):
    __test__ = False
    code = "test_name_taken"
    default_detail = "The agent already has a test with this name."


class TestsNotPassed(Conflict):
    """The publish gate (agent setting `require_passing_tests`)."""

    __test__ = False
    code = "tests_not_passed"
    default_detail = "Publishing this version requires a passed run of the agent's tests."


class NoTestsToRun(Conflict):
    code = "no_tests_to_run"
    default_detail = "The agent has no tests (or none of the names given)."
