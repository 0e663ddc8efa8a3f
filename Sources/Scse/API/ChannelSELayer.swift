// Swift API: the channel gate (cSE, the SENet block).
import CScse

/// The channel squeeze-and-excitation gate (cSE):
/// `y = x * sigmoid(W2 relu(W1 mean_s(x) + b1) + b2)` per sample and channel.
///
/// A value type holding its parameters in PyTorch's `nn.Linear` layout.
public struct ChannelSELayer: Sendable, Equatable {
  /// C.
  public let channels: Int
  /// Width of the bottleneck (`channels / reductionRatio` in the reference).
  public let hidden: Int
  /// `[hidden, channels]`, row-major.
  public var fc1Weight: [Float]
  /// `[hidden]`, or `nil` for a layer without bias.
  public var fc1Bias: [Float]?
  /// `[channels, hidden]`, row-major.
  public var fc2Weight: [Float]
  /// `[channels]`, or `nil` for a layer without bias.
  public var fc2Bias: [Float]?

  /// Gradients of the parameters, in the parameters' shapes.
  public struct Gradients: Sendable, Equatable {
    public var fc1Weight: [Float]
    public var fc1Bias: [Float]?
    public var fc2Weight: [Float]
    public var fc2Bias: [Float]?
  }

  /// A layer initialised as PyTorch initialises the reference module.
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - reductionRatio: r >= 1; the hidden width is `channels / r` (may be 0).
  ///   - bias: whether both linear layers have a bias.
  ///   - seed: seeds the initial parameters.
  public init(channels: Int, reductionRatio: Int = 2, bias: Bool = true, seed: UInt64 = 0) {
    precondition(reductionRatio >= 1, "reductionRatio must be >= 1")
    self.init(channels: channels, hidden: channels / reductionRatio, bias: bias, seed: seed)
  }

  /// A layer with an explicit hidden width, initialised as PyTorch does.
  public init(channels: Int, hidden: Int, bias: Bool = true, seed: UInt64 = 0) {
    precondition(channels >= 1 && hidden >= 0, "channels must be >= 1 and hidden >= 0")
    var generator = SeededGenerator(seed: seed)
    self.channels = channels
    self.hidden = hidden
    fc1Weight = uniformParameters(hidden * channels, fanIn: channels, using: &generator)
    fc1Bias = bias ? uniformParameters(hidden, fanIn: channels, using: &generator) : nil
    fc2Weight = uniformParameters(channels * hidden, fanIn: hidden, using: &generator)
    fc2Bias = bias ? uniformParameters(channels, fanIn: hidden, using: &generator) : nil
  }

  func checkParameters() throws(ScseError) {
    guard fc1Weight.count == hidden * channels, fc2Weight.count == channels * hidden,
          fc1Bias.map({ $0.count == hidden }) ?? true, fc2Bias.map({ $0.count == channels }) ?? true
    else { throw ScseError(mismatch: "a parameter array does not match channels=\(channels) hidden=\(hidden)") }
  }

  func checkChannels(_ shape: TensorShape) throws(ScseError) {
    guard shape.channels == channels else {
      throw ScseError(mismatch: "the layer has \(channels) channels; the input has \(shape.channels)")
    }
  }

  /// Forward pass into a caller-provided buffer (which may be `x` itself).
  /// - Complexity: O(N * C * S), two reads of x and one write of y.
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>) throws(ScseError) {
    try checkParameters()
    try checkChannels(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(withGate { gate in
      scse_cse_forward(n, c, s, shape.layout.cValue, gate, x.baseAddress, y.baseAddress)
    })
  }

  /// Forward pass: returns y for input `x` of `shape`.
  public func forward(_ x: [Float], shape: TensorShape) throws(ScseError) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try y.withUnsafeMutableBufferPointer { ys throws(ScseError) in try forward(xs, shape: shape, into: ys) }
    }
    return y
  }

  /// Backward pass: the gradients with respect to x and to the parameters.
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: d loss / d y.
  ///   - inputGradient: receives d loss / d x (may be `outputGradient`'s memory).
  /// - Complexity: O(N * C * S).
  public func backward(_ x: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>,
                       shape: TensorShape, inputGradient: UnsafeMutableBufferPointer<Float>) throws(ScseError) -> Gradients {
    try checkParameters()
    try checkChannels(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, outputGradient.count, inputGradient.count])
    var grads = Gradients(fc1Weight: .init(repeating: 0, count: fc1Weight.count),
                          fc1Bias: fc1Bias.map { .init(repeating: 0, count: $0.count) },
                          fc2Weight: .init(repeating: 0, count: fc2Weight.count),
                          fc2Bias: fc2Bias.map { .init(repeating: 0, count: $0.count) })
    try ScseError.check(withGate { gate in
      Self.withGradients(&grads) { out in
        scse_cse_backward(n, c, s, shape.layout.cValue, gate, x.baseAddress,
                          outputGradient.baseAddress, inputGradient.baseAddress, out)
      }
    })
    return grads
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
