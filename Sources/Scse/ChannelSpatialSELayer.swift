// Swift API: the concurrent spatial and channel block (scSE).
internal import CScse
internal import ScseCore
internal import ScseDispatch

/// Concurrent spatial and channel squeeze & excitation (scSE, Roy et al.,
/// MICCAI 2018): `y = cSE(x) + sSE(x)`, or their element-wise maximum,
/// computed in one fused pass.
///
/// A value type made of its two branches, ``channelGate`` (the reference's
/// `cSE` submodule) and ``spatialGate`` (`sSE`). Both may be edited or
/// replaced; their parameter sizes and channel counts are checked at every
/// call.
///
/// Forward and backward are stateless: they only read the block, so one
/// block may be used from several threads at once.
public struct ChannelSpatialSELayer: Sendable, Equatable {
  /// The channel branch (cSE).
  public var channelGate: ChannelSELayer
  /// The spatial branch (sSE).
  public var spatialGate: SpatialSELayer
  /// How the branches combine.
  public var aggregate: Aggregate

  /// The channel count C of the tensors the block accepts (that of
  /// ``channelGate``).
  public var channels: Int { channelGate.channels }

  /// Gradients of the loss with respect to both branches' parameters
  /// (overwritten by each backward pass, not accumulated).
  public struct Gradients: Sendable, Equatable {
    /// Gradients of ``ChannelSpatialSELayer/channelGate``'s parameters.
    public var channelGate: ChannelSELayer.Gradients
    /// Gradients of ``ChannelSpatialSELayer/spatialGate``'s parameters
    /// (``SpatialSELayer/Gradients/fewShotWeights`` is always `nil`).
    public var spatialGate: SpatialSELayer.Gradients
  }

  /// A block initialised as PyTorch initialises the reference module: see
  /// ``ChannelSELayer/init(channels:reductionRatio:bias:seed:)`` and
  /// ``SpatialSELayer/init(channels:bias:seed:)``.
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - reductionRatio: r >= 1; the channel branch's hidden width is
  ///     `channels / r` (rounded down, possibly 0).
  ///   - aggregate: how the branches combine.
  ///   - bias: whether the linear layers and the convolution have biases.
  ///   - seed: the same seed always gives the same parameters.
  /// - Precondition: `channels >= 1` and `reductionRatio >= 1`.
  /// - Complexity: O(C * C / r).
  public init(channels: Int, reductionRatio: Int = 2, aggregate: Aggregate = .sum,
              bias: Bool = true, seed: UInt64 = 0) {
    precondition(reductionRatio >= 1, "reductionRatio must be >= 1")
    self.init(channels: channels, hidden: channels / reductionRatio, aggregate: aggregate, bias: bias, seed: seed)
  }

  /// A block with an explicit hidden width for the channel branch,
  /// initialised as PyTorch does.
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - hidden: the channel branch's bottleneck width, >= 0.
  ///   - aggregate: how the branches combine.
  ///   - bias: whether the linear layers and the convolution have biases.
  ///   - seed: the same seed always gives the same parameters.
  /// - Precondition: `channels >= 1` and `hidden >= 0`.
  /// - Complexity: O(C * hidden).
  public init(channels: Int, hidden: Int, aggregate: Aggregate = .sum, bias: Bool = true, seed: UInt64 = 0) {
    channelGate = ChannelSELayer(channels: channels, hidden: hidden, bias: bias, seed: seed)
    spatialGate = SpatialSELayer(channels: channels, bias: bias, seed: seed &+ 1)
    self.aggregate = aggregate
  }

  /// Assembles a block from two branches, e.g. ones holding trained
  /// parameters.
  /// - Parameters:
  ///   - channelGate: the channel branch.
  ///   - spatialGate: the spatial branch, with the same channel count.
  ///   - aggregate: how the branches combine.
  /// - Precondition: `channelGate.channels == spatialGate.channels`.
  /// - Complexity: O(1).
  public init(channelGate: ChannelSELayer, spatialGate: SpatialSELayer, aggregate: Aggregate = .sum) {
    precondition(channelGate.channels == spatialGate.channels, "the branches' channel counts differ")
    self.channelGate = channelGate
    self.spatialGate = spatialGate
    self.aggregate = aggregate
  }

  func check(_ shape: TensorShape) throws(ScseError) {
    guard channelGate.channels == spatialGate.channels else {
      throw ScseError.invalidShape("the channel gate has \(channelGate.channels) channels; "
        + "the spatial gate has \(spatialGate.channels)")
    }
    try channelGate.checkParameters()
    try channelGate.checkChannels(shape)
    try spatialGate.check(shape, fewShotWeights: nil)
  }

  /// Forward pass into a caller-provided buffer, without copies.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x` and `y`.
  ///   - y: receives the output, same count and layout as `x`. It may be
  ///     exactly `x`'s memory (in place); any other overlap with `x` throws.
  /// - Throws: ``ScseError`` when a buffer count, the channel count, the
  ///   spatial rank, an extent or a parameter size is wrong, the branches'
  ///   channel counts differ, or the buffers overlap; `y` is then left
  ///   untouched.
  /// - Complexity: O(N * C * S + N * C * hidden).
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>) throws(ScseError) {
    try check(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(channelGate.withGate { cg in
      spatialGate.withGate(fewShotWeights: nil) { sg in
        runForward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                           aggregate: aggregate.cValue, usesChannelGate: true, usesSpatialGate: true,
                           channelGate: cg, spatialGate: sg, x: x.baseAddress, out: y.baseAddress))
      }
    })
  }

  /// Forward pass over arrays.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x`.
  /// - Returns: the output y, in the shape and layout of `x`.
  /// - Throws: ``ScseError`` when `x.count`, the channel count, the spatial
  ///   rank, an extent or a parameter size is wrong, or the branches'
  ///   channel counts differ.
  /// - Complexity: O(N * C * S + N * C * hidden).
  public func forward(_ x: [Float], shape: TensorShape) throws(ScseError) -> [Float] {
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try makeFloatArray(count: x.count) { ys throws(ScseError) in try forward(xs, shape: shape, into: ys) }
    }.array
  }

  /// Backward pass into a caller-provided buffer: the gradients of a loss L
  /// with respect to x and to both branches' parameters, given `dL/dy`, as
  /// PyTorch autograd computes them (ReLU passes no gradient at 0; with
  /// ``Aggregate/max`` the larger branch gets the gradient, ties half each).
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of all three buffers.
  ///   - inputGradient: receives `dL/dx`. It may be exactly
  ///     `outputGradient`'s memory (in place); no other overlap is allowed.
  /// - Returns: the parameter gradients of both branches.
  /// - Throws: ``ScseError`` as ``forward(_:shape:into:)`` does;
  ///   `inputGradient` is then left untouched.
  /// - Complexity: O(N * C * S + N * C * hidden).
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
            runBackward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                                aggregate: aggregate.cValue, usesChannelGate: true, usesSpatialGate: true,
                                channelGate: cg, spatialGate: sg, x: x.baseAddress,
                                gradY: outputGradient.baseAddress, out: inputGradient.baseAddress,
                                channelGrads: cgOut, spatialGrads: sgOut))
          }
        }
      }
    })
    return Gradients(channelGate: channelGrads,
                     spatialGate: .init(weight: weightGrad, bias: biasGrad?[0], fewShotWeights: nil))
  }

  /// Backward pass over arrays; see ``backward(_:outputGradient:shape:inputGradient:)``.
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of `x` and `outputGradient`.
  /// - Returns: `dL/dx` (shape and layout of `x`) and both branches'
  ///   parameter gradients.
  /// - Throws: ``ScseError`` when a count, the channel count, the spatial
  ///   rank, an extent or a parameter size is wrong, or the branches'
  ///   channel counts differ.
  /// - Complexity: O(N * C * S + N * C * hidden).
  public func backward(_ x: [Float], outputGradient: [Float], shape: TensorShape) throws(ScseError)
    -> (inputGradient: [Float], gradients: Gradients) {
    let (dx, grads) = try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try outputGradient.withUnsafeBufferPointer { dys throws(ScseError) in
        try makeFloatArray(count: x.count) { dxs throws(ScseError) in
          try backward(xs, outputGradient: dys, shape: shape, inputGradient: dxs)
        }
      }
    }
    return (dx, grads)
  }
}
