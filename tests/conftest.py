from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from benchfleet.harness.run import Harness
from benchfleet.harness.spec import HarnessSpec

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDED = FIXTURES / "recorded-run"


def _quiet_lock(config: pytest.Config, name: str) -> int:
    # xdist gives each worker <basetemp>/popen-gwN: the folder above is this test run's, shared by its workers
    return os.open(Path(config.option.basetemp).parent / f"quiet.{name}", os.O_RDWR | os.O_CREAT, 0o600)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Tests marked `quiet` judge timing (a closed run's compliance tests compare performance runs within 5-10%): with
    parallel workers (`./bf test` runs two), such a test runs alone. Every other test holds a shared lock for its whole
    protocol (setup of the session fixtures it triggers included); a quiet one waits for the exclusive lock, and takes
    a turnstile first so that the other worker cannot keep the shared lock forever."""
    if "PYTEST_XDIST_WORKER" not in os.environ or not item.config.option.basetemp:
        yield
        return
    quiet = item.get_closest_marker("quiet") is not None
    with ExitStack() as stack:
        turnstile, lock = _quiet_lock(item.config, "turnstile"), _quiet_lock(item.config, "lock")
        stack.callback(os.close, turnstile)
        stack.callback(os.close, lock)
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if quiet else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield


@pytest.fixture(scope="session", autouse=True)
def _own_tuning_store(tmp_path_factory):
    """Tuning files of this test session only: never the user's ~/.benchfleet/tuning (a run would take them)."""
    os.environ["BENCHFLEET_TUNING_DIR"] = str(tmp_path_factory.mktemp("tuning-store"))


@pytest.fixture(scope="session", autouse=True)
def _no_price_apis(tmp_path_factory):
    """Provider price APIs are the local fakes' or none (a port that refuses at once), and the price cache is this
    session's: tests never read prices from the internet or the user's cache."""
    os.environ["BENCHFLEET_PRICE_CACHE"] = str(tmp_path_factory.mktemp("prices") / "prices.json")
    os.environ.setdefault("BENCHFLEET_AZURE_PRICES_ENDPOINT", "https://127.0.0.1:9")
    os.environ.setdefault("BENCHFLEET_GCP_BILLING_ENDPOINT", "https://127.0.0.1:9")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One model/dataset cache for the whole session (tiny generated ResNet50, width 8)."""
    env = os.environ.get("BENCHFLEET_TEST_CACHE")
    if env:
        Path(env).mkdir(parents=True, exist_ok=True)
        return Path(env)
    return tmp_path_factory.mktemp("cache")


def tiny_spec(cache_dir: Path, **kw) -> HarnessSpec:
    base = dict(model="synthetic", dataset="synthetic", synthetic_width=8, dataset_count=1024,
                cache_dir=str(cache_dir))
    base.update(kw)
    return HarnessSpec(**base)


@pytest.fixture(scope="session")
def closed_run(cache_dir, tmp_path_factory) -> tuple[Path, dict]:
    """A real closed, quick run of the tiny model: SingleStream measured with its compliance tests, Offline
    inferred. (MultiStream's runs, 662 queries of 8 samples each, are what the fleet and cloud sweeps measure.)"""
    out = tmp_path_factory.mktemp("closed-run")
    # One inference thread: with two, ONNX Runtime competes with LoadGen on a 2-core host. No second round when a
    # compliance test misses its timing rule: what uses this run checks the modes, seeds and files, not timing
    # verdicts, and on a drifting CI machine the rounds cost minutes.
    meta = Harness(tiny_spec(cache_dir, division="closed", threads=1, compliance_retries=0, synthetic_width=2,
                             only=["SingleStream", "Offline"]), out, log=lambda m: None).run()
    return out, meta


@pytest.fixture()
def recorded_run(tmp_path) -> Path:
    """A copy of a recorded closed run (ResNet50 architecture, synthetic) whose tree passes the checker."""
    dst = tmp_path / "recorded"
    shutil.copytree(RECORDED, dst)
    return dst
