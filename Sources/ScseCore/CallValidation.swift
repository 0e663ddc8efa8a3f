// Every argument of every entry point is checked here, before any output is
// touched. The kernels downstream trust the resulting plan.
import CScse

/// A rejected call, with the status to return.
package struct InvalidCall: Error {
  package let status: scse_status
}

/// The raw C arguments common to all six entry points.
package struct RawCall {
  package var batch: Int64
  package var channels: Int64
  package var spatial: Int64
  package var layout: scse_layout
  package var aggregate = SCSE_AGGREGATE_SUM
  package var usesChannelGate: Bool
  package var usesSpatialGate: Bool
  package var channelGate: UnsafePointer<scse_channel_gate>? = nil
  package var spatialGate: UnsafePointer<scse_spatial_gate>? = nil
  package var x: UnsafePointer<Float>?
  package var isBackward = false
  package var gradY: UnsafePointer<Float>? = nil
  package var out: UnsafeMutablePointer<Float>?
  package var channelGrads: UnsafePointer<scse_channel_gate_grad>? = nil
  package var spatialGrads: UnsafePointer<scse_spatial_gate_grad>? = nil

  package init(batch: Int64, channels: Int64, spatial: Int64, layout: scse_layout,
               aggregate: scse_aggregate = SCSE_AGGREGATE_SUM,
               usesChannelGate: Bool, usesSpatialGate: Bool,
               channelGate: UnsafePointer<scse_channel_gate>? = nil,
               spatialGate: UnsafePointer<scse_spatial_gate>? = nil,
               x: UnsafePointer<Float>?, isBackward: Bool = false, gradY: UnsafePointer<Float>? = nil,
               out: UnsafeMutablePointer<Float>?,
               channelGrads: UnsafePointer<scse_channel_gate_grad>? = nil,
               spatialGrads: UnsafePointer<scse_spatial_gate_grad>? = nil) {
    self.batch = batch
    self.channels = channels
    self.spatial = spatial
    self.layout = layout
    self.aggregate = aggregate
    self.usesChannelGate = usesChannelGate
    self.usesSpatialGate = usesSpatialGate
    self.channelGate = channelGate
    self.spatialGate = spatialGate
    self.x = x
    self.isBackward = isBackward
    self.gradY = gradY
    self.out = out
    self.channelGrads = channelGrads
    self.spatialGrads = spatialGrads
  }
}

/// A call that passed every check.
package struct ValidCall {
  package let plan: BlockPlan
  package let x: UnsafePointer<Float>
  package let gradY: UnsafePointer<Float>?
  package let out: UnsafeMutablePointer<Float>
  package let channelGrads: ChannelGateGradients
  package let spatialGrads: SpatialGateGradients
}

/// Bytes of `elements` floats, or `nil` when that does not fit in `Int`.
private func floatBytes(_ elements: Int) -> Int? {
  let (bytes, overflow) = elements.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
  return overflow ? nil : bytes
}

/// Checks `call` in a fixed order: enum values, required pointers, sizes,
/// size overflow, consistency of gradient requests, aliasing.
package func validate(_ call: RawCall) throws(InvalidCall) -> ValidCall {
  func fail(_ status: scse_status) -> InvalidCall { InvalidCall(status: status) }

  // Enums.
  guard call.layout == SCSE_LAYOUT_CHANNELS_FIRST || call.layout == SCSE_LAYOUT_CHANNELS_LAST,
        call.aggregate == SCSE_AGGREGATE_SUM || call.aggregate == SCSE_AGGREGATE_MAX
  else { throw fail(SCSE_STATUS_INVALID_ENUM) }

  // Tensors and gate descriptions.
  guard let x = call.x, let out = call.out, !call.isBackward || call.gradY != nil,
        !call.usesChannelGate || call.channelGate != nil,
        !call.usesSpatialGate || call.spatialGate != nil
  else { throw fail(SCSE_STATUS_NULL_POINTER) }
  let channelGate = call.usesChannelGate ? call.channelGate!.pointee : nil
  let spatialGate = call.usesSpatialGate ? call.spatialGate!.pointee : nil

  // Sizes.
  guard call.batch >= 1, call.channels >= 1, call.spatial >= 1,
        (channelGate?.hidden ?? 0) >= 0, (spatialGate?.weight_rows ?? 1) >= 1
  else { throw fail(SCSE_STATUS_INVALID_SHAPE) }

  // Weights whose presence depends on a size.
  let hidden64 = channelGate?.hidden ?? 0
  if let g = channelGate, hidden64 > 0, g.fc1_weight == nil || g.fc2_weight == nil {
    throw fail(SCSE_STATUS_NULL_POINTER)
  }
  if let g = spatialGate, g.weight == nil { throw fail(SCSE_STATUS_NULL_POINTER) }

  // Overflow: element and byte counts, and buffers running off the address space.
  guard let batch = Int(exactly: call.batch), let channels = Int(exactly: call.channels),
        let spatial = Int(exactly: call.spatial), let hidden = Int(exactly: hidden64),
        let rows = Int(exactly: spatialGate?.weight_rows ?? 1)
  else { throw fail(SCSE_STATUS_SIZE_OVERFLOW) }
  let (perSample, o1) = channels.multipliedReportingOverflow(by: spatial)
  let (elements, o2) = perSample.multipliedReportingOverflow(by: batch)
  let (hiddenWeights, o3) = hidden.multipliedReportingOverflow(by: channels)
  let (spatialWeights, o4) = rows.multipliedReportingOverflow(by: channels)
  guard !(o1 || o2 || o3 || o4), let tensorBytes = floatBytes(elements),
        let fcBytes = floatBytes(hiddenWeights), let hiddenBytes = floatBytes(hidden),
        let channelBytes = floatBytes(channels), let spatialBytes = floatBytes(spatialWeights)
  else { throw fail(SCSE_STATUS_SIZE_OVERFLOW) }

  let cg = call.channelGrads?.pointee
  let sg = call.spatialGrads?.pointee
  let buffers: [(UnsafeRawPointer?, Int)] = [
    (UnsafeRawPointer(x), tensorBytes), (UnsafeRawPointer(call.gradY), tensorBytes),
    (UnsafeRawPointer(out), tensorBytes),
    (UnsafeRawPointer(channelGate?.fc1_weight), fcBytes), (UnsafeRawPointer(channelGate?.fc1_bias), hiddenBytes),
    (UnsafeRawPointer(channelGate?.fc2_weight), fcBytes), (UnsafeRawPointer(channelGate?.fc2_bias), channelBytes),
    (UnsafeRawPointer(spatialGate?.weight), spatialBytes), (UnsafeRawPointer(spatialGate?.bias), 4),
    (UnsafeRawPointer(cg?.fc1_weight_out), fcBytes), (UnsafeRawPointer(cg?.fc1_bias_out), hiddenBytes),
    (UnsafeRawPointer(cg?.fc2_weight_out), fcBytes), (UnsafeRawPointer(cg?.fc2_bias_out), channelBytes),
    (UnsafeRawPointer(sg?.weight_out), spatialBytes), (UnsafeRawPointer(sg?.bias_out), 4),
  ]
  for (pointer, bytes) in buffers where wrapsAddressSpace(pointer, byteCount: bytes) {
    throw fail(SCSE_STATUS_SIZE_OVERFLOW)
  }

  // Gradient requests must match the parameters the gates have.
  if let cg, let g = channelGate {
    if (cg.fc1_bias_out != nil && g.fc1_bias == nil) || (cg.fc2_bias_out != nil && g.fc2_bias == nil) {
      throw fail(SCSE_STATUS_INVALID_ARGUMENT)
    }
  }
  if let sg, let g = spatialGate, sg.bias_out != nil, g.bias == nil {
    throw fail(SCSE_STATUS_INVALID_ARGUMENT)
  }

  // Aliasing. Weight gradients of a zero-width layer are ignored, so they
  // are not outputs.
  let fcGradBytes = hidden > 0 ? fcBytes : 0
  let inputs = buffers[0 ... 1].map { ByteRange($0.0, byteCount: $0.1) }
    + buffers[3 ... 8].map { ByteRange($0.0, byteCount: $0.1) }
  var outputs = [ByteRange(UnsafeRawPointer(out), byteCount: tensorBytes)]
  if call.usesChannelGate {
    outputs += [ByteRange(UnsafeRawPointer(cg?.fc1_weight_out), byteCount: fcGradBytes),
                ByteRange(UnsafeRawPointer(cg?.fc1_bias_out), byteCount: hiddenBytes),
                ByteRange(UnsafeRawPointer(cg?.fc2_weight_out), byteCount: fcGradBytes),
                ByteRange(UnsafeRawPointer(cg?.fc2_bias_out), byteCount: channelBytes)]
  }
  if call.usesSpatialGate {
    outputs += [ByteRange(UnsafeRawPointer(sg?.weight_out), byteCount: spatialBytes),
                ByteRange(UnsafeRawPointer(sg?.bias_out), byteCount: 4)]
  }
  // inputs[0] is x, inputs[1] is grad y.
  guard aliasingAllowed(inputs: inputs, outputs: outputs, inPlacePartner: call.isBackward ? 1 : 0)
  else { throw fail(SCSE_STATUS_ALIASING) }

  let channelParameters = channelGate.map {
    ChannelGateParameters(hidden: hidden, fc1Weight: $0.fc1_weight, fc1Bias: $0.fc1_bias,
                          fc2Weight: $0.fc2_weight, fc2Bias: $0.fc2_bias)
  }
  let spatialParameters = spatialGate.map {
    SpatialGateParameters(rows: rows, weight: $0.weight!, bias: $0.bias)
  }
  let plan = BlockPlan(batch: batch, channels: channels, spatial: spatial,
                       channelsLast: call.layout == SCSE_LAYOUT_CHANNELS_LAST,
                       channelGate: channelParameters, spatialGate: spatialParameters,
                       aggregate: call.aggregate == SCSE_AGGREGATE_MAX ? .max : .sum)
  var channelGrads = ChannelGateGradients()
  if let cg, call.usesChannelGate {
    channelGrads = ChannelGateGradients(fc1Weight: cg.fc1_weight_out, fc1Bias: cg.fc1_bias_out,
                                        fc2Weight: cg.fc2_weight_out, fc2Bias: cg.fc2_bias_out)
  }
  var spatialGrads = SpatialGateGradients()
  if let sg, call.usesSpatialGate {
    spatialGrads = SpatialGateGradients(weight: sg.weight_out, bias: sg.bias_out)
  }
  return ValidCall(plan: plan, x: x, gradY: call.gradY, out: out,
                   channelGrads: channelGrads, spatialGrads: spatialGrads)
}
