// Shapes and layouts of activation tensors in the Swift API.
import CScse

/// Memory order of an activation tensor.
public enum TensorLayout: Sendable, Equatable {
  /// `(N, C, *spatial)`, PyTorch's default.
  case channelsFirst
  /// `(N, *spatial, C)`, PyTorch's channels_last.
  case channelsLast

  var cValue: scse_layout {
    self == .channelsFirst ? SCSE_LAYOUT_CHANNELS_FIRST : SCSE_LAYOUT_CHANNELS_LAST
  }
}

/// Shape of an activation tensor: batch, channels and 1 to 3 spatial extents.
public struct TensorShape: Sendable, Equatable {
  /// N.
  public var batch: Int
  /// C.
  public var channels: Int
  /// The spatial extents (e.g. `[H, W]`).
  public var spatial: [Int]
  /// Memory order.
  public var layout: TensorLayout

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

  /// Product of the spatial extents, or `nil` when it overflows.
  public var spatialCount: Int? {
    var total = 1
    for extent in spatial {
      let (product, overflow) = total.multipliedReportingOverflow(by: extent)
      if overflow { return nil }
      total = product
    }
    return total
  }

  /// N * C * S, or `nil` when it overflows.
  public var elementCount: Int? {
    guard let s = spatialCount else { return nil }
    let (a, o1) = batch.multipliedReportingOverflow(by: channels)
    let (b, o2) = a.multipliedReportingOverflow(by: s)
    return o1 || o2 ? nil : b
  }

  /// Checks the rank and extents and that `counts` all equal the element count.
  func validated(bufferCounts counts: [Int]) throws(ScseError) -> (n: Int64, c: Int64, s: Int64) {
    guard (1 ... 3).contains(spatial.count) else {
      throw ScseError(mismatch: "expected 1 to 3 spatial extents, got \(spatial.count)")
    }
    guard batch >= 1, channels >= 1, spatial.allSatisfy({ $0 >= 1 }) else {
      throw ScseError(mismatch: "every extent must be >= 1, got N=\(batch) C=\(channels) spatial=\(spatial)")
    }
    guard let elements = elementCount, let s = spatialCount else {
      throw ScseError(status: SCSE_STATUS_SIZE_OVERFLOW)
    }
    for count in counts where count != elements {
      throw ScseError(mismatch: "a buffer holds \(count) floats; the shape needs \(elements)")
    }
    return (Int64(batch), Int64(channels), Int64(s))
  }
}

/// How `ChannelSpatialSELayer` combines its two branches.
public enum Aggregate: Sendable, Equatable {
  /// `cSE(x) + sSE(x)`.
  case sum
  /// `max(cSE(x), sSE(x))` element-wise.
  case max

  var cValue: scse_aggregate { self == .sum ? SCSE_AGGREGATE_SUM : SCSE_AGGREGATE_MAX }
}
