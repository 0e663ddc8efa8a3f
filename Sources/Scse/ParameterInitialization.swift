// PyTorch's default initialisation of nn.Linear / nn.Conv2d: weights and
// biases uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] (0 when fan_in is 0).

/// A small seedable generator (SplitMix64) so initial weights are reproducible.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// `count` values uniform in +-1/sqrt(fanIn).
func uniformParameters(_ count: Int, fanIn: Int, using generator: inout SeededGenerator) -> [Float] {
  guard fanIn > 0 else { return [Float](repeating: 0, count: count) }
  let bound = 1 / Float(fanIn).squareRoot()
  return (0 ..< count).map { _ in Float.random(in: -bound ... bound, using: &generator) }
}
