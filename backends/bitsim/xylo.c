/* bitsim's xylo path in C: the rules of backends/bitsim/xylo.py (its module docstring), one sample after another.
 *
 * Weights come as CSR lists per source (targets ascending, zero weights left out), already ``wrap16(w << shift)``.
 * A source's count c of events with weight w is one saturating add ``sat16(state + c*w)``: repeated events of one
 * weight from a state inside int16 saturate at one end only, so this equals adding them one by one; sources are
 * taken in ascending order, which is the per-target event order. Records are [T][B][n], int64.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LO (-32768)
#define HI 32767

static inline int64_t sat16(int64_t x) { return x < LO ? LO : (x > HI ? HI : x); }
static inline int64_t wrap16(int64_t x) { return ((x - LO) & 0xFFFF) + LO; }
static inline int64_t dec(int64_t y, int64_t d) {
    int64_t dv = y >> d; /* arithmetic shift (gcc) */
    return (dv == 0 && y > 0) ? 1 : dv;
}

static void deliver(int64_t *state, const int64_t *counts, int64_t sources, int64_t cap, const int64_t *ptr,
                    const int64_t *idx, const int64_t *w) {
    for (int64_t s = 0; s < sources; s++) {
        int64_t c = counts[s] < cap ? counts[s] : cap;
        if (c <= 0) continue;
        for (int64_t e = ptr[s]; e < ptr[s + 1]; e++) state[idx[e]] = sat16(state[idx[e]] + c * w[e]);
    }
}

static void evolve(int64_t n, int64_t nsyn, int64_t *isyn, int64_t *v, const int64_t *dsyn, const int64_t *dmem,
                   const int64_t *bias, const int64_t *theta, int64_t cap, int64_t *buf, const int64_t *aptr,
                   const int64_t *atgt) {
    for (int64_t j = 0; j < n; j++) {
        int64_t isum = 0;
        for (int64_t s = 0; s < nsyn; s++) {
            int64_t *i = &isyn[j * nsyn + s];
            *i -= dec(*i, dsyn[j * nsyn + s]);
            isum += *i;
        }
        int64_t dv = wrap16(-dec(v[j], dmem[j]));
        dv = sat16(dv + isum);
        dv = sat16(dv + bias[j]);
        v[j] = sat16(v[j] + dv);
        int64_t k = buf[j];
        while (v[j] >= theta[j] && k < cap) {
            k++;
            v[j] -= theta[j];
        }
        buf[j] = k;
        if (aptr)
            for (int64_t a = aptr[j]; a < aptr[j + 1]; a++) {
                int64_t t = atgt[a];
                buf[t] = buf[t] + k > cap ? cap : buf[t] + k;
            }
    }
}

/* Returns 0, or -1 when scratch memory could not be allocated. */
int64_t xylo_run(int64_t T, int64_t B, int64_t nin, int64_t n, int64_t nout, const int64_t *inputs,
                 const int64_t *ptr_in, const int64_t *idx_in, const int64_t *w_in,
                 const int64_t *ptr_rec, const int64_t *idx_rec, const int64_t *w_rec,
                 const int64_t *ptr_out, const int64_t *idx_out, const int64_t *w_out,
                 const int64_t *dsyn, const int64_t *dmem, const int64_t *bias, const int64_t *theta,
                 const int64_t *dsyn_out, const int64_t *dmem_out, const int64_t *bias_out, const int64_t *theta_out,
                 const int64_t *aptr, const int64_t *atgt, int64_t max_in, int64_t max_hidden, int64_t max_out,
                 int64_t *spikes, int64_t *isyn_rec, int64_t *isyn2_rec, int64_t *vmem_rec,
                 int64_t *spikes_out, int64_t *isyn_out_rec, int64_t *vmem_out_rec) {
    int64_t *mem = calloc((size_t)(5 * n + 3 * nout + 1), sizeof(int64_t));
    if (!mem) return -1;
    int64_t *isyn = mem, *v = isyn + 2 * n, *prev = v + n, *buf = prev + n;
    int64_t *isyn_o = buf + n, *v_o = isyn_o + nout, *buf_o = v_o + nout;
    for (int64_t b = 0; b < B; b++) {
        memset(mem, 0, (size_t)(5 * n + 3 * nout) * sizeof(int64_t));
        for (int64_t t = 0; t < T; t++) {
            deliver(isyn, inputs + (t * B + b) * nin, nin, max_in, ptr_in, idx_in, w_in);
            deliver(isyn, prev, n, max_hidden, ptr_rec, idx_rec, w_rec);
            deliver(isyn_o, prev, n, max_hidden, ptr_out, idx_out, w_out);
            memset(buf, 0, (size_t)n * sizeof(int64_t));
            memset(buf_o, 0, (size_t)nout * sizeof(int64_t));
            evolve(n, 2, isyn, v, dsyn, dmem, bias, theta, max_hidden, buf, aptr, atgt);
            evolve(nout, 1, isyn_o, v_o, dsyn_out, dmem_out, bias_out, theta_out, max_out, buf_o, NULL, NULL);
            int64_t at = (t * B + b) * n, ao = (t * B + b) * nout; /* a NULL record is not kept */
            memcpy(prev, buf, (size_t)n * sizeof(int64_t));
            if (spikes) memcpy(spikes + at, buf, (size_t)n * sizeof(int64_t));
            if (vmem_rec) memcpy(vmem_rec + at, v, (size_t)n * sizeof(int64_t));
            if (isyn_rec)
                for (int64_t j = 0; j < n; j++) isyn_rec[at + j] = isyn[2 * j];
            if (isyn2_rec)
                for (int64_t j = 0; j < n; j++) isyn2_rec[at + j] = isyn[2 * j + 1];
            if (spikes_out) memcpy(spikes_out + ao, buf_o, (size_t)nout * sizeof(int64_t));
            if (isyn_out_rec) memcpy(isyn_out_rec + ao, isyn_o, (size_t)nout * sizeof(int64_t));
            if (vmem_out_rec) memcpy(vmem_out_rec + ao, v_o, (size_t)nout * sizeof(int64_t));
        }
    }
    free(mem);
    return 0;
}
