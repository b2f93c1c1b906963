/*
 * tb.c -- C-simulation testbench of a generated snncompile HLS project.
 *
 *   tb [--outputs-only] stimuli.bin golden.bin
 *   tb --stream stimuli.bin golden.bin      (projects with the AXI4-Stream top, no readout)
 *   tb --readout stimuli.bin readout.bin    (projects with a readout: snn_classify)
 *   tb --stream stimuli.bin readout.bin     (projects with the AXI4-Stream top and a readout)
 *
 * Runs every sample of stimuli.bin through the network (snn_reset, then one
 * snn_step per timestep) and compares, after each step, every recorded value
 * (each node's output, each neuron's i and v) with golden.bin, written by
 * snncompile from bitsim. --outputs-only calls the top function snn_run and
 * compares only the Output nodes (for Vitis co-simulation, where the state
 * lives in the RTL). --stream packs the stimuli into 32-bit words and runs the
 * AXI4-Stream top snn_stream, unpacking its outputs; --readout compares the
 * scores and class of snn_classify (or of snn_stream) with readout.bin.
 * Formats: see the project's README.md.
 *
 * Exit status: 0 all values equal; 1 a mismatch (the first one is printed:
 * sample, timestep, layer, neuron, expected, got); 2 a file or format error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snn.h"

#define TB_MAX_NAME 256

static void tb_fail(const char *path, const char *what)
{
    fprintf(stderr, "tb: %s: %s\n", path, what);
    exit(2);
}

static uint64_t tb_read_le(FILE *f, const char *path, int nbytes)
{
    unsigned char b[8];
    uint64_t x = 0;
    int k;
    if (fread(b, 1, (size_t)nbytes, f) != (size_t)nbytes) {
        tb_fail(path, "unexpected end of file");
    }
    for (k = nbytes - 1; k >= 0; k--) {
        x = (x << 8) | b[k];
    }
    return x;
}

/* A signed little-endian integer of nbytes (1, 2, 4 or 8), sign-extended. */
static int64_t tb_read_signed(FILE *f, const char *path, int nbytes)
{
    uint64_t x = tb_read_le(f, path, nbytes);
    if (nbytes < 8 && ((x >> (8 * nbytes - 1)) & 1u)) {
        x |= ~(uint64_t)0 << (8 * nbytes);
    }
    return (int64_t)x;
}

static uint32_t tb_u32(FILE *f, const char *path)
{
    return (uint32_t)tb_read_le(f, path, 4);
}

static void tb_string(FILE *f, const char *path, char out[TB_MAX_NAME])
{
    uint32_t n = tb_u32(f, path);
    if (n >= TB_MAX_NAME || fread(out, 1, n, f) != n) {
        tb_fail(path, "bad string in header");
    }
    out[n] = '\0';
}

/* Opens a file of format versions 1..max_version; *version (when not NULL) says which. */
static FILE *tb_open(const char *path, const char *magic, uint32_t max_version, uint32_t *version, uint32_t *B,
                     uint32_t *T)
{
    char m[4];
    uint32_t v;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tb_fail(path, "cannot open");
    }
    if (fread(m, 1, 4, f) != 4 || memcmp(m, magic, 4) != 0) {
        tb_fail(path, "wrong magic (not written by snncompile?)");
    }
    v = tb_u32(f, path);
    if (v < 1 || v > max_version) {
        tb_fail(path, "unsupported format version");
    }
    if (version != NULL) {
        *version = v;
    }
    *B = tb_u32(f, path);
    *T = tb_u32(f, path);
    return f;
}

/* Reads golden.bin's trace descriptors (version 2: each with its value width in bytes; version 1: all 8), checks
 * them against this network's table. */
static void tb_golden_layout(FILE *f, const char *path, uint32_t version, uint32_t dims[SNN_N_TRACES][8],
                             uint32_t ndims[SNN_N_TRACES], int width[SNN_N_TRACES])
{
    char node[TB_MAX_NAME], key[TB_MAX_NAME];
    uint32_t k, d, size;
    if (tb_u32(f, path) != SNN_N_TRACES || tb_u32(f, path) != SNN_TRACE_WORDS) {
        tb_fail(path, "trace count or size differs from this network (golden.bin is for another model)");
    }
    for (k = 0; k < SNN_N_TRACES; k++) {
        tb_string(f, path, node);
        tb_string(f, path, key);
        ndims[k] = tb_u32(f, path);
        size = 1;
        for (d = 0; d < ndims[k]; d++) {
            uint32_t n = tb_u32(f, path);
            if (d < 8) {
                dims[k][d] = n;
            }
            size *= n;
        }
        width[k] = version >= 2 ? (int)tb_u32(f, path) : 8;
        if (width[k] != 1 && width[k] != 2 && width[k] != 4 && width[k] != 8) {
            tb_fail(path, "a trace's value width is not 1, 2, 4 or 8 bytes");
        }
        if (strcmp(node, snn_traces[k].node) != 0 || strcmp(key, snn_traces[k].key) != 0 ||
            size != snn_traces[k].size || ndims[k] > 8) {
            tb_fail(path, "trace layout differs from this network (golden.bin is for another model)");
        }
    }
}

static void tb_print_index(uint32_t flat, const uint32_t *dims, uint32_t ndim)
{
    uint32_t idx[8], d;
    for (d = ndim; d-- > 0;) {
        idx[d] = flat % dims[d];
        flat /= dims[d];
    }
    printf("(");
    for (d = 0; d < ndim; d++) {
        printf(d + 1 < ndim ? "%u, " : "%u", (unsigned)idx[d]);
    }
    printf(")");
}

static int tb_compare(uint32_t b, uint32_t t, uint32_t k, uint32_t e, int64_t want, int64_t got,
                      uint32_t dims[SNN_N_TRACES][8], const uint32_t ndims[SNN_N_TRACES])
{
    if (want == got) {
        return 0;
    }
    printf("MISMATCH sample %u timestep %u layer '%s' (%s) neuron %u ", (unsigned)b, (unsigned)t,
           snn_traces[k].node, snn_traces[k].key, (unsigned)e);
    tb_print_index(e, dims[k], ndims[k]);
    printf(": expected %lld, got %lld\n", (long long)want, (long long)got);
    return 1;
}

#ifdef SNN_IN_PACKED
/* The AXI4-Stream top over one sample: pack the spikes (bit k % 32 of word k / 32), run, unpack. */
static void tb_stream_wide(uint32_t T, const uint8_t *in, int64_t *out)
{
    uint32_t *words = (uint32_t *)calloc((size_t)SNN_T_MAX * SNN_IN_PACKED + 1, sizeof(uint32_t));
    snn_out_word_t *res = (snn_out_word_t *)calloc((size_t)SNN_T_MAX * SNN_OUT_PACKED + SNN_N_OUT_WORDS + 1,
                                                   sizeof(snn_out_word_t));
    uint32_t t, k;
    if (words == NULL || res == NULL) {
        abort();
    }
    for (t = 0; t < T; t++) {
        for (k = 0; k < SNN_N_IN; k++) {
            words[t * SNN_IN_PACKED + k / 32] |= (uint32_t)(in[(size_t)t * SNN_N_IN + k] & 1u) << (k % 32);
        }
    }
    snn_stream(T, words, res);
#ifndef SNN_READOUT_WORDS
    for (t = 0; t < T; t++) {
        for (k = 0; k < SNN_N_OUT_WORDS; k++) {
#if SNN_OUT_BITS
            out[(size_t)t * SNN_N_OUT_WORDS + k] = (int64_t)((res[t * SNN_OUT_PACKED + k / 32] >> (k % 32)) & 1u);
#else
            out[(size_t)t * SNN_N_OUT_WORDS + k] = (int64_t)res[t * SNN_OUT_PACKED + k];
#endif
        }
    }
#else
    for (k = 0; k < SNN_READOUT_WORDS; k++) {
        out[k] = (int64_t)res[k];
    }
#endif
    free(words);
    free(res);
}
#endif

#ifdef SNN_READOUT_WORDS
/* Readout mode: the scores and class of every sample against readout.bin ("SNNR", u32 version 1, u32 B,
 * u32 T, u32 words, then B*words int64). */
static int tb_readout(const uint8_t *stimuli, uint32_t B, uint32_t T, const char *rpath, int stream)
{
    static int64_t got[SNN_READOUT_WORDS + 1];
    int32_t score[SNN_READOUT_N], cls = 0;
    uint32_t RB, RT, b, k;
    FILE *rf = tb_open(rpath, "SNNR", 1, NULL, &RB, &RT);
    if (RB != B || RT != T || tb_u32(rf, rpath) != SNN_READOUT_WORDS) {
        tb_fail(rpath, "sample, timestep or word count differs from stimuli.bin / this network");
    }
    for (b = 0; b < B; b++) {
        const uint8_t *in = stimuli + (size_t)b * T * SNN_N_IN;
        if (stream) {
#ifdef SNN_IN_PACKED
            tb_stream_wide(T, in, got);
#endif
        } else {
            snn_classify(T, (const uint8_t (*)[SNN_N_IN])in, score, &cls);
            for (k = 0; k < SNN_READOUT_N; k++) {
                got[k] = score[k];
            }
            got[SNN_READOUT_N] = cls;
        }
        for (k = 0; k < SNN_READOUT_WORDS; k++) {
            int64_t want = (int64_t)tb_read_le(rf, rpath, 8);
            if (want != got[k]) {
                if (k < SNN_READOUT_N) {
                    printf("MISMATCH sample %u readout score %u: expected %lld, got %lld\n", (unsigned)b,
                           (unsigned)k, (long long)want, (long long)got[k]);
                } else {
                    printf("MISMATCH sample %u readout class: expected %lld, got %lld\n", (unsigned)b,
                           (long long)want, (long long)got[k]);
                }
                return 1;
            }
        }
    }
    fclose(rf);
    printf("PASS: %u samples x %u timesteps, readout (%u words per sample%s) equals readout.bin\n", (unsigned)B,
           (unsigned)T, (unsigned)SNN_READOUT_WORDS, stream ? ", AXI4-Stream top" : "");
    return 0;
}
#endif

int main(int argc, char **argv)
{
    static uint32_t dims[SNN_N_TRACES][8], ndims[SNN_N_TRACES], offset[SNN_N_TRACES];
    static int width[SNN_N_TRACES];
    static int64_t golden[SNN_TRACE_WORDS], outs[SNN_N_OUT_WORDS + 1];
    const char *spath, *gpath;
    uint32_t B, T, GB, GT, version, n_in, n_inputs, b, t, k, e, j, words = 0;
    const char *mode = argc == 4 ? argv[1] : "";
    int stream = strcmp(mode, "--stream") == 0, readout = strcmp(mode, "--readout") == 0;
    int outputs_only = strcmp(mode, "--outputs-only") == 0 || stream;
    uint8_t *stimuli;
    int64_t *run_out = NULL;
    FILE *sf, *gf;
    char name[TB_MAX_NAME];

    if (argc != 3 && !outputs_only && !readout) {
        fprintf(stderr, "usage: %s [--outputs-only | --stream] stimuli.bin golden.bin | --readout stimuli.bin "
                "readout.bin\n", argv[0]);
        return 2;
    }
#ifndef SNN_IN_PACKED
    if (stream) {
        fprintf(stderr, "tb: --stream: this project has no AXI4-Stream top (export with the axis interface)\n");
        return 2;
    }
#endif
#ifndef SNN_READOUT_WORDS
    if (readout) {
        fprintf(stderr, "tb: --readout: this project has no readout (export with a readout)\n");
        return 2;
    }
#endif
    spath = argv[argc - 2];
    gpath = argv[argc - 1];
    sf = tb_open(spath, "SNNS", 1, NULL, &B, &T);
    n_in = tb_u32(sf, spath);
    n_inputs = tb_u32(sf, spath);
    for (j = 0; j < n_inputs; j++) {
        tb_string(sf, spath, name);
        (void)tb_u32(sf, spath);
    }
    if (n_in != SNN_N_IN) {
        tb_fail(spath, "input width differs from this network");
    }
    stimuli = (uint8_t *)malloc((size_t)B * T * SNN_N_IN + 1);
    if (stimuli == NULL || fread(stimuli, 1, (size_t)B * T * SNN_N_IN, sf) != (size_t)B * T * SNN_N_IN) {
        tb_fail(spath, "truncated stimuli");
    }
    fclose(sf);
#ifdef SNN_READOUT_WORDS
    if (readout || stream) {
        int rc;
        if (T > SNN_T_MAX) {
            tb_fail(spath, "more timesteps than SNN_T_MAX (rebuild with -DSNN_T_MAX=...)");
        }
        rc = tb_readout(stimuli, B, T, gpath, stream);
        free(stimuli);
        return rc;
    }
#endif

    gf = tb_open(gpath, "SNNG", 2, &version, &GB, &GT);
    if (GB != B || GT != T) {
        tb_fail(gpath, "sample or timestep count differs from stimuli.bin");
    }
    tb_golden_layout(gf, gpath, version, dims, ndims, width);
    for (k = 0; k < SNN_N_TRACES; k++) {
        offset[k] = words;
        words += snn_traces[k].size;
    }
    if (outputs_only) {
        if (T > SNN_T_MAX) {
            tb_fail(spath, "more timesteps than SNN_T_MAX (rebuild with -DSNN_T_MAX=...)");
        }
        run_out = (int64_t *)malloc(((size_t)T * SNN_N_OUT_WORDS + 1) * sizeof(int64_t));
        if (run_out == NULL) {
            tb_fail(spath, "out of memory");
        }
    }

    for (b = 0; b < B; b++) {
        const uint8_t *in = stimuli + (size_t)b * T * SNN_N_IN;
        if (outputs_only) {
#ifdef SNN_IN_PACKED
            if (stream) {
                tb_stream_wide(T, in, run_out);
            } else {
                snn_run_wide(T, in, run_out);
            }
#else
            snn_run_wide(T, in, run_out);
#endif
        } else {
            snn_reset();
        }
        for (t = 0; t < T; t++) {
            for (k = 0; k < SNN_N_TRACES; k++) {
                for (e = 0; e < snn_traces[k].size; e++) {
                    golden[offset[k] + e] = tb_read_signed(gf, gpath, width[k]);
                }
            }
            if (!outputs_only) {
                snn_step_wide(in + (size_t)t * SNN_N_IN, outs);
                for (k = 0; k < SNN_N_TRACES; k++) {
                    for (e = 0; e < snn_traces[k].size; e++) {
                        if (tb_compare(b, t, k, e, golden[offset[k] + e], snn_trace_get(&snn_traces[k], e),
                                       dims, ndims)) {
                            return 1;
                        }
                    }
                }
            }
            /* the top function's outputs (snn_step's or snn_run's out arrays) */
            for (j = 0, e = 0; j < SNN_N_OUTPUTS; j++) {
                uint32_t i0, kk = snn_output_traces[j];
                for (i0 = 0; i0 < snn_traces[kk].size; i0++, e++) {
                    int64_t got = outputs_only ? run_out[(size_t)t * SNN_N_OUT_WORDS + e] : outs[e];
                    if (tb_compare(b, t, kk, i0, golden[offset[kk] + i0], got, dims, ndims)) {
                        return 1;
                    }
                }
            }
        }
    }
    fclose(gf);
    printf("PASS: %u samples x %u timesteps, %s (%u values per step) equal golden.bin\n", (unsigned)B,
           (unsigned)T, stream ? "outputs of the AXI4-Stream top" : (outputs_only ? "outputs" : "all traces"), (unsigned)(outputs_only ? SNN_N_OUT_WORDS : words));
    free(stimuli);
    free(run_out);
    return 0;
}
