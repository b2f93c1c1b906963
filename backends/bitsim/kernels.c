/* bitsim fast kernels: the integer neuron time loop and a spike-sparse dense accumulation.
 *
 * These reproduce backends/bitsim/neuron.py (IntNeuronState.step, with its register clamp
 * events) and ops.py (QDense) bit for bit; neuron.py is the definition. All arithmetic is int64 and is compiled
 * with -fwrapv, so an overflow wraps modulo 2^64 exactly as numpy's int64 does.
 * Right shifts of negative values are arithmetic (gcc's documented behaviour), as numpy's >>.
 *
 * Work is split over `threads` POSIX threads by independent neurons (neuron kernel) or rows
 * (dense kernels); each thread writes only its own slice, so the result does not depend on
 * the thread count. Loaded with ctypes by backends/bitsim/ckernel.py, which owns the option
 * encoding below.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* opt[] layout (int64 each); ckernel.py builds it from a QNeuron and its Semantics */
enum {
    O_N, O_CUBA, O_SPIKING, O_COMPARE_GE, O_RESET, O_TIMING, O_DELAYED_TOTAL, O_SYN_DELAY,
    O_MULTI, O_CAP, O_ADD_THEN_DECAY, O_ROUNDING, O_OVERFLOW_I, O_OVERFLOW_V,
    O_INPUT_SHIFT, O_FRAC_BITS, O_I_BITS, O_V_BITS, O_CHECK, O_LIMIT_X, O_LIMIT_V, O_LIMIT_I, O_COUNT
};
enum { RESET_ZERO, RESET_SUBTRACT, RESET_NONE };
enum { TIMING_IMMEDIATE, TIMING_DELAYED, TIMING_SNNTORCH_IMMEDIATE };
enum { ROUND_TOWARD_ZERO, ROUND_FLOOR, ROUND_NEAREST, ROUND_SHIFT_SUBTRACT };
enum { OVF_SATURATE, OVF_WRAP, OVF_WRAP_LOIHI };
/* par[] order: per-neuron int64 arrays of length opt[O_N] */
/* P_V_MIN: the lower membrane clamp after the reset; INT64_MIN where the node has none (max() then keeps v) */
enum { P_ALPHA, P_BETA, P_THRESHOLD, P_V_RESET, P_BIAS, P_V_MIN, P_COUNT };
#define BS_MAX_THREADS 64

int bs_abi_version(void) { return 8; }

/* ---- a parallel for over [0, total): chunk c runs fn(ctx, lo, hi), which returns 0 (done), < 0 (an error)
 * or 1 + the step at which it stopped; the result is the first error, else the smallest stop, else 0 ---- */
typedef int64_t (*bs_range_fn)(void *ctx, int64_t lo, int64_t hi);
typedef struct { bs_range_fn fn; void *ctx; int64_t lo, hi, rc; } bs_chunk;

static void *bs_chunk_run(void *arg) {
    bs_chunk *c = (bs_chunk *)arg;
    c->rc = c->fn(c->ctx, c->lo, c->hi);
    return NULL;
}

static int64_t bs_parallel_for(int threads, int64_t total, bs_range_fn fn, void *ctx) {
    bs_chunk chunk[BS_MAX_THREADS];
    pthread_t tid[BS_MAX_THREADS];
    int started[BS_MAX_THREADS] = {0};
    int64_t rc = 0;
    if (threads > BS_MAX_THREADS) threads = BS_MAX_THREADS;
    if (threads > total) threads = (int)total;
    if (threads <= 1) return fn(ctx, 0, total);
    for (int c = 0; c < threads; c++) {
        chunk[c] = (bs_chunk){fn, ctx, total * c / threads, total * (c + 1) / threads, 0};
        if (c > 0) started[c] = pthread_create(&tid[c], NULL, bs_chunk_run, &chunk[c]) == 0;
    }
    for (int c = 0; c < threads; c++)
        if (!started[c]) bs_chunk_run(&chunk[c]); /* chunk 0, and any chunk whose thread did not start */
    for (int c = 0; c < threads; c++) {
        if (started[c]) pthread_join(tid[c], NULL);
        const int64_t r = chunk[c].rc;
        if (rc >= 0 && (r < 0 || (r > 0 && (rc == 0 || r < rc)))) rc = r;
    }
    return rc;
}

/* ---- the integer neuron (intops.decay / clamp / fire and neuron.IntNeuronState.step) ---- */

/* round(y*m / 2^d): toward zero, floor, nearest (half up), or up: the shift-subtract leak y - (y >> k) is
   ceil(y*m / 2^d) for the only multipliers it admits, m = 2^d - 2^(d-k) (snncompile/quant/shiftleak.py) */
static int64_t decay(int64_t y, int64_t m, int d, int rounding) {
    int64_t p = y * m;
    if (rounding == ROUND_FLOOR) return p >> d;
    if (rounding == ROUND_SHIFT_SUBTRACT) return (p + ((int64_t)1 << d) - 1) >> d;
    if (rounding == ROUND_NEAREST) return (p + ((int64_t)1 << (d - 1))) >> d;
    const int64_t sign = p >> 63; /* 0 or -1: branch-free |p| and sign restore (toward zero) */
    const int64_t mag = ((p ^ sign) - sign) >> d;
    return (mag ^ sign) - sign;
}

/* fit y into a bits-wide register: saturate, two's-complement wrap, or Lava's single correction; where the
 * result differs from y (a clamp event, snncompile/quant/clamps.py) set bit `which` (CLAMP_I, CLAMP_V) in *hits.
 * Inlined: the counting then costs less than the call it replaces. */
enum { CLAMP_I = 1, CLAMP_V = 2 };
static inline int64_t clamp_reg(int64_t y, int bits, int policy, int *hits, int which) {
    const int64_t half = (int64_t)1 << (bits - 1), full = (int64_t)1 << bits;
    int64_t c;
    if (policy == OVF_SATURATE) c = y > half - 1 ? half - 1 : (y < 1 - half ? 1 - half : y);
    else if (policy == OVF_WRAP) c = (int64_t)((uint64_t)(y + half) & ((uint64_t)full - 1)) - half;
    else c = y > half ? y - full : (y <= -half ? y + full : y);
    *hits |= (c != y) * which;
    return c;
}

/* spike (0/1) or spike count min(v // threshold, cap) */
static int64_t fire(int64_t v, int64_t th, int ge, int multi, int64_t cap) {
    const int64_t hit = ge ? v >= th : v > th;
    if (!multi || !hit) return hit;
    int64_t d = th > 1 ? th : 1;
    int64_t q = v / d;
    if (v % d != 0 && v < 0) q -= 1; /* floor division (d >= 1) */
    return q < 1 ? 1 : (q > cap ? cap : q);
}

/* the options and parameters of one QNeuron, decoded once from opt[] / par[] */
typedef struct {
    int64_t n, cap, gain;
    int cuba, spiking, ge, reset, timing, total, sd, multi, atd, rnd, ovi, ovv, fb, ib, vb;
    const int64_t *alpha, *beta, *theta, *v_reset, *bias, *v_min;
} bs_nopt;

static bs_nopt bs_nopt_make(const int64_t *opt, const int64_t *const *par) {
    bs_nopt o = {opt[O_N], opt[O_CAP], (int64_t)1 << opt[O_INPUT_SHIFT], (int)opt[O_CUBA], (int)opt[O_SPIKING],
                 (int)opt[O_COMPARE_GE], (int)opt[O_RESET], (int)opt[O_TIMING], (int)opt[O_DELAYED_TOTAL],
                 (int)opt[O_SYN_DELAY], (int)opt[O_MULTI], (int)opt[O_ADD_THEN_DECAY], (int)opt[O_ROUNDING],
                 (int)opt[O_OVERFLOW_I], (int)opt[O_OVERFLOW_V], (int)opt[O_FRAC_BITS], (int)opt[O_I_BITS],
                 (int)opt[O_V_BITS], par[P_ALPHA], par[P_BETA], par[P_THRESHOLD], par[P_V_RESET], par[P_BIAS], par[P_V_MIN]};
    return o;
}

/* one step of neuron j whose state is *v, *i, *s, *xp, on the step's summed input x_now (neuron.py's
 * IntNeuronState.step): returns the output (spikes, or v for a readout), sets the state; the registers
 * a clamp changed are ORed into *hits (CLAMP_I, CLAMP_V). Inlined into every loop that steps neurons. */
static inline __attribute__((always_inline)) int64_t bs_neuron_step(const bs_nopt *o, int64_t j, int64_t x_now,
                                                                     int64_t *v, int64_t *i, int64_t *s,
                                                                     int64_t *xp, int *hits) {
    const int64_t in = (o->sd ? *xp : x_now) * o->gain; /* synapse_delay 1: the previous step's input */
    if (o->sd) *xp = x_now;
    int64_t drive = in;
    if (o->cuba) {
        int64_t cur = o->atd ? decay(*i + in, o->alpha[j], o->fb, o->rnd) : decay(*i, o->alpha[j], o->fb, o->rnd) + in;
        cur = clamp_reg(cur, o->ib, o->ovi, hits, CLAMP_I);
        *i = cur;
        drive = cur;
    }
    const int64_t decayed = decay(*v, o->beta[j], o->fb, o->rnd), fresh = drive + o->bias[j];
    int64_t vv, sp;
    if (!o->spiking) {
        vv = clamp_reg(decayed + fresh, o->vb, o->ovv, hits, CLAMP_V);
        sp = vv; /* a readout's output is its v */
    } else {
        const int64_t th = o->theta[j], vr = o->v_reset[j];
        const int ge = o->ge, multi = o->multi, reset = o->reset, vb = o->vb, ovv = o->ovv;
        const int64_t cap = o->cap;
        if (o->timing == TIMING_IMMEDIATE) {
            vv = clamp_reg(decayed + fresh, vb, ovv, hits, CLAMP_V);
            sp = fire(vv, th, ge, multi, cap);
            if (reset == RESET_SUBTRACT) vv -= sp * th;
            else if (reset == RESET_ZERO && sp > 0) vv = vr;
        } else {
            const int64_t r = o->timing == TIMING_DELAYED ? *s : fire(*v, th, ge, multi, cap);
            if (reset == RESET_SUBTRACT) vv = clamp_reg(decayed + fresh - r * th, vb, ovv, hits, CLAMP_V);
            else if (reset == RESET_ZERO && !o->total)
                vv = clamp_reg((r > 0 ? vr : decayed) + fresh, vb, ovv, hits, CLAMP_V);
            else if (reset == RESET_ZERO) vv = r > 0 ? vr : clamp_reg(decayed + fresh, vb, ovv, hits, CLAMP_V);
            else vv = clamp_reg(decayed + fresh, vb, ovv, hits, CLAMP_V);
            sp = fire(vv, th, ge, multi, cap);
            if (o->timing == TIMING_SNNTORCH_IMMEDIATE) {
                const int64_t d = sp - r;
                if (reset == RESET_SUBTRACT) vv = clamp_reg(vv - d * th, vb, ovv, hits, CLAMP_V);
                else if (reset == RESET_ZERO) vv = clamp_reg(vv - d * (vv - vr), vb, ovv, hits, CLAMP_V);
            }
        }
        *s = sp;
        if (vv < o->v_min[j]) vv = o->v_min[j]; /* the lower clamp after the reset (INT64_MIN: none) */
    }
    *v = vv;
    return sp;
}

/* the clamp events `hits` (CLAMP_I | CLAMP_V) of neuron k (of bn) at step t: cc counts them per neuron,
 * cf holds the step of each neuron's first. Out of line: the loops keep no counter state in registers. */
__attribute__((noinline, cold)) static void note_clamps(int64_t *cc, int64_t *cf, int64_t bn, int64_t k, int64_t t,
                                                        int hits) {
    for (int r = 0; r < 2; r++)
        if (hits & (r ? CLAMP_V : CLAMP_I) && cc[r * bn + k]++ == 0) cf[r * bn + k] = t;
}

typedef struct {
    const int64_t *opt, *const *par, *x;
    int64_t T, bn, *v, *i, *s, *xp, *out, *v_out, *i_out;
    int64_t *cc, *cf, t0; /* clamp events [2, bn] (register i, then v) and the step number of x[0] */
} bs_neuron_job;

static int64_t mag(int64_t y) { /* |y|, wrapping like numpy's abs (|INT64_MIN| stays negative) */
    const int64_t sign = y >> 63;
    return (y ^ sign) - sign;
}

/* the operands neuron.py refuses: |input << shift|, |v|, |i| (or |i + input|) at or beyond their limits
 * (ckernel.py sets opt[O_CHECK] = 0 when its static bounds show that none can be reached) */
static int refused(int64_t in, int64_t v, int64_t i, int atd, const int64_t lim[3]) {
    return (mag(in) >= lim[0]) | (mag(v) >= lim[1]) | (mag(atd ? i + in : i) >= lim[2]);
}

/* neurons [lo, hi) of the flattened [B*n] layout, for all T steps. At the first refused operand (step t)
 * it returns 1 + t; when T == 1 every neuron is checked before any state changes, so the state is then
 * exactly as before the step (for the caller to hand to the definition). v_out / i_out may be NULL (not
 * recorded). */
static int64_t bs_neuron_range(void *ctx, int64_t lo, int64_t hi) {
    const bs_neuron_job *J = (const bs_neuron_job *)ctx;
    const bs_nopt o = bs_nopt_make(J->opt, J->par);
    const int64_t n = o.n, bn = J->bn, *x = J->x;
    int64_t *restrict v = J->v, *restrict i = J->i, *restrict s = J->s, *restrict xp = J->xp;
    int64_t *restrict out = J->out, *restrict v_out = J->v_out, *restrict i_out = J->i_out;
    const int64_t lim[3] = {J->opt[O_LIMIT_X], J->opt[O_LIMIT_V], J->opt[O_LIMIT_I]};
    const int atomic = J->T == 1, check = (int)J->opt[O_CHECK];
    for (int64_t t = 0; t < J->T; t++) {
        for (int64_t k = lo; check && atomic && k < hi; k++)
            if (refused((o.sd ? xp[k] : x[t * bn + k]) * o.gain, v[k], i[k], o.atd, lim)) return 1 + t;
        for (int64_t k0 = lo; k0 < hi;) { /* a run of neurons j0.. of one sample */
            const int64_t j0 = k0 % n, stop = hi < k0 + n - j0 ? hi : k0 + n - j0;
            for (int64_t k = k0, j = j0; k < stop; k++, j++) {
                const int64_t at = t * bn + k;
                if (check && !atomic && refused((o.sd ? xp[k] : x[at]) * o.gain, v[k], i[k], o.atd, lim))
                    return 1 + t;
                int hits = 0;
                out[at] = bs_neuron_step(&o, j, x[at], &v[k], &i[k], &s[k], &xp[k], &hits);
                if (v_out) v_out[at] = v[k];
                if (i_out) i_out[at] = i[k];
                if (__builtin_expect(hits != 0, 0)) note_clamps(J->cc, J->cf, bn, k, J->t0 + t, hits);
            }
            k0 = stop;
        }
    }
    return 0;
}

/* Run one QNeuron (not Threshold) for T steps over B samples of n neurons.
 *   x:      int64 [T, B*n], the summed input of each step
 *   v, i, s, xp: int64 [B*n] state (membrane, current, last spikes, last input), updated in place
 *   out, v_out, i_out: int64 [T, B*n] traces (v_out, i_out may be NULL: not recorded; i_out NULL for
 *           non-Cuba kinds)
 *   cc, cf: int64 [2, B*n] clamp events of register i (row 0) and v (row 1): per neuron the count, updated in
 *           place, and the step (t0 + t) of its first event, written when the count leaves 0
 * Returns 0; 1 + t when an operand is out of range at step t (see bs_neuron_range; with several threads
 * other neurons may have advanced further); or -1 when opt holds a value this kernel does not know.
 */
/* 1 when opt[] holds a value this kernel does not know */
static int bs_opt_invalid(const int64_t *opt) {
    const int64_t reset = opt[O_RESET], timing = opt[O_TIMING], rnd = opt[O_ROUNDING];
    const int64_t ovi = opt[O_OVERFLOW_I], ovv = opt[O_OVERFLOW_V];
    return reset < RESET_ZERO || reset > RESET_NONE || timing < TIMING_IMMEDIATE ||
           timing > TIMING_SNNTORCH_IMMEDIATE || rnd < ROUND_TOWARD_ZERO || rnd > ROUND_SHIFT_SUBTRACT ||
           ovi < OVF_SATURATE || ovi > OVF_WRAP_LOIHI || ovv < OVF_SATURATE || ovv > OVF_WRAP_LOIHI ||
           opt[O_FRAC_BITS] < 1 || opt[O_I_BITS] < 2 || opt[O_I_BITS] > 62 || opt[O_V_BITS] < 2 ||
           opt[O_V_BITS] > 62 || opt[O_N] < 1 || opt[O_CAP] < 1 || opt[O_INPUT_SHIFT] < 0 || opt[O_INPUT_SHIFT] > 62;
}

int64_t bs_neuron_run(const int64_t *opt, const int64_t *const *par, int64_t T, int64_t B, const int64_t *x,
                      int64_t *v, int64_t *i, int64_t *s, int64_t *xp, int64_t *out, int64_t *v_out, int64_t *i_out,
                      int64_t *cc, int64_t *cf, int64_t t0, int threads) {
    if (bs_opt_invalid(opt) || cc == NULL || cf == NULL) return -1;
    bs_neuron_job job = {opt, par, x, T, B * opt[O_N], v, i, s, xp, out, v_out, i_out, cc, cf, t0};
    return bs_parallel_for(threads, job.bn, bs_neuron_range, &job);
}

/* ---- spike-sparse dense layers: out[r, c] = bias[c] + sum over j with x[r, j] != 0 of x[r, j] * wt[j, c] ---- */

/* gcc on x86-64: one clone per vector width, picked at load time (the integer results are identical);
 * x86-64-v4 (AVX-512 F/BW/DQ/VL: 64-bit multiplies and 16-bit lanes in 512-bit vectors) from gcc 12 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define BS_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx512f", "avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define BS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BS_VECTOR_CLONES
#endif

typedef struct {
    int64_t k, m;
    const int64_t *x, *bias;
    const void *wt;
    int64_t *out;
} bs_dense_job;

/* the indices of the non-zero entries of x[0..k) */
static int64_t bs_active(const int64_t *x, int64_t k, int64_t *idx) {
    int64_t na = 0;
    for (int64_t j = 0; j < k; j++) {
        idx[na] = j;
        na += x[j] != 0;
    }
    return na;
}

/* int64 weights and accumulators, wrapping modulo 2^64 like numpy's int64 matmul: always exact */
static int64_t bs_dense_i64_range(void *ctx, int64_t lo, int64_t hi) {
    const bs_dense_job *J = (const bs_dense_job *)ctx;
    const int64_t k = J->k, m = J->m, *wt = (const int64_t *)J->wt;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    if (idx == NULL) return -2;
    for (int64_t r = lo; r < hi; r++) {
        const int64_t *xr = J->x + r * k, na = bs_active(xr, k, idx);
        int64_t *o = J->out + r * m;
        for (int64_t c = 0; c < m; c++) o[c] = J->bias[c];
        for (int64_t a = 0; a < na; a++) {
            const int64_t xv = xr[idx[a]], *w = wt + idx[a] * m;
            for (int64_t c = 0; c < m; c++) o[c] += xv * w[c];
        }
    }
    free(idx);
    return 0;
}

/* int16 weights (every QDense weight fits: w_bits <= 16) and int32 accumulators; exact only when,
 * for every output c, sum_j |wt[j, c]| * max|x| + |bias[c]| < 2^31 -- the caller checks that bound */
BS_VECTOR_CLONES
static int64_t bs_dense_i32_range(void *ctx, int64_t lo, int64_t hi) {
    const bs_dense_job *J = (const bs_dense_job *)ctx;
    const int64_t k = J->k, m = J->m;
    const int16_t *wt = (const int16_t *)J->wt;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(m > 0 ? m : 1));
    if (idx == NULL || acc == NULL) {
        free(idx);
        free(acc);
        return -2;
    }
    for (int64_t r = lo; r < hi; r++) {
        const int64_t *xr = J->x + r * k, na = bs_active(xr, k, idx);
        int64_t ones = 1;
        for (int64_t a = 0; a < na; a++) ones &= xr[idx[a]] == 1;
        for (int64_t c = 0; c < m; c++) acc[c] = (int32_t)J->bias[c];
        for (int64_t a = 0; a < na; a++) {
            const int32_t xv = (int32_t)xr[idx[a]];
            const int16_t *w = wt + idx[a] * m;
            if (ones) { /* spikes: add the row */
                for (int64_t c = 0; c < m; c++) acc[c] += w[c];
            } else {
                for (int64_t c = 0; c < m; c++) acc[c] += xv * w[c];
            }
        }
        int64_t *o = J->out + r * m;
        for (int64_t c = 0; c < m; c++) o[c] = acc[c];
    }
    free(idx);
    free(acc);
    return 0;
}

/* x: int64 [rows, k]; wt: W transposed [k, m], int64 (narrow = 0) or int16 (narrow = 1); bias: int64 [m];
 * out: int64 [rows, m]. Returns 0, or -2 when scratch memory could not be allocated. */
int64_t bs_dense_sparse(int64_t rows, int64_t k, int64_t m, const int64_t *x, const void *wt, const int64_t *bias,
                        int64_t *out, int narrow, int threads) {
    bs_dense_job job = {k, m, x, bias, wt, out};
    return bs_parallel_for(threads, rows, narrow ? bs_dense_i32_range : bs_dense_i64_range, &job);
}

/* The chain kernels, in their own files but one translation unit with the above (they use its static neuron
 * step and thread pool); ckernel.build hashes every file included with quotes, so an edit rebuilds. */
#include "kernels_chain.h"
#include "kernels_gemm.h"
