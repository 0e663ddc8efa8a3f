// Process-wide settings of the Swift API.
internal import ScseCore
internal import ScseDispatch

/// Settings that apply to every call in the process.
public enum ScseSettings {
  /// How many threads one call may use, >= 1.
  ///
  /// By default the `SCSE_NUM_THREADS` environment variable when it holds a
  /// positive integer, else one thread per online processor. Assigning a
  /// count >= 1 fixes it; assigning 0 restores the default. Results are
  /// bitwise identical for every thread count.
  /// - Precondition: the assigned value is >= 0.
  public static var threadCount: Int {
    get { ThreadCount.current }
    set {
      precondition(newValue >= 0, "threadCount must be >= 0")
      ThreadCount.set(Int32(clamping: newValue))
    }
  }

  /// The instruction set of the kernels this process runs: `"avx2"`
  /// (x86-64-v3: AVX2 and FMA) or `"baseline"` (any x86-64 CPU; NEON on
  /// aarch64). The strongest one the CPU supports, capped by the
  /// `SCSE_CPU_ISA` environment variable when first needed; see
  /// docs/design.md.
  public static var instructionSet: String { "\(activeInstructionSet.name)" }
}
