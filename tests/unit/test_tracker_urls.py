"""Which tracker a bug URL belongs to, and which bug it names (no network)."""

from __future__ import annotations

import pytest

from bot.config import TrackersConfig
from bot.playbooks.trackers.registry import TrackerSet
from bot.playbooks.trackers.site import parse_timestamp

CONFIGURED = TrackerSet.from_config(TrackersConfig.model_validate({
    "github": {"api_url": "https://ghe.example.org/api/v3", "token": "t"},
    "gitlab": {"api_url": "https://gitlab.example.org/api/v4"},
    "bugzilla": {"url": "https://bugzilla.example.org"},
    "jira": {"url": "https://example.org/jira"},
}))
DEFAULT = TrackerSet.from_config(TrackersConfig())


@pytest.mark.parametrize(("url", "tracker", "project", "key"), [
    ("https://github.com/opendev/zuul/issues/1234", "github", "opendev/zuul", "#1234"),
    ("https://github.com/opendev/zuul/pull/77/", "github", "opendev/zuul", "#77"),
    ("https://ghe.example.org/infra/ops/issues/5", "github", "infra/ops", "#5"),
    ("https://gitlab.com/group/sub/project/-/issues/42", "gitlab", "group/sub/project", "#42"),
    ("https://gitlab.example.org/ops/dns/-/issues/3", "gitlab", "ops/dns", "#3"),
    ("https://bugs.launchpad.net/nova/+bug/2012345", "launchpad", "nova", "#2012345"),
    ("https://bugs.launchpad.net/ubuntu/+source/nova/+bug/7", "launchpad",
     "ubuntu/+source/nova", "#7"),
    ("https://launchpad.net/bugs/99", "launchpad", None, "#99"),
    ("https://bugs.launchpad.net/bugs/99", "launchpad", None, "#99"),
    ("https://bugzilla.example.org/show_bug.cgi?id=1500", "bugzilla", None, "#1500"),
    ("https://bugzilla.example.org/1500", "bugzilla", None, "#1500"),
    ("https://example.org/jira/browse/OPS-12", "jira", None, "OPS-12"),
])
def test_configured_trackers_recognise_their_urls(
    url: str, tracker: str, project: str | None, key: str
) -> None:
    found = CONFIGURED.resolve(url)
    assert found is not None
    assert (found[0].name, found[1].project, found[1].key, found[1].url) == (
        tracker, project, key, url)


@pytest.mark.parametrize("url", [
    "https://example.org/browse/OPS-12",               # outside Jira's path prefix
    "https://example.org/jirax/browse/OPS-12",
    "https://bugzilla.example.org/show_bug.cgi",       # no id
    "https://bugzilla.example.org/buglist.cgi?id=3",
    "https://github.com/opendev/zuul",                 # not an issue
    "https://github.com/opendev/zuul/issues/abc",
    "ftp://github.com/opendev/zuul/issues/1",
    "https://evil.example/opendev/zuul/issues/1",
    "https://github.com:8443/opendev/zuul/issues/1",   # another port is another site
    "not a url at all",
])
def test_other_urls_belong_to_no_tracker(url: str) -> None:
    assert CONFIGURED.resolve(url) is None


def test_public_hosts_need_no_configuration() -> None:
    for url, name in (("https://github.com/a/b/issues/1", "github"),
                      ("https://gitlab.com/a/b/-/issues/1", "gitlab"),
                      ("https://bugs.launchpad.net/nova/+bug/1", "launchpad")):
        found = DEFAULT.resolve(url)
        assert found is not None and found[0].name == name
    assert DEFAULT.resolve("https://bugzilla.example.org/show_bug.cgi?id=1") is None
    # An Enterprise instance does not take github.com's links.
    ghe = CONFIGURED.resolve("https://github.com/a/b/issues/1")
    assert ghe is not None and ghe[0].name == "github"
    assert CONFIGURED._trackers[0] is not ghe[0]  # the public one


@pytest.mark.parametrize(("text", "iso"), [
    ("2026-11-20T09:30:00Z", "2026-11-20T09:30:00+00:00"),
    ("2026-11-20T09:30:00.000+0000", "2026-11-20T09:30:00+00:00"),
    ("2026-11-20T10:30:00.123456+01:00", "2026-11-20T09:30:00.123456+00:00"),
    ("2026-11-20T09:30:00", "2026-11-20T09:30:00+00:00"),
])
def test_timestamps_as_trackers_write_them(text: str, iso: str) -> None:
    moment = parse_timestamp(text)
    assert moment is not None and moment.isoformat() == iso


def test_bad_timestamps_are_none() -> None:
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None
    assert parse_timestamp(17) is None
