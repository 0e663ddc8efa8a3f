// The validated description of one call: shapes, layout, which gates run and
// how their outputs combine. Everything the kernels need is here; nothing in
// it is re-checked downstream.

/// Borrowed view of a channel gate's parameters (layout of `scse_channel_gate`).
package struct ChannelGateParameters: @unchecked Sendable {
  /// Width of the bottleneck; 0 is a zero-width layer.
  package let hidden: Int
  /// `[hidden, channels]`, valid when `hidden > 0`.
  package let fc1Weight: UnsafePointer<Float>?
  /// `[hidden]` or `nil`.
  package let fc1Bias: UnsafePointer<Float>?
  /// `[channels, hidden]`, valid when `hidden > 0`.
  package let fc2Weight: UnsafePointer<Float>?
  /// `[channels]` or `nil`.
  package let fc2Bias: UnsafePointer<Float>?
}

/// Borrowed view of a spatial gate's parameters (layout of `scse_spatial_gate`).
package struct SpatialGateParameters: @unchecked Sendable {
  /// Number of weight rows averaged into the effective weight.
  package let rows: Int
  /// `[rows, channels]`.
  package let weight: UnsafePointer<Float>
  /// `[1]` or `nil`.
  package let bias: UnsafePointer<Float>?
}

/// Destinations of a channel gate's parameter gradients; `nil` = not wanted.
package struct ChannelGateGradients: @unchecked Sendable {
  package var fc1Weight: UnsafeMutablePointer<Float>? = nil
  package var fc1Bias: UnsafeMutablePointer<Float>? = nil
  package var fc2Weight: UnsafeMutablePointer<Float>? = nil
  package var fc2Bias: UnsafeMutablePointer<Float>? = nil
}

/// Destinations of a spatial gate's parameter gradients; `nil` = not wanted.
package struct SpatialGateGradients: @unchecked Sendable {
  package var weight: UnsafeMutablePointer<Float>? = nil
  package var bias: UnsafeMutablePointer<Float>? = nil
}

/// A validated block invocation.
package struct BlockPlan: @unchecked Sendable {
  package let batch: Int
  package let channels: Int
  /// Product of the spatial extents.
  package let spatial: Int
  package let channelsLast: Bool
  package let channelGate: ChannelGateParameters?
  package let spatialGate: SpatialGateParameters?
  /// How the two gated tensors combine into the output.
  package enum Aggregate: Sendable {
    /// `cSE(x) + sSE(x)`.
    case sum
    /// `max(cSE(x), sSE(x))` element-wise.
    case max
  }

  /// Meaningful only when both gates are present.
  package let aggregate: Aggregate
  package let tiling: Tiling

  package init(batch: Int, channels: Int, spatial: Int, channelsLast: Bool,
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
  @inlinable package var hidden: Int { channelGate?.hidden ?? 0 }
  /// True when the output is the element-wise maximum of both branches.
  @inlinable package var isMax: Bool { channelGate != nil && spatialGate != nil && aggregate == .max }
}
