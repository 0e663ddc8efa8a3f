/* Buffers at every kind of address: the results of every entry point must
 * not depend on where its buffers start. Each buffer is copied to an address
 * with a chosen remainder modulo 64 (a different one per buffer) and the
 * outputs are compared bit for bit with those of 64-byte aligned buffers;
 * the bytes around each buffer must stay untouched.
 *
 * The header promises correct results for float-aligned buffers (4-byte
 * offsets below). The byte offsets 1-3 go beyond that promise: they check
 * that the library, which uses unaligned loads and stores only, also works
 * on buffers that are not even float-aligned, on the CPUs that allow it. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign under -std=c99 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "entry_call.h"
#include "reliability_tests.h"

#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
#define BYTE_OFFSETS_ALLOWED 1
#else
#define BYTE_OFFSETS_ALLOWED 0
#endif

enum { PAD = 64 };
static const unsigned char fence = 0xA5;

typedef struct placed {
  unsigned char *raw[SLOT_COUNT];
  size_t at[SLOT_COUNT];
} placed;

static unsigned char *alloc_aligned(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes) != 0) {
    fprintf(stderr, "test_unaligned: out of memory\n");
    exit(2);
  }
  return p;
}

/* Copies of `data` (the inputs; outputs are fenced) at offset + 4 * slot,
 * modulo 64, bytes from 64-byte aligned allocations. */
static void place(entry_call *a, float *const data[SLOT_COUNT], size_t offset, placed *pl) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) {
    size_t bytes = slot_floats(a, (slot)s) * sizeof(float);
    pl->raw[s] = NULL;
    if (data[s] == NULL) {
      a->p[s] = NULL;
      continue;
    }
    pl->at[s] = (offset + 4 * (size_t)s) % PAD;
    pl->raw[s] = alloc_aligned(bytes + 2 * PAD);
    memset(pl->raw[s], fence, bytes + 2 * PAD);
    if (!slot_is_output((slot)s)) memcpy(pl->raw[s] + pl->at[s], data[s], bytes);
    /* Deliberately possibly misaligned for float (see the top comment); the
     * test itself reads these bytes with memcpy only. */
    a->p[s] = (float *)(void *)(pl->raw[s] + pl->at[s]);
  }
}

static int fence_intact(const unsigned char *raw, size_t from, size_t to) {
  size_t i;
  for (i = from; i < to; i++) {
    if (raw[i] != fence) return 0;
  }
  return 1;
}

static void unplace(placed *pl) {
  int s;
  for (s = 0; s < SLOT_COUNT; s++) free(pl->raw[s]);
}

typedef struct shape {
  int64_t n, c, s, hidden, rows;
} shape;

static void run_shape(const shape *sh, entry e, scse_layout layout, scse_aggregate agg) {
  static const size_t offsets[] = {4, 8, 12, 20, 36, 60, 1, 2, 3, 7, 33};
  entry_call a;
  float *data[SLOT_COUNT], *want[SLOT_COUNT];
  uint32_t seed = 77u;
  size_t k;
  int s;
  memset(&a, 0, sizeof a);
  a.e = e; a.n = sh->n; a.c = sh->c; a.s = sh->s; a.hidden = sh->hidden; a.rows = sh->rows;
  a.layout = layout; a.aggregate = agg;
  for (s = 0; s < SLOT_COUNT; s++) {
    size_t n = slot_floats(&a, (slot)s);
    data[s] = want[s] = NULL;
    if (!entry_uses_slot(e, (slot)s)) continue;
    data[s] = (float *)alloc_aligned(n * sizeof(float) + PAD);
    if (!slot_is_output((slot)s)) fill_uniform(data[s], n, -2.0f, 2.0f, &seed);
  }
  /* 64-byte aligned first: those outputs are the expected ones. */
  for (s = 0; s < SLOT_COUNT; s++) a.p[s] = data[s];
  CHECK_STATUS(entry_invoke(&a), SCSE_STATUS_SUCCESS, "aligned buffers");
  for (s = 0; s < SLOT_COUNT; s++) {
    if (data[s] != NULL && slot_is_output((slot)s)) want[s] = data[s];
  }

  for (k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
    placed pl;
    char what[160];
    if (offsets[k] % sizeof(float) != 0 && !BYTE_OFFSETS_ALLOWED) continue;
    place(&a, data, offsets[k], &pl);
    snprintf(what, sizeof what, "%s %lldx%lldx%lld %s%s, buffers at %zu + 4 * slot bytes mod 64",
             entry_name(e), (long long)sh->n, (long long)sh->c, (long long)sh->s,
             layout == SCSE_LAYOUT_CHANNELS_LAST ? "channels-last" : "channels-first",
             entry_has_aggregate(e) ? (agg == SCSE_AGGREGATE_MAX ? " max" : " sum") : "",
             offsets[k]);
    CHECK_STATUS(entry_invoke(&a), SCSE_STATUS_SUCCESS, what);
    for (s = 0; s < SLOT_COUNT; s++) {
      size_t bytes = slot_floats(&a, (slot)s) * sizeof(float);
      if (pl.raw[s] == NULL) continue;
      CHECK(fence_intact(pl.raw[s], 0, pl.at[s]) &&
                fence_intact(pl.raw[s], pl.at[s] + bytes, bytes + 2 * PAD),
            "%s: bytes around %s changed", what, slot_name((slot)s));
      if (slot_is_output((slot)s)) {
        CHECK(memcmp(pl.raw[s] + pl.at[s], want[s], bytes) == 0,
              "%s: %s differs from the aligned call", what, slot_name((slot)s));
      } else {
        CHECK(memcmp(pl.raw[s] + pl.at[s], data[s], bytes) == 0, "%s: input %s changed", what,
              slot_name((slot)s));
      }
    }
    unplace(&pl);
  }
  for (s = 0; s < SLOT_COUNT; s++) free(data[s]);
}

void test_unaligned(void) {
  static const shape shapes[] = {
      {3, 13, 37, 5, 2},  /* odd sizes: vector loops with scalar tails */
      {1, 520, 300, 7, 1}, /* two spatial tiles */
      {2, 17, 1, 0, 3},   /* one position, zero-width channel gate */
  };
  size_t i;
  int e, layout;
  check_context = "unaligned buffers";
  CHECK_STATUS(scse_set_num_threads(2), SCSE_STATUS_SUCCESS, "set 2 threads");
  for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    for (e = 0; e < ENTRY_COUNT; e++) {
      for (layout = 0; layout < 2; layout++) {
        run_shape(&shapes[i], (entry)e, (scse_layout)layout, SCSE_AGGREGATE_SUM);
        if (entry_has_aggregate((entry)e)) {
          run_shape(&shapes[i], (entry)e, (scse_layout)layout, SCSE_AGGREGATE_MAX);
        }
      }
    }
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
}
