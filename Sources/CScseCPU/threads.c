/* Processor count and spin-wait hint for the worker pool
 * (Sources/ScseCore/WorkerPool.swift, ThreadCount.swift). In C because the
 * affinity mask is read through macros (CPU_COUNT) and the pause hint is an
 * architecture-specific instruction. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include "scse_cpu.h"

#include <unistd.h>

#if defined(__linux__)
#include <sched.h>
#include <stdlib.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static int online_processors(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? (int)online : 1;
}

__attribute__((visibility("hidden")))
int cscse_cpu_available_count(void) {
#if defined(__linux__)
  /* The affinity mask (taskset, cpusets of a container) can be smaller than
   * the online set. Masks wider than the fixed cpu_set_t need a larger set. */
  for (size_t cpus = CPU_SETSIZE; cpus <= (size_t)1 << 16; cpus *= 2) {
    cpu_set_t *set = CPU_ALLOC(cpus);
    if (set == NULL) break;
    size_t size = CPU_ALLOC_SIZE(cpus);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) == 0) {
      int count = CPU_COUNT_S(size, set);
      CPU_FREE(set);
      return count > 0 ? count : 1;
    }
    CPU_FREE(set);
  }
#endif
  return online_processors();
}

__attribute__((visibility("hidden")))
void cscse_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}
