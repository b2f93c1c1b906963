"""A Vitis-free lint of the HLS C: the constraints high-level synthesis imposes, checked on the parsed C.

``lint(files, top)`` preprocesses ``snn.c`` as synthesis sees it (gcc -E with ``__SYNTHESIS__`` defined, so the
testbench side is left out; ``<stdint.h>`` from a minimal stand-in), parses it with pycparser and returns the
problems, each naming the function and the construct (empty: clean). Rules:

- **no recursion**: the call graph of the functions defined in the file has no cycle;
- **no dynamic allocation, no library calls**: every called function is defined in the file (so malloc, calloc,
  realloc, free, alloca, printf, ... are refused);
- **fixed loop bounds**: every ``for`` loop has a statically bounded trip count -- init and bound are constant
  expressions of integer constants, enum constants and the variables of enclosing bounded loops (interval
  arithmetic), or the bound is a counter that starts at a constant and is only incremented inside bounded
  loops (the spike-event count of a sparse layer), or the body declares ``#pragma HLS LOOP_TRIPCOUNT max=N``;
  no ``while``, ``do`` or ``goto``;
- **static arrays**: every array has constant dimensions (no variable-length arrays; a function parameter may
  leave its first dimension open, as m_axi / axis ports do).

A large initialiser that holds nothing but integer literals, commas and braces (the weight arrays of
``weights_data.h``: 6.3 M values are 40 MB of C) is checked for exactly that at C speed (a byte scan, balanced
braces) and handed to the parser as ``{0}`` with its line breaks kept: no rule can concern such a list, and
pycparser would take minutes over it. Its declaration (type, name, dimensions) is parsed and linted as written.

``LintError`` carries the list. :func:`check` raises it; emit runs it when pycparser is installed
(``pip install snncompile[hls]``).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snncompile.atomic import FileContent
from snncompile.errors import BackendError

from .runner import compiler

FAKE_STDINT = "\n".join([
    "typedef signed char int8_t;", "typedef short int16_t;", "typedef int int32_t;", "typedef long long int64_t;",
    "typedef unsigned char uint8_t;", "typedef unsigned short uint16_t;", "typedef unsigned int uint32_t;",
    "typedef unsigned long long uint64_t;", "#define INT64_C(x) x##LL", "#define UINT64_C(x) x##ULL",
    "#define INT32_MAX 2147483647", "#define INT32_MIN (-2147483647 - 1)", ""])
FORBIDDEN = ("malloc", "calloc", "realloc", "free", "alloca")

Interval = tuple[int, int]


class LintError(BackendError):
    """The C breaks an HLS rule; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("hls lint: " + "; ".join(problems))


def available() -> bool:
    try:
        import pycparser  # noqa: F401
    except ImportError:
        return False
    return True


def preprocess(files: Mapping[str, FileContent], main: str = "snn.c") -> str:
    """``main`` as synthesis sees it: gcc -E -P with __SYNTHESIS__, the project's headers, a stand-in stdint.h."""
    with tempfile.TemporaryDirectory(prefix="snncompile-hls-lint-") as tmp:
        root = Path(tmp)
        (root / "sys").mkdir()
        (root / "sys" / "stdint.h").write_text(FAKE_STDINT)
        for name, data in files.items():
            if name.endswith((".c", ".h")):
                (root / name).write_bytes(data.encode() if isinstance(data, str) else data)
        cmd = [compiler(), "-E", "-P", "-nostdinc", "-isystem", str(root / "sys"), "-I", str(root),
               "-D__SYNTHESIS__", main]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BackendError(f"hls lint: preprocessing failed: {' '.join(cmd)}\n{proc.stderr.strip()[-2000:]}")
        return proc.stdout


def lint(files: Mapping[str, FileContent], main: str = "snn.c") -> list[str]:
    """Every rule broken by ``main`` (after preprocessing), as messages naming the function."""
    return lint_text(preprocess({n: elide_literal_lists(d) if n.endswith((".c", ".h")) else d
                                 for n, d in files.items()}, main))


#: initialisers shorter than this are parsed as written
ELIDE_MIN = 1 << 10
_LITERAL_BYTES = b"0123456789-+, \t\r\n{}"


def elide_literal_lists(text: FileContent) -> FileContent:
    """``text`` with every initialiser ``= { ... };`` of at least ELIDE_MIN characters that holds only integer
    literals, commas, braces (balanced) and white space replaced by ``= {0};`` plus its line breaks (so the lines
    after it keep their numbers); every other initialiser is left as written."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    out, pos = [], 0
    while (start := data.find(b"= {", pos)) >= 0:
        end = data.find(b"};", start)
        if end < 0:
            break
        body = data[start + 2:end + 1]  # "{ ... }"
        if len(body) >= ELIDE_MIN and not body.translate(None, _LITERAL_BYTES) \
                and body.count(b"{") == body.count(b"}"):
            out += [data[pos:start], b"= {0}", b"\n" * body.count(b"\n")]
            pos = end + 1
        else:
            out.append(data[pos:start + 3])
            pos = start + 3
    if not out:
        return text
    out.append(data[pos:])
    joined = b"".join(out)
    return joined.decode() if isinstance(text, str) else joined


def check(files: Mapping[str, FileContent], main: str = "snn.c") -> None:
    problems = lint(files, main)
    if problems:
        raise LintError(problems)


def lint_text(text: str) -> list[str]:
    """The rules on preprocessed C text."""
    from pycparser import c_ast, c_parser
    from pycparser.c_parser import ParseError

    try:
        ast = c_parser.CParser().parse(text, "snn.c")
    except ParseError as exc:
        raise BackendError(f"hls lint: pycparser cannot parse the C: {exc}") from None
    enums = {e.name: _const(e.value, {}) for e in _walk(ast) if isinstance(e, c_ast.Enumerator) and e.value}
    consts = {k: v for k, v in enums.items() if v is not None}
    funcs = {f.decl.name: f for f in ast.ext if isinstance(f, c_ast.FuncDef)}
    problems: list[str] = []
    calls: dict[str, set[str]] = {}
    for name, fn in funcs.items():
        calls[name] = set()
        for node in _walk(fn.body):
            if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID):
                callee = node.name.name
                calls[name].add(callee)
                if callee not in funcs:
                    why = "dynamic allocation" if callee in FORBIDDEN else "a function not defined in the design"
                    problems.append(f"function '{name}': calls '{callee}' ({why})")
            elif isinstance(node, (c_ast.While, c_ast.DoWhile)):
                problems.append(f"function '{name}': a {'while' if isinstance(node, c_ast.While) else 'do'} loop "
                                "(no static trip count; write a for loop with a constant bound)")
            elif isinstance(node, c_ast.Goto):
                problems.append(f"function '{name}': goto")
        problems += _loops(name, fn, consts)
        problems += _arrays(name, fn, consts)
    for cycle in _cycles(calls):
        problems.append(f"recursion: {' -> '.join(cycle)}")
    for ext in ast.ext:  # file-scope arrays
        if isinstance(ext, c_ast.Decl):
            problems += [f"file scope: {p}" for p in _array_problems(ext, consts, param=False)]
    return problems


# -- helpers ------------------------------------------------------------------------------------------------------

def _walk(node: Any) -> Iterator[Any]:
    yield node
    for _, child in node.children():
        yield from _walk(child)


def _cycles(calls: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected part of the call graph that calls itself."""
    found, state = [], {n: 0 for n in calls}  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(calls[n]):
            if m not in calls:
                continue
            if state[m] == 1:
                found.append(stack[stack.index(m):] + [m])
            elif state[m] == 0:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(calls):
        if state[n] == 0:
            visit(n)
    return found


def _const(node: Any, env: Mapping[str, Interval] | Mapping[str, int]) -> int | None:
    iv = _interval(node, {k: (v, v) if isinstance(v, int) else v for k, v in env.items()})
    return iv[0] if iv is not None and iv[0] == iv[1] else None


def _interval(node: Any, env: Mapping[str, Interval]) -> Interval | None:
    """A conservative [lo, hi] of an integer expression of constants and known variables, or None."""
    from pycparser import c_ast

    if isinstance(node, c_ast.Constant):
        text = node.value.rstrip("uUlL")
        try:
            v = int(text, 0) if not text.startswith("0") or text == "0" or text[:2] in ("0x", "0X") else int(text, 8)
        except ValueError:
            return None
        return v, v
    if isinstance(node, c_ast.ID):
        return env.get(node.name)
    if isinstance(node, c_ast.Cast):
        return _interval(node.expr, env)
    if isinstance(node, c_ast.UnaryOp) and node.op in ("-", "+"):
        iv = _interval(node.expr, env)
        return None if iv is None else ((-iv[1], -iv[0]) if node.op == "-" else iv)
    if isinstance(node, c_ast.BinaryOp):
        a, b = _interval(node.left, env), _interval(node.right, env)
        if a is None or b is None:
            return None
        if node.op == "+":
            return a[0] + b[0], a[1] + b[1]
        if node.op == "-":
            return a[0] - b[1], a[1] - b[0]
        if node.op == "*":
            p = [x * y for x in a for y in b]
            return min(p), max(p)
        if node.op in ("/", ">>", "%") and b[0] > 0 and a[0] >= 0:
            if node.op == "%":
                return 0, min(a[1], b[1] - 1)
            return (a[0] // b[1], a[1] // b[0]) if node.op == "/" else (a[0] >> b[1], a[1] >> b[0])
        if node.op == "<<" and b[0] >= 0 and a[0] >= 0:
            return a[0] << b[0], a[1] << b[1]
    return None


@dataclass(frozen=True)
class _Span:
    """A loop whose start and bound are unknown but a constant distance apart: the bound as seen from 0."""

    trips: int


def _linear(node: Any, env: Mapping[str, Interval]) -> dict[str, int] | None:
    """``node`` as a linear form {variable: coefficient, "": constant}, or None."""
    from pycparser import c_ast

    iv = _interval(node, env)
    if iv is not None and iv[0] == iv[1]:
        return {"": iv[0]}
    if isinstance(node, c_ast.ID):
        return {node.name: 1}
    if isinstance(node, c_ast.BinaryOp) and node.op in ("+", "-", "*"):
        a, b = _linear(node.left, env), _linear(node.right, env)
        if a is None or b is None:
            return None
        if node.op == "*":
            if set(a) == {""}:
                a, b = b, a
            if set(b) != {""}:
                return None
            return {k: v * b[""] for k, v in a.items()}
        sign = 1 if node.op == "+" else -1
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + sign * v
        return out
    return None


def _span(start: Any, bound: Any, env: Mapping[str, Interval]) -> int | None:
    """bound - start when it is a constant (the unknowns cancel), else None."""
    a, b = _linear(start, env), _linear(bound, env)
    if a is None or b is None:
        return None
    diff = {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}
    return diff.get("", 0) if all(v == 0 for k, v in diff.items() if k) else None


def _tripcount_pragma(body: Any) -> int | None:
    from pycparser import c_ast

    for node in _walk(body) if body is not None else ():
        if isinstance(node, c_ast.Pragma) and "LOOP_TRIPCOUNT" in node.string:
            for part in node.string.split():
                if part.startswith("max="):
                    try:
                        return int(part[4:])
                    except ValueError:
                        return None
    return None


def _loop_header(node: Any, env: Mapping[str, Interval]) -> tuple[str, Interval, Any, str] | str:
    """(variable, init interval, bound expression, comparison) of a for loop, or why it has none."""
    from pycparser import c_ast

    init = node.init
    if isinstance(init, c_ast.DeclList) and len(init.decls) == 1:
        var, start = init.decls[0].name, init.decls[0].init
    elif isinstance(init, c_ast.Assignment) and init.op == "=" and isinstance(init.lvalue, c_ast.ID):
        var, start = init.lvalue.name, init.rvalue
    else:
        return "no single 'var = start' initialisation"
    cond = node.cond
    if isinstance(cond, c_ast.BinaryOp) and cond.op == "&&":  # 'i < N && i < T': the constant side bounds it
        cond = cond.left
    if not (isinstance(cond, c_ast.BinaryOp) and cond.op in ("<", "<=", ">", ">=", "!=")
            and isinstance(cond.left, c_ast.ID) and cond.left.name == var):
        return f"the condition does not compare '{var}' with a bound"
    iv = _interval(start, env)
    if iv is None:
        span = _span(start, cond.right, env)  # 'o = g * 4; o < (g + 1) * 4': g unknown, four trips
        if span is not None and cond.op in ("<", "<=", "!="):
            return var, (0, 0), _Span(span + (1 if cond.op == "<=" else 0)), "<"
        return f"the start of '{var}' is not a constant expression (nor a constant distance from its bound)"
    return var, iv, cond.right, cond.op


def _loops(fname: str, fn: Any, consts: Mapping[str, int]) -> list[str]:
    """Fixed loop bounds (see the module docstring)."""
    from pycparser import c_ast

    problems: list[str] = []
    counters: dict[str, int | None] = {}

    def counter_bound(var: str) -> int | None:
        if var not in counters:
            counters[var] = None  # while computing (a counter bounded by itself is unbounded)
            counters[var] = _counter_bound(fn, var, consts)
        return counters[var]

    def visit(node: Any, env: dict[str, Interval], trips: int) -> None:
        if isinstance(node, c_ast.For):
            head = _loop_header(node, env)
            count: int | None = None
            inner = dict(env)
            if isinstance(head, tuple):
                var, start, bound, op = head
                b = (0, bound.trips) if isinstance(bound, _Span) else _interval(bound, env)
                if b is None and isinstance(bound, c_ast.ID):
                    cb = counter_bound(bound.name)
                    b = None if cb is None else (0, cb)
                if b is not None:
                    if op in ("<", "!="):
                        count, inner[var] = max(0, b[1] - start[0]), (start[0], max(start[0], b[1] - 1))
                    elif op == "<=":
                        count, inner[var] = max(0, b[1] - start[0] + 1), (start[0], max(start[0], b[1]))
                    else:
                        lo = b[0] + (1 if op == ">" else 0)
                        count, inner[var] = max(0, start[1] - lo + 1), (min(lo, start[1]), start[1])
                if isinstance(bound, _Span):  # the trip count is known, the values of var are not
                    inner.pop(var, None)
                why = f"'{var}' runs to a bound that is not a constant expression"
            else:
                why = head
            if count is None:
                count = _tripcount_pragma(node.stmt)
                if count is None:
                    problems.append(f"function '{fname}': loop at line {node.coord.line}: {why} (no fixed "
                                    "bound; add #pragma HLS LOOP_TRIPCOUNT max=N or use a constant)")
                    count = 1
                elif isinstance(head, tuple):
                    inner[head[0]] = (min(head[1][0], 0), head[1][1] + count)
            visit(node.stmt, inner, trips * count)
            return
        for _, child in node.children():
            visit(child, env, trips)

    visit(fn.body, {k: (v, v) for k, v in consts.items()}, 1)
    return problems


def _counter_bound(fn: Any, var: str, consts: Mapping[str, int]) -> int | None:
    """The largest value ``var`` can reach if it starts at a constant and is only incremented (by a constant or a
    0/1 comparison) inside constant-bounded loops; else None."""
    from pycparser import c_ast

    total, start = 0, None
    env0 = {k: (v, v) for k, v in consts.items()}

    def trips_of(path: list[Any]) -> int | None:
        n, env = 1, dict(env0)
        for loop in path:
            head = _loop_header(loop, env)
            if not isinstance(head, tuple):
                return None
            v, st, bound, op = head
            b = (0, bound.trips) if isinstance(bound, _Span) else _interval(bound, env)
            if b is None or op not in ("<", "<=", "!="):
                return None
            hi = b[1] - (0 if op == "<=" else 1)
            n *= max(0, hi - st[0] + 1)
            if isinstance(bound, _Span):
                env.pop(v, None)
            else:
                env[v] = (st[0], max(st[0], hi))
        return n

    def visit(node: Any, path: list[Any]) -> bool:
        nonlocal total, start
        if isinstance(node, c_ast.Decl) and node.name == var:
            v = _const(node.init, consts) if node.init is not None else 0
            if v is None or path:
                return False
            start = v
        elif isinstance(node, c_ast.UnaryOp) and node.op in ("++", "p++") and _is(node.expr, var):
            n = trips_of(path)
            if n is None:
                return False
            total += n
        elif isinstance(node, c_ast.Assignment) and _is(node.lvalue, var):
            inc = _const(node.rvalue, consts) if node.op == "+=" else None
            if node.op == "+=" and inc is None and isinstance(node.rvalue, c_ast.BinaryOp) and \
                    node.rvalue.op in ("<", "<=", ">", ">=", "==", "!="):
                inc = 1
            n = trips_of(path)
            if inc is None or inc < 0 or n is None:
                return False
            total += inc * n
        elif isinstance(node, c_ast.UnaryOp) and node.op in ("--", "p--") and _is(node.expr, var):
            return False
        sub = [*path, node] if isinstance(node, c_ast.For) else path
        return all(visit(child, sub) for _, child in node.children())

    if not visit(fn.body, []) or start is None:
        return None
    return start + total


def _is(node: Any, var: str) -> bool:
    from pycparser import c_ast

    return isinstance(node, c_ast.ID) and node.name == var


def _arrays(fname: str, fn: Any, consts: Mapping[str, int]) -> list[str]:
    from pycparser import c_ast

    problems = []
    params = fn.decl.type.args.params if fn.decl.type.args is not None else []
    for p in params:
        if isinstance(p, c_ast.Decl):
            problems += [f"function '{fname}': parameter {msg}" for msg in _array_problems(p, consts, param=True)]
    for node in _walk(fn.body):
        if isinstance(node, c_ast.Decl):
            problems += [f"function '{fname}': {msg}" for msg in _array_problems(node, consts, param=False)]
    return problems


def _array_problems(decl: Any, consts: Mapping[str, int], *, param: bool) -> list[str]:
    from pycparser import c_ast

    out, t, first = [], decl.type, True
    while isinstance(t, (c_ast.ArrayDecl, c_ast.PtrDecl)):
        if isinstance(t, c_ast.ArrayDecl):
            open_first = first and param and t.dim is None
            if not open_first and (t.dim is None or _const(t.dim, consts) is None):
                out.append(f"array '{decl.name}' has a dimension that is not a constant (a variable-length array)")
        first = False
        t = t.type
    return out
