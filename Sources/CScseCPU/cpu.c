/* CPU feature detection: reads CPUID (and XCR0 for the operating system's
 * support of the AVX registers) directly, so the library needs nothing of
 * the compiler's runtime for it. The x86 code of the library's dispatch
 * lives here and in Sources/ScseDispatch/. */
#include "scse_cpu.h"

#if defined(__x86_64__)
#include <cpuid.h>

static int bit(unsigned value, int index) { return (int)((value >> index) & 1u); }

__attribute__((visibility("hidden")))
int cscse_cpu_supports_x86_64_v3(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  /* FMA, MOVBE, OSXSAVE, AVX, F16C. */
  if (!(bit(ecx, 12) && bit(ecx, 22) && bit(ecx, 27) && bit(ecx, 28) && bit(ecx, 29))) return 0;
  /* The OS saves the SSE and AVX register state (XCR0 bits 1 and 2). */
  unsigned xcr0_low, xcr0_high;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & 6u) != 6u) return 0;
  /* BMI1, AVX2, BMI2. */
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(bit(ebx, 3) && bit(ebx, 5) && bit(ebx, 8))) return 0;
  /* LZCNT. */
  if (!__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) return 0;
  return bit(ecx, 5);
}

#else

__attribute__((visibility("hidden")))
int cscse_cpu_supports_x86_64_v3(void) { return 0; }

#endif
