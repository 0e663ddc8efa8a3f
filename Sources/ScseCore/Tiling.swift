// The split of a sample into tiles of positions and blocks of channels. It
// depends only on the shape, never on the thread count: every reduction is
// done per tile (and per channel block) and the partial results are combined
// in a fixed pairwise order, which makes results bitwise identical for every
// thread count and keeps long sums accurate.

/// Positions of one sample split into equal tiles (the last may be shorter),
/// and its channels into blocks of `channelBlock`.
package struct Tiling: Sendable {
  /// Channels per block of a channels-first spatial-logit sum: each block's
  /// partial logits are a sequential sum of at most this many products, and
  /// the blocks are then added pairwise.
  package static let channelBlock = 64
  /// Positions per channels-last tile: a per-channel sum over a tile adds at
  /// most this many values before the tiles are added pairwise.
  package static let channelsLastLength = 64

  /// Positions per tile (a multiple of 16 unless it covers the whole sample).
  package let length: Int
  /// Number of tiles, >= 1.
  package let count: Int
  /// Number of channel blocks, >= 1.
  package let channelBlocks: Int

  /// - Parameters:
  ///   - channels: C; a channels-first tile holds about 1 Mi floats of a sample at most.
  ///   - spatial: S, the positions to split.
  ///   - channelsLast: the memory layout.
  package init(channels: Int, spatial: Int, channelsLast: Bool) {
    channelBlocks = Swift.max(1, (channels + Tiling.channelBlock - 1) / Tiling.channelBlock)
    if channelsLast {
      // Channels-last tiles are short: a tile is a contiguous run of memory
      // whatever its length, and short tiles keep the per-channel sums short.
      length = Swift.min(spatial, Tiling.channelsLastLength)
      count = Swift.max(1, (spatial + length - 1) / Swift.max(length, 1))
      return
    }
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

  /// The channels of block `index`.
  @inlinable @inline(__always)
  package func channelRange(_ index: Int, channels: Int) -> Range<Int> {
    let start = index * Tiling.channelBlock
    return start ..< Swift.min(start + Tiling.channelBlock, channels)
  }

  /// The positions of tile `index`.
  @inlinable @inline(__always)
  package func range(_ index: Int, spatial: Int) -> Range<Int> {
    let start = index * length
    return start ..< Swift.min(start + length, spatial)
  }
}
