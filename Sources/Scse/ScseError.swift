// Errors of the Swift API: one case per way a call can be rejected.
package import CScse
internal import ScseCore

/// An error thrown by the Swift API. No output has been written when it is
/// thrown.
public enum ScseError: Error, CustomStringConvertible, Hashable, Sendable {
  /// A size does not fit: a buffer whose count does not match the shape, a
  /// channel mismatch, a spatial rank outside 1...3, an extent below 1, or
  /// parameter arrays whose sizes no longer match the layer. The text names
  /// the offending sizes.
  case invalidShape(String)
  /// An element or byte count of the call overflows.
  case sizeOverflow
  /// An output partly overlaps an input or another output (exactly the
  /// input's memory is allowed where the call says so).
  case aliasing
  /// The call's scratch memory could not be allocated.
  case outOfMemory
  /// A rejection the Swift API's own checks should make impossible (a NULL
  /// pointer, an unknown enum value, an inconsistent gradient request), with
  /// the library's description.
  case invalidArgument(String)

  /// A human-readable description of what went wrong.
  public var message: String {
    switch self {
    case .invalidShape(let text), .invalidArgument(let text): text
    case .sizeOverflow: Self.text(SCSE_STATUS_SIZE_OVERFLOW)
    case .aliasing: Self.text(SCSE_STATUS_ALIASING)
    case .outOfMemory: Self.text(SCSE_STATUS_OUT_OF_MEMORY)
    }
  }

  /// The same as ``message``.
  public var description: String { message }

  /// The `scse_status` of include/scse.h that describes the failure.
  package var status: scse_status {
    switch self {
    case .invalidShape: SCSE_STATUS_INVALID_SHAPE
    case .sizeOverflow: SCSE_STATUS_SIZE_OVERFLOW
    case .aliasing: SCSE_STATUS_ALIASING
    case .outOfMemory: SCSE_STATUS_OUT_OF_MEMORY
    case .invalidArgument: SCSE_STATUS_INVALID_ARGUMENT
    }
  }

  private static func text(_ status: scse_status) -> String { "\(statusMessage(status))" }

  /// Throws the error for any status other than success.
  static func check(_ status: scse_status) throws(ScseError) {
    switch status {
    case SCSE_STATUS_SUCCESS: return
    case SCSE_STATUS_INVALID_SHAPE: throw .invalidShape(text(status))
    case SCSE_STATUS_SIZE_OVERFLOW: throw .sizeOverflow
    case SCSE_STATUS_ALIASING: throw .aliasing
    case SCSE_STATUS_OUT_OF_MEMORY: throw .outOfMemory
    default: throw .invalidArgument(text(status))
    }
  }
}
