"""Shared test configuration: the real-service fixtures, and one xdist group for them."""

import pytest

pytest_plugins = ["tests.services_fixtures"]

GROUP_MARK = "xdist_group"


def _groups(item: pytest.Item) -> list[str]:
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers(GROUP_MARK)
    }
    return sorted(names)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # Under `pytest -n 2 --dist loadgroup` every test in one xdist_group runs on one worker, so
    # the session services (Kafka, Prometheus, Alertmanager) start once. An integration test
    # that forgot the mark would start a second broker on the other worker; this adds it.
    # tryfirst: xdist reads the marks in its own collection hook.
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker(GROUP_MARK):
            item.add_marker(pytest.mark.xdist_group("services"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    # pytest-xdist <= 3.8 tells the scheduler an item's group by appending "@group" to
    # `item._nodeid`; pytest 9.2 keeps node ids in `item._id` instead, so the suffix is lost and
    # grouped tests are spread over the workers (pytest-dev/pytest-xdist#1386, fix pending in
    # #1388). Until then, append it to the structured id, as that fix does, before xdist sends
    # the ids to the scheduler (tryfirst). A no-op where xdist already did it, or without
    # --dist loadgroup (the option only exists on xdist workers).
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        groups = _groups(item)
        suffix = "@" + "_".join(groups)
        if not groups or item.nodeid.endswith(suffix):
            continue
        node_id = getattr(item, "_id", None)
        if node_id is None or not hasattr(type(node_id), "parse"):
            continue
        item._id = type(node_id).parse(f"{item.nodeid}{suffix}")
