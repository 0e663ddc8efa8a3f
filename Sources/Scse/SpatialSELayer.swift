// Swift API: the spatial gate (sSE).
internal import CScse
internal import ScseCore
internal import ScseDispatch

/// The spatial squeeze-and-excitation gate (sSE):
/// `y = x * sigmoid(sum_c w[c] x[c, s] + b)`, one gate value per sample and
/// spatial position.
///
/// A value type holding the parameters of the reference module's 1x1
/// convolution `nn.Conv2d(C, 1, 1)`: `conv.weight` (`[1, C, 1, 1]`) is
/// ``weight`` and `conv.bias` (`[1]`) is ``bias``. The parameters may be
/// edited; their sizes are checked at every call.
///
/// Like the reference module, forward and backward accept few-shot weights:
/// K conditioner weights `(K, C, 1, 1)` whose mean over K replaces the
/// layer's weight, with no bias.
///
/// Forward and backward are stateless: they only read the layer, so one
/// layer may be used from several threads at once.
public struct SpatialSELayer: Sendable, Equatable {
  /// The channel count C of the tensors the layer accepts.
  public let channels: Int
  /// The 1x1 convolution's weight, `[channels]` (PyTorch stores it as
  /// `[1, C, 1, 1]`, the same values in the same order).
  public var weight: [Float]
  /// The convolution's bias, or `nil` for a layer without bias.
  public var bias: Float?

  /// Gradients of the loss with respect to the parameters (overwritten by
  /// each backward pass, not accumulated).
  public struct Gradients: Sendable, Equatable {
    /// Gradient for ``SpatialSELayer/weight``, `[channels]`; zeros when
    /// few-shot weights were used instead of the layer's weight.
    public var weight: [Float]
    /// Gradient for ``SpatialSELayer/bias`` (`nil` when the layer has none);
    /// 0 when few-shot weights were used.
    public var bias: Float?
    /// Gradient for the few-shot weights, `[K, channels]`: each row receives
    /// `1/K` of the averaged weight's gradient. `nil` when none were given.
    public var fewShotWeights: [Float]?
  }

  /// A layer initialised as PyTorch initialises `nn.Conv2d(C, 1, 1)`: weight
  /// and bias uniform in `±1/sqrt(C)`.
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - bias: whether the convolution has a bias.
  ///   - seed: the same seed always gives the same parameters.
  /// - Precondition: `channels >= 1`.
  /// - Complexity: O(C).
  public init(channels: Int, bias: Bool = true, seed: UInt64 = 0) {
    precondition(channels >= 1, "channels must be >= 1")
    var generator = SeededGenerator(seed: seed)
    self.channels = channels
    weight = uniformParameters(channels, fanIn: channels, using: &generator)
    self.bias = bias ? uniformParameters(1, fanIn: channels, using: &generator)[0] : nil
  }

  func check(_ shape: TensorShape, fewShotWeights: [Float]?) throws(ScseError) {
    guard weight.count == channels else {
      throw ScseError.invalidShape("weight has count \(weight.count); a layer with \(channels) channels needs \(channels)")
    }
    guard shape.channels == channels else {
      throw ScseError.invalidShape("the layer has \(channels) channels; the input has \(shape.channels)")
    }
    if let w = fewShotWeights, w.isEmpty || w.count % channels != 0 {
      throw ScseError.invalidShape("few-shot weights must hold K * \(channels) values (K >= 1), got \(w.count)")
    }
  }

  /// Forward pass into a caller-provided buffer, without copies.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x` and `y`.
  ///   - y: receives the output, same count and layout as `x`. It may be
  ///     exactly `x`'s memory (in place); any other overlap with `x` throws.
  ///   - fewShotWeights: `[K, C]` conditioner weights whose mean over K
  ///     replaces the layer's weight, with no bias (the reference's
  ///     `weights=` argument, shape `(K, C, 1, 1)`); `nil` to use the
  ///     layer's own parameters.
  /// - Throws: ``ScseError`` when a buffer count, the channel count, the
  ///   spatial rank, an extent, the weight size or the few-shot weight count
  ///   is wrong, or the buffers overlap; `y` is then left untouched.
  /// - Complexity: O(N * C * S + K * C).
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>, fewShotWeights: [Float]? = nil) throws(ScseError) {
    try check(shape, fewShotWeights: fewShotWeights)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(withGate(fewShotWeights: fewShotWeights) { gate in
      runForward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                         usesChannelGate: false, usesSpatialGate: true, spatialGate: gate,
                         x: x.baseAddress, out: y.baseAddress))
    })
  }

  /// Forward pass over arrays.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x`.
  ///   - fewShotWeights: `[K, C]` weights replacing the layer's parameters
  ///     (see ``forward(_:shape:into:fewShotWeights:)``), or `nil`.
  /// - Returns: the output y, in the shape and layout of `x`.
  /// - Throws: ``ScseError`` when `x.count`, the channel count, the spatial
  ///   rank, an extent, the weight size or the few-shot weight count is wrong.
  /// - Complexity: O(N * C * S + K * C).
  public func forward(_ x: [Float], shape: TensorShape, fewShotWeights: [Float]? = nil) throws(ScseError) -> [Float] {
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try makeFloatArray(count: x.count) { ys throws(ScseError) in
        try forward(xs, shape: shape, into: ys, fewShotWeights: fewShotWeights)
      }
    }.array
  }

  /// Backward pass into a caller-provided buffer: the gradients of a loss L
  /// with respect to x and to the parameters, given `dL/dy`, as PyTorch
  /// autograd computes them.
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of all three buffers.
  ///   - inputGradient: receives `dL/dx`. It may be exactly
  ///     `outputGradient`'s memory (in place); no other overlap is allowed.
  ///   - fewShotWeights: the `[K, C]` weights given to forward, or `nil`.
  /// - Returns: the parameter gradients; with few-shot weights, their
  ///   gradient in ``Gradients/fewShotWeights`` and zeros for the layer's
  ///   own parameters.
  /// - Throws: ``ScseError`` as ``forward(_:shape:into:fewShotWeights:)``
  ///   does; `inputGradient` is then left untouched.
  /// - Complexity: O(N * C * S + K * C).
  public func backward(_ x: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>,
                       shape: TensorShape, inputGradient: UnsafeMutableBufferPointer<Float>,
                       fewShotWeights: [Float]? = nil) throws(ScseError) -> Gradients {
    try check(shape, fewShotWeights: fewShotWeights)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, outputGradient.count, inputGradient.count])
    var weightGrad = [Float](repeating: 0, count: fewShotWeights?.count ?? channels)
    var biasGrad: [Float]? = (bias != nil && fewShotWeights == nil) ? [0] : nil
    try ScseError.check(withGate(fewShotWeights: fewShotWeights) { gate in
      Self.withGradients(&weightGrad, &biasGrad) { out in
        runBackward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                            usesChannelGate: false, usesSpatialGate: true, spatialGate: gate,
                            x: x.baseAddress, gradY: outputGradient.baseAddress,
                            out: inputGradient.baseAddress, spatialGrads: out))
      }
    })
    if fewShotWeights != nil {
      return Gradients(weight: .init(repeating: 0, count: channels), bias: bias.map { _ in 0 },
                       fewShotWeights: weightGrad)
    }
    return Gradients(weight: weightGrad, bias: biasGrad?[0], fewShotWeights: nil)
  }

  /// Backward pass over arrays; see
  /// ``backward(_:outputGradient:shape:inputGradient:fewShotWeights:)``.
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of `x` and `outputGradient`.
  ///   - fewShotWeights: the `[K, C]` weights given to forward, or `nil`.
  /// - Returns: `dL/dx` (shape and layout of `x`) and the parameter gradients.
  /// - Throws: ``ScseError`` when a count, the channel count, the spatial
  ///   rank, an extent, the weight size or the few-shot weight count is wrong.
  /// - Complexity: O(N * C * S + K * C).
  public func backward(_ x: [Float], outputGradient: [Float], shape: TensorShape,
                       fewShotWeights: [Float]? = nil) throws(ScseError) -> (inputGradient: [Float], gradients: Gradients) {
    let (dx, grads) = try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try outputGradient.withUnsafeBufferPointer { dys throws(ScseError) in
        try makeFloatArray(count: x.count) { dxs throws(ScseError) in
          try backward(xs, outputGradient: dys, shape: shape, inputGradient: dxs, fewShotWeights: fewShotWeights)
        }
      }
    }
    return (dx, grads)
  }
}
