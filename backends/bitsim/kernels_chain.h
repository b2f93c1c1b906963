/* bitsim fast kernels, part 2 of kernels.c (included by it, one translation unit): the event-driven chain. */
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

/* one row of a layer's asked traces (ptr[Q_TR_*] non-NULL, in the widths meta[L_SZ_*]): the dense outputs y, the
 * neuron outputs, v and i */
static void bs_put_traces(void *const *ptr, const int64_t *meta, int64_t row, const int64_t *y, const int64_t *out,
                          const int64_t *v, const int64_t *i, int64_t m) {
    if (ptr[Q_TR_DENSE]) bs_put_row(ptr[Q_TR_DENSE], meta[L_SZ_DENSE], row, y, m);
    if (ptr[Q_TR_OUT]) bs_put_row(ptr[Q_TR_OUT], meta[L_SZ_OUT], row, out, m);
    if (ptr[Q_TR_V]) bs_put_row(ptr[Q_TR_V], meta[L_SZ_V], row, v, m);
    if (ptr[Q_TR_I]) bs_put_row(ptr[Q_TR_I], meta[L_SZ_I], row, i, m);
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
            const int64_t gain = shift > 0 ? (int64_t)1 << shift : 1, down = shift < 0 ? -shift : 0;
            for (int64_t b = 0; b < nb; b++) {
                const int64_t row = (t * B + lo + b) * m, st = (lo + b) * m;
                if (narrow == 2) for (int64_t c = 0; c < m; c++) y[c] = (int64_t)a16[b * m + c] * gain >> down;
                else if (narrow) for (int64_t c = 0; c < m; c++) y[c] = (int64_t)a32[b * m + c] * gain >> down;
                else for (int64_t c = 0; c < m; c++) y[c] = acc[b * m + c] * gain >> down;
                int64_t *out = ya + b * m;
                bs_neuron_rows(&opts[l], m, y, v + st, i + st, s + st, xp + st, out, hb, cc, cf, B * m, st, t);
                bs_put_traces(ptr, meta, row, y, out, v + st, i + st, m);
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
