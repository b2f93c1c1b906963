"""The pipeline fuzz test (issue 11): seeded random NIR graphs -- valid ones and slightly invalid mutations -- and
QuantSpecs through write -> load -> quantise -> every backend. The only exceptions are SnnCompileErrors, every
bit-exact rung that runs passes, nothing is written outside the test's tmp folder. benchmarks/fuzz.py runs the
same generator on thousands of cases."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_cases import FuzzCase, fuzz_cases  # noqa: E402
from fuzz_run import OutsideWatch, run_case, sandbox  # noqa: E402

#: 18 s on the 2-core machine when quiet, 29 s at load average 2.5 (60 examples beside a 1000-case fuzz run: 61 s);
#: the long run is benchmarks/fuzz.py
EXAMPLES = 100


@pytest.fixture(scope="module")
def fuzz_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One work folder for the module's examples: its cache keeps bitsim's compiled kernels between them."""
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=fuzz_cases())
def test_pipeline_fuzz(fuzz_work: Path, case: FuzzCase) -> None:
    with sandbox(fuzz_work), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the quantiser's overflow-risk warnings are advice, not findings
        out = run_case(case, fuzz_work, OutsideWatch())
    assert not out.generator, f"the generator made a case nir.write refuses: {out.generator}\n{case.describe()}"
    assert out.bugs == [], "\n".join([case.describe(), *out.bugs])


def test_watch_sees_writes_outside(tmp_path: Path) -> None:
    """The watcher itself: a write next to (not inside) the work folder is reported, one inside is not."""
    work = tmp_path / "work"
    work.mkdir()
    watch = OutsideWatch()
    watch.start(work)
    (work / "inside.txt").write_text("ok")
    (tmp_path / "outside.txt").write_text("not ok")
    (tmp_path / "outside_dir").mkdir()
    found = watch.stop()
    assert found == [f"{tmp_path.resolve() / 'outside.txt'} (open)", f"{tmp_path.resolve() / 'outside_dir'} (os.mkdir)"]
