import CScse
import Scse

/// A float buffer with one guard element on each side, so that writes just
/// outside an output are detected, and with a data pointer that is 4-byte
/// but not 16-byte aligned (the header promises float alignment suffices).
final class FloatBuffer {
  static let guardBits: UInt32 = 0x7FC0_1234  // a NaN no computation produces

  let count: Int
  private let base: UnsafeMutablePointer<Float>

  var pointer: UnsafeMutablePointer<Float> { base + 1 }

  init(_ values: [Float]) {
    count = values.count
    base = .allocate(capacity: values.count + 2)
    base[0] = Float(bitPattern: Self.guardBits)
    base[values.count + 1] = Float(bitPattern: Self.guardBits)
    (base + 1).initialize(from: values, count: values.count)
  }

  /// An output buffer pre-filled with NaN, so an element left unwritten
  /// cannot pass a comparison.
  convenience init(unwrittenCount count: Int) {
    self.init([Float](repeating: .nan, count: count))
  }

  var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

  var guardsIntact: Bool {
    base[0].bitPattern == Self.guardBits && base[count + 1].bitPattern == Self.guardBits
  }

  deinit { base.deallocate() }
}

/// Which parameter gradients a backward call asks for.
struct Wanted: OptionSet, Sendable {
  let rawValue: Int
  static let w1 = Wanted(rawValue: 1), b1 = Wanted(rawValue: 2)
  static let w2 = Wanted(rawValue: 4), b2 = Wanted(rawValue: 8)
  static let sw = Wanted(rawValue: 16), sb = Wanted(rawValue: 32)
  static let all: Wanted = [.w1, .b1, .w2, .b2, .sw, .sb]

  static func of(_ slot: Slot) -> Wanted {
    switch slot {
    case .x: []
    case .w1: .w1
    case .b1: .b1
    case .w2: .w2
    case .b2: .b2
    case .sw: .sw
    case .sb: .sb
    }
  }
}

struct CallResult {
  var status: scse_status
  /// The output (y for forward, the gradients for backward), keyed by slot.
  var outputs: [Slot: [Float]]
  /// Whether every buffer's guard elements survived the call.
  var guardsIntact: Bool
  /// Whether every input buffer still holds its bits (in-place outputs
  /// excepted).
  var inputsIntact: Bool
}

func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// Calls into libscse through its C ABI only.
enum Library {
  /// The parameter buffers of a problem and the gate structs pointing at them.
  final class Gates {
    let buffers: [Slot: FloatBuffer]
    let channel: scse_channel_gate
    let spatial: scse_spatial_gate

    init(_ p: Problem<Float>, nullEmptyWeights: Bool = true) {
      let owned = p.params.mapValues { FloatBuffer($0) }
      buffers = owned
      let emptyHidden = p.spec.hidden == 0 && nullEmptyWeights
      func ptr(_ slot: Slot) -> UnsafePointer<Float>? {
        owned[slot].map { UnsafePointer($0.pointer) }
      }
      channel = scse_channel_gate(
        hidden: Int64(p.spec.hidden),
        fc1_weight: emptyHidden ? nil : ptr(.w1), fc1_bias: ptr(.b1),
        fc2_weight: emptyHidden ? nil : ptr(.w2), fc2_bias: ptr(.b2))
      spatial = scse_spatial_gate(weight_rows: Int64(p.spec.rows), weight: ptr(.sw), bias: ptr(.sb))
    }

    var guardsIntact: Bool { buffers.values.allSatisfy(\.guardsIntact) }

    func unchanged(_ p: Problem<Float>) -> Bool {
      buffers.allSatisfy { sameBits($0.value.values, p.params[$0.key]!) }
    }
  }

  static func forward(
    _ p: Problem<Float>, inPlace: Bool = false, nullEmptyWeights: Bool = true
  ) -> CallResult {
    let d = p.spec.dims
    let gates = Gates(p, nullEmptyWeights: nullEmptyWeights)
    let x = FloatBuffer(p.x)
    let y = inPlace ? x : FloatBuffer(unwrittenCount: d.count)
    var channel = gates.channel
    var spatial = gates.spatial
    let (nb, c, s) = (Int64(d.batch), Int64(d.channels), Int64(d.spatial))
    let layout = p.spec.layout.abi
    let status: scse_status =
      switch p.spec.op {
      case .cse: scse_cse_forward(nb, c, s, layout, &channel, x.pointer, y.pointer)
      case .sse: scse_sse_forward(nb, c, s, layout, &spatial, x.pointer, y.pointer)
      case .scse(let a):
        scse_scse_forward(nb, c, s, layout, a.abi, &channel, &spatial, x.pointer, y.pointer)
      }
    let intact = withExtendedLifetime(gates) { gates.guardsIntact }
      && x.guardsIntact && y.guardsIntact
    let inputs = withExtendedLifetime(gates) { gates.unchanged(p) }
      && (inPlace || sameBits(x.values, p.x))
    return CallResult(
      status: status, outputs: [.x: y.values], guardsIntact: intact, inputsIntact: inputs)
  }

  /// Backward; `wanted` selects the parameter gradients requested (bias
  /// gradients are only requested when the layer has biases). With
  /// `nullEmptyStructs` a gate whose gradients are all unwanted gets a NULL
  /// struct pointer instead of a struct of NULLs.
  static func backward(
    _ p: Problem<Float>, wanted: Wanted = .all, inPlace: Bool = false,
    nullEmptyStructs: Bool = false, nullEmptyWeights: Bool = true
  ) -> CallResult {
    let d = p.spec.dims
    let gates = Gates(p, nullEmptyWeights: nullEmptyWeights)
    let x = FloatBuffer(p.x)
    let gy = FloatBuffer(p.gy)
    let dx = inPlace ? gy : FloatBuffer(unwrittenCount: d.count)
    var out: [Slot: FloatBuffer] = [:]
    for slot in p.gradientSlots where slot != .x && wanted.contains(.of(slot)) {
      out[slot] = FloatBuffer(unwrittenCount: p.params[slot]!.count)
    }
    func ptr(_ slot: Slot) -> UnsafeMutablePointer<Float>? { out[slot]?.pointer }
    var channelGrad = scse_channel_gate_grad(
      fc1_weight_out: ptr(.w1), fc1_bias_out: ptr(.b1),
      fc2_weight_out: ptr(.w2), fc2_bias_out: ptr(.b2))
    var spatialGrad = scse_spatial_gate_grad(weight_out: ptr(.sw), bias_out: ptr(.sb))
    let noChannelGrad = nullEmptyStructs && [Slot.w1, .b1, .w2, .b2].allSatisfy { out[$0] == nil }
    let noSpatialGrad = nullEmptyStructs && out[.sw] == nil && out[.sb] == nil
    var channel = gates.channel
    var spatial = gates.spatial
    let (nb, c, s) = (Int64(d.batch), Int64(d.channels), Int64(d.spatial))
    let layout = p.spec.layout.abi
    let status = withUnsafePointer(to: &channelGrad) { cg in
      withUnsafePointer(to: &spatialGrad) { sg in
        let cgp = noChannelGrad ? nil : cg
        let sgp = noSpatialGrad ? nil : sg
        return switch p.spec.op {
        case .cse:
          scse_cse_backward(nb, c, s, layout, &channel, x.pointer, gy.pointer, dx.pointer, cgp)
        case .sse:
          scse_sse_backward(nb, c, s, layout, &spatial, x.pointer, gy.pointer, dx.pointer, sgp)
        case .scse(let a):
          scse_scse_backward(
            nb, c, s, layout, a.abi, &channel, &spatial, x.pointer, gy.pointer, dx.pointer,
            cgp, sgp)
        }
      }
    }
    var outputs = out.mapValues(\.values)
    outputs[.x] = dx.values
    let intact = withExtendedLifetime(gates) { gates.guardsIntact }
      && x.guardsIntact && gy.guardsIntact && dx.guardsIntact
      && out.values.allSatisfy(\.guardsIntact)
    let inputs = withExtendedLifetime(gates) { gates.unchanged(p) }
      && sameBits(x.values, p.x) && (inPlace || sameBits(gy.values, p.gy))
    return CallResult(status: status, outputs: outputs, guardsIntact: intact, inputsIntact: inputs)
  }
}
