/*
 * snn_sim.c -- batch driver that lets Python use the compiled C as a fast simulator
 * (snncompile.backends.hls run(), through ctypes). Not part of the FPGA design.
 *
 * traces: one block per trace, in table order; block k is [T][B][size_k] int64 (time-major, the
 * layout of bitsim's traces), so Python reshapes each block without copying.
 */
#include <stddef.h>

#include "snn.h"

uint32_t snn_sim_n_traces(void);
const snn_trace_t *snn_sim_trace(uint32_t k);
int snn_sim_batch(uint32_t B, uint32_t T, const uint8_t *in, int64_t *traces);

uint32_t snn_sim_n_traces(void)
{
    return SNN_N_TRACES;
}

const snn_trace_t *snn_sim_trace(uint32_t k)
{
    return k < SNN_N_TRACES ? &snn_traces[k] : NULL;
}

int snn_sim_batch(uint32_t B, uint32_t T, const uint8_t *in, int64_t *traces)
{
    int64_t out[SNN_N_OUT_WORDS + 1];
    uint32_t b, t, k;
    size_t block;
    for (b = 0; b < B; b++) {
        snn_reset();
        for (t = 0; t < T; t++) {
            snn_step_wide(in + ((size_t)b * T + t) * SNN_N_IN, out);
            for (k = 0, block = 0; k < SNN_N_TRACES; block += (size_t)T * B * snn_traces[k].size, k++) {
                snn_trace_copy(&snn_traces[k], traces + block + ((size_t)t * B + b) * snn_traces[k].size, 1);
            }
        }
    }
    return 0;
}
