"""atheris: the configuration loader. Any text is a `Config` or a `ConfigError` whose every
problem reads `PATH: message`; never another exception, never a hang (libFuzzer's -timeout)."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["bot.config"]):
    from bot.config import Config, ConfigError, load_config_text

from tests.security.fuzz.harness import main

ENV = {"IRC_PASSWORD": "p", "MATRIX_PASSWORD": "m", "STATUSDESK_API_TOKEN": "t",
       "OPSGENIE_KEY": "o", "WEBHOOK_SECRET": "w", "GITHUB_TOKEN": "g", "HOME": "/h"}


def TestOneInput(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # load_config reports undecodable files itself, before this step
    try:
        config = load_config_text(text, env=ENV)
    except ConfigError as error:
        assert error.problems, text
        for problem in error.problems:
            assert problem.path and problem.message, problem
        return
    assert isinstance(config, Config)


if __name__ == "__main__":
    main("config", TestOneInput)
