"""How an operator starts statusdesk: `python -m statusdesk`, the configuration search order
of DESIGN §1.9 and messages that name the file read. Subprocesses, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "STATUSDESK_CONFIG"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=60, env={**base, **(env or {})}, check=False)


def test_python_dash_m_statusdesk_is_the_statusdesk_command(tmp_path: Path) -> None:
    version = run("-m", "statusdesk", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("statusdesk ")
    listing = run("-m", "statusdesk", "incidents", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "No incidents."
    usage = run("-m", "statusdesk", "no-such-command", cwd=tmp_path)
    assert usage.returncode == 2
    assert usage.stderr.startswith("statusdesk: ")  # the same parser, the same name
