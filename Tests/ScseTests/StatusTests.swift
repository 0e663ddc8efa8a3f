import CScse
import Scse
import Testing

/// A light check of the error paths through the C ABI (the exhaustive status
/// tests are in Tests/c): each returns its status and leaves outputs alone.
@Suite struct StatusTests {
  static let spec = ProblemSpec(
    op: .scse(.sum), layout: .channelsFirst, batch: 2, channels: 4, spatial: 3, hidden: 2)

  /// Runs `call` on an output buffer pre-filled with a marker and expects
  /// `status` with the buffer untouched.
  func expectRejected(
    _ status: scse_status, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ call: (Library.Gates, FloatBuffer, FloatBuffer, FloatBuffer) -> scse_status
  ) {
    let p = Problem.random(Self.spec)
    let gates = Library.Gates(p)
    let x = FloatBuffer(p.x)
    let gy = FloatBuffer(p.gy)
    let marker = [Float](repeating: 42.5, count: p.x.count)
    let out = FloatBuffer(marker)
    let got = withExtendedLifetime(gates) { call(gates, x, gy, out) }
    #expect(
      got == status, "\(what): status \(got.rawValue), expected \(status.rawValue)",
      sourceLocation: sourceLocation)
    #expect(sameBits(out.values, marker), "\(what): output written", sourceLocation: sourceLocation)
    #expect(sameBits(x.values, p.x) && out.guardsIntact, sourceLocation: sourceLocation)
  }

  @Test func nullPointers() {
    expectRejected(SCSE_STATUS_NULL_POINTER, "NULL x") { g, _, _, y in
      var cg = g.channel
      return scse_cse_forward(2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &cg, nil, y.pointer)
    }
    expectRejected(SCSE_STATUS_NULL_POINTER, "NULL gate") { _, x, _, y in
      scse_sse_forward(2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, nil, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_NULL_POINTER, "NULL spatial weight") { g, x, _, y in
      var cg = g.channel
      var sg = g.spatial
      sg.weight = nil
      return scse_scse_forward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, SCSE_AGGREGATE_SUM, &cg, &sg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_NULL_POINTER, "NULL fc1 weight with hidden 2") { g, x, gy, dx in
      var cg = g.channel
      cg.fc1_weight = nil
      return scse_cse_backward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x.pointer, gy.pointer, dx.pointer, nil)
    }
    expectRejected(SCSE_STATUS_NULL_POINTER, "NULL grad_y") { g, x, _, dx in
      var sg = g.spatial
      return scse_sse_backward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &sg, x.pointer, nil, dx.pointer, nil)
    }
  }

  @Test func invalidShapesAndEnums() {
    expectRejected(SCSE_STATUS_INVALID_SHAPE, "batch 0") { g, x, _, y in
      var cg = g.channel
      return scse_cse_forward(0, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_INVALID_SHAPE, "hidden -1") { g, x, _, y in
      var cg = g.channel
      cg.hidden = -1
      return scse_cse_forward(2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_INVALID_SHAPE, "weight_rows 0") { g, x, _, y in
      var sg = g.spatial
      sg.weight_rows = 0
      return scse_sse_forward(2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &sg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_SIZE_OVERFLOW, "N*C*S beyond int64") { g, x, _, y in
      var sg = g.spatial
      return scse_sse_forward(
        1 << 40, 4, 1 << 40, SCSE_LAYOUT_CHANNELS_FIRST, &sg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_INVALID_ENUM, "layout 2") { g, x, _, y in
      var sg = g.spatial
      return scse_sse_forward(2, 4, 3, scse_layout(rawValue: 2), &sg, x.pointer, y.pointer)
    }
    expectRejected(SCSE_STATUS_INVALID_ENUM, "aggregate 2") { g, x, gy, dx in
      var cg = g.channel
      var sg = g.spatial
      return scse_scse_backward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_LAST, scse_aggregate(rawValue: 2), &cg, &sg, x.pointer,
        gy.pointer, dx.pointer, nil, nil)
    }
  }

  @Test func biasGradientForAGateWithoutBias() {
    expectRejected(SCSE_STATUS_INVALID_ARGUMENT, "sSE bias gradient without bias") {
      g, x, gy, dx in
      var sg = g.spatial
      sg.bias = nil
      let bias = FloatBuffer([42.5])
      var grad = scse_spatial_gate_grad(weight_out: nil, bias_out: bias.pointer)
      let status = scse_sse_backward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &sg, x.pointer, gy.pointer, dx.pointer, &grad)
      #expect(bias.values == [42.5])
      return status
    }
  }

  @Test func disallowedAliasing() {
    expectRejected(SCSE_STATUS_ALIASING, "y_out overlapping x by one element") { g, _, _, y in
      var cg = g.channel
      let x = UnsafePointer(y.pointer + 1)
      return scse_cse_forward(1, 4, 2, SCSE_LAYOUT_CHANNELS_FIRST, &cg, x, y.pointer)
    }
    expectRejected(SCSE_STATUS_ALIASING, "grad_x_out == x") { g, _, gy, dx in
      var sg = g.spatial
      return scse_sse_backward(
        2, 4, 3, SCSE_LAYOUT_CHANNELS_FIRST, &sg, dx.pointer, gy.pointer, dx.pointer, nil)
    }
  }

  @Test func versionAndStatusStrings() {
    let version = String(cString: scse_version())
    #expect(version == "\(SCSE_VERSION_MAJOR).\(SCSE_VERSION_MINOR).\(SCSE_VERSION_PATCH)")
    var messages = Set<String>()
    for raw in UInt32(0)...7 {
      let message = String(cString: scse_status_string(scse_status(rawValue: raw)))
      #expect(!message.isEmpty)
      messages.insert(message)
    }
    #expect(messages.count == 8, "each status has its own message")
    #expect(!String(cString: scse_status_string(scse_status(rawValue: 1234))).isEmpty)
  }
}
