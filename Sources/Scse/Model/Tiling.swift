// The split of a sample's positions into tiles. It depends only on the shape,
// never on the thread count: every reduction is done per tile and the tile
// results are combined in tile order, which makes results bitwise identical
// for every thread count.

/// Positions of one sample split into equal tiles (the last may be shorter).
struct Tiling: Sendable {
  /// Positions per tile (a multiple of 16 unless it covers the whole sample).
  let length: Int
  /// Number of tiles, >= 1.
  let count: Int

  /// - Parameters:
  ///   - channels: C; a tile of C x length floats is sized to stay in L2.
  ///   - spatial: S, the positions to split.
  init(channels: Int, spatial: Int) {
    // 128 Ki floats (512 KiB) per tile keeps a tile resident in a 1 MiB L2
    // between the statistics pass and the pass that writes the output; the
    // bounds keep per-tile logits in L1 and tiles long enough to stream.
    let budget = (1 << 17) / Swift.max(channels, 1)
    let maxLength = Swift.min(8192, Swift.max(256, budget))
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
  @inline(__always)
  func range(_ index: Int, spatial: Int) -> Range<Int> {
    let start = index * length
    return start ..< Swift.min(start + length, spatial)
  }
}
