"""The CLI with a bucket as its cache: ``--cache-dir s3://…`` and ``$AUDIOFLOW_CACHE_DIR``, the S3
secret never printed, and cache verify/gc on a bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASIC_RECIPE, write_recipe_file

from audioflow.cli import cli
from audioflow.cli.output import _echo


def test_run_and_plan_with_a_bucket_cache(s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = write_recipe_file(tmp_path, BASIC_RECIPE)
    runner = CliRunner()
    first = runner.invoke(cli, ["run", str(recipe), "--cache-dir", s3_url])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "out" / "test.wav").is_file()  # outputs go where a local run writes them
    assert not (tmp_path / ".audioflow").exists()
    monkeypatch.setenv("AUDIOFLOW_CACHE_DIR", s3_url)
    plan = runner.invoke(cli, ["plan", str(recipe)])
    assert plan.exit_code == 0, plan.output
    assert "0 stale" in plan.output
    again = runner.invoke(cli, ["run", str(recipe)])
    assert "everything was cached" in again.output


def test_cache_verify_and_gc_on_a_bucket(s3_url: str, tmp_path: Path) -> None:
    from audioflow.cache import S3Store

    recipe = write_recipe_file(tmp_path, BASIC_RECIPE)
    runner = CliRunner()
    assert runner.invoke(cli, ["run", str(recipe), "--cache-dir", s3_url]).exit_code == 0
    bucket = S3Store(s3_url, mirror=tmp_path / "look")
    sound = runner.invoke(cli, ["cache", "verify", "--cache-dir", s3_url])
    assert sound.exit_code == 0, sound.output
    assert sound.output.startswith(f"{s3_url}: checked ") and sound.output.rstrip().endswith(": ok")
    stray = bucket.put_bytes(b"a take no recipe uses", "wav")
    bucket.put_step("ab" * 32, stray, {})
    lease = bucket.lease("ab" * 32)  # released by a holder that stored the stray take: it guards its record
    assert lease is not None and lease.try_acquire()
    lease.release()
    key = f"objects/{stray.digest[:2]}/{stray.digest}.wav"
    dry = runner.invoke(cli, ["cache", "gc", str(recipe), "--cache-dir", s3_url, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove {key} (21 B)" in dry.output and bucket.read_key(key) is not None
    assert f"would remove leases/{'ab' * 32}.json (" in dry.output  # with the record it guards, as gc does
    gone = runner.invoke(cli, ["cache", "gc", str(recipe), "--cache-dir", s3_url])
    assert gone.exit_code == 0, gone.output
    assert gone.output.replace("removed ", "would remove ") == dry.output  # the same files, counts and bytes
    assert f"{s3_url}: removed 3 files" in gone.output and bucket.read_key(key) is None
    assert bucket.read_key(f"leases/{'ab' * 32}.json") is None
    bucket.write_key(f"jobs/{'e' * 64}.json", b"{trunc")
    damaged = runner.invoke(cli, ["cache", "verify", "--cache-dir", s3_url, "--repair"])
    assert damaged.exit_code == 1  # a damaged journal is never moved: damage stays in place
    assert f"damaged in cache: jobs/{'e' * 64}.json" in damaged.output
    again = runner.invoke(cli, ["run", str(recipe), "--cache-dir", s3_url])
    assert "everything was cached" in again.output  # gc kept what the recipe uses


def test_the_s3_secret_is_scrubbed_from_everything_the_cli_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    _echo("boto said: bad signature for wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in capsys.readouterr().out


def test_a_bucket_without_credentials_is_a_cache_error_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore refuses to sign without credentials (no request is sent): that is a clean error naming
    the variables that set a bucket up, not an internal error."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: signing fails first
    recipe = write_recipe_file(tmp_path, BASIC_RECIPE)
    result = CliRunner().invoke(cli, ["plan", str(recipe), "--cache-dir", "s3://no-such-bucket/x"])
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "cannot read s3://no-such-bucket/x/" in result.output and "Unable to locate credentials" in result.output
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE" in result.output
