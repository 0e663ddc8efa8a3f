// Swift API: the channel gate (cSE, the SENet block).
internal import CScse
internal import ScseCore
internal import ScseDispatch

/// The channel squeeze-and-excitation gate (cSE, the SENet block):
/// `y = x * sigmoid(W2 relu(W1 mean_s(x) + b1) + b2)`, one gate value per
/// sample and channel.
///
/// A value type that holds its parameters in PyTorch's `nn.Linear` layout,
/// so a PyTorch `state_dict` maps onto it directly: `fc1.weight` is
/// ``fc1Weight``, `fc1.bias` is ``fc1Bias`` and so on. The parameter arrays
/// may be edited (e.g. to load trained values); their sizes are checked at
/// every call. With ``hidden`` 0 the gate is `sigmoid(b2)` (0.5 without bias),
/// as PyTorch computes a zero-width layer.
///
/// Forward and backward are stateless: they only read the layer, so one
/// layer may be used from several threads at once.
public struct ChannelSELayer: Sendable, Equatable {
  /// The channel count C of the tensors the layer accepts.
  public let channels: Int
  /// Width of the bottleneck (`channels / reductionRatio` in the reference
  /// module); may be 0.
  public let hidden: Int
  /// The first linear layer's weight, `[hidden, channels]`, row-major.
  public var fc1Weight: [Float]
  /// The first linear layer's bias, `[hidden]`, or `nil` for a layer without
  /// bias.
  public var fc1Bias: [Float]?
  /// The second linear layer's weight, `[channels, hidden]`, row-major.
  public var fc2Weight: [Float]
  /// The second linear layer's bias, `[channels]`, or `nil` for a layer
  /// without bias.
  public var fc2Bias: [Float]?

  /// Gradients of the loss with respect to the parameters, in the
  /// parameters' shapes (overwritten by each backward pass, not accumulated).
  public struct Gradients: Sendable, Equatable {
    /// Gradient for ``ChannelSELayer/fc1Weight``, `[hidden, channels]`.
    public var fc1Weight: [Float]
    /// Gradient for ``ChannelSELayer/fc1Bias``; `nil` when the layer has none.
    public var fc1Bias: [Float]?
    /// Gradient for ``ChannelSELayer/fc2Weight``, `[channels, hidden]`.
    public var fc2Weight: [Float]
    /// Gradient for ``ChannelSELayer/fc2Bias``; `nil` when the layer has none.
    public var fc2Bias: [Float]?
  }

  /// A layer initialised as PyTorch initialises the reference module
  /// (`nn.Linear(C, C / r)` and `nn.Linear(C / r, C)`): weights and biases
  /// uniform in `±1/sqrt(fan_in)`; with a hidden width of 0 the weights are
  /// empty and `fc2Bias` is zeros.
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - reductionRatio: r >= 1; the hidden width is `channels / r`
  ///     (rounded down, possibly 0).
  ///   - bias: whether both linear layers have a bias.
  ///   - seed: the same seed always gives the same parameters.
  /// - Precondition: `channels >= 1` and `reductionRatio >= 1`.
  /// - Complexity: O(C * C / r).
  public init(channels: Int, reductionRatio: Int = 2, bias: Bool = true, seed: UInt64 = 0) {
    precondition(reductionRatio >= 1, "reductionRatio must be >= 1")
    self.init(channels: channels, hidden: channels / reductionRatio, bias: bias, seed: seed)
  }

  /// A layer with an explicit hidden width, initialised as PyTorch does
  /// (see ``init(channels:reductionRatio:bias:seed:)``).
  /// - Parameters:
  ///   - channels: C >= 1.
  ///   - hidden: the bottleneck width, >= 0 (may exceed `channels`).
  ///   - bias: whether both linear layers have a bias.
  ///   - seed: the same seed always gives the same parameters.
  /// - Precondition: `channels >= 1` and `hidden >= 0`.
  /// - Complexity: O(C * hidden).
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
    let expected: [(String, Int?, Int)] = [
      ("fc1Weight", fc1Weight.count, hidden * channels), ("fc1Bias", fc1Bias?.count, hidden),
      ("fc2Weight", fc2Weight.count, channels * hidden), ("fc2Bias", fc2Bias?.count, channels),
    ]
    for (name, count, needed) in expected {
      if let count, count != needed {
        throw ScseError.invalidShape("\(name) has count \(count); a layer with channels=\(channels) "
          + "hidden=\(hidden) needs \(needed)")
      }
    }
  }

  func checkChannels(_ shape: TensorShape) throws(ScseError) {
    guard shape.channels == channels else {
      throw ScseError.invalidShape("the layer has \(channels) channels; the input has \(shape.channels)")
    }
  }

  /// Forward pass into a caller-provided buffer, without copies.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x` and `y`.
  ///   - y: receives the output, same count and layout as `x`. It may be
  ///     exactly `x`'s memory (in place); any other overlap with `x` throws.
  /// - Throws: ``ScseError`` when a buffer count, the channel count, the
  ///   spatial rank, an extent or a parameter size is wrong, or the buffers
  ///   overlap; `y` is then left untouched.
  /// - Complexity: O(N * C * S + N * C * hidden).
  public func forward(_ x: UnsafeBufferPointer<Float>, shape: TensorShape,
                      into y: UnsafeMutableBufferPointer<Float>) throws(ScseError) {
    try checkParameters()
    try checkChannels(shape)
    let (n, c, s) = try shape.validated(bufferCounts: [x.count, y.count])
    try ScseError.check(withGate { gate in
      runForward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                         usesChannelGate: true, usesSpatialGate: false, channelGate: gate,
                         x: x.baseAddress, out: y.baseAddress))
    })
  }

  /// Forward pass over arrays.
  /// - Parameters:
  ///   - x: the input, `shape.elementCount` floats in `shape.layout` order.
  ///   - shape: the shape and layout of `x`.
  /// - Returns: the output y, in the shape and layout of `x`.
  /// - Throws: ``ScseError`` when `x.count`, the channel count, the spatial
  ///   rank, an extent or a parameter size is wrong.
  /// - Complexity: O(N * C * S + N * C * hidden).
  public func forward(_ x: [Float], shape: TensorShape) throws(ScseError) -> [Float] {
    try x.withUnsafeBufferPointer { xs throws(ScseError) in
      try makeFloatArray(count: x.count) { ys throws(ScseError) in try forward(xs, shape: shape, into: ys) }
    }.array
  }

  /// Backward pass into a caller-provided buffer: the gradients of a loss L
  /// with respect to x and to every parameter, given `dL/dy`, as PyTorch
  /// autograd computes them (ReLU passes no gradient at 0).
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of all three buffers.
  ///   - inputGradient: receives `dL/dx`. It may be exactly
  ///     `outputGradient`'s memory (in place); no other overlap is allowed.
  /// - Returns: the parameter gradients.
  /// - Throws: ``ScseError`` as ``forward(_:shape:into:)`` does;
  ///   `inputGradient` is then left untouched.
  /// - Complexity: O(N * C * S + N * C * hidden).
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
        runBackward(RawCall(batch: n, channels: c, spatial: s, layout: shape.layout.cValue,
                            usesChannelGate: true, usesSpatialGate: false, channelGate: gate,
                            x: x.baseAddress, gradY: outputGradient.baseAddress,
                            out: inputGradient.baseAddress, channelGrads: out))
      }
    })
    return grads
  }

  /// Backward pass over arrays; see ``backward(_:outputGradient:shape:inputGradient:)``.
  /// - Parameters:
  ///   - x: the forward input.
  ///   - outputGradient: `dL/dy`, same count and layout as `x`.
  ///   - shape: the shape and layout of `x` and `outputGradient`.
  /// - Returns: `dL/dx` (shape and layout of `x`) and the parameter gradients.
  /// - Throws: ``ScseError`` when a count, the channel count, the spatial
  ///   rank, an extent or a parameter size is wrong.
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
