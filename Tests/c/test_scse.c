/* Tests of libscse's C ABI (include/scse.h). Exits 1 if any check failed,
 * after printing every failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "scse.h"
#include "tests.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static void test_version(void) {
  const char *header = STR(SCSE_VERSION_MAJOR) "." STR(SCSE_VERSION_MINOR) "." STR(SCSE_VERSION_PATCH);
  const char *v = scse_version();
  check_context = "version";
  CHECK(v != NULL, "scse_version() returned NULL");
  if (v != NULL) {
    CHECK(strcmp(v, header) == 0, "scse_version() = \"%s\", header says \"%s\"", v, header);
  }
}

static void test_status_strings(void) {
  enum { KNOWN = 8 };
  static const scse_status unknown[] = {(scse_status)8, (scse_status)1000, (scse_status)-1};
  const char *text[KNOWN];
  int i, j;
  check_context = "status strings";
  for (i = 0; i < KNOWN; i++) {
    text[i] = scse_status_string((scse_status)i);
    CHECK(text[i] != NULL && text[i][0] != '\0', "status %d has no description", i);
    if (text[i] == NULL) return;
    for (j = 0; j < i; j++) {
      CHECK(strcmp(text[i], text[j]) != 0, "statuses %d and %d share the description \"%s\"", j,
            i, text[i]);
    }
  }
  for (i = 0; i < (int)(sizeof unknown / sizeof unknown[0]); i++) {
    const char *t = scse_status_string(unknown[i]);
    CHECK(t != NULL && t[0] != '\0', "unknown status %d has no description", (int)unknown[i]);
    if (t == NULL) continue;
    for (j = 0; j < KNOWN; j++) {
      CHECK(strcmp(t, text[j]) != 0, "unknown status %d described as status %d (\"%s\")",
            (int)unknown[i], j, t);
    }
  }
}

/* scse_cpu_isa() names a known variant; SCSE_TEST_EXPECT_ISA, when set (by
 * the per-variant ctest runs), is the one this run must be on. */
static void test_cpu_isa(void) {
  const char *isa = scse_cpu_isa();
  const char *expected = getenv("SCSE_TEST_EXPECT_ISA");
  check_context = "cpu isa";
  CHECK(isa != NULL, "scse_cpu_isa() returned NULL");
  if (isa == NULL) return;
  CHECK(strcmp(isa, "baseline") == 0 || strcmp(isa, "avx2") == 0, "unknown variant \"%s\"", isa);
  CHECK(isa == scse_cpu_isa(), "scse_cpu_isa() is not one static string");
  if (expected != NULL) {
    CHECK(strcmp(isa, expected) == 0, "running the \"%s\" kernels, expected \"%s\"", isa, expected);
  }
}

int main(void) {
  test_version();
  test_cpu_isa();
  test_status_strings();
  test_statuses();
  test_out_of_memory();
  test_values();
  if (check_failures != 0) {
    fprintf(stderr, "%d of %d checks FAILED\n", check_failures, check_total);
    return 1;
  }
  printf("all %d checks passed (libscse %s, %s kernels)\n", check_total, scse_version(), scse_cpu_isa());
  return 0;
}
