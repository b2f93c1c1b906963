"""The Vitis-free HLS lint: every generated project is clean, and each rule flags a bad snippet."""

from __future__ import annotations

from pathlib import Path

import pytest
from hls_cases import TOPOLOGIES, build, hls_cache  # noqa: F401
from snncompile.backends.hls import BACKEND, lint, project
from snncompile.backends.hls.top import TopOptions

from snncompile.readout import plan as readout_plan

pytest.importorskip("pycparser")

HEAD = "typedef int int32_t; typedef unsigned char uint8_t;\nenum { N = 8 };\n"


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("sparse", [True, False])
def test_generated_c_is_clean(topology: str, sparse: bool) -> None:
    graph, _ = build(topology, "mix", 8, seed=2)
    lw = BACKEND.lower(graph, sparse=sparse, unroll=2)
    readout = {"mlp": "argmax", "cuba": "max-v", "conv2d_pool": "counts"}.get(topology)
    opts = TopOptions(None if readout is None else readout_plan(graph, readout, 64), "axis")
    assert lint.lint(project.sources(lw, 64, opts)) == []


def test_emit_lints_and_says_so(tmp_path: Path) -> None:
    graph, x = build("mlp", "nir", 8, seed=1)
    BACKEND.emit(graph, tmp_path / "p", x)
    readme = (tmp_path / "p" / "README.md").read_text()
    assert "The C passed\n  snncompile's HLS lint when it was written" in readme


@pytest.mark.parametrize(("body", "finding"), [
    ("int f(int n) { return n ? f(n - 1) : 0; }", "recursion: f -> f"),
    ("int g(int n); int h(int n) { return g(n); } int g(int n) { return n ? h(n - 1) : 0; }",
     "recursion: g -> h -> g"),
    ("void f(void) { int32_t *p = (int32_t *)malloc(4); free(p); }",
     "function 'f': calls 'malloc' (dynamic allocation)"),
    ("void f(void) { printf(\"x\"); }", "function 'f': calls 'printf' (a function not defined in the design)"),
    ("void f(int n) { int k; for (k = 0; k < n; k++) { } }",
     "function 'f': loop at line 3: 'k' runs to a bound that is not a constant expression"),
    ("void f(int n) { while (n) { n--; } }", "function 'f': a while loop"),
    ("void f(int n) { int32_t a[n]; a[0] = 0; }",
     "function 'f': array 'a' has a dimension that is not a constant (a variable-length array)"),
    ("void f(uint8_t *x) { int k, m = 0; for (k = 0; k < N; k++) { if (x[k]) m = x[k]; }\n"
     "  for (k = 0; k < m; k++) { } }", "function 'f': loop at line 4: 'k' runs to a bound"),
    ("void f(void) { int k; for (k = 0; k < N; k++) { k = 0; } }", None),  # bound is syntactic: accepted
])
def test_each_rule_flags_a_bad_snippet(body: str, finding: str | None) -> None:
    problems = lint.lint_text(HEAD + body + "\n")
    if finding is None:
        assert problems == []
    else:
        assert any(p.startswith(finding) for p in problems), problems


def test_bounded_counters_and_tripcount_pass() -> None:
    ok = """
void f(const uint8_t x[N]) {
    uint8_t ev[N];
    int j, e, n_ev = 0, s = 0, m = 0;
    for (j = 0; j < N; j++) { if (x[j] != 0) { ev[n_ev] = (uint8_t)j; n_ev++; } }
    for (e = 0; e < n_ev; e++) { s += ev[e]; }
    for (j = 0; j < N; j++) { m += x[j] != 0; }
    for (e = 0; e < m; e++) { s++; }
    for (j = N - 1; j > 0; j--) { s--; }
    for (j = 0; j < 4; j++) { for (e = j * 2; e < (j + 1) * 2; e++) { s++; } }
}
void g(int t) { int k; for (k = 0; k < t; k++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=10
} }
"""
    assert lint.lint_text(HEAD + ok) == []


def test_a_broken_project_fails_check(tmp_path: Path) -> None:
    graph, _ = build("mlp", "nir", 8, seed=1)
    files = project.sources(BACKEND.lower(graph), 16)
    files["snn.c"] = files["snn.c"].replace("void snn_reset(void) {", "void snn_reset(void) {\n    snn_reset();", 1)
    with pytest.raises(lint.LintError, match="hls lint: recursion: snn_reset -> snn_reset"):
        lint.check(files)


def _big_list(n: int) -> str:
    return "{\n" + "".join(f"    {{ {', '.join(str((k * 7) % 255 - 127) for k in range(r, r + 16))} }},\n"
                           for r in range(0, n, 16)) + "}"


def test_large_literal_lists_are_elided_with_their_lines() -> None:
    decl = f"static const int32_t W[{4096 // 16}][16] = {_big_list(4096)};\n"
    tail = "void f(int n) { while (n) { n--; } }\n"
    elided = lint.elide_literal_lists(HEAD + decl + tail)
    assert isinstance(elided, str)
    assert "static const int32_t W[256][16] = {0}" in elided and len(elided) < 2000
    assert elided.count("\n") == (HEAD + decl + tail).count("\n")  # line numbers after it are kept
    assert lint.lint_text(elided) == lint.lint_text(HEAD + decl + tail)  # same findings (the while loop)
    assert lint.elide_literal_lists((HEAD + decl).encode()) == elided[:-len(tail)].encode()


@pytest.mark.parametrize("inside", ["f(1)", "N", "1.5", "'a'", "/* c */", "{ 1 }}"])
def test_a_large_initialiser_with_anything_else_is_parsed_as_written(inside: str) -> None:
    body = _big_list(4096)
    text = f"static const int32_t W[4096] = {body[:-1]}{inside},\n}};\n"
    assert lint.elide_literal_lists(text) == text


def test_a_call_in_a_large_local_initialiser_is_still_found() -> None:
    body = _big_list(4096)[:-1] + "(int32_t)malloc(4),\n}"
    problems = lint.lint(project_files("void f(void) { static const int32_t a[4097] = " + body + "; (void)a; }"))
    assert any(p.startswith("function 'f': calls 'malloc'") for p in problems), problems


def project_files(snn_c: str) -> dict[str, str | bytes]:
    return {"snn.c": "#include <stdint.h>\n" + snn_c + "\n"}
