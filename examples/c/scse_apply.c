/*
 * scse_apply: runs an scSE block (libscse) on a tensor read from a file.
 *
 *   scse_apply [--aggregate sum|max] [--threads N] WEIGHTS INPUT OUTPUT
 *
 * All three files are "scse tensor files": the line "scse-tensors 1", then
 * for each tensor a line "<name> <ndim> <d0> ... <d(ndim-1)>" followed by
 * d0 * ... * d(ndim-1) float32 values, little-endian, row-major.
 *
 * WEIGHTS holds the state_dict entries of ChannelSpatialSELayer:
 *   cSE.fc1.weight [Cr, C], cSE.fc2.weight [C, Cr], sSE.conv.weight [K, C, 1, 1]
 *   (K = 1 normally; K > 1 averages K conditioner rows) and, optionally,
 *   cSE.fc1.bias [Cr], cSE.fc2.bias [C], sSE.conv.bias [1].
 * INPUT holds x [N, C, *spatial] (1 to 3 spatial dims) and, optionally,
 *   grad_y (same shape), which asks for the backward pass as well.
 * OUTPUT receives y and, with grad_y, grad_x and "grad.<key>" for every
 *   weight entry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scse.h>

#define MAX_TENSORS 16
#define MAX_DIMS 8

typedef struct {
  char name[64];
  int ndim;
  int64_t dims[MAX_DIMS];
  int64_t count;
  float *data;
} tensor;

typedef struct {
  int n;
  tensor t[MAX_TENSORS];
} tensor_file;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "scse_apply: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  return *(const unsigned char *)&one == 1;
}

/* The files are little-endian; swap on a big-endian host. */
static void to_or_from_little_endian(float *v, int64_t count) {
  if (host_is_little_endian()) return;
  for (int64_t i = 0; i < count; i++) {
    unsigned char *b = (unsigned char *)&v[i], t;
    t = b[0]; b[0] = b[3]; b[3] = t;
    t = b[1]; b[1] = b[2]; b[2] = t;
  }
}

static void read_tensors(const char *path, tensor_file *f) {
  char line[512];
  FILE *fp = fopen(path, "rb");
  if (!fp) die("cannot open", path);
  if (!fgets(line, sizeof line, fp) || strcmp(line, "scse-tensors 1\n") != 0)
    die("not an scse tensor file (first line must be \"scse-tensors 1\")", path);
  f->n = 0;
  while (fgets(line, sizeof line, fp)) {
    tensor *t;
    char *p = line;
    int used;
    if (f->n == MAX_TENSORS) die("too many tensors in", path);
    t = &f->t[f->n];
    if (sscanf(p, "%63s %d%n", t->name, &t->ndim, &used) != 2 || t->ndim < 0 ||
        t->ndim > MAX_DIMS)
      die("bad tensor header line in", path);
    p += used;
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
      long long v;
      if (sscanf(p, "%lld%n", &v, &used) != 1 || v < 0 || v > (1LL << 31))
        die("bad dimension in", path);
      p += used;
      t->dims[d] = v;
      t->count *= v;
      if (t->count > (1LL << 31)) die("tensor too large in", path);
    }
    /* One spare element so that an empty tensor still has a buffer. */
    t->data = malloc((size_t)(t->count + 1) * sizeof(float));
    if (!t->data) die("out of memory reading", path);
    if (fread(t->data, sizeof(float), (size_t)t->count, fp) != (size_t)t->count)
      die("truncated tensor data in", path);
    to_or_from_little_endian(t->data, t->count);
    f->n++;
  }
  if (ferror(fp)) die("read error in", path);
  fclose(fp);
}

static tensor *find(tensor_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
  return NULL;
}

static tensor *require(tensor_file *f, const char *name) {
  tensor *t = find(f, name);
  if (!t) die("missing tensor", name);
  return t;
}

static void expect_count(const tensor *t, int64_t count) {
  if (t && t->count != count) die("tensor has the wrong number of elements", t->name);
}

/* Adds a tensor shaped like `like` (same dims) to `out`, named `name`. */
static tensor *add_like(tensor_file *out, const char *name, const tensor *like) {
  tensor *t = &out->t[out->n++];
  *t = *like;
  snprintf(t->name, sizeof t->name, "%s", name);
  t->data = calloc((size_t)(t->count + 1), sizeof(float));
  if (!t->data) die("out of memory for", name);
  return t;
}

static void write_tensors(const char *path, tensor_file *f) {
  FILE *fp = fopen(path, "wb");
  if (!fp) die("cannot create", path);
  fputs("scse-tensors 1\n", fp);
  for (int i = 0; i < f->n; i++) {
    tensor *t = &f->t[i];
    fprintf(fp, "%s %d", t->name, t->ndim);
    for (int d = 0; d < t->ndim; d++) fprintf(fp, " %lld", (long long)t->dims[d]);
    fputc('\n', fp);
    to_or_from_little_endian(t->data, t->count);
    fwrite(t->data, sizeof(float), (size_t)t->count, fp);
    to_or_from_little_endian(t->data, t->count);
  }
  if (fclose(fp) != 0) die("write error in", path);
}

static void check(scse_status st, const char *call) {
  if (st != SCSE_STATUS_SUCCESS) die(call, scse_status_string(st));
}

int main(int argc, char **argv) {
  scse_aggregate aggregate = SCSE_AGGREGATE_SUM;
  const char *paths[3];
  int npaths = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--aggregate") == 0 && i + 1 < argc) {
      const char *a = argv[++i];
      if (strcmp(a, "sum") == 0) aggregate = SCSE_AGGREGATE_SUM;
      else if (strcmp(a, "max") == 0) aggregate = SCSE_AGGREGATE_MAX;
      else die("--aggregate must be sum or max, got", a);
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      check(scse_set_num_threads(atoi(argv[++i])), "scse_set_num_threads");
    } else if (npaths < 3 && argv[i][0] != '-') {
      paths[npaths++] = argv[i];
    } else {
      npaths = -1;
      break;
    }
  }
  if (npaths != 3) {
    fprintf(stderr, "usage: %s [--aggregate sum|max] [--threads N] WEIGHTS INPUT OUTPUT\n",
            argv[0]);
    return 2;
  }

  static tensor_file weights, input, output;
  read_tensors(paths[0], &weights);
  read_tensors(paths[1], &input);

  tensor *x = require(&input, "x"), *grad_y = find(&input, "grad_y");
  if (x->ndim < 3 || x->ndim > 5) die("x must have shape [N, C, *spatial] with 1 to 3 spatial dims", NULL);
  if (x->count == 0) die("x is empty", NULL);
  int64_t n = x->dims[0], c = x->dims[1], s = x->count / (n * c);
  if (grad_y && (grad_y->ndim != x->ndim ||
                 memcmp(grad_y->dims, x->dims, (size_t)x->ndim * sizeof x->dims[0]) != 0))
    die("grad_y must have the shape of x", NULL);

  tensor *fc1_w = require(&weights, "cSE.fc1.weight"), *fc1_b = find(&weights, "cSE.fc1.bias");
  tensor *fc2_w = require(&weights, "cSE.fc2.weight"), *fc2_b = find(&weights, "cSE.fc2.bias");
  tensor *sse_w = require(&weights, "sSE.conv.weight"), *sse_b = find(&weights, "sSE.conv.bias");
  if (fc1_w->ndim < 2 || fc1_w->count != fc1_w->dims[0] * c)
    die("cSE.fc1.weight must be [Cr, C]", NULL);
  int64_t hidden = fc1_w->dims[0];
  expect_count(fc1_b, hidden);
  expect_count(fc2_w, c * hidden);
  expect_count(fc2_b, c);
  if (sse_w->ndim < 1 || sse_w->dims[0] < 1 || sse_w->count != sse_w->dims[0] * c)
    die("sSE.conv.weight must be [K, C, 1, 1]", NULL);
  expect_count(sse_b, 1);

  scse_channel_gate cse = {hidden, fc1_w->data, fc1_b ? fc1_b->data : NULL, fc2_w->data,
                           fc2_b ? fc2_b->data : NULL};
  scse_spatial_gate sse = {sse_w->dims[0], sse_w->data, sse_b ? sse_b->data : NULL};

  tensor *y = add_like(&output, "y", x);
  check(scse_scse_forward(n, c, s, SCSE_LAYOUT_CHANNELS_FIRST, aggregate, &cse, &sse, x->data,
                          y->data),
        "scse_scse_forward");

  if (grad_y) {
    tensor *gx = add_like(&output, "grad_x", x);
    tensor *g1w = add_like(&output, "grad.cSE.fc1.weight", fc1_w);
    tensor *g1b = fc1_b ? add_like(&output, "grad.cSE.fc1.bias", fc1_b) : NULL;
    tensor *g2w = add_like(&output, "grad.cSE.fc2.weight", fc2_w);
    tensor *g2b = fc2_b ? add_like(&output, "grad.cSE.fc2.bias", fc2_b) : NULL;
    tensor *gsw = add_like(&output, "grad.sSE.conv.weight", sse_w);
    tensor *gsb = sse_b ? add_like(&output, "grad.sSE.conv.bias", sse_b) : NULL;
    scse_channel_gate_grad cse_grad = {g1w->data, g1b ? g1b->data : NULL, g2w->data,
                                       g2b ? g2b->data : NULL};
    scse_spatial_gate_grad sse_grad = {gsw->data, gsb ? gsb->data : NULL};
    check(scse_scse_backward(n, c, s, SCSE_LAYOUT_CHANNELS_FIRST, aggregate, &cse, &sse,
                             x->data, grad_y->data, gx->data, &cse_grad, &sse_grad),
          "scse_scse_backward");
  }

  write_tensors(paths[2], &output);
  printf("scse_apply (libscse %s): x [%lld, %lld, %lld positions] -> %s (%d tensors)\n",
         scse_version(), (long long)n, (long long)c, (long long)s, paths[2], output.n);
  return 0;
}
