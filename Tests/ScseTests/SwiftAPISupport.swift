// Bridges between the Swift API's value types (module Scse) and the float64
// reference of Support/, plus guarded buffers for the pointer-based calls.
import Scse
import Testing

/// How a test asks for the channel gate's hidden width.
enum HiddenWidth: Sendable {
  /// Through `reductionRatio:` (hidden = channels / r).
  case ratio(Int)
  /// Through `hidden:`.
  case explicit(Int)
}

/// One Swift API test case: a tensor shape with 1 to 3 spatial extents, the
/// hidden width, the few-shot row count K, the layout and whether the layer
/// has biases.
struct APICase: Sendable, CustomStringConvertible {
  var batch: Int
  var channels: Int
  var extents: [Int]
  var width: HiddenWidth
  var rows: Int
  var layout: TensorLayout
  var bias: Bool
  var seed: UInt64

  var hidden: Int {
    switch width {
    case .ratio(let r): channels / r
    case .explicit(let h): h
    }
  }

  var shape: TensorShape {
    TensorShape(batch: batch, channels: channels, spatial: extents, layout: layout)
  }

  var description: String {
    "N=\(batch) C=\(channels) spatial=\(extents) \(width) hidden=\(hidden) K=\(rows) \(layout) bias=\(bias)"
  }

  /// The reference problem of this case for `op`.
  func spec(_ op: Operation, rows: Int = 1, bias: Bool? = nil) -> ProblemSpec {
    ProblemSpec(
      op: op, layout: layout == .channelsFirst ? .channelsFirst : .channelsLast, batch: batch,
      channels: channels, spatial: extents.reduce(1, *), hidden: hidden, rows: rows,
      bias: bias ?? self.bias, seed: seed)
  }

  /// Odd sizes, hidden 0 both explicit and through the reduction ratio,
  /// hidden > C, C = 1 and S = 1, and every spatial rank; each in both
  /// layouts, with and without biases.
  static let all: [APICase] = {
    let shapes: [(Int, Int, [Int], HiddenWidth, Int)] = [
      (2, 6, [5], .ratio(2), 3),
      (1, 3, [4, 5], .explicit(0), 1),
      (3, 5, [2, 3, 2], .ratio(8), 2),
      (2, 16, [7, 9], .ratio(4), 1),
      (1, 1, [1], .explicit(1), 1),
      (2, 33, [3, 5, 7], .explicit(40), 4),
    ]
    var cases: [APICase] = []
    var seed: UInt64 = 5000
    for (n, c, extents, width, rows) in shapes {
      for layout in TensorLayout.allCases {
        for bias in [true, false] {
          seed += 1
          cases.append(
            APICase(
              batch: n, channels: c, extents: extents, width: width, rows: rows, layout: layout,
              bias: bias, seed: seed))
        }
      }
    }
    return cases
  }()

  /// A channel layer made by the initialiser this case names, then given the
  /// problem's parameters through its public properties, as a user loading
  /// trained values would.
  func channelLayer(_ p: Problem<Float>) -> ChannelSELayer {
    var layer =
      switch width {
      case .ratio(let r): ChannelSELayer(channels: channels, reductionRatio: r, bias: bias, seed: seed)
      case .explicit(let h): ChannelSELayer(channels: channels, hidden: h, bias: bias, seed: seed)
      }
    #expect(layer.hidden == hidden, "\(self): hidden width")
    layer.fc1Weight = p.params[.w1]!
    layer.fc1Bias = p.params[.b1]
    layer.fc2Weight = p.params[.w2]!
    layer.fc2Bias = p.params[.b2]
    return layer
  }

  /// A spatial layer given the problem's parameters.
  func spatialLayer(_ p: Problem<Float>) -> SpatialSELayer {
    var layer = SpatialSELayer(channels: channels, bias: bias, seed: seed)
    layer.weight = p.params[.sw]!
    layer.bias = p.params[.sb]?[0]
    return layer
  }

  /// An scSE block given the problem's parameters.
  func block(_ p: Problem<Float>, _ aggregate: Scse.Aggregate) -> ChannelSpatialSELayer {
    var block =
      switch width {
      case .ratio(let r):
        ChannelSpatialSELayer(
          channels: channels, reductionRatio: r, aggregate: aggregate, bias: bias, seed: seed)
      case .explicit(let h):
        ChannelSpatialSELayer(channels: channels, hidden: h, aggregate: aggregate, bias: bias, seed: seed)
      }
    block.channelGate = channelLayer(p)
    block.spatialGate = spatialLayer(p)
    return block
  }
}

func apiAggregate(_ aggregate: Aggregate) -> Scse.Aggregate {
  aggregate == .sum ? .sum : .max
}

/// The reference problem for parameters taken from the Swift API (the
/// reverse of APICase's layer builders): `channel` and `spatial` are the
/// branches `op` uses.
func referenceProblem(
  _ op: Operation, shape: TensorShape, x: [Float], gy: [Float],
  channel: ChannelSELayer? = nil, spatial: SpatialSELayer? = nil
) -> Problem<Float> {
  var params: [Slot: [Float]] = [:]
  if let channel {
    params[.w1] = channel.fc1Weight
    params[.b1] = channel.fc1Bias
    params[.w2] = channel.fc2Weight
    params[.b2] = channel.fc2Bias
  }
  if let spatial {
    params[.sw] = spatial.weight
    params[.sb] = spatial.bias.map { [$0] }
  }
  let spec = ProblemSpec(
    op: op, layout: shape.layout == .channelsFirst ? .channelsFirst : .channelsLast,
    batch: shape.batch, channels: shape.channels, spatial: shape.spatialCount!,
    hidden: channel?.hidden ?? 0, bias: params[.b2] != nil || params[.sb] != nil)
  return Problem(spec: spec, x: x, gy: gy, params: params)
}

func gradientSlots(_ g: ChannelSELayer.Gradients) -> [Slot: [Float]] {
  var slots: [Slot: [Float]] = [.w1: g.fc1Weight, .w2: g.fc2Weight]
  slots[.b1] = g.fc1Bias
  slots[.b2] = g.fc2Bias
  return slots
}

func gradientSlots(_ g: SpatialSELayer.Gradients) -> [Slot: [Float]] {
  var slots: [Slot: [Float]] = [.sw: g.weight]
  slots[.sb] = g.bias.map { [$0] }
  return slots
}

func gradientSlots(_ g: ChannelSpatialSELayer.Gradients) -> [Slot: [Float]] {
  gradientSlots(g.channelGate).merging(gradientSlots(g.spatialGate)) { a, _ in a }
}

/// Compares a forward output with the reference.
func expectForward(
  _ y: [Float], _ expected: Expected, _ what: @autoclosure () -> String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  expectClose(
    y, expected.values[.x]!, magnitude: expected.magnitudes[.x]!, .forward, "\(what()) forward y",
    sourceLocation: sourceLocation)
}

/// Compares dx and the parameter gradients with the reference; the set of
/// gradients must be exactly the problem's (no bias gradient without bias).
func expectBackward(
  dx: [Float], _ grads: [Slot: [Float]], _ p: Problem<Float>, _ expected: Expected,
  _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let wanted = Set(p.gradientSlots.filter { $0 != .x })
  #expect(
    Set(grads.keys) == wanted, "\(what()): gradients for \(grads.keys.map(\.rawValue).sorted())",
    sourceLocation: sourceLocation)
  var outputs = grads
  outputs[.x] = dx
  for slot in p.gradientSlots {
    expectClose(
      outputs[slot], expected.values[slot]!, magnitude: expected.magnitudes[slot]!, .backward,
      "\(what()) backward d\(slot.rawValue)", sourceLocation: sourceLocation)
  }
}

extension FloatBuffer {
  var writable: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
  var readable: UnsafeBufferPointer<Float> { .init(writable) }
}

/// Pointer-based calls on FloatBuffers: 4-byte-aligned memory with guard
/// elements, outputs pre-filled with NaN. Records an issue when a call wrote
/// outside its outputs or changed an input.
enum BufferCall {
  static func forward(
    _ x: [Float], inPlace: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ call: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) throws(ScseError) -> Void
  ) throws(ScseError) -> [Float] {
    let xb = FloatBuffer(x)
    let yb = inPlace ? xb : FloatBuffer(unwrittenCount: x.count)
    defer { withExtendedLifetime((xb, yb)) {} }
    try call(xb.readable, yb.writable)
    #expect(xb.guardsIntact && yb.guardsIntact, "wrote outside a buffer", sourceLocation: sourceLocation)
    #expect(inPlace || sameBits(xb.values, x), "changed the input", sourceLocation: sourceLocation)
    return yb.values
  }

  /// With `inPlace` the input gradient is written over the output gradient.
  static func backward<R>(
    _ x: [Float], _ gy: [Float], inPlace: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ call: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>)
      throws(ScseError) -> R
  ) throws(ScseError) -> (dx: [Float], result: R) {
    let xb = FloatBuffer(x)
    let gyb = FloatBuffer(gy)
    let dxb = inPlace ? gyb : FloatBuffer(unwrittenCount: x.count)
    defer { withExtendedLifetime((xb, gyb, dxb)) {} }
    let result = try call(xb.readable, gyb.readable, dxb.writable)
    #expect(
      xb.guardsIntact && gyb.guardsIntact && dxb.guardsIntact, "wrote outside a buffer",
      sourceLocation: sourceLocation)
    #expect(sameBits(xb.values, x), "changed x", sourceLocation: sourceLocation)
    #expect(inPlace || sameBits(gyb.values, gy), "changed the output gradient", sourceLocation: sourceLocation)
    return (dxb.values, result)
  }
}
