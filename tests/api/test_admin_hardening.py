"""The admin token in production: long enough to be out of reach, and guessed at no faster
than the rate limit on wrong tokens allows."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from pydantic import SecretStr, ValidationError

from tests.live_server import CLI, cli_env
from tests.loads_support import AUTH, serve
from weather_api.api.security import FailedAttempts
from weather_api.settings import Settings

DB = SecretStr("postgresql://u:p@127.0.0.1:1/db")


def test_production_refuses_an_admin_token_shorter_than_32_characters() -> None:
    with pytest.raises(ValidationError, match=r"at least 32 characters .*\(it has 31\)"):
        Settings(environment="production", database_url=DB, admin_token=SecretStr("x" * 31))
    # 32 are enough, and outside production a short token is still accepted.
    Settings(environment="production", database_url=DB, admin_token=SecretStr("x" * 32))
    Settings(environment="development", admin_token=SecretStr("short"))


def test_serve_exits_at_once_with_a_short_token_in_production() -> None:
    env = cli_env(
        WEATHER_ENVIRONMENT="production",
        WEATHER_DATABASE_URL=DB.get_secret_value(),
        WEATHER_ADMIN_TOKEN="secret",
    )
    done = subprocess.run(
        [CLI, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "WEATHER_ADMIN_TOKEN must be at least 32 characters" in done.stderr


async def test_wrong_tokens_from_one_address_are_rate_limited(db_url: str) -> None:
    window_s = 1.5
    async with serve(db_url, admin_max_failures=3, admin_failure_window_s=window_s) as api:
        wrong = {"Authorization": "Bearer guess"}
        # A missing header guesses nothing: it does not count.
        for _ in range(5):
            assert (await api.get("/api/load")).status_code == 401
        statuses = [(await api.get("/api/load", headers=wrong)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = await api.get("/api/load", headers=wrong)
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        assert refused.headers["content-type"] == "application/problem+json"
        # While refused, even the right token is: guessing must not go on.
        assert (await api.get("/api/load", headers=AUTH)).status_code == 429
        await asyncio.sleep(window_s + 0.1)
        assert (await api.get("/api/load", headers=AUTH)).status_code == 200


def test_the_table_of_failures_is_bounded() -> None:
    attempts = FailedAttempts(limit=2, window_s=60, capacity=3)
    for _ in range(2):
        attempts.fail("10.0.0.1")
    assert attempts.retry_after("10.0.0.1") == 60
    for n in range(2, 5):  # three more addresses push the oldest out
        attempts.fail(f"10.0.0.{n}")
    assert attempts.retry_after("10.0.0.1") is None
    assert attempts.retry_after("10.0.0.4") is None  # one failure: below the limit
