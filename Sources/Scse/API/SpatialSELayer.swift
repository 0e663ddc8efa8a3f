// Swift API: the spatial gate (sSE).
import CScse

/// The spatial squeeze-and-excitation gate (sSE):
/// `y = x * sigmoid(sum_c w[c] x[c, s] + b)` per sample and position.
public struct SpatialSELayer: Sendable, Equatable {
  /// C.
  public let channels: Int
  /// The 1x1 convolution's weight, `[channels]` (PyTorch stores `[1, C, 1, 1]`).
  public var weight: [Float]
  /// The convolution's bias, or `nil` for none.
  public var bias: Float?

  /// Gradients of the parameters; `fewShotWeights` is set when few-shot
  /// weights were given (then `weight` and `bias` receive zeros).
  public struct Gradients: Sendable, Equatable {
    public var weight: [Float]
    public var bias: Float?
    public var fewShotWeights: [Float]?
  }

  /// A layer initialised as PyTorch initialises `nn.Conv2d(C, 1, 1)`.
  public init(channels: Int, bias: Bool = true, seed: UInt64 = 0) {
    precondition(channels >= 1, "channels must be >= 1")
    var generator = SeededGenerator(seed: seed)
    self.channels = channels
    weight = uniformParameters(channels, fanIn: channels, using: &generator)
    self.bias = bias ? uniformParameters(1, fanIn: channels, using: &generator)[0] : nil
  }

  func check(_ shape: TensorShape, fewShotWeights: [Float]?) throws(ScseError) {
    guard weight.count == channels else {
      throw ScseError(mismatch: "weight has \(weight.count) values; the layer has \(channels) channels")
    }
    guard shape.channels == channels else {
      throw ScseError(mismatch: "the layer has \(channels) channels; the input has \(shape.channels)")
    }
    if let w = fewShotWeights, w.isEmpty || w.count % channels != 0 {
      throw ScseError(mismatch: "few-shot weights must hold K * \(channels) values (K >= 1), got \(w.count)")
    }
  }

  /// Forward pass into a caller-provided buffer (which may be `x` itself).
  /// - Parameter fewShotWeights: `[K, C]` conditioner weights whose mean
  ///   replaces the layer's weight (and no bias), as in the reference's
  ///   `weights=` argument.
  /// - Complexity: O(N * C * S).
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>, fewShotWeights: [Float]? = nil) throws(ScseError) {
    try check(shape, fewShotWeights: fewShotWeights)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(withGate(fewShotWeights: fewShotWeights) { gate in
      scse_sse_forward(n, c, s, shape.layout.cValue, gate, x.baseAddress, y.baseAddress)
    })
  }

  /// Forward pass: returns y.
  public func forward(_ x: [Float], shape: TensorShape, fewShotWeights: [Float]? = nil) throws(ScseError) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try y.withUnsafeMutableBufferPointer { ys throws(ScseError) in
        try forward(xs, shape: shape, into: ys, fewShotWeights: fewShotWeights)
      }
    }
    return y
  }

  /// Backward pass: gradients with respect to x and the parameters.
  /// - Complexity: O(N * C * S).
  public func backward(_ x: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>,
                       shape: TensorShape, inputGradient: UnsafeMutableBufferPointer<Float>,
                       fewShotWeights: [Float]? = nil) throws(ScseError) -> Gradients {
    try check(shape, fewShotWeights: fewShotWeights)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, outputGradient.count, inputGradient.count])
    var weightGrad = [Float](repeating: 0, count: fewShotWeights?.count ?? channels)
    var biasGrad: [Float]? = (bias != nil && fewShotWeights == nil) ? [0] : nil
    try ScseError.check(withGate(fewShotWeights: fewShotWeights) { gate in
      Self.withGradients(&weightGrad, &biasGrad) { out in
        scse_sse_backward(n, c, s, shape.layout.cValue, gate, x.baseAddress,
                          outputGradient.baseAddress, inputGradient.baseAddress, out)
      }
    })
    if fewShotWeights != nil {
      return Gradients(weight: .init(repeating: 0, count: channels), bias: bias.map { _ in 0 },
                       fewShotWeights: weightGrad)
    }
    return Gradients(weight: weightGrad, bias: biasGrad?[0], fewShotWeights: nil)
  }

  /// Backward pass over arrays.
  public func backward(_ x: [Float], outputGradient: [Float], shape: TensorShape,
                       fewShotWeights: [Float]? = nil) throws(ScseError) -> (inputGradient: [Float], gradients: Gradients) {
    var dx = [Float](repeating: 0, count: x.count)
    let grads = try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try outputGradient.withUnsafeBufferPointer { dys throws(ScseError) in
        try dx.withUnsafeMutableBufferPointer { dxs throws(ScseError) in
          try backward(xs, outputGradient: dys, shape: shape, inputGradient: dxs, fewShotWeights: fewShotWeights)
        }
      }
    }
    return (dx, grads)
  }
}
