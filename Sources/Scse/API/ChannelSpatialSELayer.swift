// Swift API: the concurrent spatial and channel block (scSE).
import CScse

/// Concurrent spatial and channel squeeze & excitation (scSE):
/// `y = cSE(x) + sSE(x)`, or their element-wise maximum.
public struct ChannelSpatialSELayer: Sendable, Equatable {
  /// The channel branch.
  public var channelGate: ChannelSELayer
  /// The spatial branch.
  public var spatialGate: SpatialSELayer
  /// How the branches combine.
  public var aggregate: Aggregate

  /// Gradients of both branches' parameters.
  public struct Gradients: Sendable, Equatable {
    public var channelGate: ChannelSELayer.Gradients
    public var spatialGate: SpatialSELayer.Gradients
  }

  /// A block initialised as PyTorch initialises the reference module.
  public init(channels: Int, reductionRatio: Int = 2, aggregate: Aggregate = .sum,
              bias: Bool = true, seed: UInt64 = 0) {
    precondition(reductionRatio >= 1, "reductionRatio must be >= 1")
    self.init(channels: channels, hidden: channels / reductionRatio, aggregate: aggregate, bias: bias, seed: seed)
  }

  /// A block with an explicit hidden width for the channel branch.
  public init(channels: Int, hidden: Int, aggregate: Aggregate = .sum, bias: Bool = true, seed: UInt64 = 0) {
    channelGate = ChannelSELayer(channels: channels, hidden: hidden, bias: bias, seed: seed)
    spatialGate = SpatialSELayer(channels: channels, bias: bias, seed: seed &+ 1)
    self.aggregate = aggregate
  }

  /// Assembles a block from two branches with the same channel count.
  public init(channelGate: ChannelSELayer, spatialGate: SpatialSELayer, aggregate: Aggregate = .sum) {
    precondition(channelGate.channels == spatialGate.channels, "the branches' channel counts differ")
    self.channelGate = channelGate
    self.spatialGate = spatialGate
    self.aggregate = aggregate
  }

  func check(_ shape: TensorShape) throws(ScseError) {
    try channelGate.checkParameters()
    try channelGate.checkChannels(shape)
    try spatialGate.check(shape, fewShotWeights: nil)
  }

  /// Forward pass into a caller-provided buffer (which may be `x` itself).
  /// - Complexity: O(N * C * S), two reads of x and one write of y.
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>) throws(ScseError) {
    try check(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(channelGate.withGate { cg in
      spatialGate.withGate(fewShotWeights: nil) { sg in
        scse_scse_forward(n, c, s, shape.layout.cValue, aggregate.cValue, cg, sg, x.baseAddress, y.baseAddress)
      }
    })
  }

  /// Forward pass: returns y.
  public func forward(_ x: [Float], shape: TensorShape) throws(ScseError) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try y.withUnsafeMutableBufferPointer { ys throws(ScseError) in try forward(xs, shape: shape, into: ys) }
    }
    return y
  }

  /// Backward pass: gradients with respect to x and both branches' parameters.
  /// - Complexity: O(N * C * S).
  public func backward(_ x: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>,
                       shape: TensorShape, inputGradient: UnsafeMutableBufferPointer<Float>) throws(ScseError) -> Gradients {
    try check(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, outputGradient.count, inputGradient.count])
    let cse = channelGate
    var channelGrads = ChannelSELayer.Gradients(
      fc1Weight: .init(repeating: 0, count: cse.fc1Weight.count), fc1Bias: cse.fc1Bias.map { .init(repeating: 0, count: $0.count) },
      fc2Weight: .init(repeating: 0, count: cse.fc2Weight.count), fc2Bias: cse.fc2Bias.map { .init(repeating: 0, count: $0.count) })
    var weightGrad = [Float](repeating: 0, count: spatialGate.channels)
    var biasGrad: [Float]? = spatialGate.bias != nil ? [0] : nil
    try ScseError.check(cse.withGate { cg in
      spatialGate.withGate(fewShotWeights: nil) { sg in
        ChannelSELayer.withGradients(&channelGrads) { cgOut in
          SpatialSELayer.withGradients(&weightGrad, &biasGrad) { sgOut in
            scse_scse_backward(n, c, s, shape.layout.cValue, aggregate.cValue, cg, sg, x.baseAddress,
                               outputGradient.baseAddress, inputGradient.baseAddress, cgOut, sgOut)
          }
        }
      }
    })
    return Gradients(channelGate: channelGrads,
                     spatialGate: .init(weight: weightGrad, bias: biasGrad?[0], fewShotWeights: nil))
  }

  /// Backward pass over arrays.
  public func backward(_ x: [Float], outputGradient: [Float], shape: TensorShape) throws(ScseError)
    -> (inputGradient: [Float], gradients: Gradients) {
    var dx = [Float](repeating: 0, count: x.count)
    let grads = try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try outputGradient.withUnsafeBufferPointer { dys throws(ScseError) in
        try dx.withUnsafeMutableBufferPointer { dxs throws(ScseError) in
          try backward(xs, outputGradient: dys, shape: shape, inputGradient: dxs)
        }
      }
    }
    return (dx, grads)
  }
}
