"""The CLI with a bucket as its cache: ``--cache-dir s3://…`` and ``$AUDIOFLOW_CACHE_DIR``, the S3
secret never printed, and cache verify/gc refusing a bucket plainly."""

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


def test_cache_verify_on_a_bucket_says_it_works_on_folders_only(s3_url: str) -> None:
    result = CliRunner().invoke(cli, ["cache", "verify", "--cache-dir", s3_url])
    assert result.exit_code == 1
    assert "work on a local cache folder, not yet on a bucket" in result.output


def test_the_s3_secret_is_scrubbed_from_everything_the_cli_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    _echo("boto said: bad signature for wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in capsys.readouterr().out
