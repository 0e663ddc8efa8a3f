// Deterministic pseudo-random numbers, so every test case is reproducible
// from its seed on any machine.
struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A float32 value drawn uniformly from [low, high).
  mutating func uniform(_ low: Double, _ high: Double) -> Float {
    let unit = Double(next() >> 11) * 0x1p-53
    return Float(low + (high - low) * unit)
  }

  mutating func uniformArray(_ count: Int, _ low: Double, _ high: Double) -> [Float] {
    (0..<count).map { _ in uniform(low, high) }
  }
}
