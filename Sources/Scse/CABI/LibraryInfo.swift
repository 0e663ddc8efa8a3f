// Version, status messages and the thread-count setting.
import CScse

/// A NUL-terminated static C string; `StaticString` storage lives for the
/// whole process, so handing its address to C is safe.
private func cString(_ text: StaticString) -> UnsafePointer<CChar> {
  UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c @implementation
public func scse_version() -> UnsafePointer<CChar>? {
  cString(libraryVersion)
}

@c @implementation
public func scse_status_string(_ status: scse_status) -> UnsafePointer<CChar>? {
  switch status {
  case SCSE_STATUS_SUCCESS: return cString("success")
  case SCSE_STATUS_NULL_POINTER: return cString("a required pointer argument is NULL")
  case SCSE_STATUS_INVALID_SHAPE:
    return cString("a size is out of range (batch, channels, spatial and weight rows must be >= 1, hidden >= 0)")
  case SCSE_STATUS_SIZE_OVERFLOW: return cString("a buffer's element or byte count overflows")
  case SCSE_STATUS_INVALID_ENUM: return cString("unknown layout or aggregate value")
  case SCSE_STATUS_INVALID_ARGUMENT:
    return cString("inconsistent arguments (a gradient for a parameter the gate does not have, or a negative thread count)")
  case SCSE_STATUS_ALIASING: return cString("an output buffer overlaps an input or another output")
  case SCSE_STATUS_OUT_OF_MEMORY: return cString("out of memory for scratch buffers")
  default: return cString("unknown status code")
  }
}

@c @implementation
public func scse_set_num_threads(_ num_threads: Int32) -> scse_status {
  guard num_threads >= 0 else { return SCSE_STATUS_INVALID_ARGUMENT }
  ThreadCount.set(num_threads)
  return SCSE_STATUS_SUCCESS
}

@c @implementation
public func scse_get_num_threads() -> Int32 {
  Int32(clamping: ThreadCount.current)
}
