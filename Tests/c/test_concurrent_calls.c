/* Calls from several threads at once: every entry point is stateless and
 * reentrant, the thread count is the only shared setting and results are
 * bitwise identical for every thread count. Four threads run forward and
 * backward calls of all six entry points (both layouts, both aggregates)
 * on their own buffers, each call itself using up to four threads, while
 * the main thread keeps changing the thread count. Every result must equal
 * the one computed beforehand by a single call on a quiet process. Built
 * with -fsanitize=thread (and a -sanitize=thread library), this is also
 * the ThreadSanitizer driver. */
#define _POSIX_C_SOURCE 200112L

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "entry_call.h"
#include "reliability_tests.h"

enum { WORKERS = 4, ROUNDS = 3, CASES = 2 * ENTRY_COUNT * 2 };

typedef struct shape {
  int64_t n, c, s, hidden, rows;
} shape;

/* Several samples (the per-sample split) and one sample with several tiles
 * (the per-tile split). */
static const shape shapes[2] = {{5, 24, 70, 6, 2}, {1, 520, 300, 9, 1}};

typedef struct worker_case {
  entry_call call;
  float *data[SLOT_COUNT];   /* inputs, and the expected outputs */
} worker_case;

static worker_case cases[CASES];
static int mismatches[WORKERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int finished;

static void make_case(worker_case *wc, int index, uint32_t *seed) {
  const shape *sh = &shapes[index % 2];
  entry_call *a = &wc->call;
  int s;
  memset(wc, 0, sizeof *wc);
  a->e = (entry)((index / 2) % ENTRY_COUNT);
  a->n = sh->n; a->c = sh->c; a->s = sh->s; a->hidden = sh->hidden; a->rows = sh->rows;
  a->layout = (scse_layout)((index / (2 * ENTRY_COUNT)) % 2);
  a->aggregate = (scse_aggregate)(index % 3 == 0);
  for (s = 0; s < SLOT_COUNT; s++) {
    size_t n = slot_floats(a, (slot)s);
    if (!entry_uses_slot(a->e, (slot)s)) continue;
    wc->data[s] = tbuf_new(n);
    if (!slot_is_output((slot)s)) fill_uniform(wc->data[s], n, -1.5f, 1.5f, seed);
    a->p[s] = wc->data[s];
  }
}

/* The call on fresh output buffers; 1 when every output equals the case's. */
static int run_and_compare(const worker_case *wc) {
  entry_call a = wc->call;
  float *out[SLOT_COUNT];
  int s, same = 1;
  for (s = 0; s < SLOT_COUNT; s++) {
    out[s] = NULL;
    if (wc->data[s] == NULL || !slot_is_output((slot)s)) continue;
    out[s] = tbuf_new(slot_floats(&a, (slot)s));
    a.p[s] = out[s];
  }
  if (entry_invoke(&a) != SCSE_STATUS_SUCCESS) same = 0;
  for (s = 0; s < SLOT_COUNT; s++) {
    if (out[s] == NULL) continue;
    size_t n = slot_floats(&a, (slot)s);
    if (memcmp(out[s], wc->data[s], n * sizeof(float)) != 0 || !tbuf_guard_intact(out[s], n)) same = 0;
    tbuf_free(out[s]);
  }
  return same;
}

static void *worker(void *arg) {
  const int id = (int)(size_t)arg;
  int round, k;
  for (round = 0; round < ROUNDS; round++) {
    for (k = 0; k < CASES; k++) {
      /* Each worker walks the cases in its own order. */
      const worker_case *wc = &cases[(k * (2 * id + 1) + id) % CASES];
      if (!run_and_compare(wc)) mismatches[id]++;
    }
  }
  pthread_mutex_lock(&lock);
  finished++;
  pthread_mutex_unlock(&lock);
  return NULL;
}

void test_concurrent_calls(void) {
  pthread_t threads[WORKERS];
  uint32_t seed = 4711u;
  int i, s, started = 0;
  finished = 0;
  check_context = "concurrent calls";
  /* Expected results: one call each, four threads, nothing else running. */
  CHECK_STATUS(scse_set_num_threads(4), SCSE_STATUS_SUCCESS, "set 4 threads");
  for (i = 0; i < CASES; i++) {
    make_case(&cases[i], i, &seed);
    CHECK_STATUS(entry_invoke(&cases[i].call), SCSE_STATUS_SUCCESS, entry_name(cases[i].call.e));
  }
  for (i = 0; i < WORKERS; i++) {
    mismatches[i] = 0;
    if (pthread_create(&threads[i], NULL, worker, (void *)(size_t)i) == 0) started++;
    else CHECK(0, "pthread_create failed for worker %d", i);
  }
  /* The setting changes under the running calls until they are done. */
  for (i = 0;; i++) {
    int done;
    pthread_mutex_lock(&lock);
    done = finished == started;
    pthread_mutex_unlock(&lock);
    if (done) break;
    sched_yield();
    if (scse_set_num_threads(1 + i % 4) != SCSE_STATUS_SUCCESS) {
      CHECK(0, "scse_set_num_threads(%d) failed", 1 + i % 4);
      break;
    }
  }
  for (i = 0; i < started; i++) pthread_join(threads[i], NULL);
  for (i = 0; i < WORKERS; i++) {
    CHECK(mismatches[i] == 0, "worker %d: %d of %d calls differed from the quiet result", i,
          mismatches[i], ROUNDS * CASES);
  }
  CHECK_STATUS(scse_set_num_threads(0), SCSE_STATUS_SUCCESS, "reset threads");
  for (i = 0; i < CASES; i++) {
    for (s = 0; s < SLOT_COUNT; s++) {
      if (cases[i].data[s] != NULL) tbuf_free(cases[i].data[s]);
    }
  }
}
