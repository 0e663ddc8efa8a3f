import Scse
import Testing

/// The initialisers draw parameters as PyTorch initialises nn.Linear and
/// nn.Conv2d: uniform in ±1/sqrt(fan_in); fan_in 0 gives empty weights and a
/// zero bias. Same seed, same parameters.
@Suite struct SwiftAPIInitializationTests {
  /// Every value within ±bound. Arrays of 500 or more values must also reach
  /// past 90% of the bound on both sides and have a mean near 0 (a uniform
  /// draw misses either with probability below 1e-20), so a bound that is
  /// too small or a shifted distribution fails.
  func expectUniform(
    _ values: [Float], bound: Float, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(!values.isEmpty, "\(what): empty", sourceLocation: sourceLocation)
    let outside = values.filter { !(abs($0) <= bound) }
    #expect(outside.isEmpty, "\(what): \(outside.prefix(3)) outside ±\(bound)", sourceLocation: sourceLocation)
    #expect(Set(values).count > values.count / 2, "\(what): repeated values", sourceLocation: sourceLocation)
    guard values.count >= 500 else { return }
    let (low, high) = (values.min()!, values.max()!)
    #expect(
      low < -0.9 * bound && high > 0.9 * bound, "\(what): range \(low)...\(high) for ±\(bound)",
      sourceLocation: sourceLocation)
    let mean = values.reduce(0, +) / Float(values.count)
    // The mean's standard deviation is bound / sqrt(3 * count); allow 10 of them.
    let spread = 10 * bound / (3 * Float(values.count)).squareRoot()
    #expect(abs(mean) < spread, "\(what): mean \(mean)", sourceLocation: sourceLocation)
  }

  func bound(_ fanIn: Int) -> Float { 1 / Float(fanIn).squareRoot() }

  @Test(arguments: [(64, 4), (48, 2), (10, 3), (1, 1)])
  func channelLayerFromReductionRatio(_ sizes: (Int, Int)) {
    let (c, r) = sizes
    let layer = ChannelSELayer(channels: c, reductionRatio: r, seed: 5)
    let h = c / r
    #expect(layer.channels == c && layer.hidden == h)
    #expect(layer.fc1Weight.count == h * c && layer.fc2Weight.count == c * h)
    #expect(layer.fc1Bias?.count == h && layer.fc2Bias?.count == c)
    expectUniform(layer.fc1Weight, bound: bound(c), "fc1Weight C=\(c) r=\(r)")
    expectUniform(layer.fc1Bias ?? [], bound: bound(c), "fc1Bias C=\(c) r=\(r)")
    expectUniform(layer.fc2Weight, bound: bound(h), "fc2Weight C=\(c) r=\(r)")
    expectUniform(layer.fc2Bias ?? [], bound: bound(h), "fc2Bias C=\(c) r=\(r)")
  }

  /// A hidden width above the channel count is allowed; fc2's fan-in is it.
  @Test func channelLayerWithExplicitHiddenWidth() {
    let layer = ChannelSELayer(channels: 30, hidden: 45, seed: 2)
    #expect(layer.hidden == 45 && layer.fc1Weight.count == 1350 && layer.fc2Weight.count == 1350)
    expectUniform(layer.fc1Weight, bound: bound(30), "fc1Weight")
    expectUniform(layer.fc1Bias ?? [], bound: bound(30), "fc1Bias")
    expectUniform(layer.fc2Weight, bound: bound(45), "fc2Weight")
    expectUniform(layer.fc2Bias ?? [], bound: bound(45), "fc2Bias")
  }

  /// fan_in 0 (hidden 0): PyTorch leaves empty weights and draws fc2's bias
  /// from ±0, i.e. zeros.
  @Test func hiddenWidthZero() {
    let layers = [
      ChannelSELayer(channels: 3, reductionRatio: 4, seed: 8),
      ChannelSELayer(channels: 5, hidden: 0, seed: 8),
      ChannelSpatialSELayer(channels: 7, reductionRatio: 8, seed: 8).channelGate,
    ]
    for layer in layers {
      #expect(layer.hidden == 0)
      #expect(layer.fc1Weight.isEmpty && layer.fc2Weight.isEmpty)
      #expect(layer.fc1Bias == [])
      #expect(layer.fc2Bias == [Float](repeating: 0, count: layer.channels))
    }
    let noBias = ChannelSELayer(channels: 3, hidden: 0, bias: false)
    #expect(noBias.fc1Bias == nil && noBias.fc2Bias == nil && noBias.fc2Weight.isEmpty)
  }

  @Test func withoutBias() {
    let cse = ChannelSELayer(channels: 8, reductionRatio: 2, bias: false, seed: 1)
    #expect(cse.fc1Bias == nil && cse.fc2Bias == nil)
    expectUniform(cse.fc1Weight, bound: bound(8), "fc1Weight")
    let sse = SpatialSELayer(channels: 8, bias: false, seed: 1)
    #expect(sse.bias == nil)
    let block = ChannelSpatialSELayer(channels: 8, bias: false, seed: 1)
    #expect(block.channelGate.fc1Bias == nil && block.channelGate.fc2Bias == nil && block.spatialGate.bias == nil)
  }

  @Test(arguments: [1, 7, 100, 1024])
  func spatialLayer(_ c: Int) throws {
    let layer = SpatialSELayer(channels: c, seed: 4)
    #expect(layer.channels == c && layer.weight.count == c)
    expectUniform(layer.weight, bound: bound(c), "weight C=\(c)")
    let bias = try #require(layer.bias)
    #expect(abs(bias) <= bound(c), "bias \(bias) outside ±\(bound(c))")
  }

  @Test func blockFromReductionRatio() throws {
    let block = ChannelSpatialSELayer(channels: 96, reductionRatio: 8, aggregate: .max, seed: 3)
    #expect(block.channels == 96 && block.aggregate == .max)
    #expect(block.channelGate.channels == 96 && block.channelGate.hidden == 12)
    #expect(block.spatialGate.channels == 96)
    expectUniform(block.channelGate.fc1Weight, bound: bound(96), "fc1Weight")
    expectUniform(block.channelGate.fc1Bias ?? [], bound: bound(96), "fc1Bias")
    expectUniform(block.channelGate.fc2Weight, bound: bound(12), "fc2Weight")
    expectUniform(block.channelGate.fc2Bias ?? [], bound: bound(12), "fc2Bias")
    expectUniform(block.spatialGate.weight, bound: bound(96), "sSE weight")
    #expect(abs(try #require(block.spatialGate.bias)) <= bound(96))
    #expect(ChannelSpatialSELayer(channels: 48, hidden: 13).channelGate.hidden == 13)
    #expect(ChannelSpatialSELayer(channels: 48).aggregate == .sum)
  }

  @Test func sameSeedSameParameters() {
    #expect(ChannelSELayer(channels: 20, reductionRatio: 4, seed: 9) == ChannelSELayer(channels: 20, reductionRatio: 4, seed: 9))
    #expect(SpatialSELayer(channels: 20, seed: 9) == SpatialSELayer(channels: 20, seed: 9))
    #expect(ChannelSpatialSELayer(channels: 20, seed: 9) == ChannelSpatialSELayer(channels: 20, seed: 9))
    // The default seed is a fixed one too.
    #expect(ChannelSpatialSELayer(channels: 20) == ChannelSpatialSELayer(channels: 20, seed: 0))
    // The same draws whichever initialiser names the hidden width.
    #expect(ChannelSELayer(channels: 20, reductionRatio: 4, seed: 9) == ChannelSELayer(channels: 20, hidden: 5, seed: 9))
  }

  @Test func differentSeedsDifferentParameters() {
    func differing(_ a: [Float], _ b: [Float]) -> Int { zip(a, b).filter { $0 != $1 }.count }
    let (a, b) = (ChannelSELayer(channels: 20, reductionRatio: 4, seed: 1),
                  ChannelSELayer(channels: 20, reductionRatio: 4, seed: 2))
    #expect(differing(a.fc1Weight, b.fc1Weight) == 100 && differing(a.fc2Weight, b.fc2Weight) == 100)
    let (s, t) = (SpatialSELayer(channels: 20, seed: 1), SpatialSELayer(channels: 20, seed: 2))
    #expect(differing(s.weight, t.weight) == 20 && s.bias != t.bias)
    let (p, q) = (ChannelSpatialSELayer(channels: 20, seed: 1), ChannelSpatialSELayer(channels: 20, seed: 2))
    #expect(p != q && differing(p.spatialGate.weight, q.spatialGate.weight) == 20)
  }
}
