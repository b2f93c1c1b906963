"""Optional top functions of the HLS project, beside ``snn_run`` (m_axi arrays of unpacked spikes per step).

``snn_classify`` -- the on-chip readout (:mod:`snncompile.readout`, the one definition): runs T steps and
returns the scores (spike counts or the largest membrane) and the class instead of a spike train::

    void snn_classify(uint32_t T, const uint8_t in[][SNN_N_IN], int32_t score[SNN_READOUT_N], int32_t *cls);

``snn_stream`` -- AXI4-Stream interface with packed spikes: input spike k of step t is bit k % 32 of word
``t * SNN_IN_PACKED + k / 32`` (LSB first; unused high bits are 0). It outputs, per step, the Output nodes'
values packed the same way when they are 0/1 spikes (``SNN_OUT_PACKED`` words), else one int32 word per value;
with a readout, only the SNN_READOUT_WORDS readout words after the last step (scores, then the class)::

    void snn_stream(uint32_t T, const uint32_t in[SNN_T_MAX * SNN_IN_PACKED], <word> out[...]);

Both loop over the constant SNN_T_MAX and stop at the run-time T, as ``snn_run`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from snncompile.readout import Readout

from .cwrite import Code
from .lower import Lowering

INTERFACES = ("m_axi", "axis")
WORD = 32


@dataclass(frozen=True)
class TopOptions:
    """What the project's top level offers: the readout (None: none) and the interface of the HLS top."""

    readout: Readout | None = None
    interface: str = "m_axi"

    @property
    def top_name(self) -> str:
        """The function run_hls.tcl synthesises."""
        if self.interface == "axis":
            return "snn_stream"
        return "snn_classify" if self.readout is not None else "snn_run"


#: the default: snn_run over m_axi arrays, no readout
PLAIN = TopOptions()


def n_in(lw: Lowering) -> int:
    return sum(int(np.prod(lw.graph.shapes[n], dtype=np.int64)) for n in lw.graph.inputs)


def packed(n: int) -> int:
    """32-bit words holding n bits (at least one)."""
    return max(1, -(-n // WORD))


def outputs_binary(lw: Lowering) -> bool:
    """Every Output node carries 0/1 spikes: the stream packs them into bits."""
    return all(lw.outputs[n].binary for n in lw.graph.outputs)


def out_words(lw: Lowering) -> int:
    n = sum(lw.outputs[o].size for o in lw.graph.outputs)
    return packed(n) if outputs_binary(lw) else n


def header(lw: Lowering, opts: TopOptions) -> list[str]:
    """#defines and prototypes for snn.h."""
    lines = []
    if opts.readout is not None:
        r = opts.readout
        lines += [f"/* readout '{r.mode}' of Output node '{lw.labels[r.output]}' (snncompile.readout): "
                  "score[n], then the class; ties go to the smallest n */".replace("*/ ", "* / "),
                  f"#define SNN_READOUT_N {r.n}", f"#define SNN_READOUT_WORDS {r.words}",
                  f"#define SNN_READOUT_CLASS {1 if r.has_class else 0}",
                  "void snn_classify(uint32_t T, const uint8_t in[][SNN_N_IN], int32_t score[SNN_READOUT_N], "
                  "int32_t *cls);"]
    if opts.interface == "axis":
        word = "int32_t" if opts.readout is not None or not outputs_binary(lw) else "uint32_t"
        count = "SNN_READOUT_WORDS" if opts.readout is not None else "SNN_T_MAX * SNN_OUT_PACKED"
        lines += ["/* AXI4-Stream top: packed input spikes (bit k % 32 of word k / 32, per step) */",
                  f"#define SNN_IN_PACKED {packed(n_in(lw))}", f"#define SNN_OUT_PACKED {out_words(lw)}",
                  f"#define SNN_OUT_BITS {1 if outputs_binary(lw) and opts.readout is None else 0}",
                  "typedef " + word + " snn_out_word_t;",
                  f"void snn_stream(uint32_t T, const uint32_t in[SNN_T_MAX * SNN_IN_PACKED], "
                  f"snn_out_word_t out[{count}]);"]
    return lines


def _step_outputs(lw: Lowering, code: Code) -> list[str]:
    """Declare one local array per Output node (what snn_step writes); their names."""
    names = []
    for j, name in enumerate(lw.graph.outputs):
        op = lw.outputs[name]
        code(f"{op.ctype.name} o{j}[{op.size}];")
        names.append(f"o{j}")
    return names


def _readout_body(lw: Lowering, r: Readout, code: Code, step: Callable[[Code, list[str]], object], t_max: int
                  ) -> None:
    """The readout loop: snn_reset, T steps (``step`` writes one), the score update, then the argmax scan into
    s[] and best."""
    o = _step_outputs(lw, code)[lw.graph.outputs.index(r.output)]
    outs = [f"o{j}" for j in range(len(lw.graph.outputs))]
    code("int32_t s[SNN_READOUT_N];", "uint32_t t, k, best = 0;")
    code("snn_reset();")
    with code.block("for (k = 0; k < SNN_READOUT_N; k++)"):
        code.pragma("PIPELINE II=1")
        code("s[k] = 0; /* counts start at 0; max-v takes step 0's value (and stays 0 when T = 0) */")
    with code.block("for (t = 0; t < SNN_T_MAX; t++)"):
        code.pragma(f"LOOP_TRIPCOUNT min=1 max={t_max}")
        code("if (t >= T) break;")
        step(code, outs)
        with code.block("for (k = 0; k < SNN_READOUT_N; k++)"):
            code.pragma("PIPELINE II=1")
            if r.mode == "max-v":
                code(f"if (t == 0 || (int32_t){o}[k] > s[k]) s[k] = (int32_t){o}[k];")
            else:
                code(f"s[k] += (int32_t){o}[k];")
    with code.block("for (k = 1; k < SNN_READOUT_N; k++)"):
        code.pragma("PIPELINE II=1")
        code("if (s[k] > s[best]) best = k; /* strictly larger: ties keep the smallest index */")


def source(lw: Lowering, opts: TopOptions, t_max: int) -> Code:
    """The C of the optional tops (appended to snn.c)."""
    code = Code()
    r = opts.readout
    if r is not None:
        code("")
        with code.block("void snn_classify(uint32_t T, const uint8_t in[][SNN_N_IN], int32_t score[SNN_READOUT_N], "
                        "int32_t *cls)"):
            if opts.interface == "m_axi":
                code.pragma(f"INTERFACE mode=m_axi port=in offset=slave bundle=gmem0 depth={t_max * n_in(lw)}")
                code.pragma(f"INTERFACE mode=m_axi port=score offset=slave bundle=gmem1 depth={r.n}")
                code.pragma("INTERFACE mode=s_axilite port=cls").pragma("INTERFACE mode=s_axilite port=T")
                code.pragma("INTERFACE mode=s_axilite port=return")
            _readout_body(lw, r, code, lambda c, outs: c(f"snn_step(in[t], {', '.join(outs)});"), t_max)
            with code.block("for (k = 0; k < SNN_READOUT_N; k++)"):
                code.pragma("PIPELINE II=1")
                code("score[k] = s[k];")
            code("*cls = (int32_t)best;")
    if opts.interface == "axis":
        code("")
        count = "SNN_READOUT_WORDS" if r is not None else "SNN_T_MAX * SNN_OUT_PACKED"
        with code.block(f"void snn_stream(uint32_t T, const uint32_t in[SNN_T_MAX * SNN_IN_PACKED], "
                        f"snn_out_word_t out[{count}])"):
            code.pragma(f"INTERFACE mode=axis port=in depth={t_max * packed(n_in(lw))}")
            code.pragma(f"INTERFACE mode=axis port=out depth={r.words if r is not None else t_max * out_words(lw)}")
            code.pragma("INTERFACE mode=s_axilite port=T").pragma("INTERFACE mode=s_axilite port=return")
            code("uint8_t x[SNN_N_IN];", "uint32_t w = 0;")
            if r is not None:
                _stream_readout(lw, r, code, t_max)
            else:
                _stream_spikes(lw, code, t_max)
    return code


def _unpack(code: Code) -> None:
    """x[] = this step's input spikes, read from the stream in order (w: the current word)."""
    with code.block("for (k = 0; k < SNN_N_IN; k++)"):
        code.pragma("PIPELINE II=1")
        code(f"if (k % {WORD} == 0) w = in[t * SNN_IN_PACKED + k / {WORD}];")
        code(f"x[k] = (uint8_t)((w >> (k % {WORD})) & 1u);")


def _stream_spikes(lw: Lowering, code: Code, t_max: int) -> None:
    outs = _step_outputs(lw, code)
    binary = outputs_binary(lw)
    code("uint32_t t, k, j;")
    code("snn_reset();")
    with code.block("for (t = 0; t < SNN_T_MAX; t++)"):
        code.pragma(f"LOOP_TRIPCOUNT min=1 max={t_max}")
        code("if (t >= T) break;")
        _unpack(code)
        code(f"snn_step(x, {', '.join(outs)});")
        code("w = 0;", "j = 0;")
        for o, name in zip(outs, lw.graph.outputs, strict=True):
            with code.block(f"for (k = 0; k < {lw.outputs[name].size}; k++, j++)"):
                code.pragma("PIPELINE II=1")
                if binary:
                    code(f"w |= (uint32_t){o}[k] << (j % {WORD});")
                    code(f"if (j % {WORD} == {WORD - 1}) {{ out[t * SNN_OUT_PACKED + j / {WORD}] = w; w = 0; }}")
                else:
                    code(f"out[t * SNN_OUT_PACKED + j] = (snn_out_word_t){o}[k];")
        if binary:
            code(f"if (j % {WORD} != 0) out[t * SNN_OUT_PACKED + j / {WORD}] = w;")


def _stream_readout(lw: Lowering, r: Readout, code: Code, t_max: int) -> None:
    def step(c: Code, outs: list[str]) -> None:
        _unpack(c)
        c(f"snn_step(x, {', '.join(outs)});")

    _readout_body(lw, r, code, step, t_max)
    with code.block("for (k = 0; k < SNN_READOUT_N; k++)"):
        code.pragma("PIPELINE II=1")
        code("out[k] = s[k];")
    if r.has_class:
        code("out[SNN_READOUT_N] = (int32_t)best;")
