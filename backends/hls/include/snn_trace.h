/*
 * snn_trace.h -- the trace table: where the C keeps every value bitsim records.
 *
 * Testbench side only (never synthesised). The generated snn.c lists, for each
 * QGraph node in bitsim's order, its output buffer ("out") and, for neurons,
 * its state registers ("i", "v"); tb.c and snn_sim.c read them after each
 * snn_step and compare them with (or copy them into) int64 traces.
 */
#ifndef SNN_TRACE_H
#define SNN_TRACE_H

#include <stdint.h>

enum { SNN_U8 = 0, SNN_I8 = 1, SNN_I16 = 2, SNN_I32 = 3, SNN_I64 = 4, SNN_U16 = 5 };

typedef struct {
    const char *node;   /* node name in the QGraph */
    const char *key;    /* "out", "i" or "v" */
    const char *shape;  /* per-sample shape, comma-separated: "64" or "4,6,6" */
    const void *data;   /* the static array holding this step's values */
    int type;           /* SNN_U8 .. SNN_U16: the element type of data */
    uint32_t size;      /* number of elements */
} snn_trace_t;

static inline int64_t snn_trace_get(const snn_trace_t *t, uint32_t k)
{
    switch (t->type) {
    case SNN_U8: return ((const uint8_t *)t->data)[k];
    case SNN_I8: return ((const int8_t *)t->data)[k];
    case SNN_I16: return ((const int16_t *)t->data)[k];
    case SNN_U16: return ((const uint16_t *)t->data)[k];
    case SNN_I32: return ((const int32_t *)t->data)[k];
    default: return ((const int64_t *)t->data)[k];
    }
}

/* dst[k * stride] = value k, for every element (the type switch outside the loop) */
static inline void snn_trace_copy(const snn_trace_t *t, int64_t *dst, uint32_t stride)
{
    uint32_t k;
    switch (t->type) {
    case SNN_U8: for (k = 0; k < t->size; k++) dst[k * stride] = ((const uint8_t *)t->data)[k]; break;
    case SNN_I8: for (k = 0; k < t->size; k++) dst[k * stride] = ((const int8_t *)t->data)[k]; break;
    case SNN_I16: for (k = 0; k < t->size; k++) dst[k * stride] = ((const int16_t *)t->data)[k]; break;
    case SNN_U16: for (k = 0; k < t->size; k++) dst[k * stride] = ((const uint16_t *)t->data)[k]; break;
    case SNN_I32: for (k = 0; k < t->size; k++) dst[k * stride] = ((const int32_t *)t->data)[k]; break;
    default: for (k = 0; k < t->size; k++) dst[k * stride] = ((const int64_t *)t->data)[k]; break;
    }
}

#endif /* SNN_TRACE_H */
