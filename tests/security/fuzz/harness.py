"""What the atheris harnesses share: running one standalone, with libFuzzer's flags.

Each harness is a module with `TestOneInput(data)`; `python -m tests.security.fuzz.fuzz_X
-atheris_runs=N [CORPUS_DIR...]` fuzzes it (any libFuzzer flag works: -max_total_time=300,
-timeout=5, ...). An exception escaping `TestOneInput` or an input running past -timeout is
a crash: libFuzzer writes the input to `crash-*` / `timeout-*` in the working directory and
exits non-zero. With no corpus directory given, a copy of the seed corpus corpus/NAME is used.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

CORPUS = Path(__file__).parent / "corpus"


def main(name: str, test_one_input: Callable[[bytes], None]) -> None:
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        # libFuzzer adds what it finds to the first corpus directory: work on a copy.
        work = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
        shutil.copytree(CORPUS / name, work, dirs_exist_ok=True)
        argv.append(str(work))
    if not any(arg.startswith("-timeout=") for arg in argv):
        argv.append("-timeout=10")  # a hang is a crash too
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
