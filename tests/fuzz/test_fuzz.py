"""Fuzz targets for every parser of untrusted input: corpus replay always, a time-boxed fuzz run in CI.

The corpus in ``tests/fuzz_corpus/<target>/`` holds seeds (``seed-*``,
written by ``tools/fuzz/seeds.py``) and inputs that once broke a parser
(``regression-*``): replaying them is the regression test. The slow test
runs each target under atheris (coverage-guided libFuzzer) for a few seconds;
where atheris cannot be installed it falls back to Hypothesis-generated
bytes, so the run never silently disappears.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz_corpus"
SECONDS_PER_TARGET = 3
RUN = ROOT / "tools" / "fuzz" / "run.py"


def _corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


def test_every_target_has_a_corpus() -> None:
    """Each fuzz target has a corpus directory with at least one seed, and no directory is orphaned."""
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(TARGETS)
    for target in TARGETS:
        assert any(p.name.startswith("seed-") for p in _corpus(target)), target


@pytest.mark.parametrize(
    ("target", "path"),
    [(t, p) for t in TARGETS for p in _corpus(t)],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_corpus_input_is_handled(target: str, path: Path) -> None:
    """Every seed and every past crash runs through its target without an unexpected error."""
    TARGETS[target](path.read_bytes())


def _atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def _fuzz_one(target: str, workdir: Path) -> tuple[str, int, str]:
    scratch = workdir / target
    scratch.mkdir()
    argv = [
        sys.executable,
        str(RUN),
        target,
        f"-max_total_time={SECONDS_PER_TARGET}",
        "-timeout=10",
        "-rss_limit_mb=1024",
        f"-artifact_prefix={scratch}/",
        str(scratch),
        str(CORPUS / target),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    return target, result.returncode, result.stderr[-3000:]


@pytest.mark.slow
def test_time_boxed_fuzzing_finds_no_crash(tmp_path: Path) -> None:
    """Each target survives a few seconds of coverage-guided fuzzing (two at a time; ~30 s in all)."""
    if not _atheris_available():
        if os.environ.get("EDGE_AGENT_REQUIRE_PEERS") == "1":
            pytest.fail("atheris is not installed (pip install atheris; it is in the test extra)")
        _hypothesis_fallback()
        return
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda t: _fuzz_one(t, tmp_path), TARGETS))
    failed = [(t, out) for t, code, out in results if code != 0]
    crashes = sorted(str(p) for p in tmp_path.glob("*/crash-*")) + sorted(
        str(p) for p in tmp_path.glob("*/timeout-*")
    )
    assert not failed, (
        "fuzzing found a crash; reproduce with `python tools/fuzz/run.py TARGET FILE`, fix it, and copy the "
        f"file to tests/fuzz_corpus/TARGET/regression-<what>: {crashes}\n"
        + "\n".join(f"--- {t}\n{out}" for t, out in failed)
    )


def _hypothesis_fallback() -> None:
    """Without atheris: random bytes and mutated seeds through every target (not coverage-guided)."""
    for target in TARGETS:
        _fallback_check(target)


def _fallback_check(target: str) -> None:
    run = TARGETS[target]
    seeds = [p.read_bytes() for p in _corpus(target)]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(seed=st.sampled_from(seeds), noise=st.binary(max_size=64), cut=st.integers(0, 4096))
    def check(seed: bytes, noise: bytes, cut: int) -> None:
        run(seed[:cut] + noise + seed[cut:])

    check()
