// Scratch memory of one call: O(N * (C * tiles + S + hidden)) floats, one
// allocation, never a full-size temporary.
import ScseCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-call scratch buffers, carved out of a single allocation.
struct Workspace: @unchecked Sendable {
  private let storage: UnsafeMutableRawPointer

  // Channel gate, per sample.
  /// Per tile `sum_s x[c, s]`: `[N, tiles, C]`.
  let tileSums: UnsafeMutablePointer<Float>
  /// Per tile `sum_s dy_c[c, s] * x[c, s]` (backward): `[N, tiles, C]`.
  let tileDots: UnsafeMutablePointer<Float>
  /// `[N, C]` each.
  let mean, channelGate, channelLogitGrad, channelInputGrad: UnsafeMutablePointer<Float>
  /// `[N, hidden]` each.
  let hidden, hiddenGrad: UnsafeMutablePointer<Float>

  // Spatial gate.
  /// The averaged weight rows, `[C]`.
  let spatialWeight: UnsafeMutablePointer<Float>
  /// Logits, then gates in place: `[N, S]`.
  let spatialGate: UnsafeMutablePointer<Float>
  /// `sum_c dy_s * x`, then the logit gradient in place (backward): `[N, S]`.
  let spatialGrad: UnsafeMutablePointer<Float>
  /// Per tile weight gradient (backward): `[N, tiles, C]`.
  let tileWeightGrad: UnsafeMutablePointer<Float>
  /// Per tile bias gradient (backward): `[N, tiles]`.
  let tileBiasGrad: UnsafeMutablePointer<Float>
  /// Channels-first partial logits of channel blocks 1, 2, ... (block 0
  /// accumulates in `spatialGate`): `[N, channel blocks - 1, S]`.
  let partialLogits: UnsafeMutablePointer<Float>
  /// The same for `sum_c dy*x` (backward; block 0 is in `spatialGrad`).
  let partialGrads: UnsafeMutablePointer<Float>
  /// Spatial logits `z + b` (backward): `[N, S]`.
  let spatialLogit: UnsafeMutablePointer<Float>

  /// Allocates what `plan` needs, or returns `nil` when the size overflows
  /// or the allocation fails.
  static func make(for plan: BlockPlan, backward: Bool) -> Workspace? {
    let n = plan.batch, c = plan.channels, s = plan.spatial
    let tiles = plan.tiling.count, h = plan.hidden
    let hasChannel = plan.channelGate != nil, hasSpatial = plan.spatialGate != nil
    // Sizes in floats, in the order the buffers are carved; 0 = not needed.
    // Fixed-size vectors rather than arrays: an array would make the kernel
    // module emit a runtime metadata helper that every variant defines.
    var sizes = SIMD16<Int>()
    func product(_ a: Int, _ b: Int, _ c: Int = 1) -> Int? {
      let (ab, o1) = a.multipliedReportingOverflow(by: b)
      let (abc, o2) = ab.multipliedReportingOverflow(by: c)
      return o1 || o2 ? nil : abc
    }
    guard let perTileChannels = product(n, tiles, c), let perChannel = product(n, c),
          let perHidden = product(n, h), let perPosition = product(n, s),
          let perTile = product(n, tiles),
          let perBlockPosition = product(n, plan.tiling.channelBlocks - 1, s) else { return nil }
    if hasChannel {
      sizes[0] = perTileChannels
      sizes[1] = backward ? perTileChannels : 0
      sizes[2] = perChannel; sizes[3] = perChannel
      sizes[4] = backward ? perChannel : 0; sizes[5] = backward ? perChannel : 0
      sizes[6] = perHidden; sizes[7] = backward ? perHidden : 0
    }
    if hasSpatial {
      sizes[8] = c; sizes[9] = perPosition
      sizes[10] = backward ? perPosition : 0
      sizes[11] = backward ? perTileChannels : 0
      sizes[12] = backward ? perTile : 0
      sizes[15] = backward ? perPosition : 0
      if !plan.channelsLast {
        sizes[13] = perBlockPosition
        sizes[14] = backward ? perBlockPosition : 0
      }
    }
    // Each buffer starts on a 64-byte boundary.
    var offsets = SIMD16<Int>()
    var total = 0
    var i = 0
    while i < sizes.scalarCount {
      offsets[i] = total
      let (padded, o1) = sizes[i].addingReportingOverflow(15)
      let (next, o2) = total.addingReportingOverflow(padded / 16 * 16)
      if o1 || o2 { return nil }
      total = next
      i += 1
    }
    let (bytes, overflow) = Swift.max(total, 16).multipliedReportingOverflow(by: 4)
    if overflow { return nil }
    var raw: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&raw, 64, bytes) == 0, let raw else { return nil }
    let floats = raw.bindMemory(to: Float.self, capacity: total)
    return Workspace(storage: raw, floats: floats, offsets: offsets)
  }

  private init(storage: UnsafeMutableRawPointer, floats: UnsafeMutablePointer<Float>, offsets: SIMD16<Int>) {
    self.storage = storage
    tileSums = floats + offsets[0]
    tileDots = floats + offsets[1]
    mean = floats + offsets[2]
    channelGate = floats + offsets[3]
    channelLogitGrad = floats + offsets[4]
    channelInputGrad = floats + offsets[5]
    hidden = floats + offsets[6]
    hiddenGrad = floats + offsets[7]
    spatialWeight = floats + offsets[8]
    spatialGate = floats + offsets[9]
    spatialGrad = floats + offsets[10]
    tileWeightGrad = floats + offsets[11]
    tileBiasGrad = floats + offsets[12]
    partialLogits = floats + offsets[13]
    partialGrads = floats + offsets[14]
    spatialLogit = floats + offsets[15]
  }

  /// Releases the allocation; the workspace must not be used afterwards.
  func release() { free(storage) }
}
