// The one way into the kernels, shared by the C ABI (ScseCABI) and the
// Swift API (Scse): validate the call once, then run it on the kernel
// variant chosen for this process.
//
// The kernels (Sources/ScseKernels) are compiled once per instruction set,
// as modules ScseKernelsBaseline and, on x86-64, ScseKernelsAVX2. The build
// files decide which exist (Package.swift, cmake/modules/ScseKernelVariants.cmake);
// this file uses those it can import.
import CScse
import ScseCore
import ScseKernelsBaseline
#if canImport(ScseKernelsAVX2)
import ScseKernelsAVX2
#endif

/// The entry points of one compiled variant of the kernels.
private struct Kernels: Sendable {
  let instructionSet: InstructionSet
  let forward: @Sendable (BlockPlan, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Bool
  let backward: @Sendable (BlockPlan, UnsafePointer<Float>, UnsafePointer<Float>,
                           UnsafeMutablePointer<Float>, ChannelGateGradients, SpatialGateGradients) -> Bool
}

/// Every variant this build holds.
private let compiledKernels: [Kernels] = {
  var all = [Kernels(instructionSet: .baseline, forward: ScseKernelsBaseline.runForward,
                     backward: ScseKernelsBaseline.runBackward)]
  #if canImport(ScseKernelsAVX2)
  all.append(Kernels(instructionSet: .avx2, forward: ScseKernelsAVX2.runForward,
                     backward: ScseKernelsAVX2.runBackward))
  #endif
  return all
}()

/// The variant this process runs, chosen on first use.
private let activeKernels: Kernels = {
  let chosen = InstructionSet.choose(from: compiledKernels.map(\.instructionSet))
  return compiledKernels.first { $0.instructionSet == chosen }!
}()

/// The instruction set of the kernels this process runs.
package var activeInstructionSet: InstructionSet { activeKernels.instructionSet }

/// Runs a forward call (`call.isBackward` false).
/// - Returns: the status the C ABI reports; on failure nothing was written.
package func runForward(_ call: RawCall) -> scse_status {
  do {
    let valid = try validate(call)
    return activeKernels.forward(valid.plan, valid.x, valid.out)
      ? SCSE_STATUS_SUCCESS : SCSE_STATUS_OUT_OF_MEMORY
  } catch {
    return error.status
  }
}

/// Runs a backward call (`call.isBackward` is set here).
/// - Returns: the status the C ABI reports; on failure nothing was written.
package func runBackward(_ call: RawCall) -> scse_status {
  var call = call
  call.isBackward = true
  do {
    let valid = try validate(call)
    let done = activeKernels.backward(valid.plan, valid.x, valid.gradY!, valid.out,
                                      valid.channelGrads, valid.spatialGrads)
    return done ? SCSE_STATUS_SUCCESS : SCSE_STATUS_OUT_OF_MEMORY
  } catch {
    return error.status
  }
}
