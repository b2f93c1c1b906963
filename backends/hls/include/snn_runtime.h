/*
 * snn_runtime.h -- the integer rules of snncompile's fixed-point neuron, in C99.
 *
 * One hand-written copy (snncompile/backends/hls/include/), shared by every
 * generated project. Each function is the C form of one rule in
 * snncompile/quant/intops.py and backends/bitsim/neuron.py (the definition);
 * the generated snn.c only calls them. All arithmetic is int64_t: on a valid
 * QGraph, state widths <= 32 bits and decay multipliers <= 2^16 keep every
 * product below 2^48, and the backend's check() proves the remaining sums fit.
 *
 * Signed shifts are avoided where C99 leaves them undefined or
 * implementation-defined: a left shift is a multiplication, a right shift of a
 * negative value is written as ~((~a) >> s) (floor division by 2^s).
 */
#ifndef SNN_RUNTIME_H
#define SNN_RUNTIME_H

#include <stdint.h>

/* gcc (C-simulation) ignores the HLS directives; say so once instead of once per pragma. */
#if defined(__GNUC__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#endif

enum { SNN_ROUND_TOWARD_ZERO = 0, SNN_ROUND_FLOOR = 1, SNN_ROUND_NEAREST = 2, SNN_ROUND_SHIFT_SUBTRACT = 3 };
enum { SNN_SATURATE = 0, SNN_WRAP = 1, SNN_WRAP_LOIHI = 2 };
enum { SNN_RESET_ZERO = 0, SNN_RESET_SUBTRACT = 1, SNN_RESET_NONE = 2 };
enum { SNN_TIMING_IMMEDIATE = 0, SNN_TIMING_DELAYED = 1, SNN_TIMING_SNNTORCH = 2 };

/* floor(a / 2^s), s >= 0 */
static inline int64_t snn_floor_shr(int64_t a, int s)
{
    return a >= 0 ? a >> s : ~((~a) >> s);
}

/* floor(a / b), b >= 1 (Python's //) */
static inline int64_t snn_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Weight-layer output scaling: acc << shift (shift >= 0) or floor(acc / 2^-shift). */
static inline int64_t snn_shift_round(int64_t acc, int shift)
{
    return shift >= 0 ? acc * ((int64_t)1 << shift) : snn_floor_shr(acc, -shift);
}

/* decay(y, m) = round(y*m / 2^frac): toward_zero | floor | nearest (half up) | shift_subtract, the leak
 * y - (y >> k), which equals ceil(y*m / 2^frac) for the only multipliers it admits, m = 2^frac - 2^(frac-k). */
static inline int64_t snn_decay(int64_t y, int64_t m, int frac, int rounding)
{
    int64_t p = y * m;
    if (rounding == SNN_ROUND_SHIFT_SUBTRACT) {
        return snn_floor_shr(p + ((int64_t)1 << frac) - 1, frac);
    }
    if (rounding == SNN_ROUND_FLOOR) {
        return snn_floor_shr(p, frac);
    }
    if (rounding == SNN_ROUND_NEAREST) {
        return snn_floor_shr(p + ((int64_t)1 << (frac - 1)), frac);
    }
    return p < 0 ? -((-p) >> frac) : p >> frac;
}

/* Fit y into a bits-wide register: saturate to +-(2^(bits-1)-1), two's-complement wrap,
 * or wrap_loihi (one correction by 2^bits, kept range (-2^(bits-1), 2^(bits-1)]). */
static inline int64_t snn_clamp(int64_t y, int bits, int policy)
{
    const int64_t half = (int64_t)1 << (bits - 1);
    const int64_t full = (int64_t)1 << bits;
    if (policy == SNN_SATURATE) {
        return y > half - 1 ? half - 1 : (y < -(half - 1) ? -(half - 1) : y);
    }
    if (policy == SNN_WRAP) {
        return (int64_t)((uint64_t)(y + half) & (uint64_t)(full - 1)) - half;
    }
    return y > half ? y - full : (y <= -half ? y + full : y);
}

/* Spike (0/1) or spike count min(floor(v/theta), cap) (at least 1) where v crosses theta. */
static inline int64_t snn_fire(int64_t v, int64_t theta, int compare_ge, int multi, int64_t cap)
{
    int64_t count;
    int hit = compare_ge ? v >= theta : v > theta;
    if (!hit) {
        return 0;
    }
    if (!multi) {
        return 1;
    }
    count = snn_floor_div(v, theta > 1 ? theta : 1);
    return count < 1 ? 1 : (count > cap ? cap : count);
}

/* The options of one neuron node (Semantics + kind + widths); a compile-time constant per node. */
typedef struct {
    int cuba;          /* CubaLI / CubaLIF: has the current register i */
    int spiking;       /* IF / LIF / CubaLIF */
    int add_then_decay;
    int compare_ge;
    int multi;
    int64_t cap;
    int reset;         /* SNN_RESET_* */
    int timing;        /* SNN_TIMING_* */
    int zero_total;    /* delayed reset to zero: 1 = "total", 0 = "state" */
    int rounding;
    int overflow_i;
    int overflow_v;
    int frac_bits;
    int i_bits;
    int v_bits;
    int input_shift;
} snn_neuron_cfg;

/* Per-neuron integer parameters. */
typedef struct {
    int64_t alpha, beta, theta, v_reset, bias;
    int64_t v_min; /* lower membrane clamp after the reset; INT64_MIN: none */
} snn_neuron_par;

/*
 * One step of one neuron on its summed input x (already delayed by the synapse delay).
 * i, v: the registers; s: the previous step's spikes (read by timing "delayed").
 * Returns the output: spikes for spiking kinds, v for LI / CubaLI / I.
 */
static inline int64_t snn_neuron_step(const snn_neuron_cfg *c, const snn_neuron_par *p, int64_t x,
                                      int64_t *i, int64_t *v, int64_t *s)
{
    int64_t drive, decayed, add, vn, sn, r, d;
    x = x * ((int64_t)1 << c->input_shift);
    if (c->cuba) {
        if (c->add_then_decay) {
            *i = snn_clamp(snn_decay(*i + x, p->alpha, c->frac_bits, c->rounding), c->i_bits, c->overflow_i);
        } else {
            *i = snn_clamp(snn_decay(*i, p->alpha, c->frac_bits, c->rounding) + x, c->i_bits, c->overflow_i);
        }
        drive = *i;
    } else {
        drive = x;
    }
    decayed = snn_decay(*v, p->beta, c->frac_bits, c->rounding);
    add = drive + p->bias;
    if (!c->spiking) {
        *v = snn_clamp(decayed + add, c->v_bits, c->overflow_v);
        return *v;
    }
    if (c->timing == SNN_TIMING_IMMEDIATE) {
        vn = snn_clamp(decayed + add, c->v_bits, c->overflow_v);
        sn = snn_fire(vn, p->theta, c->compare_ge, c->multi, c->cap);
        if (c->reset == SNN_RESET_SUBTRACT) {
            vn -= sn * p->theta;
        } else if (c->reset == SNN_RESET_ZERO && sn > 0) {
            vn = p->v_reset;
        }
    } else {
        /* r: the spikes whose reset is applied now (last step's, or re-fired on the recorded v) */
        r = c->timing == SNN_TIMING_DELAYED ? *s : snn_fire(*v, p->theta, c->compare_ge, c->multi, c->cap);
        if (c->reset == SNN_RESET_SUBTRACT) {
            vn = snn_clamp(decayed + add - r * p->theta, c->v_bits, c->overflow_v);
        } else if (c->reset == SNN_RESET_ZERO && !c->zero_total) {
            vn = snn_clamp((r > 0 ? p->v_reset : decayed) + add, c->v_bits, c->overflow_v);
        } else if (c->reset == SNN_RESET_ZERO) {
            vn = r > 0 ? p->v_reset : snn_clamp(decayed + add, c->v_bits, c->overflow_v);
        } else {
            vn = snn_clamp(decayed + add, c->v_bits, c->overflow_v);
        }
        sn = snn_fire(vn, p->theta, c->compare_ge, c->multi, c->cap);
        if (c->timing == SNN_TIMING_SNNTORCH) {
            d = sn - r;
            if (c->reset == SNN_RESET_SUBTRACT) {
                vn = snn_clamp(vn - d * p->theta, c->v_bits, c->overflow_v);
            } else if (c->reset == SNN_RESET_ZERO) {
                vn = snn_clamp(vn - d * (vn - p->v_reset), c->v_bits, c->overflow_v);
            }
        }
    }
    if (vn < p->v_min) {
        vn = p->v_min;
    }
    *v = vn;
    *s = sn;
    return sn;
}

#endif /* SNN_RUNTIME_H */
