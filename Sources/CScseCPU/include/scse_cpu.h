/* CPU feature detection for the choice of kernel variant
 * (Sources/ScseCore/InstructionSet.swift) and processor helpers for the
 * worker pool (Sources/ScseCore/WorkerPool.swift). Internal to libscse: the names
 * do not start with "scse_", so the library does not export them. */
#ifndef SCSE_CPU_H
#define SCSE_CPU_H

/* 1 when the CPU and the operating system support everything the x86-64-v3
 * variant may use (AVX, AVX2, FMA, BMI1, BMI2, F16C, LZCNT, MOVBE and the
 * saving of the YMM registers); 0 otherwise and on other architectures. */
int cscse_cpu_supports_x86_64_v3(void);

/* The processors this process may run on: its affinity mask on Linux
 * (taskset, container cpusets), the online processors elsewhere; >= 1. */
int cscse_cpu_available_count(void);

/* Tells the processor the caller is in a spin-wait loop (x86 PAUSE,
 * Arm YIELD; nothing on other architectures). */
void cscse_cpu_relax(void);

#endif
