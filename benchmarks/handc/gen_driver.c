/* Drives the hls backend's emitted C (snn.c, compiled beside this file) over a batch, for benchmarks/perf.py:
 * per sample snn_reset(), then the top function snn_run over all T steps (outputs only, no traces).
 * in: uint8 [B][T][SNN_N_IN]; out: the first Output's values as int64 [B][T][n_out] (snn_run_wide). */
#include <stdint.h>

#include "snn.h"

int gen_run(int64_t B, int64_t T, int64_t n_out, const uint8_t *in, int64_t *out) {
    for (int64_t b = 0; b < B; b++) {
        snn_reset();
        snn_run_wide((uint32_t)T, in + b * T * SNN_N_IN, out + b * T * n_out);
    }
    return 0;
}
