/* bitsim's xylo path in C: the rules of backends/bitsim/xylo.py (its module docstring), vectorised over the
 * target neurons of one sample, threads over the samples of a batch. Loaded by backends/bitsim/xylo_c.py, which
 * lays the network out (meta[], ptr[] below) once per net.
 *
 * Layout. Hidden synapse states are int16, synapse-major: acc[s * NP + j] (NP = hidden neurons padded to a
 * multiple of LANES); readout synapses acc_o[j], NOP lanes. A source (input channel, hidden neuron as recurrent
 * source, hidden neuron as readout source) is one "row": its effective weights ``wrap16(w << shift)`` as a dense
 * int16 vector over the target lanes, of which only the aligned span [lo, hi) holding its non-zero weights is
 * read, or -- where that span is mostly zeros -- a sparse list of (lane, weight). Padding lanes carry no weight,
 * zero bias and threshold 32767, so they stay 0 and never fire.
 *
 * Events. Saturation is per target lane, so one event of source i is ``acc[j] = sat16(acc[j] + w[i][j])`` for
 * every j independently: a saturating int16 add across the lanes. Sources go in ascending order (inputs, then
 * the hidden neurons that spiked at t-1, both as compacted index lists), which is the per-target event order.
 * The portable build adds source by source with a clean loop that gcc vectorises (a count c > 1 as one add of
 * c*w in int32: repeated events of one weight from a state inside int16 saturate at one end only, so this equals
 * c events). The x86-64 builds walk the lanes in groups (xylo_c.py's _groups: cut where spans end, up to 8
 * vectors) whose accumulators stay in registers over all the step's sources, each event one _adds_epi16.
 *
 * Neurons. The decays, the membrane update and the spike count are one loop over the lanes (int32 arithmetic,
 * vectorised by gcc); the count of the ``while v >= theta`` loop is min(v / theta, 31) as a float product with
 * the rounded-up reciprocal (exact here, see fire_count); theta 0 gives the full cap while v >= 0, as the loop does. With aliases the counts are
 * taken neuron by neuron in index order afterwards (a target's start count eats into its cap).
 *
 * ISA. The per-sample loop is compiled three times from the same C: portable (the compiler's baseline, e.g.
 * SSE2 on x86-64), and on x86-64 with gcc's target attribute for AVX2 and AVX-512BW; xylo_isa() picks the best
 * one the CPU has (or a lower one on request, which the tests use to run every variant). Results never depend on
 * the variant or the thread count.
 */
#define _POSIX_C_SOURCE 200809L
/* fire_count's float arithmetic must vectorise: without this gcc treats the int->float conversion as possibly
 * trapping (an FP exception flag) and will not if-convert the loop; no result depends on the flags */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LO (-32768)
#define HI 32767
#define LANES 32
#define MAX_THREADS 64
#define AI static inline __attribute__((always_inline))
#define G_FIELDS 6

/* meta[] (int64 each) and ptr[] layout; xylo_c.py builds both */
enum { M_NIN, M_N, M_NOUT, M_NP, M_NOP, M_MAX_IN, M_CAP_HID, M_CAP_OUT, M_ALIASES, M_ANY_SPARSE, M_NG_HID, M_NG_OUT,
       M_COUNT };
/* M_ANY_SPARSE: some row is sparse; M_NG_HID, M_NG_OUT: the number of lane groups of each population (P_G_*) */
enum {
    P_W_IN,     /* int16 [nin][2 NP] */
    P_W_REC,    /* int16 [n][2 NP] */
    P_W_OUT,    /* int16 [n][NOP] */
    P_SPAN,     /* int32 [nin + 2n][2]: dense span [lo, hi) of row r (multiples of LANES; lo == hi: none) */
    P_SP_PTR,   /* int32 [nin + 2n + 1]: row r's sparse entries are [sp_ptr[r], sp_ptr[r + 1]) */
    P_SP_IDX,   /* int32: target lane of a sparse entry */
    P_SP_W,     /* int16: its weight */
    P_DSYN,     /* int32 [2 NP]: dash_syn, dash_syn_2 (synapse-major); int32, not int16: AVX2 has no int16
                 * variable shift, and gcc narrows the shift to the operand type it sees */
    P_DMEM,     /* int32 [NP] */
    P_BIAS, P_THETA,             /* int16 [NP] */
    P_DSYN_OUT, P_DMEM_OUT,      /* int32 [NOP] */
    P_BIAS_OUT, P_THETA_OUT,     /* int16 [NOP] */
    P_APTR,     /* int32 [n + 1]: alias targets of hidden neuron j are atgt[aptr[j] .. aptr[j + 1]) */
    P_ATGT,     /* int32 */
    P_G_HID,    /* int32 [M_NG_HID][G_FIELDS]: lane groups of the hidden synapses (xylo_c.py's _groups): lanes
                 * [start, end) (multiples of LANES, at most 8 blocks), then per segment (inputs, hidden sources)
                 * the source indices [first, last + 1) whose dense span meets the group ((0, 0): none) */
    P_G_OUT,    /* int32 [M_NG_OUT][G_FIELDS]: the same for the readout synapses (one segment) */
    P_RINV,     /* float [NP]: 1 / threshold rounded up (1 for threshold 0), fire_count */
    P_RINV_OUT, /* float [NOP] */
    P_COUNT
};
/* records, each [T][B][n or nout] of int16, int32 or int64 (xylo_run's width), or NULL (not kept) */
enum { R_SPIKES, R_ISYN, R_ISYN2, R_VMEM, R_SPIKES_OUT, R_ISYN_OUT, R_VMEM_OUT, R_COUNT };

typedef struct {
    int64_t nin, n, nout, np, nop, max_in, cap_hid, cap_out, aliases, any_sparse, ng_hid, ng_out;
    const int16_t *w_in, *w_rec, *w_out, *sp_w, *bias, *theta, *bias_o, *theta_o;
    const int32_t *dsyn, *dmem, *dsyn_o, *dmem_o, *span, *sp_ptr, *sp_idx, *aptr, *atgt, *g_hid, *g_out;
    const float *rinv, *rinv_o;
} net_t;

/* a source's weights onto its target population: the dense row (w at lane 0, non-zero only in [lo, hi)), or
 * the sparse entries [sp0, sp1) of sp_idx / sp_w (a row is one or the other) */
typedef struct {
    const int16_t *w;
    int32_t lo, hi, sp0, sp1;
} row_t;

typedef struct {
    const net_t *net;
    int64_t T, B, b0, b1, isa, rc;
    const int64_t *inputs;
    void *const *rec;
    int64_t width; /* of a record element, bytes */
    const row_t *rows; /* nin input rows, n recurrent rows, n readout rows */
} job_t;

AI int32_t sat16(int32_t x) { return x < LO ? LO : (x > HI ? HI : x); }
AI int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
AI int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }
/* Xylo's decrement: y >> d (arithmetic), or 1 where that is 0 and y > 0 (y <= 0: y >> d <= 0 and >= y) */
AI int32_t dec(int32_t y, int32_t d) { return max32(y >> d, min32(y, 1)); }

/* The events of one step onto one population, from one or two "segments" of sources: segment s is the sources
 * idx[0 .. m) (ascending) with rows rows[idx[k]] and counts cnt[idx[k]] (1..31). Segments come in event order
 * (inputs, then hidden neurons), so the per-target order is kept whichever way the lanes are walked. */
typedef struct {
    const row_t *rows;
    const int32_t *idx;
    const uint8_t *cnt;
    int64_t m;
} seg_t;

/* One source's c events on its dense span: a clean loop that gcc vectorises; c > 1 as one add of c*w (int32:
 * repeated events of one weight from a state inside int16 saturate at one end only, so this equals c adds). */
AI void span_add(int16_t *restrict acc, const row_t *row, int32_t c) {
    int16_t *a = acc + row->lo, *end = acc + row->hi;
    const int16_t *w = row->w + row->lo;
    if (c == 1) {
        for (; a < end; a += LANES, w += LANES)
            for (int l = 0; l < LANES; l++) a[l] = (int16_t)sat16(a[l] + w[l]);
    } else {
        for (; a < end; a += LANES, w += LANES)
            for (int l = 0; l < LANES; l++) a[l] = (int16_t)sat16(a[l] + c * w[l]);
    }
}

/* Source by source (portable, and any net with sparse rows): a row's dense span, or its sparse entries one by one. */
AI void deliver_by_source(int16_t *restrict acc, const seg_t *seg, int64_t nseg, const int32_t *restrict sp_idx,
                          const int16_t *restrict sp_w) {
    for (int64_t s = 0; s < nseg; s++)
        for (int64_t k = 0; k < seg[s].m; k++) {
            int64_t r = seg[s].idx[k];
            const row_t *row = &seg[s].rows[r];
            int32_t c = seg[s].cnt[r];
            if (row->lo < row->hi) span_add(acc, row, c);
            for (int32_t e = row->sp0; e < row->sp1; e++)
                acc[sp_idx[e]] = (int16_t)sat16(acc[sp_idx[e]] + c * sp_w[e]);
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_VARIANTS 1
#include <immintrin.h>
/* x86-64, nets without sparse rows: the target lanes are walked in groups whose accumulators stay in vector
 * registers over all the step's sources; each event is one saturating int16 add (c events: c adds, as XyloSim
 * adds them), which gcc 12 does not derive from C. The second and third events are added under a mask that is
 * all-ones or zero by c, so that the usual counts 1..3 take no branch (a mispredicted trip count costs more than
 * two adds); a group visits only its sources' index range (gd[2..5]) and skips a source whose span misses it. */

/* AVX-512: nb (a constant after inlining) blocks of 32 lanes from lane g, the second and third events as masked
 * adds */
__attribute__((target("avx512f,avx512bw"), always_inline)) static inline void group_avx512(
    int16_t *acc, const seg_t *seg, int64_t nseg, const int32_t *gd, int nb) {
    int32_t g = gd[0];
    __m512i a[8];
    _Pragma("GCC unroll 8") for (int q = 0; q < nb; q++) a[q] = _mm512_loadu_si512(acc + g + q * LANES);
    for (int64_t s = 0; s < nseg; s++)
        for (int64_t k = 0; k < seg[s].m; k++) {
            int32_t j = seg[s].idx[k];
            if (j < gd[2 + 2 * s]) continue; /* before the group's first source */
            if (j >= gd[3 + 2 * s]) break;   /* after its last */
            const row_t *row = &seg[s].rows[j];
            if (row->lo >= g + nb * LANES || row->hi <= g) continue;
            int32_t c = seg[s].cnt[j];
            const int16_t *w = row->w + g;
            __mmask32 m2 = _cvtu32_mask32((uint32_t)-(c >= 2)), m3 = _cvtu32_mask32((uint32_t)-(c >= 3));
            _Pragma("GCC unroll 8") for (int q = 0; q < nb; q++) {
                __m512i x = _mm512_loadu_si512(w + q * LANES);
                a[q] = _mm512_adds_epi16(a[q], x);
                a[q] = _mm512_mask_adds_epi16(a[q], m2, a[q], x);
                a[q] = _mm512_mask_adds_epi16(a[q], m3, a[q], x);
                for (int32_t e = 3; e < c; e++) a[q] = _mm512_adds_epi16(a[q], x);
            }
        }
    _Pragma("GCC unroll 8") for (int q = 0; q < nb; q++) _mm512_storeu_si512(acc + g + q * LANES, a[q]);
}

__attribute__((target("avx512f,avx512bw"))) static void deliver_avx512(int16_t *acc, const seg_t *seg,
                                                                       int64_t nseg, const int32_t *groups,
                                                                       int64_t ng) {
    for (const int32_t *gd = groups; gd < groups + G_FIELDS * ng; gd += G_FIELDS) {
        switch ((gd[1] - gd[0]) / LANES) { /* a constant block count for each copy of the group loop */
        case 1: group_avx512(acc, seg, nseg, gd, 1); break;
        case 2: group_avx512(acc, seg, nseg, gd, 2); break;
        case 3: group_avx512(acc, seg, nseg, gd, 3); break;
        case 4: group_avx512(acc, seg, nseg, gd, 4); break;
        case 5: group_avx512(acc, seg, nseg, gd, 5); break;
        case 6: group_avx512(acc, seg, nseg, gd, 6); break;
        case 7: group_avx512(acc, seg, nseg, gd, 7); break;
        default: group_avx512(acc, seg, nseg, gd, 8); break;
        }
    }
}

/* AVX2: nb (a constant after inlining, at most 4) blocks of 32 lanes, two registers each, from lane g; the second
 * and third events as (x AND mask) */
__attribute__((target("avx2"), always_inline)) static inline void group_avx2(int16_t *acc, const seg_t *seg,
                                                                          int64_t nseg, const int32_t *gd, int32_t g,
                                                                          int nb) {
    __m256i a[8];
    _Pragma("GCC unroll 8") for (int q = 0; q < 2 * nb; q++) a[q] = _mm256_loadu_si256((const __m256i *)(acc + g) + q);
    for (int64_t s = 0; s < nseg; s++)
        for (int64_t k = 0; k < seg[s].m; k++) {
            int32_t j = seg[s].idx[k];
            if (j < gd[2 + 2 * s]) continue;
            if (j >= gd[3 + 2 * s]) break;
            const row_t *row = &seg[s].rows[j];
            if (row->lo >= g + nb * LANES || row->hi <= g) continue;
            int32_t c = seg[s].cnt[j];
            const __m256i *w = (const __m256i *)(row->w + g);
            __m256i m2 = _mm256_set1_epi16((short)-(c >= 2)), m3 = _mm256_set1_epi16((short)-(c >= 3));
            _Pragma("GCC unroll 8") for (int q = 0; q < 2 * nb; q++) {
                __m256i x = _mm256_loadu_si256(w + q);
                a[q] = _mm256_adds_epi16(a[q], x);
                a[q] = _mm256_adds_epi16(a[q], _mm256_and_si256(x, m2));
                a[q] = _mm256_adds_epi16(a[q], _mm256_and_si256(x, m3));
                for (int32_t e = 3; e < c; e++) a[q] = _mm256_adds_epi16(a[q], x);
            }
        }
    _Pragma("GCC unroll 8") for (int q = 0; q < 2 * nb; q++) _mm256_storeu_si256((__m256i *)(acc + g) + q, a[q]);
}

__attribute__((target("avx2"))) static void deliver_avx2(int16_t *acc, const seg_t *seg, int64_t nseg,
                                                         const int32_t *groups, int64_t ng) {
    for (const int32_t *gd = groups; gd < groups + G_FIELDS * ng; gd += G_FIELDS)
        for (int32_t g = gd[0]; g < gd[1]; g += 4 * LANES) /* a group in pieces of at most 4 blocks */
            switch ((gd[1] - g) / LANES) {
            case 1: group_avx2(acc, seg, nseg, gd, g, 1); break;
            case 2: group_avx2(acc, seg, nseg, gd, g, 2); break;
            case 3: group_avx2(acc, seg, nseg, gd, g, 3); break;
            default: group_avx2(acc, seg, nseg, gd, g, 4); break;
            }
}

/* nonzero_u8 (below) 16 lanes at a time: compress the indices of the non-zero bytes; idx needs 16 spare entries
 * (a whole vector is stored) and x readable up to m rounded up to 16 */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static int64_t nonzero_u8_avx512(const uint8_t *x, int64_t m,
                                                                                     int32_t *idx) {
    __m512i at = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int64_t k = 0;
    for (int64_t i = 0; i < m; i += 16, at = _mm512_add_epi32(at, _mm512_set1_epi32(16))) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(x + i));
        __mmask16 hit = _mm_test_epi8_mask(bytes, bytes);
        if (m - i < 16) hit &= (__mmask16)((1u << (m - i)) - 1);
        _mm512_storeu_si512(idx + k, _mm512_maskz_compress_epi32(hit, at));
        k += __builtin_popcount(hit);
    }
    return k;
}
#endif

/* one population's events of a step (`isa` is a constant after inlining) */
AI void deliver(int isa, int by_source, int16_t *acc, const seg_t *seg, int64_t nseg, const int32_t *groups,
                int64_t ng, const int32_t *sp_idx, const int16_t *sp_w) {
    if (!seg[0].m && (nseg == 1 || !seg[1].m)) return;
#ifdef HAVE_X86_VARIANTS
    if (!by_source && isa == 2) {
        deliver_avx512(acc, seg, nseg, groups, ng);
        return;
    }
    if (!by_source && isa == 1) {
        deliver_avx2(acc, seg, nseg, groups, ng);
        return;
    }
#else
    (void)isa, (void)by_source, (void)groups, (void)ng;
#endif
    deliver_by_source(acc, seg, nseg, sp_idx, sp_w);
}

/* the indices i < m with x[i] > 0, ascending, into idx (branch-free); returns their number */
AI int64_t nonzero_u8(int isa, const uint8_t *restrict x, int64_t m, int32_t *restrict idx) {
#ifdef HAVE_X86_VARIANTS
    if (isa == 2) return nonzero_u8_avx512(x, m, idx);
#else
    (void)isa;
#endif
    int64_t k = 0;
    for (int64_t i = 0; i < m; i++) {
        idx[k] = (int32_t)i;
        k += x[i] > 0;
    }
    return k;
}

/* min(floor(v / theta), 31) for v >= theta > 0; 31 for theta == 0 <= v; 0 for v < theta -- the spikes of
 * ``while v >= theta and n < 31`` (v, theta <= 32767) -- from rinv = 1 / theta rounded up to a float (1 for theta
 * 0; xylo_c.py's _reciprocals). The truncated product is exact: it is >= v / theta, so an integer quotient k stays
 * k, and below k + 1 otherwise, since v / theta is at least 1 / theta below k + 1 while the two roundings add at
 * most 3 (k + 1) 2^-24 with (k + 1) theta < 2^16; checked for every pair. A multiply vectorises, unlike an integer
 * division (and is cheaper than a float one). */
AI int32_t fire_count(int32_t v, int32_t theta, float rinv) {
    int32_t q = (int32_t)((float)(theta ? v : 31) * rinv); /* theta 0: 31 * 1 */
    return v >= theta ? min32(q, 31) : 0;
}

/* decays and membrane update of lanes [0, m); with `fire`, also the spike counts (min with cap) and the
 * subtraction; `two`: a second synapse at i2 (a compile-time constant after inlining) */
AI void evolve(int64_t m, int two, int fire, int16_t *restrict i1, int16_t *restrict i2, int16_t *restrict v,
               const int32_t *restrict d1, const int32_t *restrict d2, const int32_t *restrict dm,
               const int16_t *restrict bias, const int16_t *restrict theta, const float *restrict rinv,
               uint8_t *restrict count, int32_t cap) {
#pragma GCC ivdep
    for (int64_t j = 0; j < m; j++) {
        int32_t a = i1[j], b = two ? i2[j] : 0, vv = v[j];
        a -= dec(a, d1[j]);
        if (two) b -= dec(b, d2[j]);
        int32_t dv = (int16_t)(-dec(vv, dm[j])); /* wrap16: only -(-32768) wraps */
        dv = sat16(dv + a + b);
        dv = sat16(dv + bias[j]);
        vv = sat16(vv + dv);
        i1[j] = (int16_t)a;
        if (two) i2[j] = (int16_t)b;
        if (fire) {
            int32_t k = min32(fire_count(vv, theta[j], rinv[j]), cap);
            vv -= k * theta[j];
            count[j] = (uint8_t)k;
        }
        v[j] = (int16_t)vv;
    }
}

/* spike counts neuron by neuron in index order, with aliases (xylo.py's module docstring, rule 3) */
static void fire_aliased(const net_t *net, int16_t *v, uint8_t *count) {
    int32_t cap = (int32_t)net->cap_hid;
    memset(count, 0, (size_t)net->np);
    for (int64_t j = 0; j < net->n; j++) {
        int32_t start = count[j], th = net->theta[j];
        int32_t k = min32(fire_count(v[j], th, net->rinv[j]), cap - start);
        v[j] = (int16_t)(v[j] - k * th);
        count[j] = (uint8_t)(start + k);
        for (int32_t a = net->aptr[j]; a < net->aptr[j + 1]; a++) {
            int32_t t = net->atgt[a];
            count[t] = (uint8_t)min32(count[t] + count[j], cap);
        }
    }
}

/* m values into elements [at, at + m) of a record of int16, int32 or int64 (width 2, 4 or 8 bytes) */
#define STORE_ROW(name, type)                                                                \
    AI void name(void *restrict dst, int64_t at, const type *restrict src, int64_t m, int width) { \
        if (width == 2)                                                                      \
            for (int64_t j = 0; j < m; j++) ((int16_t *)dst)[at + j] = src[j];               \
        else if (width == 4)                                                                 \
            for (int64_t j = 0; j < m; j++) ((int32_t *)dst)[at + j] = src[j];               \
        else                                                                                 \
            for (int64_t j = 0; j < m; j++) ((int64_t *)dst)[at + j] = src[j];               \
    }
STORE_ROW(store, int16_t)
STORE_ROW(store_u8, uint8_t)
#undef STORE_ROW

/* samples [b0, b1) from the reset state; 0, or -1 without memory */
AI int64_t run_body(const job_t *job, int isa) {
    const net_t *net = job->net;
    int64_t nin = net->nin, n = net->n, nout = net->nout, np = net->np, nop = net->nop, T = job->T, B = job->B;
    int by_source = isa == 0 || net->any_sparse;
    size_t bytes = (size_t)(3 * np + 2 * nop) * sizeof(int16_t) + (size_t)(np + nop);
    int16_t *mem = malloc(bytes);
    uint8_t *xin = malloc((size_t)(nin + 16)); /* the step's clamped input counts */
    int32_t *act = malloc((size_t)(nin + np + 16) * sizeof(int32_t));
    if (!mem || !xin || !act) {
        free(mem);
        free(xin);
        free(act);
        return -1;
    }
    int16_t *acc = mem, *v = acc + 2 * np, *acc_o = v + np, *v_o = acc_o + nop;
    uint8_t *count = (uint8_t *)(v_o + nop), *count_o = count + np; /* count: also the spikes delivered at t+1 */
    int32_t *act_in = act, *act_hid = act + nin;
    const row_t *rows = job->rows;
    void *const *rec = job->rec;
    int wd = (int)job->width;
    for (int64_t b = job->b0; b < job->b1; b++) {
        memset(mem, 0, bytes);
        seg_t hid[2] = {{rows, act_in, xin, 0}, {rows + nin, act_hid, count, 0}};
        seg_t out = {rows + nin + n, act_hid, count, 0};
        for (int64_t t = 0; t < T; t++) {
            const int64_t *x = job->inputs + (t * B + b) * nin;
            if (t + 1 < T) /* the next step's counts are B * nin apart: too far for the hardware prefetcher */
                for (int64_t i = 0; i < nin; i += 8) __builtin_prefetch(x + B * nin + i);
            for (int64_t i = 0; i < nin; i++) xin[i] = (uint8_t)min32((int32_t)x[i], (int32_t)net->max_in);
            hid[0].m = nonzero_u8(0, xin, nin, act_in);
            deliver(isa, by_source, acc, hid, 2, net->g_hid, net->ng_hid, net->sp_idx, net->sp_w);
            deliver(isa, by_source, acc_o, &out, 1, net->g_out, net->ng_out, net->sp_idx, net->sp_w);
            if (net->aliases) { /* `fire` must be a constant for the loop to vectorise */
                evolve(np, 1, 0, acc, acc + np, v, net->dsyn, net->dsyn + np, net->dmem, net->bias, net->theta,
                       net->rinv, count, (int32_t)net->cap_hid);
                fire_aliased(net, v, count);
            } else {
                evolve(np, 1, 1, acc, acc + np, v, net->dsyn, net->dsyn + np, net->dmem, net->bias, net->theta,
                       net->rinv, count, (int32_t)net->cap_hid);
            }
            evolve(nop, 0, 1, acc_o, NULL, v_o, net->dsyn_o, NULL, net->dmem_o, net->bias_o, net->theta_o,
                   net->rinv_o, count_o, (int32_t)net->cap_out);
            hid[1].m = out.m = nonzero_u8(isa, count, n, act_hid); /* the hidden spikes delivered at t+1 */
            int64_t at = (t * B + b) * n, ao = (t * B + b) * nout;
            if (rec[R_SPIKES]) store_u8(rec[R_SPIKES], at, count, n, wd);
            if (rec[R_ISYN]) store(rec[R_ISYN], at, acc, n, wd);
            if (rec[R_ISYN2]) store(rec[R_ISYN2], at, acc + np, n, wd);
            if (rec[R_VMEM]) store(rec[R_VMEM], at, v, n, wd);
            if (rec[R_SPIKES_OUT]) store_u8(rec[R_SPIKES_OUT], ao, count_o, nout, wd);
            if (rec[R_ISYN_OUT]) store(rec[R_ISYN_OUT], ao, acc_o, nout, wd);
            if (rec[R_VMEM_OUT]) store(rec[R_VMEM_OUT], ao, v_o, nout, wd);
        }
    }
    free(mem);
    free(xin);
    free(act);
    return 0;
}

static int64_t run_portable(const job_t *job) { return run_body(job, 0); }

#ifdef HAVE_X86_VARIANTS
__attribute__((target("avx2"))) static int64_t run_avx2(const job_t *job) { return run_body(job, 1); }
__attribute__((target("avx512f,avx512bw,avx512vl"))) static int64_t run_avx512(const job_t *job) {
    return run_body(job, 2);
}
#endif

/* The variant that runs for a request (0 portable, 1 AVX2, 2 AVX-512BW, any larger value: the best): the
 * highest one <= the request that this build and CPU have. */
int64_t xylo_isa(int64_t want) {
#ifdef HAVE_X86_VARIANTS
    __builtin_cpu_init();
    if (want >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return 2;
    if (want >= 1 && __builtin_cpu_supports("avx2")) return 1;
#else
    (void)want;
#endif
    return 0;
}

static void *job_run(void *arg) {
    job_t *job = arg;
#ifdef HAVE_X86_VARIANTS
    if (job->isa == 2) {
        job->rc = run_avx512(job);
        return NULL;
    }
    if (job->isa == 1) {
        job->rc = run_avx2(job);
        return NULL;
    }
#endif
    job->rc = run_portable(job);
    return NULL;
}

/* T steps of B samples (inputs int64 [T][B][nin], non-negative) over `threads` threads; `isa` as xylo_isa;
 * records of `width` bytes per element (2, 4 or 8). Returns 0, -1 when scratch memory could not be allocated,
 * -2 on a bad argument. */
int64_t xylo_run(const int64_t *meta, void *const *ptr, int64_t T, int64_t B, const int64_t *inputs,
                 void *const *rec, int64_t width, int64_t threads, int64_t isa) {
    net_t net = {
        meta[M_NIN], meta[M_N], meta[M_NOUT], meta[M_NP], meta[M_NOP], meta[M_MAX_IN], meta[M_CAP_HID],
        meta[M_CAP_OUT], meta[M_ALIASES], meta[M_ANY_SPARSE], meta[M_NG_HID], meta[M_NG_OUT],
        ptr[P_W_IN], ptr[P_W_REC], ptr[P_W_OUT], ptr[P_SP_W], ptr[P_BIAS], ptr[P_THETA], ptr[P_BIAS_OUT],
        ptr[P_THETA_OUT], ptr[P_DSYN], ptr[P_DMEM], ptr[P_DSYN_OUT], ptr[P_DMEM_OUT], ptr[P_SPAN], ptr[P_SP_PTR],
        ptr[P_SP_IDX], ptr[P_APTR], ptr[P_ATGT], ptr[P_G_HID], ptr[P_G_OUT], ptr[P_RINV], ptr[P_RINV_OUT],
    };
    if (net.np % LANES || net.nop % LANES || net.np < net.n || net.nop < net.nout || T < 0 || B < 0 ||
        (width != 2 && width != 4 && width != 8))
        return -2;
    int64_t nt = threads < 1 ? 1 : (threads > MAX_THREADS ? MAX_THREADS : threads);
    if (nt > B) nt = B > 0 ? B : 1;
    job_t job[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    isa = xylo_isa(isa);
    int64_t nrows = net.nin + 2 * net.n;
    row_t *rows = malloc((size_t)(nrows + 1) * sizeof(row_t));
    if (!rows) return -1;
    for (int64_t r = 0; r < nrows; r++) {
        const int16_t *w = r < net.nin ? net.w_in + r * 2 * net.np
                           : r < net.nin + net.n ? net.w_rec + (r - net.nin) * 2 * net.np
                                                 : net.w_out + (r - net.nin - net.n) * net.nop;
        rows[r] = (row_t){w, net.span[2 * r], net.span[2 * r + 1], net.sp_ptr[r], net.sp_ptr[r + 1]};
    }
    for (int64_t c = 0; c < nt; c++) {
        job[c] = (job_t){&net, T, B, B * c / nt, B * (c + 1) / nt, isa, 0, inputs, rec, width, rows};
        if (c > 0) started[c] = pthread_create(&tid[c], NULL, job_run, &job[c]) == 0;
    }
    job_run(&job[0]);
    int64_t rc = job[0].rc;
    for (int64_t c = 1; c < nt; c++) {
        if (started[c])
            pthread_join(tid[c], NULL);
        else
            job_run(&job[c]); /* no thread could be started: run its share here */
        if (job[c].rc) rc = job[c].rc;
    }
    free(rows);
    return rc;
}
