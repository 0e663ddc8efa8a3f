// Shapes and layouts of activation tensors in the Swift API.
internal import CScse

/// Memory order of an activation tensor's elements in its flat buffer.
public enum TensorLayout: Sendable, Hashable, CaseIterable {
  /// `(N, C, *spatial)`: element `(n, c, s)` is at `(n * C + c) * S + s`.
  /// PyTorch's default (contiguous NCHW).
  case channelsFirst
  /// `(N, *spatial, C)`: element `(n, c, s)` is at `(n * S + s) * C + c`.
  /// PyTorch's `channels_last` / `channels_last_3d` (NHWC).
  case channelsLast

  var cValue: scse_layout {
    self == .channelsFirst ? SCSE_LAYOUT_CHANNELS_FIRST : SCSE_LAYOUT_CHANNELS_LAST
  }
}

/// Shape and memory order of an activation tensor: batch size, channels and
/// 1 to 3 spatial extents (e.g. `[length]`, `[H, W]` or `[D, H, W]`).
///
/// The shape is checked when it is used: a layer's `forward` or `backward`
/// throws ``ScseError`` for a rank outside 1...3, an extent below 1, or
/// buffers whose element count is not `batch * channels * spatialCount`.
public struct TensorShape: Sendable, Hashable {
  /// The batch size N (>= 1 to be usable).
  public var batch: Int
  /// The channel count C; must equal the layer's channel count.
  public var channels: Int
  /// The 1 to 3 spatial extents, each >= 1 (e.g. `[H, W]`).
  public var spatial: [Int]
  /// How the elements are ordered in the buffers used with this shape.
  public var layout: TensorLayout

  /// A shape; nothing is validated until a layer uses it.
  /// - Parameters:
  ///   - batch: N >= 1.
  ///   - channels: C >= 1.
  ///   - spatial: 1 to 3 extents, each >= 1.
  ///   - layout: memory order of the buffers used with this shape.
  public init(batch: Int, channels: Int, spatial: [Int], layout: TensorLayout = .channelsFirst) {
    self.batch = batch
    self.channels = channels
    self.spatial = spatial
    self.layout = layout
  }

  /// The number of spatial positions S, the product of the spatial extents
  /// (1 for no extents), or `nil` when the product overflows `Int`.
  /// - Complexity: O(`spatial.count`).
  public var spatialCount: Int? {
    var total = 1
    for extent in spatial {
      let (product, overflow) = total.multipliedReportingOverflow(by: extent)
      if overflow { return nil }
      total = product
    }
    return total
  }

  /// The number of elements N * C * S a buffer of this shape holds, or `nil`
  /// when it overflows `Int`.
  /// - Complexity: O(`spatial.count`).
  public var elementCount: Int? {
    guard let s = spatialCount else { return nil }
    let (a, o1) = batch.multipliedReportingOverflow(by: channels)
    let (b, o2) = a.multipliedReportingOverflow(by: s)
    return o1 || o2 ? nil : b
  }

  /// Checks the rank and extents and that `counts` all equal the element count.
  func validated(bufferCounts counts: [Int]) throws(ScseError) -> (n: Int64, c: Int64, s: Int64) {
    guard (1 ... 3).contains(spatial.count) else {
      throw ScseError.invalidShape("expected 1 to 3 spatial extents, got \(spatial.count): \(spatial)")
    }
    guard batch >= 1, channels >= 1, spatial.allSatisfy({ $0 >= 1 }) else {
      throw ScseError.invalidShape("every extent must be >= 1, got N=\(batch) C=\(channels) spatial=\(spatial)")
    }
    guard let elements = elementCount, let s = spatialCount else {
      throw ScseError.sizeOverflow
    }
    for count in counts where count != elements {
      throw ScseError.invalidShape("a buffer has count \(count); the shape N=\(batch) C=\(channels) "
        + "spatial=\(spatial) needs \(elements)")
    }
    return (Int64(batch), Int64(channels), Int64(s))
  }
}

/// How ``ChannelSpatialSELayer`` combines its channel-gated and spatially
/// gated tensors.
public enum Aggregate: Sendable, Hashable, CaseIterable {
  /// `cSE(x) + sSE(x)`, as in the scSE paper.
  case sum
  /// `max(cSE(x), sSE(x))` element-wise; in backward, equal values split the
  /// gradient in half, as `torch.max` does.
  case max

  var cValue: scse_aggregate { self == .sum ? SCSE_AGGREGATE_SUM : SCSE_AGGREGATE_MAX }
}
