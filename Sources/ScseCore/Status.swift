// What each scse_status means, in words; the C ABI's scse_status_string and
// the Swift API's error messages both read it.
import CScse

/// The description of `status` (a fixed text for unknown values).
package func statusMessage(_ status: scse_status) -> StaticString {
  switch status {
  case SCSE_STATUS_SUCCESS: return "success"
  case SCSE_STATUS_NULL_POINTER: return "a required pointer argument is NULL"
  case SCSE_STATUS_INVALID_SHAPE:
    return "a size is out of range (batch, channels, spatial and weight rows must be >= 1, hidden >= 0)"
  case SCSE_STATUS_SIZE_OVERFLOW: return "a buffer's element or byte count overflows"
  case SCSE_STATUS_INVALID_ENUM: return "unknown layout or aggregate value"
  case SCSE_STATUS_INVALID_ARGUMENT:
    return "inconsistent arguments (a gradient for a parameter the gate does not have, or a negative thread count)"
  case SCSE_STATUS_ALIASING: return "an output buffer overlaps an input or another output"
  case SCSE_STATUS_OUT_OF_MEMORY: return "out of memory for scratch buffers"
  default: return "unknown status code"
  }
}
