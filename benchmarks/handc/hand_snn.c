/* A hand-written, exact, event-driven C simulator of the benchmark's networks (benchmarks/perf.py).
 *
 * Written for the benchmark, not generated: Input -> (Dense -> LIF)+ with snnTorch's semantics as
 * snncompile quantises them (PRESETS["snntorch"]: delayed reset by subtraction, toward-zero rounding of
 * the decay, v saturated to a v_bits register, spike when v > threshold), no bias, no shift. Per sample
 * and step: the indices of the active inputs, the int8 weight rows W^T[j] (the benchmark's weights are 8-bit) of those inputs added into
 * int32 accumulators, then the neuron update:
 *     v = sat(round_toward_zero(v * beta / 2^frac) + acc - s * theta),  s = v > theta.
 * The benchmark checks its output spikes against bitsim's, every integer.
 *
 * hand_run(layers, sizes[layers+1], wt[layers] (W^T [k][m] int8), theta[layers], beta, frac, v_bits,
 *          T, B, in uint8 [B][T][sizes[0]], out uint8 [B][T][sizes[layers]]) -> 0, or -1 without memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int hand_run(int layers, const int64_t *sizes, const int8_t *const *wt, const int64_t *theta, int64_t beta,
             int frac, int v_bits, int64_t T, int64_t B, const uint8_t *in, uint8_t *out) {
    int64_t width = 0, total = 0;
    for (int l = 0; l <= layers; l++) width = sizes[l] > width ? sizes[l] : width;
    for (int l = 1; l <= layers; l++) total += sizes[l];
    int32_t *acc = malloc(sizeof(int32_t) * (size_t)width);
    int32_t *ev = malloc(sizeof(int32_t) * (size_t)width);
    int32_t *v = malloc(sizeof(int32_t) * (size_t)total);
    uint8_t *s = malloc((size_t)total), *x = malloc((size_t)width);
    if (!acc || !ev || !v || !s || !x) {
        free(acc), free(ev), free(v), free(s), free(x);
        return -1;
    }
    const int32_t vmax = (int32_t)((1 << (v_bits - 1)) - 1);
    for (int64_t b = 0; b < B; b++) {
        memset(v, 0, sizeof(int32_t) * (size_t)total);
        memset(s, 0, (size_t)total);
        for (int64_t t = 0; t < T; t++) {
            memcpy(x, in + (b * T + t) * sizes[0], (size_t)sizes[0]);
            int64_t base = 0;
            for (int l = 0; l < layers; l++) {
                const int64_t k = sizes[l], m = sizes[l + 1];
                int64_t n = 0;
                for (int64_t j = 0; j < k; j++) { /* the active inputs */
                    ev[n] = (int32_t)j;
                    n += x[j] != 0;
                }
                memset(acc, 0, sizeof(int32_t) * (size_t)m);
                for (int64_t e = 0; e < n; e++) {
                    const int8_t *w = wt[l] + (int64_t)ev[e] * m;
                    for (int64_t c = 0; c < m; c++) acc[c] += w[c];
                }
                int32_t *vl = v + base;
                uint8_t *sl = s + base;
                const int32_t th = (int32_t)theta[l];
                for (int64_t c = 0; c < m; c++) {
                    const int64_t p = (int64_t)vl[c] * beta;
                    const int64_t decayed = p < 0 ? -((-p) >> frac) : p >> frac;
                    int64_t nv = decayed + acc[c] - (int64_t)sl[c] * th;
                    nv = nv > vmax ? vmax : (nv < -vmax ? -vmax : nv);
                    vl[c] = (int32_t)nv;
                    sl[c] = nv > th;
                    x[c] = sl[c];
                }
                base += m;
            }
            memcpy(out + (b * T + t) * sizes[layers], x, (size_t)sizes[layers]);
        }
    }
    free(acc), free(ev), free(v), free(s), free(x);
    return 0;
}
