/* Hostile-input tests of the C ABI. Runs the groups named on the command
 * line (all of them without arguments) and exits 1 if any check failed. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "reliability_tests.h"

static const struct group {
  const char *name;
  void (*run)(void);
} groups[] = {
    {"arguments", test_arguments},
    {"huge_thread_count", test_huge_thread_count},
    {"aliasing", test_aliasing},
    {"in_place_sharing", test_in_place_sharing},
    {"unaligned", test_unaligned},
    {"many_positions", test_many_positions},
    {"concurrent_calls", test_concurrent_calls},
};
enum { GROUP_COUNT = sizeof groups / sizeof groups[0] };

int main(int argc, char **argv) {
  int i, g;
  for (i = 1; i < argc; i++) {
    for (g = 0; g < GROUP_COUNT && strcmp(argv[i], groups[g].name) != 0; g++) {
    }
    if (g == GROUP_COUNT) {
      fprintf(stderr, "unknown test group \"%s\"\n", argv[i]);
      return 2;
    }
  }
  for (g = 0; g < GROUP_COUNT; g++) {
    int wanted = argc < 2;
    for (i = 1; i < argc; i++) wanted |= strcmp(argv[i], groups[g].name) == 0;
    if (wanted) groups[g].run();
  }
  if (check_total == 0) {
    fprintf(stderr, "no checks ran\n");
    return 1;
  }
  if (check_failures != 0) {
    fprintf(stderr, "%d of %d checks FAILED\n", check_failures, check_total);
    return 1;
  }
  printf("all %d checks passed (libscse %s)\n", check_total, scse_version());
  return 0;
}
