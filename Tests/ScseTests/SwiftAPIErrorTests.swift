import CScse
import Scse
import Testing

/// One of the Swift API's layers behind a common interface, so that every
/// error case runs against each of them (and against the few-shot form).
struct AnyLayer: Sendable, CustomStringConvertible {
  typealias Input = UnsafeBufferPointer<Float>
  typealias Output = UnsafeMutableBufferPointer<Float>

  var description: String
  var forward: @Sendable (Input, TensorShape, Output) throws(ScseError) -> Void
  var backward: @Sendable (Input, Input, TensorShape, Output) throws(ScseError) -> Void
  var forwardArray: @Sendable ([Float], TensorShape) throws(ScseError) -> [Float]
  var backwardArray: @Sendable ([Float], [Float], TensorShape) throws(ScseError) -> [Float]

  static func channel(_ l: ChannelSELayer, _ name: String = "ChannelSELayer") -> AnyLayer {
    AnyLayer(
      description: name,
      forward: { x, shape, y throws(ScseError) in try l.forward(x, shape: shape, into: y) },
      backward: { x, gy, shape, dx throws(ScseError) in
        _ = try l.backward(x, outputGradient: gy, shape: shape, inputGradient: dx)
      },
      forwardArray: { x, shape throws(ScseError) in try l.forward(x, shape: shape) },
      backwardArray: { x, gy, shape throws(ScseError) in
        try l.backward(x, outputGradient: gy, shape: shape).inputGradient
      })
  }

  static func spatial(_ l: SpatialSELayer, fewShot: [Float]? = nil, _ name: String = "SpatialSELayer") -> AnyLayer {
    AnyLayer(
      description: name,
      forward: { x, shape, y throws(ScseError) in
        try l.forward(x, shape: shape, into: y, fewShotWeights: fewShot)
      },
      backward: { x, gy, shape, dx throws(ScseError) in
        _ = try l.backward(x, outputGradient: gy, shape: shape, inputGradient: dx, fewShotWeights: fewShot)
      },
      forwardArray: { x, shape throws(ScseError) in try l.forward(x, shape: shape, fewShotWeights: fewShot) },
      backwardArray: { x, gy, shape throws(ScseError) in
        try l.backward(x, outputGradient: gy, shape: shape, fewShotWeights: fewShot).inputGradient
      })
  }

  static func block(_ l: ChannelSpatialSELayer, _ name: String = "ChannelSpatialSELayer") -> AnyLayer {
    AnyLayer(
      description: name,
      forward: { x, shape, y throws(ScseError) in try l.forward(x, shape: shape, into: y) },
      backward: { x, gy, shape, dx throws(ScseError) in
        _ = try l.backward(x, outputGradient: gy, shape: shape, inputGradient: dx)
      },
      forwardArray: { x, shape throws(ScseError) in try l.forward(x, shape: shape) },
      backwardArray: { x, gy, shape throws(ScseError) in
        try l.backward(x, outputGradient: gy, shape: shape).inputGradient
      })
  }

  /// Every layer has 6 channels.
  static let all: [AnyLayer] = [
    .channel(ChannelSELayer(channels: 6, reductionRatio: 2, seed: 1)),
    .channel(ChannelSELayer(channels: 6, hidden: 0, bias: false), "ChannelSELayer hidden 0"),
    .spatial(SpatialSELayer(channels: 6, seed: 2)),
    .spatial(
      SpatialSELayer(channels: 6, seed: 2), fewShot: (0..<12).map { Float($0) / 12 - 0.5 },
      "SpatialSELayer few-shot K=2"),
    .block(ChannelSpatialSELayer(channels: 6, reductionRatio: 3, aggregate: .sum, seed: 3)),
    .block(ChannelSpatialSELayer(channels: 6, hidden: 4, aggregate: .max, bias: false), "ChannelSpatialSELayer max"),
  ]
}

/// Invalid calls throw ScseError with a message naming the problem, and
/// write nothing: outputs keep their contents and guard elements.
@Suite struct SwiftAPIErrorTests {
  static let shape = TensorShape(batch: 2, channels: 6, spatial: [3, 4])
  static let count = 144

  /// An output buffer holding a value no call would write.
  static func untouchedOutput(_ count: Int) -> FloatBuffer {
    FloatBuffer([Float](repeating: 12345.5, count: count))
  }

  static func input(_ count: Int) -> [Float] { (0..<count).map { Float($0 % 13) / 6 - 1 } }

  /// Expects `call` to throw an ScseError with `status` whose message holds
  /// every fragment, and the outputs to be untouched afterwards.
  func expectRejected(
    _ fragments: [String], status: scse_status = SCSE_STATUS_INVALID_SHAPE, outputs: [FloatBuffer] = [],
    _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation,
    _ call: () throws(ScseError) -> Void
  ) {
    let before = outputs.map(\.values)
    do throws(ScseError) {
      try call()
      Issue.record("\(what()): no error; expected one mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch {
      #expect(
        error.status == status, "\(what()): status \(error.status) (\(error.message))",
        sourceLocation: sourceLocation)
      for fragment in fragments {
        #expect(
          error.message.contains(fragment), "\(what()): \"\(error.message)\" lacks \"\(fragment)\"",
          sourceLocation: sourceLocation)
      }
      #expect(error.description == error.message, sourceLocation: sourceLocation)
    }
    for (buffer, old) in zip(outputs, before) {
      #expect(
        buffer.guardsIntact && sameBits(buffer.values, old), "\(what()): an output was written",
        sourceLocation: sourceLocation)
    }
  }

  /// Every call form (forward and backward, buffers and arrays) with
  /// correctly sized buffers for `shape` must be rejected.
  func expectEveryCallRejected(
    _ layer: AnyLayer, shape: TensorShape, count: Int, _ fragments: [String],
    status: scse_status = SCSE_STATUS_INVALID_SHAPE, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let x = Self.input(count)
    let (xb, gyb) = (FloatBuffer(x), FloatBuffer(x.reversed()))
    let out = Self.untouchedOutput(count)
    let what = "\(layer) \(shape)"
    expectRejected(fragments, status: status, outputs: [out], "\(what) forward", sourceLocation: sourceLocation) {
      () throws(ScseError) in try layer.forward(xb.readable, shape, out.writable)
    }
    expectRejected(fragments, status: status, outputs: [out], "\(what) backward", sourceLocation: sourceLocation) {
      () throws(ScseError) in try layer.backward(xb.readable, gyb.readable, shape, out.writable)
    }
    expectRejected(fragments, status: status, "\(what) forward arrays", sourceLocation: sourceLocation) {
      () throws(ScseError) in _ = try layer.forwardArray(x, shape)
    }
    expectRejected(fragments, status: status, "\(what) backward arrays", sourceLocation: sourceLocation) {
      () throws(ScseError) in _ = try layer.backwardArray(x, x, shape)
    }
    withExtendedLifetime((xb, gyb)) {}
  }

  @Test(arguments: AnyLayer.all)
  func wrongBufferCounts(_ layer: AnyLayer) {
    let (shape, n) = (Self.shape, Self.count)
    let x = Self.input(n)
    for (xCount, yCount) in [(n - 1, n), (n + 1, n), (n, n - 1), (n, n + 1)] {
      let (xb, yb) = (FloatBuffer(Self.input(xCount)), Self.untouchedOutput(yCount))
      let wrong = xCount == n ? yCount : xCount
      expectRejected(["has count \(wrong);", "needs \(n)"], outputs: [yb], "\(layer) forward x \(xCount) y \(yCount)") {
        () throws(ScseError) in try layer.forward(xb.readable, shape, yb.writable)
      }
    }
    for (xCount, gyCount, dxCount) in [(n - 1, n, n), (n, n - 1, n), (n, n, n - 1), (n, n, n + 1)] {
      let (xb, gyb) = (FloatBuffer(Self.input(xCount)), FloatBuffer(Self.input(gyCount)))
      let dxb = Self.untouchedOutput(dxCount)
      let wrong = [xCount, gyCount, dxCount].first { $0 != n }!
      expectRejected(
        ["has count \(wrong);", "needs \(n)"], outputs: [dxb], "\(layer) backward \(xCount) \(gyCount) \(dxCount)"
      ) { () throws(ScseError) in try layer.backward(xb.readable, gyb.readable, shape, dxb.writable) }
    }
    expectRejected(["has count \(n - 1);"], "\(layer) forward array") { () throws(ScseError) in
      _ = try layer.forwardArray(Array(x.dropLast()), shape)
    }
    expectRejected(["has count \(n + 1);"], "\(layer) backward array x") { () throws(ScseError) in
      _ = try layer.backwardArray(x + [1], x, shape)
    }
    expectRejected(["has count \(n - 1);"], "\(layer) backward array dy") { () throws(ScseError) in
      _ = try layer.backwardArray(x, Array(x.dropLast()), shape)
    }
  }

  @Test(arguments: AnyLayer.all)
  func channelMismatch(_ layer: AnyLayer) {
    for channels in [7, 5, 0] {
      let shape = TensorShape(batch: 2, channels: channels, spatial: [3, 4])
      expectEveryCallRejected(
        layer, shape: shape, count: 24 * channels, ["has 6 channels", "input has \(channels)"])
    }
  }

  @Test(arguments: AnyLayer.all)
  func spatialRankOutsideOneToThree(_ layer: AnyLayer) {
    let noExtents = TensorShape(batch: 2, channels: 6, spatial: [], layout: .channelsLast)
    expectEveryCallRejected(layer, shape: noExtents, count: 12, ["1 to 3 spatial extents, got 0"])
    let fourExtents = TensorShape(batch: 1, channels: 6, spatial: [2, 2, 2, 2])
    expectEveryCallRejected(layer, shape: fourExtents, count: 96, ["1 to 3 spatial extents, got 4"])
  }

  @Test(arguments: AnyLayer.all)
  func extentsBelowOne(_ layer: AnyLayer) {
    let shapes = [
      (TensorShape(batch: 0, channels: 6, spatial: [3, 4]), "N=0"),
      (TensorShape(batch: 2, channels: 6, spatial: [3, 0]), "spatial=[3, 0]"),
      (TensorShape(batch: 2, channels: 6, spatial: [0]), "spatial=[0]"),
      (TensorShape(batch: 1, channels: 6, spatial: [2, -1, 2], layout: .channelsLast), "spatial=[2, -1, 2]"),
      (TensorShape(batch: -2, channels: 6, spatial: [3]), "N=-2"),
    ]
    for (shape, fragment) in shapes {
      for count in [0, Self.count] {
        expectEveryCallRejected(layer, shape: shape, count: count, ["must be >= 1", fragment])
      }
    }
  }

  /// N * C * S beyond Int: the library's SIZE_OVERFLOW status, before any
  /// buffer is looked at.
  @Test(arguments: AnyLayer.all)
  func elementCountOverflow(_ layer: AnyLayer) {
    let message = String(cString: scse_status_string(SCSE_STATUS_SIZE_OVERFLOW))
    for extents in [[1 << 40, 1 << 40], [1 << 21, 1 << 21, 1 << 21], [Int.max]] {
      let shape = TensorShape(batch: 2, channels: 6, spatial: extents)
      expectEveryCallRejected(layer, shape: shape, count: Self.count, [message], status: SCSE_STATUS_SIZE_OVERFLOW)
    }
  }

  /// Outputs that partly overlap an input: the library's ALIASING status,
  /// and the shared memory unchanged. (Exact in-place use is allowed; see
  /// SwiftAPIInPlaceTests.)
  @Test(arguments: AnyLayer.all)
  func partialOverlapIsRejected(_ layer: AnyLayer) {
    let n = Self.count
    let message = String(cString: scse_status_string(SCSE_STATUS_ALIASING))
    let shared = FloatBuffer(Self.input(n + 3))
    let low = UnsafeMutableBufferPointer(rebasing: shared.writable[0..<n])
    let high = UnsafeMutableBufferPointer(rebasing: shared.writable[3..<(n + 3)])
    expectRejected([message], status: SCSE_STATUS_ALIASING, outputs: [shared], "\(layer) forward") {
      () throws(ScseError) in try layer.forward(UnsafeBufferPointer(low), Self.shape, high)
    }
    let other = FloatBuffer(Self.input(n))
    // dx overlapping x, then dx overlapping dy without being exactly it.
    expectRejected([message], status: SCSE_STATUS_ALIASING, outputs: [shared], "\(layer) backward dx on x") {
      () throws(ScseError) in try layer.backward(UnsafeBufferPointer(low), other.readable, Self.shape, high)
    }
    expectRejected([message], status: SCSE_STATUS_ALIASING, outputs: [shared], "\(layer) backward dx on dy") {
      () throws(ScseError) in try layer.backward(other.readable, UnsafeBufferPointer(high), Self.shape, low)
    }
    withExtendedLifetime((shared, other)) {}
  }

  /// The parameter arrays are public vars: sizes that no longer match the
  /// layer are caught before the library reads them.
  @Test func editedChannelLayerParameters() {
    let layer = ChannelSELayer(channels: 6, reductionRatio: 2, seed: 4)  // hidden 3
    let edits: [(String, (inout ChannelSELayer) -> Void, [String])] = [
      ("fc1Weight", { $0.fc1Weight.removeLast() }, ["fc1Weight has count 17;", "needs 18"]),
      ("fc1Bias", { $0.fc1Bias?.append(0) }, ["fc1Bias has count 4;", "needs 3"]),
      ("fc2Weight", { $0.fc2Weight += [0, 0, 0] }, ["fc2Weight has count 21;", "needs 18"]),
      ("fc2Bias", { $0.fc2Bias = [1] }, ["fc2Bias has count 1;", "needs 6"]),
    ]
    for (name, edit, fragments) in edits {
      var edited = layer
      edit(&edited)
      expectEveryCallRejected(.channel(edited, "ChannelSELayer edited \(name)"), shape: Self.shape, count: Self.count, fragments)
      var block = ChannelSpatialSELayer(channels: 6, reductionRatio: 2)
      edit(&block.channelGate)
      expectEveryCallRejected(.block(block, "block edited \(name)"), shape: Self.shape, count: Self.count, fragments)
    }
  }

  @Test func editedSpatialLayerParameters() {
    var layer = SpatialSELayer(channels: 6, seed: 4)
    layer.weight.append(0.5)
    let fragments = ["weight has count 7;", "needs 6"]
    expectEveryCallRejected(.spatial(layer), shape: Self.shape, count: Self.count, fragments)
    let fewShot = [Float](repeating: 0.1, count: 12)
    expectEveryCallRejected(.spatial(layer, fewShot: fewShot), shape: Self.shape, count: Self.count, fragments)
    var block = ChannelSpatialSELayer(channels: 6)
    block.spatialGate.weight.removeLast()
    expectEveryCallRejected(.block(block), shape: Self.shape, count: Self.count, ["weight has count 5;"])
  }

  /// Replacing one branch of a block with one of another width.
  @Test func blockBranchesOfDifferentWidths() {
    var block = ChannelSpatialSELayer(channels: 6)
    block.spatialGate = SpatialSELayer(channels: 7)
    expectEveryCallRejected(
      .block(block), shape: Self.shape, count: Self.count, ["channel gate has 6 channels", "spatial gate has 7"])
    block = ChannelSpatialSELayer(channels: 6)
    block.channelGate = ChannelSELayer(channels: 5)
    expectEveryCallRejected(
      .block(block), shape: Self.shape, count: Self.count, ["channel gate has 5 channels", "spatial gate has 6"])
  }

  /// Few-shot weights must be K >= 1 whole rows of C values.
  @Test(arguments: [0, 5, 7, 11, 13])
  func fewShotWeightsOfWrongCount(_ count: Int) {
    let layer = SpatialSELayer(channels: 6)
    let weights = [Float](repeating: 0.25, count: count)
    expectEveryCallRejected(
      .spatial(layer, fewShot: weights), shape: Self.shape, count: Self.count, ["K * 6 values", "got \(count)"])
  }

  @Test func errorsCompareAndDescribeThemselves() throws {
    let layer = ChannelSELayer(channels: 6)
    let shape = TensorShape(batch: 1, channels: 6, spatial: [2])
    func failure(_ x: [Float]) -> ScseError? {
      do throws(ScseError) {
        _ = try layer.forward(x, shape: shape)
        return nil
      } catch { return error }
    }
    let a = try #require(failure([1]))
    #expect(a == failure([1]) && a != failure([1, 2, 3]))
    #expect("\(a)" == a.message && a.status == SCSE_STATUS_INVALID_SHAPE)
    #expect(try layer.forward([Float](repeating: 1, count: 12), shape: shape).count == 12)
  }
}
