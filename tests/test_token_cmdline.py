"""The API token never stands on a command line (every local user can read /proc/*/cmdline)."""
from __future__ import annotations

from bot.cli.rasa_server import token_from_environment


def test_the_server_takes_its_token_from_the_environment():
    argv = ["bot.cli.rasa_server", "run", "-m", "models/fanzha.tar.gz", "--enable-api"]
    assert token_from_environment(argv, {"FANZHA_API_TOKEN": "s3cret"}) == [*argv, "--auth-token", "s3cret"]
    assert token_from_environment(argv, {}) == argv  # no token set: Rasa's own behaviour
    given = [*argv, "--auth-token", "other"]
    assert token_from_environment(given, {"FANZHA_API_TOKEN": "s3cret"}) == given
    train = ["bot.cli.rasa_server", "train"]
    assert token_from_environment(train, {"FANZHA_API_TOKEN": "s3cret"}) == train
