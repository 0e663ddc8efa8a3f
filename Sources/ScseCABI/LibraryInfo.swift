// Version, status messages, the thread-count setting and the kernel variant.
import CScse
import ScseCore
import ScseDispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A NUL-terminated static C string; `StaticString` storage lives for the
/// whole process, so handing its address to C is safe.
private func cString(_ text: StaticString) -> UnsafePointer<CChar> {
  UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// "MAJOR.MINOR.PATCH" from the header's macros, made once and never
/// freed; read-only after that, so sharing it between threads is safe.
nonisolated(unsafe) private let versionString: UnsafePointer<CChar> =
  UnsafePointer(strdup("\(SCSE_VERSION_MAJOR).\(SCSE_VERSION_MINOR).\(SCSE_VERSION_PATCH)")!)

@c @implementation
public func scse_version() -> UnsafePointer<CChar>? {
  versionString
}

@c @implementation
public func scse_status_string(_ status: scse_status) -> UnsafePointer<CChar>? {
  cString(statusMessage(status))
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

@c @implementation
public func scse_cpu_isa() -> UnsafePointer<CChar>? {
  cString(activeInstructionSet.name)
}
