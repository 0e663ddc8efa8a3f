// Bridging Swift arrays to the C structs of include/scse.h for one call.
internal import CScse

/// Calls `body` with the base address of `array`, or `nil` for a `nil` array.
@inline(__always)
func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let array else { return body(nil) }
  return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Calls `body` with a mutable base address for `array` when `wanted`.
@inline(__always)
func withOptionalMutablePointer<R>(_ array: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
  guard array != nil else { return body(nil) }
  return array!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

/// A new array of `count` floats, filled by `body`, which must write every
/// element when it returns normally. Spares the array-based calls a zeroing
/// pass over their output; on a throw nothing was written and no array is
/// made.
func makeFloatArray<R>(
  count: Int, _ body: (UnsafeMutableBufferPointer<Float>) throws(ScseError) -> R
) throws(ScseError) -> (array: [Float], result: R) {
  var outcome: Result<R, ScseError>?
  let array = [Float](unsafeUninitializedCapacity: count) { buffer, initializedCount in
    do throws(ScseError) {
      outcome = .success(try body(buffer))
      initializedCount = count
    } catch {
      outcome = .failure(error)
    }
  }
  return (array, try outcome!.get())
}

extension ChannelSELayer {
  /// Calls `body` with this layer's parameters as a `scse_channel_gate`.
  func withGate<R>(_ body: (UnsafePointer<scse_channel_gate>) -> R) -> R {
    fc1Weight.withUnsafeBufferPointer { w1 in
      fc2Weight.withUnsafeBufferPointer { w2 in
        withOptionalPointer(fc1Bias) { b1 in
          withOptionalPointer(fc2Bias) { b2 in
            var gate = scse_channel_gate(hidden: Int64(hidden), fc1_weight: w1.baseAddress,
                                         fc1_bias: b1, fc2_weight: w2.baseAddress, fc2_bias: b2)
            return body(&gate)
          }
        }
      }
    }
  }

  /// Calls `body` with `gradients` as a `scse_channel_gate_grad`.
  static func withGradients<R>(_ gradients: inout Gradients,
                               _ body: (UnsafePointer<scse_channel_gate_grad>) -> R) -> R {
    gradients.fc1Weight.withUnsafeMutableBufferPointer { w1 in
      gradients.fc2Weight.withUnsafeMutableBufferPointer { w2 in
        withOptionalMutablePointer(&gradients.fc1Bias) { b1 in
          withOptionalMutablePointer(&gradients.fc2Bias) { b2 in
            var grad = scse_channel_gate_grad(fc1_weight_out: w1.baseAddress, fc1_bias_out: b1,
                                              fc2_weight_out: w2.baseAddress, fc2_bias_out: b2)
            return body(&grad)
          }
        }
      }
    }
  }
}

extension SpatialSELayer {
  /// Calls `body` with the gate, using `fewShotWeights` (`[K, C]`) instead of
  /// the layer's own parameters when given.
  func withGate<R>(fewShotWeights: [Float]?, _ body: (UnsafePointer<scse_spatial_gate>) -> R) -> R {
    let rows = fewShotWeights.map { $0.count / channels } ?? 1
    return (fewShotWeights ?? weight).withUnsafeBufferPointer { w in
      withOptionalPointer(fewShotWeights == nil ? bias.map { [$0] } : nil) { b in
        var gate = scse_spatial_gate(weight_rows: Int64(rows), weight: w.baseAddress, bias: b)
        return body(&gate)
      }
    }
  }

  /// Calls `body` with `gradients` as a `scse_spatial_gate_grad`.
  static func withGradients<R>(_ weight: inout [Float], _ bias: inout [Float]?,
                               _ body: (UnsafePointer<scse_spatial_gate_grad>) -> R) -> R {
    weight.withUnsafeMutableBufferPointer { w in
      withOptionalMutablePointer(&bias) { b in
        var grad = scse_spatial_gate_grad(weight_out: w.baseAddress, bias_out: b)
        return body(&grad)
      }
    }
  }
}
