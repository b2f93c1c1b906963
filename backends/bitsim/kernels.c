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

/* ---- the event-driven chain: Input -> (QDense -> QNeuron)+, every layer stepped in C, batch-major ----
 *
 * Per step t and layer: the accumulators of all samples of the thread's batch slice start at the bias; for
 * every input j, weight row j is added to the accumulators of the samples where input j is active (the row is
 * read once per step for the whole slice: batch-major); then each neuron steps (bs_neuron_step, the same code
 * as bs_neuron_run) and its outputs are the next layer's inputs. Only the traces a caller asked for are
 * written, each in its own integer width (1, 2, 4 or 8 bytes). Samples are independent: threads take slices
 * of the batch, and the result does not depend on their number. */

/* per-layer int64 meta[L_META] and pointers ptr[Q_PTRS]; ckernel.py / event.py fill them */
enum { L_K, L_M, L_NARROW, L_SHIFT, L_SZ_DENSE, L_SZ_OUT, L_SZ_V, L_SZ_I, L_META };
enum { Q_WT, Q_BIAS, Q_OPT, Q_PAR, Q_V, Q_I, Q_S, Q_XP, Q_CC, Q_CF, Q_TR_DENSE, Q_TR_OUT, Q_TR_V, Q_TR_I, Q_PTRS };

typedef struct {
    int64_t T, B, k0, layers;
    const uint8_t *x;
    const int64_t *meta;
    void *const *ptr;
} bs_chain_job;

/* base[at + c] = src[c] for c < m, in a trace of `size`-byte integers (every value is proven to fit,
 * traces.py; uint8 traces share int8's bits) */
static void bs_put_row(void *base, int64_t size, int64_t at, const int64_t *src, int64_t m) {
    if (size == 1) for (int64_t c = 0; c < m; c++) ((int8_t *)base)[at + c] = (int8_t)src[c];
    else if (size == 2) for (int64_t c = 0; c < m; c++) ((int16_t *)base)[at + c] = (int16_t)src[c];
    else if (size == 4) for (int64_t c = 0; c < m; c++) ((int32_t *)base)[at + c] = (int32_t)src[c];
    else for (int64_t c = 0; c < m; c++) ((int64_t *)base)[at + c] = src[c];
}

/* The events of one step in a slice of nb samples: (input j, sample b, value) for every non-zero input,
 * grouped by j (a counting sort), so that each weight row is read once for all the samples it feeds. */
typedef struct {
    int64_t n;                  /* events */
    int32_t *j, *jb_b;          /* per event its input (in sample order); grouped by input: the sample */
    int64_t *v, *jb_v, *start;  /* per event its value; grouped value; start[u]: where input uj[u]'s run begins */
    int64_t *off;               /* off[b] .. off[b+1]: sample b's events (in sample order) */
    int64_t nu;                 /* inputs with events: uj[u], its events start[u] .. start[u+1] (grouped) */
    int32_t *uj;
    int ones;                   /* every value is 1 (binary spikes) */
} bs_events;

/* the non-zero entries of x [nb, k] (uint8 input spikes), eight bytes at a time: a word's non-zero bytes
 * become one bit each (the lowest of the byte), visited lowest first, so the cost follows the events */
static void bs_gather_u8(const uint8_t *x, int64_t k, int64_t nb, bs_events *E) {
    const uint64_t low = 0x0101010101010101ull;
    int64_t n = 0;
    uint64_t big = 0; /* bytes > 1 seen */
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xr = x + b * k;
        E->off[b] = n;
        int64_t j = 0;
        for (; j + 8 <= k; j += 8) {
            uint64_t word, m;
            memcpy(&word, xr + j, 8);
            big |= word & ~low;
            m = word | (word >> 4);
            m |= m >> 2;
            m |= m >> 1;
            m &= low;
            while (m) {
                const int64_t u = j + (__builtin_ctzll(m) >> 3);
                E->j[n] = (int32_t)u;
                E->v[n++] = xr[u];
                m &= m - 1;
            }
        }
        for (; j < k; j++) {
            E->j[n] = (int32_t)j;
            E->v[n] = xr[j];
            big |= xr[j] > 1;
            n += xr[j] != 0;
        }
    }
    E->off[nb] = n;
    E->n = n;
    E->ones = big == 0;
}

/* the non-zero entries of the previous layer's outputs x int64 [nb, k] */
static void bs_gather_i64(const int64_t *x, int64_t k, int64_t nb, bs_events *E) {
    int64_t n = 0, ones = 1;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t *xr = x + b * k;
        E->off[b] = n;
        for (int64_t j = 0; j < k; j++) {
            E->j[n] = (int32_t)j;
            E->v[n] = xr[j];
            ones &= xr[j] == 0 || xr[j] == 1;
            n += xr[j] != 0;
        }
    }
    E->off[nb] = n;
    E->n = n;
    E->ones = (int)ones;
}

/* group the events by input (a counting sort over cnt[k + 1]); one sample needs no sort (its events are in
 * input order, each input once) */
static void bs_group(int64_t k, int64_t nb, bs_events *E, int64_t *cnt) {
    if (nb == 1) {
        for (int64_t e = 0; e < E->n; e++) {
            E->uj[e] = E->j[e];
            E->start[e] = e;
            E->jb_b[e] = 0;
            E->jb_v[e] = E->v[e];
        }
        E->nu = E->n;
        E->start[E->n] = E->n;
        return;
    }
    for (int64_t j = 0; j <= k; j++) cnt[j] = 0;
    for (int64_t e = 0; e < E->n; e++) cnt[E->j[e] + 1]++;
    int64_t nu = 0;
    for (int64_t j = 0; j < k; j++) { /* the inputs with events, in order, and where their runs start */
        if (cnt[j + 1]) {
            E->uj[nu] = (int32_t)j;
            E->start[nu++] = cnt[j];
        }
        cnt[j + 1] += cnt[j];
    }
    E->start[nu] = E->n;
    E->nu = nu;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t e = E->off[b]; e < E->off[b + 1]; e++) { /* cnt[j]: the next free slot of input j's run */
            const int64_t at = cnt[E->j[e]]++;
            E->jb_b[at] = (int32_t)b;
            E->jb_v[at] = E->v[e];
        }
}

/* acc[b, :] += value * wt[j, :] for every event: int16 weights, int32 accumulators (exact under the bound
 * event.py checks: sum_j |w[j, c]| * max|x| + |bias[c]| < 2^31) */
BS_VECTOR_CLONES
static void bs_acc_i32(int64_t k, int64_t m, const bs_events *E, const int16_t *wt, int32_t *acc) {
    (void)k;
    for (int64_t u = 0; u < E->nu; u++) { /* the inputs with events, each with its run of samples */
        const int16_t *restrict w = wt + (int64_t)E->uj[u] * m;
        for (int64_t p = E->start[u]; p < E->start[u + 1]; p++) {
            int32_t *restrict a = acc + E->jb_b[p] * m;
            if (E->ones) {
                for (int64_t c = 0; c < m; c++) a[c] += w[c];
            } else {
                const int32_t x32 = (int32_t)E->jb_v[p];
                for (int64_t c = 0; c < m; c++) a[c] += x32 * w[c];
            }
        }
    }
}

/* the same with int8 weights and int16 accumulators, where the proof bounds every partial sum below 2^15 */
BS_VECTOR_CLONES
static void bs_acc_i16(int64_t k, int64_t m, const bs_events *E, const int8_t *wt, int16_t *acc) {
    (void)k;
    for (int64_t u = 0; u < E->nu; u++) { /* the inputs with events, each with its run of samples */
        const int8_t *restrict w = wt + (int64_t)E->uj[u] * m;
        for (int64_t p = E->start[u]; p < E->start[u + 1]; p++) {
            int16_t *restrict a = acc + E->jb_b[p] * m;
            if (E->ones) {
                for (int64_t c = 0; c < m; c++) a[c] = (int16_t)(a[c] + w[c]);
            } else {
                const int16_t x16 = (int16_t)E->jb_v[p];
                for (int64_t c = 0; c < m; c++) a[c] = (int16_t)(a[c] + x16 * w[c]);
            }
        }
    }
}

/* the same with int64 weights and accumulators (wrapping modulo 2^64 like numpy: always exact) */
static void bs_acc_i64(int64_t k, int64_t m, const bs_events *E, const int64_t *wt, int64_t *acc) {
    (void)k;
    for (int64_t u = 0; u < E->nu; u++) { /* the inputs with events, each with its run of samples */
        const int64_t *restrict w = wt + (int64_t)E->uj[u] * m;
        for (int64_t p = E->start[u]; p < E->start[u + 1]; p++) {
            int64_t *restrict a = acc + E->jb_b[p] * m;
            const int64_t xv = E->jb_v[p];
            for (int64_t c = 0; c < m; c++) a[c] += xv * w[c];
        }
    }
}

/* One layer's neurons over a row of m (one sample): y the dense outputs, the rest as in bs_neuron_step.
 * Always inlined into bs_neuron_rows, whose cases fix the common options to constants, so that their
 * branches fold away and the loop (no call inside: the clamp events are noted in a second pass over hb)
 * can be vectorised. */
static inline __attribute__((always_inline)) void bs_row(const bs_nopt *o, int64_t m, const int64_t *restrict y,
                                                         int64_t *restrict v, int64_t *restrict i,
                                                         int64_t *restrict s, int64_t *restrict xp,
                                                         int64_t *restrict out, uint8_t *restrict hb, int64_t *cc,
                                                         int64_t *cf, int64_t bn, int64_t q0, int64_t t) {
    int any = 0;
    for (int64_t c = 0; c < m; c++) {
        int hits = 0;
        out[c] = bs_neuron_step(o, c, y[c], &v[c], &i[c], &s[c], &xp[c], &hits);
        hb[c] = (uint8_t)hits;
        any |= hits;
    }
    if (__builtin_expect(any != 0, 0))
        for (int64_t c = 0; c < m; c++)
            if (hb[c]) note_clamps(cc, cf, bn, q0 + c, t, hb[c]);
}

#define BS_ROW_CASE(TIMING_, RESET_, CUBA_, SD_, RND_, OVI_, OVV_)                                       \
    if (o->timing == TIMING_ && o->reset == RESET_ && o->cuba == CUBA_ && o->sd == SD_ && o->spiking &&  \
        !o->multi && o->rnd == RND_ && o->ovi == OVI_ && o->ovv == OVV_ && !o->ge && !o->atd) {          \
        bs_nopt c = *o;                                                                                   \
        c.timing = TIMING_, c.reset = RESET_, c.cuba = CUBA_, c.sd = SD_, c.spiking = 1, c.multi = 0;    \
        c.rnd = RND_, c.ovi = OVI_, c.ovv = OVV_, c.ge = 0, c.atd = 0;                                   \
        bs_row(&c, m, y, v, i, s, xp, out, hb, cc, cf, bn, q0, t);                                        \
        return;                                                                                           \
    }

BS_VECTOR_CLONES
static void bs_neuron_rows(const bs_nopt *o, int64_t m, const int64_t *y, int64_t *v, int64_t *i, int64_t *s,
                           int64_t *xp, int64_t *out, uint8_t *hb, int64_t *cc, int64_t *cf, int64_t bn, int64_t q0,
                           int64_t t) {
    enum { TZ = ROUND_TOWARD_ZERO, SAT = OVF_SATURATE };
    BS_ROW_CASE(TIMING_DELAYED, RESET_SUBTRACT, 0, 0, TZ, SAT, SAT)  /* snntorch preset, LIF */
    BS_ROW_CASE(TIMING_DELAYED, RESET_SUBTRACT, 1, 0, TZ, SAT, SAT)  /* snntorch preset, Cuba */
    BS_ROW_CASE(TIMING_IMMEDIATE, RESET_ZERO, 0, 0, TZ, SAT, SAT)    /* the default Semantics */
    BS_ROW_CASE(TIMING_IMMEDIATE, RESET_ZERO, 1, 0, TZ, SAT, SAT)
    BS_ROW_CASE(TIMING_IMMEDIATE, RESET_SUBTRACT, 0, 0, TZ, SAT, SAT)
    BS_ROW_CASE(TIMING_IMMEDIATE, RESET_SUBTRACT, 1, 0, TZ, SAT, SAT)
    BS_ROW_CASE(TIMING_IMMEDIATE, RESET_ZERO, 1, 1, TZ, OVF_WRAP_LOIHI, SAT) /* loihi preset */
    BS_ROW_CASE(TIMING_SNNTORCH_IMMEDIATE, RESET_SUBTRACT, 0, 0, TZ, SAT, SAT)
    bs_row(o, m, y, v, i, s, xp, out, hb, cc, cf, bn, q0, t); /* any other option set */
}

static int64_t bs_chain_range(void *ctx, int64_t lo, int64_t hi) {
    const bs_chain_job *J = (const bs_chain_job *)ctx;
    const int64_t nb = hi - lo, B = J->B, k0 = J->k0, L = J->layers;
    int64_t width = k0;
    for (int64_t l = 0; l < L; l++) width = J->meta[l * L_META + L_M] > width ? J->meta[l * L_META + L_M] : width;
    const size_t cells = (size_t)(width * nb);
    int64_t *xa = malloc(sizeof(int64_t) * cells), *ya = malloc(sizeof(int64_t) * cells);
    int64_t *acc = malloc(sizeof(int64_t) * cells), *y = malloc(sizeof(int64_t) * (size_t)width);
    uint8_t *hb = malloc((size_t)width);
    bs_nopt *opts = malloc(sizeof(bs_nopt) * (size_t)L);
    bs_events E = {0, malloc(sizeof(int32_t) * cells), malloc(sizeof(int32_t) * cells),
                   malloc(sizeof(int64_t) * cells), malloc(sizeof(int64_t) * cells),
                   malloc(sizeof(int64_t) * (cells + 1)), malloc(sizeof(int64_t) * (size_t)(nb + 1)), 0,
                   malloc(sizeof(int32_t) * cells), 1};
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)(width + 1));
    int64_t rc = 0;
    if (!xa || !ya || !acc || !y || !hb || !opts || !E.j || !E.jb_b || !E.v || !E.jb_v || !E.start || !E.off || !E.uj || !cnt) {
        rc = -2;
        goto done;
    }
    for (int64_t l = 0; l < L; l++)
        opts[l] = bs_nopt_make((const int64_t *)J->ptr[l * Q_PTRS + Q_OPT],
                               (const int64_t *const *)J->ptr[l * Q_PTRS + Q_PAR]);
    for (int64_t t = 0; t < J->T; t++) {
        for (int64_t l = 0; l < L; l++) {
            const int64_t *meta = J->meta + l * L_META;
            void *const *ptr = J->ptr + l * Q_PTRS;
            const int64_t k = meta[L_K], m = meta[L_M], narrow = meta[L_NARROW], shift = meta[L_SHIFT];
            const int64_t *bias = (const int64_t *)ptr[Q_BIAS];
            if (l == 0) bs_gather_u8(J->x + (t * B + lo) * k0, k, nb, &E); /* the step's input spikes */
            else bs_gather_i64(xa, k, nb, &E);                         /* the previous layer's outputs */
            bs_group(k, nb, &E, cnt);
            int32_t *a32 = (int32_t *)acc;
            int16_t *a16 = (int16_t *)acc;
            if (narrow == 2) {
                for (int64_t b = 0; b < nb; b++)
                    for (int64_t c = 0; c < m; c++) a16[b * m + c] = (int16_t)bias[c];
                bs_acc_i16(k, m, &E, (const int8_t *)ptr[Q_WT], a16);
            } else if (narrow) {
                for (int64_t b = 0; b < nb; b++)
                    for (int64_t c = 0; c < m; c++) a32[b * m + c] = (int32_t)bias[c];
                bs_acc_i32(k, m, &E, (const int16_t *)ptr[Q_WT], a32);
            } else {
                for (int64_t b = 0; b < nb; b++)
                    for (int64_t c = 0; c < m; c++) acc[b * m + c] = bias[c];
                bs_acc_i64(k, m, &E, (const int64_t *)ptr[Q_WT], acc);
            }
            int64_t *v = (int64_t *)ptr[Q_V], *i = (int64_t *)ptr[Q_I], *s = (int64_t *)ptr[Q_S];
            int64_t *xp = (int64_t *)ptr[Q_XP], *cc = (int64_t *)ptr[Q_CC], *cf = (int64_t *)ptr[Q_CF];
            void *tr_dense = ptr[Q_TR_DENSE], *tr_out = ptr[Q_TR_OUT], *tr_v = ptr[Q_TR_V], *tr_i = ptr[Q_TR_I];
            const int64_t gain = shift > 0 ? (int64_t)1 << shift : 1, down = shift < 0 ? -shift : 0;
            for (int64_t b = 0; b < nb; b++) {
                const int64_t row = (t * B + lo + b) * m, st = (lo + b) * m;
                if (narrow == 2) for (int64_t c = 0; c < m; c++) y[c] = (int64_t)a16[b * m + c] * gain >> down;
                else if (narrow) for (int64_t c = 0; c < m; c++) y[c] = (int64_t)a32[b * m + c] * gain >> down;
                else for (int64_t c = 0; c < m; c++) y[c] = acc[b * m + c] * gain >> down;
                int64_t *out = ya + b * m;
                bs_neuron_rows(&opts[l], m, y, v + st, i + st, s + st, xp + st, out, hb, cc, cf, B * m, st, t);
                if (tr_dense) bs_put_row(tr_dense, meta[L_SZ_DENSE], row, y, m);
                if (tr_out) bs_put_row(tr_out, meta[L_SZ_OUT], row, out, m);
                if (tr_v) bs_put_row(tr_v, meta[L_SZ_V], row, v + st, m);
                if (tr_i) bs_put_row(tr_i, meta[L_SZ_I], row, i + st, m);
            }
            int64_t *swap = xa;
            xa = ya;
            ya = swap;
        }
    }
done:
    free(xa), free(ya), free(acc), free(y), free(hb), free(opts);
    free(E.j), free(E.jb_b), free(E.v), free(E.jb_v), free(E.start), free(E.off), free(E.uj), free(cnt);
    return rc;
}

/* Run the chain for T steps over B samples: x uint8 [T, B, k0] input spikes; per layer l meta[l * L_META ..]
 * and ptr[l * Q_PTRS ..] (weights W^T [k, m]: meta[L_NARROW] 2 int8 weights, int16 accumulators; 1 int16 and
 * int32; 0 int64 and int64; bias int64 [m]; the
 * neuron's opt[] and par[] as for bs_neuron_run; its state v, i, s, xp int64 [B*m] and clamp events cc, cf
 * int64 [2, B*m], updated in place; traces [T, B, m] of the given byte sizes, or NULL when not recorded).
 * Returns 0, -1 for an option this kernel does not know, -2 when scratch memory could not be allocated. */
int64_t bs_chain_run(int64_t T, int64_t B, int64_t k0, int64_t layers, const uint8_t *x, const int64_t *meta,
                     void *const *ptr, int threads) {
    for (int64_t l = 0; l < layers; l++)
        if (bs_opt_invalid((const int64_t *)ptr[l * Q_PTRS + Q_OPT])) return -1;
    bs_chain_job job = {T, B, k0, layers, x, meta, ptr};
    return bs_parallel_for(threads, B, bs_chain_range, &job);
}

/* ---- the layered chain: every layer over a block of steps at once, its accumulation as an integer GEMM ----
 *
 * A feed-forward layer's inputs are known for every step before its neurons run, so per block of steps
 * (and per thread's batch slice) each layer computes acc[row, c] = sum_j x[row, j] * w[j, c] for all the
 * block's (step, sample) rows in one GEMM -- u8 inputs (spikes or spike counts <= 255) times s8 weights into
 * int32 lanes, exact because the caller (gemm.py) proved sum_j |w[j, c]| * max x < 2^31, so no partial sum
 * leaves int32 in any order -- and then steps its neurons row by row (bs_neuron_rows, as bs_chain_run does),
 * writing their outputs as the next layer's u8 inputs. The weights come packed by gemm.py: wp [K4][MP][4] s8
 * with K4 = ceil(k / 4), MP = m rounded up to 16, wp[q][c][r] = w[4q + r][c] (zeros past k and m): four
 * inputs' weights of one output are one 32-bit lane, as AVX-512 VNNI's vpdpbusd reads them. That
 * instruction (where the CPU has it, __builtin_cpu_supports) and a portable C loop over the same layout
 * give the same integers: both are exact int32 sums under the bound. */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 9
#include <immintrin.h>
#define BS_HAVE_VNNI_CODE 1

/* rows per register block of the VNNI GEMM: BS_RB x 4 accumulators + 4 weight vectors + 1 broadcast fit the
 * 32 zmm registers */
#define BS_RB 6

/* rows a[0..BS_RB) (row pointers: a tail block repeats its last row, the caller stores only the valid ones)
 * times NV vectors of 16 outputs from column c0, over the nq groups of four inputs qs[] (those not silent in
 * all the block's rows) */
#define BS_VNNI_BLOCK(NV)                                                                                        \
    __attribute__((target("avx512f,avx512bw,avx512vnni"))) static void bs_vnni_block##NV(                       \
        const uint8_t *const a[BS_RB], const int8_t *wp, const int32_t *qs, int64_t nq, int64_t mp, int64_t c0, \
        int32_t *const o[BS_RB], int rows) {                                                                  \
        __m512i acc[BS_RB][NV];                                                                               \
        _Pragma("GCC unroll 8") for (int r = 0; r < BS_RB; r++)                                               \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_si512();          \
        for (int64_t e = 0; e < nq; e++) {                                                                    \
            const int64_t q = qs[e];                                                                          \
            const int8_t *w = wp + (q * mp + c0) * 4;                                                         \
            __m512i wv[NV];                                                                                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                              \
                wv[v] = _mm512_loadu_si512((const void *)(w + 64 * v));                                       \
            _Pragma("GCC unroll 8") for (int r = 0; r < BS_RB; r++) {                                         \
                int32_t four;                                                                                 \
                memcpy(&four, a[r] + 4 * q, 4);                                                               \
                const __m512i x = _mm512_set1_epi32(four);                                                    \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                          \
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], x, wv[v]);                                     \
            }                                                                                                 \
        }                                                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < BS_RB; r++)                                               \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                              \
                if (r < rows) _mm512_storeu_si512((void *)(o[r] + c0 + 16 * v), acc[r][v]);                  \
    }
BS_VNNI_BLOCK(1)
BS_VNNI_BLOCK(2)
BS_VNNI_BLOCK(3)
BS_VNNI_BLOCK(4)

/* bytes of packed weights one pass over the rows keeps hot (in L2 on current x86) */
#define BS_GEMM_TILE_BYTES (256 * 1024)

/* out [R, mp] = a [R, lda] (u8; groups of four inputs) x wp (packed, see above), qs: scratch of k4 int32.
 * Column groups whose weights fit BS_GEMM_TILE_BYTES outer, blocks of BS_RB rows inner: the groups of inputs
 * silent in all of a block's rows are found once per block and column group, and skipped. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void bs_gemm_vnni(int64_t R, int64_t k4, int64_t mp,
                                                                                const uint8_t *a, int64_t lda,
                                                                                const int8_t *wp, int32_t *out,
                                                                                int32_t *qs) {
    int64_t span = BS_GEMM_TILE_BYTES / (k4 * 4 > 0 ? k4 * 4 : 1) / 64 * 64;
    if (span < 64) span = 64;
    for (int64_t g0 = 0; g0 < mp; g0 += span) {
        const int64_t g1 = g0 + span < mp ? g0 + span : mp;
        for (int64_t r0 = 0; r0 < R; r0 += BS_RB) {
            const uint8_t *rows[BS_RB];
            int32_t *o[BS_RB];
            const int valid = R - r0 < BS_RB ? (int)(R - r0) : BS_RB;
            for (int r = 0; r < BS_RB; r++) {
                const int64_t rr = r < valid ? r0 + r : R - 1;
                rows[r] = a + rr * lda;
                o[r] = out + rr * mp;
            }
            int64_t nq = 0;
            for (int64_t q = 0; q < k4; q++) {
                int32_t any = 0;
                for (int r = 0; r < BS_RB; r++) {
                    int32_t f;
                    memcpy(&f, rows[r] + 4 * q, 4);
                    any |= f;
                }
                qs[nq] = (int32_t)q;
                nq += any != 0;
            }
            for (int64_t c0 = g0; c0 < g1; c0 += 64) {
                const int64_t nv = (g1 - c0) / 16 < 4 ? (g1 - c0) / 16 : 4;
                if (nv == 4) bs_vnni_block4(rows, wp, qs, nq, mp, c0, o, valid);
                else if (nv == 3) bs_vnni_block3(rows, wp, qs, nq, mp, c0, o, valid);
                else if (nv == 2) bs_vnni_block2(rows, wp, qs, nq, mp, c0, o, valid);
                else bs_vnni_block1(rows, wp, qs, nq, mp, c0, o, valid);
            }
        }
    }
}
#endif

/* 1 when this build has the VNNI GEMM and the CPU runs it */
int bs_gemm_vnni_available(void) {
#ifdef BS_HAVE_VNNI_CODE
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

/* the portable GEMM over the same packed layout (vectorised by the compiler across the outputs) */
BS_VECTOR_CLONES
static void bs_gemm_portable(int64_t R, int64_t k4, int64_t mp, const uint8_t *a, int64_t lda, const int8_t *wp,
                             int32_t *out) {
    for (int64_t r = 0; r < R; r++) {
        int32_t *restrict o = out + r * mp;
        const uint8_t *x = a + r * lda;
        for (int64_t c = 0; c < mp; c++) o[c] = 0;
        for (int64_t q = 0; q < k4; q++) {
            const int32_t x0 = x[4 * q], x1 = x[4 * q + 1], x2 = x[4 * q + 2], x3 = x[4 * q + 3];
            if ((x0 | x1 | x2 | x3) == 0) continue;
            const int8_t *restrict w = wp + q * mp * 4;
            for (int64_t c = 0; c < mp; c++)
                o[c] += x0 * w[4 * c] + x1 * w[4 * c + 1] + x2 * w[4 * c + 2] + x3 * w[4 * c + 3];
        }
    }
}

typedef struct {
    int64_t T, B, k0, layers, block;
    const uint8_t *x;
    const int64_t *meta;
    void *const *ptr;
    int vnni;
} bs_layered_job;

static int64_t bs_round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

static int64_t bs_layered_range(void *ctx, int64_t lo, int64_t hi) {
    const bs_layered_job *J = (const bs_layered_job *)ctx;
    const int64_t nb = hi - lo, B = J->B, k0 = J->k0, L = J->layers, rmax = J->block * nb;
    int64_t kmax = bs_round_up(k0, 4), mmax = 16;
    for (int64_t l = 0; l < L; l++) {
        const int64_t m = J->meta[l * L_META + L_M];
        kmax = bs_round_up(m, 4) > kmax ? bs_round_up(m, 4) : kmax;
        mmax = bs_round_up(m, 16) > mmax ? bs_round_up(m, 16) : mmax;
    }
    uint8_t *xa = calloc((size_t)(rmax * kmax), 1), *xb = calloc((size_t)(rmax * kmax), 1);
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)(rmax * mmax));
    int64_t *y = malloc(sizeof(int64_t) * (size_t)mmax), *out = malloc(sizeof(int64_t) * (size_t)mmax);
    uint8_t *hb = malloc((size_t)mmax);
    bs_nopt *opts = malloc(sizeof(bs_nopt) * (size_t)L);
    int32_t *qs = malloc(sizeof(int32_t) * (size_t)(kmax / 4 + 1));
    int64_t rc = 0;
    if (!xa || !xb || !acc || !y || !out || !hb || !opts || !qs) {
        rc = -2;
        goto done;
    }
    for (int64_t l = 0; l < L; l++)
        opts[l] = bs_nopt_make((const int64_t *)J->ptr[l * Q_PTRS + Q_OPT],
                               (const int64_t *const *)J->ptr[l * Q_PTRS + Q_PAR]);
    for (int64_t t0 = 0; t0 < J->T; t0 += J->block) {
        const int64_t steps = J->T - t0 < J->block ? J->T - t0 : J->block, R = steps * nb;
        int64_t lda = bs_round_up(k0, 4);
        for (int64_t tt = 0; tt < steps; tt++) /* the block's input spikes, rows padded to whole groups of 4 */
            for (int64_t b = 0; b < nb; b++)
                memcpy(xa + (tt * nb + b) * lda, J->x + ((t0 + tt) * B + lo + b) * k0, (size_t)k0);
        for (int64_t l = 0; l < L; l++) {
            const int64_t *meta = J->meta + l * L_META;
            void *const *ptr = J->ptr + l * Q_PTRS;
            const int64_t k = meta[L_K], m = meta[L_M], shift = meta[L_SHIFT], mp = bs_round_up(m, 16);
            const int64_t *bias = (const int64_t *)ptr[Q_BIAS];
            const int8_t *wp = (const int8_t *)ptr[Q_WT];
#ifdef BS_HAVE_VNNI_CODE
            if (J->vnni) bs_gemm_vnni(R, bs_round_up(k, 4) / 4, mp, xa, lda, wp, acc, qs);
            else
#endif
                bs_gemm_portable(R, bs_round_up(k, 4) / 4, mp, xa, lda, wp, acc);
            int64_t *v = (int64_t *)ptr[Q_V], *i = (int64_t *)ptr[Q_I], *s = (int64_t *)ptr[Q_S];
            int64_t *xp = (int64_t *)ptr[Q_XP], *cc = (int64_t *)ptr[Q_CC], *cf = (int64_t *)ptr[Q_CF];
            void *tr_dense = ptr[Q_TR_DENSE], *tr_out = ptr[Q_TR_OUT], *tr_v = ptr[Q_TR_V], *tr_i = ptr[Q_TR_I];
            const int64_t gain = shift > 0 ? (int64_t)1 << shift : 1, down = shift < 0 ? -shift : 0;
            const int64_t ldn = bs_round_up(m, 4); /* the next layer's input rows */
            for (int64_t tt = 0; tt < steps; tt++) {
                for (int64_t b = 0; b < nb; b++) {
                    const int64_t r = tt * nb + b, row = ((t0 + tt) * B + lo + b) * m, st = (lo + b) * m;
                    const int32_t *a = acc + r * mp;
                    if (shift == 0) for (int64_t c = 0; c < m; c++) y[c] = (int64_t)a[c] + bias[c];
                    else for (int64_t c = 0; c < m; c++) y[c] = ((int64_t)a[c] + bias[c]) * gain >> down;
                    bs_neuron_rows(&opts[l], m, y, v + st, i + st, s + st, xp + st, out, hb, cc, cf, B * m, st,
                                   t0 + tt);
                    if (l + 1 < L) {
                        uint8_t *nx = xb + r * ldn;
                        for (int64_t c = 0; c < m; c++) nx[c] = (uint8_t)out[c]; /* 0 .. 255: gemm.py checks */
                    }
                    if (tr_dense) bs_put_row(tr_dense, meta[L_SZ_DENSE], row, y, m);
                    if (tr_out) bs_put_row(tr_out, meta[L_SZ_OUT], row, out, m);
                    if (tr_v) bs_put_row(tr_v, meta[L_SZ_V], row, v + st, m);
                    if (tr_i) bs_put_row(tr_i, meta[L_SZ_I], row, i + st, m);
                }
            }
            uint8_t *swap = xa;
            xa = xb;
            xb = swap;
            lda = ldn;
        }
    }
done:
    free(xa), free(xb), free(acc), free(y), free(out), free(hb), free(opts), free(qs);
    return rc;
}

/* Run the chain as bs_chain_run does (same meta[] and ptr[], except ptr[Q_WT]: the packed s8 weights above),
 * `block` steps at a time; vnni: 1 for the AVX-512 VNNI GEMM (only where bs_gemm_vnni_available()), 0 for
 * the portable one. Returns 0, -1 for an option this kernel does not know, -2 when memory ran out. */
int64_t bs_layered_run(int64_t T, int64_t B, int64_t k0, int64_t layers, const uint8_t *x, const int64_t *meta,
                       void *const *ptr, int64_t block, int vnni, int threads) {
    for (int64_t l = 0; l < layers; l++)
        if (bs_opt_invalid((const int64_t *)ptr[l * Q_PTRS + Q_OPT])) return -1;
    if (block < 1 || (vnni && !bs_gemm_vnni_available())) return -1;
    bs_layered_job job = {T, B, k0, layers, block, x, meta, ptr, vnni};
    return bs_parallel_for(threads, B, bs_layered_range, &job);
}
