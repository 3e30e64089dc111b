"""Run one fuzz target under atheris (libFuzzer): ``python tools/fuzz/run.py TARGET [libFuzzer flags]``.

Examples::

    python tools/fuzz/run.py statsd_lines -max_total_time=60
    python tools/fuzz/run.py processors -runs=100000 /tmp/corpus tests/fuzz_corpus/processors

Without corpus directories, a scratch directory (where libFuzzer keeps what
it finds) and the seeds in ``tests/fuzz_corpus/TARGET`` (read only) are used. A crash leaves
``crash-<sha1>`` next to ``-artifact_prefix``; copy it into
``tests/fuzz_corpus/TARGET/`` so ``tests/fuzz/test_fuzz.py`` replays it as a
regression test forever.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz_corpus"


def main(argv: list[str]) -> None:
    import atheris

    if len(argv) < 2 or argv[1].startswith("-"):
        raise SystemExit(__doc__)
    name = argv[1]
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["edge_agent", "edge_agent_plugins", "tools.fuzz"]):
        from tools.fuzz.targets import TARGETS
    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r}; targets: {', '.join(TARGETS)}")
    args = [argv[0], *argv[2:]]
    if not any(not a.startswith("-") for a in args[1:]) and (CORPUS / name).is_dir():
        # libFuzzer writes new inputs into the first directory: a scratch one, never the repo
        args += [tempfile.mkdtemp(prefix=f"fuzz-{name}-"), str(CORPUS / name)]
    atheris.Setup(args, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
