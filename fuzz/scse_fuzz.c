/* libFuzzer harness for the C ABI in include/scse.h.
 *
 * Each input describes one call of one of the six forward/backward entry
 * points: sizes (small, or hostile values), layout and aggregate (valid or
 * not), hidden width and few-shot weight rows, thread count, which pointers
 * are NULL, an output moved onto or next to another buffer, a pointer that
 * runs off the end of the address space, and the data. The harness works out
 * from the header alone which statuses the call may return, then checks:
 *   - the status is one of them (SUCCESS when the call is valid);
 *   - a failing call changed no byte of any buffer;
 *   - a succeeding call wrote all its outputs and nothing else, with values
 *     matching a double-precision reference (forward and backward).
 * Any violation aborts, which libFuzzer reports as a crash. SCSE_FUZZ_TRACE=1
 * in the environment prints each call before it is made.
 *
 * Input bytes (past the end of the input, a fixed pseudo-random sequence):
 *   0 entry % 6 (cse/sse/scse forward, then backward)   1 layout   2 aggregate
 *     (below 240: value % 2, else an invalid value)
 *   3 batch, 4 channels, 5 spatial, 7 weight_rows (below 224: 1 + b % max,
 *     else a hostile value), 6 hidden (below 224: b % 43)   8 threads % 5
 *   9, 10 optional pointers set to NULL (bits; see below)
 *   11 a required pointer NULL (from 216)   12, 13 an output moved (from 128)
 *   14, 15 an input moved (from 160)   16 a pointer past the address space
 *   (from 240)   17 arena start shift   18... the inputs' floats, one byte each */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "fuzz_reference.h"
#include "scse.h"

enum { MAX_N = 4, MAX_C = 40, MAX_S = 80, MAX_ROWS = 4 };

/* Buffer arguments, in the order of the arena. */
enum {
  B_X, B_GY, B_OUT, B_W1, B_B1, B_W2, B_B2, B_WS, B_BS,
  B_GW1, B_GB1, B_GW2, B_GB2, B_GWS, B_GBS, B_COUNT
};

static int is_output(int b) { return b == B_OUT || b >= B_GW1; }

/* Reads the fuzz input byte by byte; past its end, a fixed sequence. */
typedef struct reader {
  const uint8_t *data;
  size_t size, at;
  uint32_t filler;
} reader;

static uint8_t next(reader *r) {
  if (r->at < r->size) return r->data[r->at++];
  r->filler = r->filler * 1664525u + 1013904223u;
  return (uint8_t)(r->filler >> 24);
}

/* Sizes: mostly small and valid, sometimes hostile. */
static int64_t size_from(uint8_t b, int64_t max) {
  static const int64_t hostile[16] = {
      0, -1, -7, INT64_MIN, INT64_MAX, INT32_MAX, INT64_C(1) << 32, INT64_C(1) << 40,
      INT64_C(1) << 59, INT64_C(1) << 60, INT64_C(1) << 61, INT64_C(1) << 62,
      INT64_C(1) << 21, INT64_C(1) << 22, INT64_C(3) << 60, INT64_MAX / 3};
  return b < 224 ? 1 + (int64_t)(b % max) : hostile[b % 16];
}

static int enum_from(uint8_t b) {
  static const int hostile[6] = {2, 3, 255, -1, INT32_MAX, INT32_MIN};
  return b < 240 ? b % 2 : hostile[b % 6];
}

/* a * b into *out; 0 when it overflows int64_t or a factor is negative. */
static int mul(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return 0;
  if (a != 0 && b > INT64_MAX / a) return 0;
  *out = a * b;
  return 1;
}

typedef struct call {
  int entry; /* 0-2 cse/sse/scse forward, 3-5 backward */
  int backward, channel_gate, spatial_gate;
  int64_t n, c, s, hidden, rows;
  int layout, aggregate;
  int null_cg, null_sg, null_cgr, null_sgr;
  float *p[B_COUNT];
  int64_t floats[B_COUNT]; /* element counts, when the sizes are valid */
} call;

/* Sets of statuses, as bit masks. */
#define ST(x) (1u << (x))

static int64_t floats_of(const call *k, int b) {
  switch (b) {
    case B_X: case B_GY: case B_OUT: return k->n * k->c * k->s;
    case B_W1: case B_W2: case B_GW1: case B_GW2: return k->hidden * k->c;
    case B_B1: case B_GB1: return k->hidden;
    case B_B2: case B_GB2: return k->c;
    case B_WS: case B_GWS: return k->rows * k->c;
    default: return 1;
  }
}

/* Whether the call hands buffer b to the library. */
static int passed(const call *k, int b) {
  if (k->p[b] == NULL) return 0;
  switch (b) {
    case B_X: case B_OUT: return 1;
    case B_GY: return k->backward;
    case B_W1: case B_B1: case B_W2: case B_B2: return k->channel_gate && !k->null_cg;
    case B_WS: case B_BS: return k->spatial_gate && !k->null_sg;
    case B_GW1: case B_GB1: case B_GW2: case B_GB2:
      return k->backward && k->channel_gate && !k->null_cgr;
    default: return k->backward && k->spatial_gate && !k->null_sgr;
  }
}

/* The statuses the header allows for call k (0 = must succeed). */
static unsigned allowed_statuses(call *k) {
  unsigned bad = 0;
  int b, sizes_ok, overflow = 0;
  if (k->layout != 0 && k->layout != 1) bad |= ST(SCSE_STATUS_INVALID_ENUM);
  if (k->entry == 2 || k->entry == 5) {
    if (k->aggregate != 0 && k->aggregate != 1) bad |= ST(SCSE_STATUS_INVALID_ENUM);
  }
  if (k->p[B_X] == NULL || k->p[B_OUT] == NULL || (k->backward && k->p[B_GY] == NULL) ||
      (k->channel_gate && k->null_cg) || (k->spatial_gate && k->null_sg) ||
      (k->channel_gate && !k->null_cg && k->hidden != 0 &&
       (k->p[B_W1] == NULL || k->p[B_W2] == NULL)) ||
      (k->spatial_gate && !k->null_sg && k->p[B_WS] == NULL)) {
    bad |= ST(SCSE_STATUS_NULL_POINTER);
  }
  sizes_ok = k->n >= 1 && k->c >= 1 && k->s >= 1 &&
             (!k->channel_gate || k->null_cg || k->hidden >= 0) &&
             (!k->spatial_gate || k->null_sg || k->rows >= 1);
  if (!sizes_ok) bad |= ST(SCSE_STATUS_INVALID_SHAPE);
  if (k->backward && k->channel_gate && !k->null_cg && !k->null_cgr &&
      ((k->p[B_GB1] != NULL && k->p[B_B1] == NULL) || (k->p[B_GB2] != NULL && k->p[B_B2] == NULL))) {
    bad |= ST(SCSE_STATUS_INVALID_ARGUMENT);
  }
  if (k->backward && k->spatial_gate && !k->null_sg && !k->null_sgr && k->p[B_GBS] != NULL &&
      k->p[B_BS] == NULL) {
    bad |= ST(SCSE_STATUS_INVALID_ARGUMENT);
  }
  if (!sizes_ok) return bad;

  /* Element and byte counts of every buffer, and their end addresses. */
  {
    int64_t ncs, bytes;
    const int64_t hidden = k->channel_gate ? k->hidden : 0, rows = k->spatial_gate ? k->rows : 1;
    if (!mul(k->n, k->c, &ncs) || !mul(ncs, k->s, &ncs) || !mul(ncs, 4, &bytes) ||
        !mul(hidden, k->c, &bytes) || !mul(bytes, 4, &bytes) || !mul(hidden, 4, &bytes) ||
        !mul(rows, k->c, &bytes) || !mul(bytes, 4, &bytes)) {
      overflow = 1;
    }
  }
  for (b = 0; b < B_COUNT && !overflow; b++) {
    k->floats[b] = floats_of(k, b);
    if (passed(k, b) && (uint64_t)k->floats[b] * 4u > UINTPTR_MAX - (uintptr_t)k->p[b]) overflow = 1;
  }
  if (overflow) {
    /* Overlap is meaningless for buffers that do not fit. */
    return bad | ST(SCSE_STATUS_SIZE_OVERFLOW) | ST(SCSE_STATUS_ALIASING);
  }

  /* Aliasing: no output may overlap an input or another output, except that
   * the first output may be exactly its in-place partner. Empty buffers
   * (the fc weight gradients of a zero-width gate) overlap nothing. */
  {
    const int partner = k->backward ? B_GY : B_X;
    int o, i;
    for (o = 0; o < B_COUNT; o++) {
      uintptr_t os, oe;
      if (!is_output(o) || !passed(k, o) || k->floats[o] == 0) continue;
      os = (uintptr_t)k->p[o];
      oe = os + (uintptr_t)k->floats[o] * 4u;
      for (i = 0; i < B_COUNT; i++) {
        uintptr_t is, ie;
        if (i == o || !passed(k, i) || k->floats[i] == 0) continue;
        if (is_output(i) && i < o) continue; /* pair already seen */
        is = (uintptr_t)k->p[i];
        ie = is + (uintptr_t)k->floats[i] * 4u;
        if (!(os < ie && is < oe)) continue;
        if (o == B_OUT && i == partner && os == is) continue;
        bad |= ST(SCSE_STATUS_ALIASING);
      }
    }
  }
  return bad;
}

static void fail(const char *what, const call *k, int detail) {
  fprintf(stderr,
          "scse_fuzz: %s (%d); entry %d n=%lld c=%lld s=%lld hidden=%lld rows=%lld layout=%d "
          "aggregate=%d\n",
          what, detail, k->entry, (long long)k->n, (long long)k->c, (long long)k->s,
          (long long)k->hidden, (long long)k->rows, k->layout, k->aggregate);
  abort();
}

static scse_status invoke(const call *k) {
  scse_channel_gate cg;
  scse_spatial_gate sg;
  scse_channel_gate_grad cgr;
  scse_spatial_gate_grad sgr;
  const scse_channel_gate *pcg = k->null_cg ? NULL : &cg;
  const scse_spatial_gate *psg = k->null_sg ? NULL : &sg;
  const scse_channel_gate_grad *pcgr = k->null_cgr ? NULL : &cgr;
  const scse_spatial_gate_grad *psgr = k->null_sgr ? NULL : &sgr;
  const scse_layout layout = (scse_layout)k->layout;
  const scse_aggregate agg = (scse_aggregate)k->aggregate;
  cg.hidden = k->hidden; cg.fc1_weight = k->p[B_W1]; cg.fc1_bias = k->p[B_B1];
  cg.fc2_weight = k->p[B_W2]; cg.fc2_bias = k->p[B_B2];
  sg.weight_rows = k->rows; sg.weight = k->p[B_WS]; sg.bias = k->p[B_BS];
  cgr.fc1_weight_out = k->p[B_GW1]; cgr.fc1_bias_out = k->p[B_GB1];
  cgr.fc2_weight_out = k->p[B_GW2]; cgr.fc2_bias_out = k->p[B_GB2];
  sgr.weight_out = k->p[B_GWS]; sgr.bias_out = k->p[B_GBS];
  switch (k->entry) {
    case 0: return scse_cse_forward(k->n, k->c, k->s, layout, pcg, k->p[B_X], k->p[B_OUT]);
    case 1: return scse_sse_forward(k->n, k->c, k->s, layout, psg, k->p[B_X], k->p[B_OUT]);
    case 2: return scse_scse_forward(k->n, k->c, k->s, layout, agg, pcg, psg, k->p[B_X], k->p[B_OUT]);
    case 3:
      return scse_cse_backward(k->n, k->c, k->s, layout, pcg, k->p[B_X], k->p[B_GY], k->p[B_OUT], pcgr);
    case 4:
      return scse_sse_backward(k->n, k->c, k->s, layout, psg, k->p[B_X], k->p[B_GY], k->p[B_OUT], psgr);
    default:
      return scse_scse_backward(k->n, k->c, k->s, layout, agg, pcg, psg, k->p[B_X], k->p[B_GY],
                                k->p[B_OUT], pcgr, psgr);
  }
}

static const uint32_t canary = 0x7FA5A5A5u;

/* |got - want| within float rounding of a computation on values of this size. */
static void compare(const char *what, const call *k, const float *got, const double *want,
                    int64_t count) {
  double scale = 0.0;
  int64_t i;
  for (i = 0; i < count; i++) scale = fmax(scale, fabs(want[i]));
  for (i = 0; i < count; i++) {
    float g;
    memcpy(&g, &got[i], sizeof g);
    if (!(fabs((double)g - want[i]) <= 2e-4 * (1.0 + scale))) {
      fprintf(stderr, "scse_fuzz: %s[%lld] = %.9g, reference %.9g (scale %.3g)\n", what,
              (long long)i, (double)g, want[i], scale);
      fail("value mismatch", k, (int)i);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size, 0, 12345u};
  call k;
  float *arena, *home[B_COUNT];
  unsigned char *before;
  int64_t home_floats[B_COUNT];
  size_t total = 0, i;
  unsigned allowed;
  uint8_t opt_lo, opt_hi, required, alias, alias_at, share, share_at, wild, shift;
  int b, valid_small;
  scse_status got;

  memset(&k, 0, sizeof k);
  k.entry = next(&r) % 6;
  k.backward = k.entry >= 3;
  k.channel_gate = k.entry % 3 != 1;
  k.spatial_gate = k.entry % 3 != 0;
  k.layout = enum_from(next(&r));
  k.aggregate = enum_from(next(&r));
  k.n = size_from(next(&r), MAX_N);
  k.c = size_from(next(&r), MAX_C);
  k.s = size_from(next(&r), MAX_S);
  { /* hidden 0 .. C + 2, or hostile */
    uint8_t h = next(&r);
    k.hidden = h < 224 ? (int64_t)(h % (MAX_C + 3)) : size_from(h, 1);
  }
  k.rows = size_from(next(&r), MAX_ROWS);
  /* Parameters of a gate the entry point does not have are not passed. */
  if (!k.channel_gate) k.hidden = 0;
  if (!k.spatial_gate) k.rows = 1;
  { /* 0 = the default, else 1-4 threads */
    uint8_t t = next(&r) % 5;
    if (scse_set_num_threads(t) != SCSE_STATUS_SUCCESS) fail("set_num_threads", &k, t);
  }
  opt_lo = next(&r); opt_hi = next(&r); required = next(&r);
  alias = next(&r); alias_at = next(&r); share = next(&r); share_at = next(&r);
  wild = next(&r); shift = next(&r);

  /* The arena: every buffer sized for the valid small sizes (1 float when a
   * size is hostile; such calls are only made when they must fail), with
   * room around each buffer as large as the largest one. */
  valid_small = k.n >= 1 && k.n <= MAX_N && k.c >= 1 && k.c <= MAX_C && k.s >= 1 && k.s <= MAX_S &&
                k.hidden >= 0 && k.hidden <= MAX_C + 2 && k.rows >= 1 && k.rows <= MAX_ROWS;
  {
    int64_t room = 1;
    for (b = 0; b < B_COUNT; b++) {
      home_floats[b] = valid_small ? floats_of(&k, b) : 1;
      if (home_floats[b] > room) room = home_floats[b];
    }
    total = 16 + (size_t)room;
    for (b = 0; b < B_COUNT; b++) total += (size_t)home_floats[b] + (size_t)room;
    arena = malloc(total * sizeof(float));
    before = malloc(total * sizeof(float));
    if (arena == NULL || before == NULL) abort();
    /* Finite values everywhere, so that an input moved partly out of its
     * home still reads numbers; outputs get the canary further down. */
    for (i = 0; i < total; i++) arena[i] = (float)((uint32_t)(i * 2654435761u) >> 27) / 8.0f - 2.0f;
    /* Start anywhere on a float boundary, not only on malloc's alignment. */
    total = (size_t)room + shift % 16;
    for (b = 0; b < B_COUNT; b++) {
      home[b] = arena + total;
      total += (size_t)home_floats[b] + (size_t)room;
    }
    total += 16 - shift % 16;
  }
  for (b = 0; b < B_COUNT; b++) {
    int64_t j;
    k.p[b] = home[b];
    if (is_output(b)) continue;
    for (j = 0; j < home_floats[b]; j++) {
      /* Activations in [-8, 8), parameters in [-2, 2), on a 1/16 grid:
       * zeros and ties occur, as they do in real data. */
      int8_t v = (int8_t)next(&r);
      home[b][j] = (b == B_X || b == B_GY) ? (float)v / 16.0f : (float)v / 64.0f;
    }
  }

  /* Optional pointers: biases, gradient fields and gradient structs. */
  if (opt_lo & 1) k.p[B_B1] = NULL;
  if (opt_lo & 2) k.p[B_B2] = NULL;
  if (opt_lo & 4) k.p[B_BS] = NULL;
  if (opt_lo & 8) k.p[B_GW1] = NULL;
  if (opt_lo & 16) k.p[B_GB1] = NULL;
  if (opt_lo & 32) k.p[B_GW2] = NULL;
  if (opt_lo & 64) k.p[B_GB2] = NULL;
  if (opt_lo & 128) k.p[B_GWS] = NULL;
  if (opt_hi & 1) k.p[B_GBS] = NULL;
  k.null_cgr = (opt_hi & 6) == 6;
  k.null_sgr = (opt_hi & 24) == 24;
  /* Mostly keep a bias gradient only where the bias exists. */
  if (!(opt_hi & 32)) {
    if (k.p[B_B1] == NULL) k.p[B_GB1] = NULL;
    if (k.p[B_B2] == NULL) k.p[B_GB2] = NULL;
    if (k.p[B_BS] == NULL) k.p[B_GBS] = NULL;
  }
  if (opt_hi & 64) { /* zero-width gate: the weights need not exist */
    k.p[B_W1] = NULL;
    k.p[B_W2] = NULL;
  }
  /* A required pointer NULL. */
  if (required >= 216) {
    switch (required % 8) {
      case 0: k.null_cg = 1; break;
      case 1: k.null_sg = 1; break;
      case 2: k.p[B_X] = NULL; break;
      case 3: k.p[B_GY] = NULL; break;
      case 4: k.p[B_OUT] = NULL; break;
      case 5: k.p[B_W1] = NULL; break;
      case 6: k.p[B_W2] = NULL; break;
      default: k.p[B_WS] = NULL; break;
    }
  }
  /* An output moved onto, into or next to another buffer: from one float
   * past its end back to just before its start. */
  if (alias >= 128 && valid_small) {
    static const int outputs[7] = {B_OUT, B_GW1, B_GB1, B_GW2, B_GB2, B_GWS, B_GBS};
    const int o = outputs[alias % 7], t = (alias / 7) % B_COUNT;
    if (o != t && k.p[o] != NULL) {
      const int64_t span = home_floats[t] + home_floats[o] + 1;
      k.p[o] = home[t] + (alias_at % span) - home_floats[o];
    }
  }
  /* An input moved onto, into or next to another input: inputs may share
   * memory (unless one is the in-place partner of the output). */
  if (share >= 160 && valid_small) {
    static const int inputs[8] = {B_X, B_GY, B_W1, B_B1, B_W2, B_B2, B_WS, B_BS};
    const int m = inputs[share % 8], t = inputs[(share / 8) % 8];
    if (m != t && k.p[m] != NULL) {
      const int64_t span = home_floats[t] + home_floats[m] + 1;
      k.p[m] = home[t] + (share_at % span) - home_floats[m];
    }
  }
  /* Outputs start as canary (except where they overlap an input, whose
   * values the call may legitimately read: in place). */
  for (b = 0; b < B_COUNT; b++) {
    int in, overlaps_input = 0;
    if (!is_output(b) || k.p[b] == NULL || !valid_small) continue;
    for (in = 0; in < B_COUNT; in++) {
      if (!is_output(in) && k.p[in] != NULL && k.p[in] < k.p[b] + home_floats[b] &&
          k.p[b] < k.p[in] + home_floats[in]) {
        overlaps_input = 1;
      }
    }
    if (!overlaps_input) {
      for (i = 0; i < (size_t)home_floats[b]; i++) memcpy(&k.p[b][i], &canary, sizeof canary);
    }
  }
  /* A buffer that would run past the end of the address space. */
  if (wild >= 240) {
    const int w = wild % B_COUNT;
    const int64_t need = valid_small ? floats_of(&k, w) : 0;
    if (k.p[w] != NULL && need >= 2) {
      k.p[w] = (float *)(uintptr_t)(UINTPTR_MAX - 3 - 4 * (uint64_t)(need - 2));
    }
  }

  allowed = allowed_statuses(&k);
  /* A call the header accepts but whose sizes exceed the arena cannot be made. */
  if (allowed == 0 && !valid_small) goto done;

  if (getenv("SCSE_FUZZ_TRACE") != NULL) {
    fprintf(stderr, "scse_fuzz: entry %d n=%lld c=%lld s=%lld hidden=%lld rows=%lld layout=%d "
            "aggregate=%d threads=%d allowed=0x%x\n", k.entry, (long long)k.n, (long long)k.c,
            (long long)k.s, (long long)k.hidden, (long long)k.rows, k.layout, k.aggregate,
            (int)scse_get_num_threads(), allowed);
    for (b = 0; b < B_COUNT; b++) {
      fprintf(stderr, "  buffer %d: %s %+td floats from its home\n", b,
              k.p[b] == NULL ? "NULL" : passed(&k, b) ? "passed" : "not passed",
              k.p[b] == NULL || !valid_small ? (ptrdiff_t)0 : (ptrdiff_t)((uintptr_t)k.p[b] - (uintptr_t)home[b]) / 4);
    }
  }
  memcpy(before, arena, total * sizeof(float));
  got = invoke(&k);
  if (allowed != 0) {
    if (got == SCSE_STATUS_SUCCESS || !(allowed & ST(got))) fail("unexpected status", &k, (int)got);
    if (memcmp(before, arena, total * sizeof(float)) != 0) fail("failing call wrote memory", &k, (int)got);
    goto done;
  }
  if (got != SCSE_STATUS_SUCCESS) fail("valid call failed", &k, (int)got);

  /* Nothing outside the outputs changed, every output was written. */
  {
    unsigned char *inside = calloc(total, 1);
    if (inside == NULL) abort();
    for (b = 0; b < B_COUNT; b++) {
      if (is_output(b) && passed(&k, b)) memset(inside + (k.p[b] - arena), 1, (size_t)k.floats[b]);
    }
    for (i = 0; i < total; i++) {
      if (!inside[i] && memcmp(&before[i * 4], &arena[i], 4) != 0) fail("wrote outside its outputs", &k, (int)i);
      if (inside[i] && memcmp(&arena[i], &canary, 4) == 0) fail("output left unwritten", &k, (int)i);
    }
    free(inside);
  }

  {
    /* The reference works on the inputs as they were before the call. */
    fuzz_problem p;
    fuzz_result ref;
    const float *in[B_COUNT];
    for (b = 0; b < B_COUNT; b++) {
      in[b] = !passed(&k, b) || is_output(b)
                  ? NULL
                  : (const float *)(const void *)(before + ((uintptr_t)k.p[b] - (uintptr_t)arena));
    }
    memset(&p, 0, sizeof p);
    p.channel_gate = k.channel_gate; p.spatial_gate = k.spatial_gate;
    p.max_aggregate = k.aggregate == 1; p.channels_last = k.layout == 1;
    p.n = k.n; p.c = k.c; p.s = k.s; p.hidden = k.hidden; p.rows = k.rows;
    p.x = in[B_X]; p.gy = k.backward ? in[B_GY] : NULL;
    p.w1 = in[B_W1]; p.b1 = in[B_B1]; p.w2 = in[B_W2]; p.b2 = in[B_B2];
    p.ws = in[B_WS]; p.bs = in[B_BS];
    fuzz_reference(&p, &ref);
    if (!k.backward) {
      compare("y", &k, k.p[B_OUT], ref.y, k.floats[B_OUT]);
    } else if (ref.fragile == 0) {
      compare("grad_x", &k, k.p[B_OUT], ref.gx, k.floats[B_OUT]);
      if (passed(&k, B_GW1)) compare("grad fc1.weight", &k, k.p[B_GW1], ref.gw1, k.floats[B_GW1]);
      if (passed(&k, B_GB1)) compare("grad fc1.bias", &k, k.p[B_GB1], ref.gb1, k.floats[B_GB1]);
      if (passed(&k, B_GW2)) compare("grad fc2.weight", &k, k.p[B_GW2], ref.gw2, k.floats[B_GW2]);
      if (passed(&k, B_GB2)) compare("grad fc2.bias", &k, k.p[B_GB2], ref.gb2, k.floats[B_GB2]);
      if (passed(&k, B_GWS)) compare("grad sSE weight", &k, k.p[B_GWS], ref.gws, k.floats[B_GWS]);
      if (passed(&k, B_GBS)) compare("grad sSE bias", &k, k.p[B_GBS], &ref.gbs, 1);
    }
    fuzz_result_free(&ref);
  }

done:
  free(arena);
  free(before);
  return 0;
}
