/* bitsim fast kernels, part 3 of kernels.c (included by it after kernels_chain.h, one translation unit): the
 * layered chain, whose accumulation is an integer GEMM. */
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
                    bs_put_traces(ptr, meta, row, y, out, v + st, i + st, m);
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
