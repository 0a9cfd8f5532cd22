"""The "statusdesk figures" section: each figure once."""

from __future__ import annotations

import pytest

from tests import figures


def test_a_figure_recorded_twice_is_one_line_with_its_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(figures, "FIGURES", [])
    figures.record("gc", "pause 3 ms")
    figures.record("soak", "p99 4.8 ms")
    figures.record("gc", "pause 3 ms")
    figures.record("secret scan", "0 secrets found", echo=False)
    assert capsys.readouterr().out.count("[gc] pause 3 ms") == 2  # live, into the capture
    assert figures.summary_lines() == ["gc: pause 3 ms (x2)", "soak: p99 4.8 ms",
                                       "secret scan: 0 secrets found"]
