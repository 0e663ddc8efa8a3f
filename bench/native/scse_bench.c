/*
 * scse_bench: times libscse's scSE entry points with no Python in the way.
 *
 * Driven over stdin by bench/run.py so that its timings interleave with the
 * Python ones (one process per configuration, idle between commands):
 *
 *   scse_bench DATA_DIR N C SPATIAL HIDDEN LAYOUT AGGREGATE [THREADS]
 *
 * DATA_DIR holds raw float32 files written by the harness: x, grad_y (in the
 * tensor's memory order), fc1_weight, fc1_bias, fc2_weight, fc2_bias,
 * conv_weight, conv_bias. LAYOUT is "first" or "last", AGGREGATE "sum" or
 * "max", THREADS 0 (or absent) for the library default.
 *
 * It first replies "ready threads=T version=V isa=I" (I: the CPU variant the
 * library picked, capped by SCSE_CPU_ISA). Then commands, one per line;
 * each gets exactly one line of reply:
 *   check OUT_DIR      forward + backward once, writes y, grad_x and the six
 *                      parameter gradients to OUT_DIR     -> "ok"
 *   time PASS COUNT    runs PASS (fwd or fwdbwd) COUNT times
 *                                                         -> "ns TOTAL"
 *   copy BYTES COUNT   memcpy of BYTES bytes between two buffers of that
 *                      size (allocated and touched before the clock
 *                      starts), COUNT times: the floor's yardstick
 *                                                         -> "ns TOTAL"
 *   quit
 * Failures reply "error MESSAGE" and exit with status 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scse.h"

typedef struct {
  int64_t n, c, s, hidden;
  scse_layout layout;
  scse_aggregate aggregate;
  float *x, *grad_y, *y, *grad_x;
  float *w1, *b1, *w2, *b2, *ws, *bs;
  float *gw1, *gb1, *gw2, *gb2, *gws, *gbs;
  unsigned char *copy_src, *copy_dst;
  size_t copy_bytes;
} bench_t;

static void fail(const char *what, const char *detail) {
  printf("error %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  fflush(stdout);
  exit(1);
}

static float *alloc_floats(int64_t count) {
  void *p = NULL;
  /* One extra float keeps zero-sized parameters (hidden == 0) non-NULL. */
  if (posix_memalign(&p, 64, (size_t)(count + 1) * sizeof(float)) != 0) fail("out of memory", NULL);
  /* Touch every page now so first-touch faults stay out of the timings. */
  memset(p, 0, (size_t)(count + 1) * sizeof(float));
  return p;
}

static float *load(const char *dir, const char *name, int64_t count) {
  char path[8192];
  float *data = alloc_floats(count);
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "rb");
  if (f == NULL) fail("cannot open", path);
  if (fread(data, sizeof(float), (size_t)count, f) != (size_t)count) fail("short file", path);
  fclose(f);
  return data;
}

static void save(const char *dir, const char *name, const float *data, int64_t count) {
  char path[8192];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (f == NULL || fwrite(data, sizeof(float), (size_t)count, f) != (size_t)count) {
    fail("cannot write", path);
  }
  fclose(f);
}

static void run_forward(const bench_t *b) {
  scse_channel_gate cg = {b->hidden, b->w1, b->b1, b->w2, b->b2};
  scse_spatial_gate sg = {1, b->ws, b->bs};
  scse_status st = scse_scse_forward(b->n, b->c, b->s, b->layout, b->aggregate, &cg, &sg, b->x, b->y);
  if (st != SCSE_STATUS_SUCCESS) fail("scse_scse_forward", scse_status_string(st));
}

static void run_backward(const bench_t *b) {
  scse_channel_gate cg = {b->hidden, b->w1, b->b1, b->w2, b->b2};
  scse_spatial_gate sg = {1, b->ws, b->bs};
  scse_channel_gate_grad cgg = {b->gw1, b->gb1, b->gw2, b->gb2};
  scse_spatial_gate_grad sgg = {b->gws, b->gbs};
  scse_status st = scse_scse_backward(b->n, b->c, b->s, b->layout, b->aggregate, &cg, &sg, b->x,
                                      b->grad_y, b->grad_x, &cgg, &sgg);
  if (st != SCSE_STATUS_SUCCESS) fail("scse_scse_backward", scse_status_string(st));
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void time_pass(const bench_t *b, const char *pass, long count) {
  double start;
  long i;
  int which = strcmp(pass, "fwd") == 0 ? 0 : strcmp(pass, "fwdbwd") == 0 ? 1 : -1;
  if (which < 0 || count < 1) fail("bad time command", pass);
  start = now_ns();
  for (i = 0; i < count; i++) {
    run_forward(b);
    if (which == 1) run_backward(b);
  }
  printf("ns %.0f\n", now_ns() - start);
}

/* Called through a volatile pointer so that the compiler keeps every copy. */
static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;

static void time_copy(bench_t *b, long long bytes, long count) {
  double start;
  long i;
  if (bytes < 1 || count < 1) fail("bad copy command", NULL);
  if ((size_t)bytes != b->copy_bytes) {
    free(b->copy_src);
    free(b->copy_dst);
    b->copy_src = (unsigned char *)alloc_floats((bytes + 3) / 4);
    b->copy_dst = (unsigned char *)alloc_floats((bytes + 3) / 4);
    b->copy_bytes = (size_t)bytes;
  }
  start = now_ns();
  for (i = 0; i < count; i++) copy_fn(b->copy_dst, b->copy_src, b->copy_bytes);
  printf("ns %.0f\n", now_ns() - start);
}

static void check(const bench_t *b, const char *out_dir) {
  int64_t total = b->n * b->c * b->s, hc = b->hidden * b->c;
  run_forward(b);
  run_backward(b);
  save(out_dir, "y", b->y, total);
  save(out_dir, "grad_x", b->grad_x, total);
  save(out_dir, "fc1_weight", b->gw1, hc);
  save(out_dir, "fc1_bias", b->gb1, b->hidden);
  save(out_dir, "fc2_weight", b->gw2, hc);
  save(out_dir, "fc2_bias", b->gb2, b->c);
  save(out_dir, "conv_weight", b->gws, b->c);
  save(out_dir, "conv_bias", b->gbs, 1);
  printf("ok\n");
}

static int64_t parse_int(const char *text, const char *what) {
  char *end;
  long long v = strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0') fail("not an integer", what);
  return (int64_t)v;
}

int main(int argc, char **argv) {
  bench_t b;
  const char *dir;
  char line[4200], arg[4100];
  long count;
  long long bytes;
  int64_t total, hc;
  if (argc < 8 || argc > 9) {
    fprintf(stderr, "usage: %s DATA_DIR N C SPATIAL HIDDEN first|last sum|max [THREADS]\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  b.n = parse_int(argv[2], "N");
  b.c = parse_int(argv[3], "C");
  b.s = parse_int(argv[4], "SPATIAL");
  b.hidden = parse_int(argv[5], "HIDDEN");
  if (strcmp(argv[6], "first") != 0 && strcmp(argv[6], "last") != 0) fail("bad layout", argv[6]);
  if (strcmp(argv[7], "sum") != 0 && strcmp(argv[7], "max") != 0) fail("bad aggregate", argv[7]);
  b.layout = strcmp(argv[6], "last") == 0 ? SCSE_LAYOUT_CHANNELS_LAST : SCSE_LAYOUT_CHANNELS_FIRST;
  b.aggregate = strcmp(argv[7], "max") == 0 ? SCSE_AGGREGATE_MAX : SCSE_AGGREGATE_SUM;
  if (scse_set_num_threads(argc == 9 ? (int32_t)parse_int(argv[8], "THREADS") : 0) != 0) {
    fail("bad thread count", argv[8]);
  }
  total = b.n * b.c * b.s;
  hc = b.hidden * b.c;
  b.x = load(dir, "x", total);
  b.grad_y = load(dir, "grad_y", total);
  b.w1 = load(dir, "fc1_weight", hc);
  b.b1 = load(dir, "fc1_bias", b.hidden);
  b.w2 = load(dir, "fc2_weight", hc);
  b.b2 = load(dir, "fc2_bias", b.c);
  b.ws = load(dir, "conv_weight", b.c);
  b.bs = load(dir, "conv_bias", 1);
  b.y = alloc_floats(total);
  b.grad_x = alloc_floats(total);
  b.gw1 = alloc_floats(hc);
  b.gb1 = alloc_floats(b.hidden);
  b.gw2 = alloc_floats(hc);
  b.gb2 = alloc_floats(b.c);
  b.gws = alloc_floats(b.c);
  b.gbs = alloc_floats(1);
  b.copy_src = b.copy_dst = NULL;
  b.copy_bytes = 0;
  printf("ready threads=%d version=%s isa=%s\n", (int)scse_get_num_threads(), scse_version(),
         scse_cpu_isa());
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "quit", 4) == 0) break;
    if (sscanf(line, "check %4095s", arg) == 1) {
      check(&b, arg);
    } else if (sscanf(line, "time %15s %ld", arg, &count) == 2) {
      time_pass(&b, arg, count);
    } else if (sscanf(line, "copy %lld %ld", &bytes, &count) == 2) {
      time_copy(&b, bytes, count);
    } else {
      fail("unknown command", line);
    }
    fflush(stdout);
  }
  return 0;
}
