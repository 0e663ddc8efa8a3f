// The one way into the kernels, shared by the C ABI (ScseCABI) and the
// Swift API (Scse): validate the call once, then run it.
import CScse
import ScseCore
import ScseKernels

/// Runs a forward call (`call.isBackward` false).
/// - Returns: the status the C ABI reports; on failure nothing was written.
package func runForward(_ call: RawCall) -> scse_status {
  do {
    let valid = try validate(call)
    return ScseKernels.runForward(valid.plan, x: valid.x, y: valid.out)
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
    let done = ScseKernels.runBackward(
      valid.plan, x: valid.x, gradY: valid.gradY!, gradX: valid.out,
      channelGrads: valid.channelGrads, spatialGrads: valid.spatialGrads)
    return done ? SCSE_STATUS_SUCCESS : SCSE_STATUS_OUT_OF_MEMORY
  } catch {
    return error.status
  }
}
