// The validated description of one call: shapes, layout, which gates run and
// how their outputs combine. Everything the kernels need is here; nothing in
// it is re-checked downstream.

/// Borrowed view of a channel gate's parameters (layout of `scse_channel_gate`).
struct ChannelGateParameters: @unchecked Sendable {
  /// Width of the bottleneck; 0 is a zero-width layer.
  let hidden: Int
  /// `[hidden, channels]`, valid when `hidden > 0`.
  let fc1Weight: UnsafePointer<Float>?
  /// `[hidden]` or `nil`.
  let fc1Bias: UnsafePointer<Float>?
  /// `[channels, hidden]`, valid when `hidden > 0`.
  let fc2Weight: UnsafePointer<Float>?
  /// `[channels]` or `nil`.
  let fc2Bias: UnsafePointer<Float>?
}

/// Borrowed view of a spatial gate's parameters (layout of `scse_spatial_gate`).
struct SpatialGateParameters: @unchecked Sendable {
  /// Number of weight rows averaged into the effective weight.
  let rows: Int
  /// `[rows, channels]`.
  let weight: UnsafePointer<Float>
  /// `[1]` or `nil`.
  let bias: UnsafePointer<Float>?
}

/// Destinations of a channel gate's parameter gradients; `nil` = not wanted.
struct ChannelGateGradients: @unchecked Sendable {
  var fc1Weight: UnsafeMutablePointer<Float>? = nil
  var fc1Bias: UnsafeMutablePointer<Float>? = nil
  var fc2Weight: UnsafeMutablePointer<Float>? = nil
  var fc2Bias: UnsafeMutablePointer<Float>? = nil
}

/// Destinations of a spatial gate's parameter gradients; `nil` = not wanted.
struct SpatialGateGradients: @unchecked Sendable {
  var weight: UnsafeMutablePointer<Float>? = nil
  var bias: UnsafeMutablePointer<Float>? = nil
}

/// A validated block invocation.
struct BlockPlan: @unchecked Sendable {
  let batch: Int
  let channels: Int
  /// Product of the spatial extents.
  let spatial: Int
  let channelsLast: Bool
  let channelGate: ChannelGateParameters?
  let spatialGate: SpatialGateParameters?
  /// Meaningful only when both gates are present.
  let aggregate: Aggregate
  let tiling: Tiling

  init(batch: Int, channels: Int, spatial: Int, channelsLast: Bool,
       channelGate: ChannelGateParameters?, spatialGate: SpatialGateParameters?,
       aggregate: Aggregate) {
    assert(channelGate != nil || spatialGate != nil)
    self.batch = batch
    self.channels = channels
    self.spatial = spatial
    self.channelsLast = channelsLast
    self.channelGate = channelGate
    self.spatialGate = spatialGate
    self.aggregate = aggregate
    self.tiling = Tiling(channels: channels, spatial: spatial, channelsLast: channelsLast)
  }

  /// Hidden width of the channel gate, 0 without one.
  var hidden: Int { channelGate?.hidden ?? 0 }
  /// True when the output is the element-wise maximum of both branches.
  var isMax: Bool { channelGate != nil && spatialGate != nil && aggregate == .max }
}
