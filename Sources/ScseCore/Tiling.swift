// The split of a sample's positions into tiles. It depends only on the shape,
// never on the thread count: every reduction is done per tile and the tile
// results are combined in tile order, which makes results bitwise identical
// for every thread count.

/// Positions of one sample split into equal tiles (the last may be shorter).
package struct Tiling: Sendable {
  /// Positions per tile (a multiple of 16 unless it covers the whole sample).
  package let length: Int
  /// Number of tiles, >= 1.
  package let count: Int

  /// - Parameters:
  ///   - channels: C; a tile holds about 1 Mi floats of a sample at most.
  ///   - spatial: S, the positions to split.
  package init(channels: Int, spatial: Int) {
    // Long tiles measured fastest: channels-first rows are read as long
    // contiguous runs that the prefetchers follow, and a sample is split only
    // when it is large (over 1 Mi floats or 32 Ki positions), which leaves
    // work to spread over threads for big single samples. The per-tile
    // position accumulators (at most 128 KiB) stay in L2.
    let budget = (1 << 20) / Swift.max(channels, 1)
    let maxLength = Swift.min(32768, Swift.max(256, budget))
    let count = (spatial + maxLength - 1) / maxLength
    if count <= 1 {
      self.length = spatial
      self.count = 1
    } else {
      let even = (spatial + count - 1) / count
      let length = (even + 15) / 16 * 16
      self.length = length
      self.count = (spatial + length - 1) / length
    }
  }

  /// The positions of tile `index`.
  @inlinable @inline(__always)
  package func range(_ index: Int, spatial: Int) -> Range<Int> {
    let start = index * length
    return start ..< Swift.min(start + length, spatial)
  }
}
