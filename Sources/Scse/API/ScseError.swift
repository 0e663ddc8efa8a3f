// Errors of the Swift API: a library status, or a Swift-side size mismatch.
import CScse

/// An error thrown by the Swift API. No output has been written when it is
/// thrown.
///
/// Two kinds of failure produce it:
/// - checks made in Swift before calling the library (a buffer whose count
///   does not match the shape, a channel mismatch, a spatial rank outside
///   1...3, an extent below 1, parameter arrays whose sizes no longer match
///   the layer): ``status`` is `SCSE_STATUS_INVALID_SHAPE` (2) and
///   ``message`` names the offending sizes;
/// - a status returned by the library (e.g. `SCSE_STATUS_ALIASING` (6) for an
///   output that partly overlaps an input, `SCSE_STATUS_SIZE_OVERFLOW` (3)):
///   ``message`` is the library's description of that status.
public struct ScseError: Error, CustomStringConvertible, Hashable, Sendable {
  /// The raw value of the `scse_status` (include/scse.h) that describes the
  /// failure; never 0 (success).
  public let status: Int
  /// A human-readable description of what went wrong.
  public let message: String

  /// The same as ``message``.
  public var description: String { message }

  init(status: scse_status) {
    self.status = Int(status.rawValue)
    self.message = String(cString: scse_status_string(status)!)
  }

  init(mismatch message: String) {
    self.status = Int(SCSE_STATUS_INVALID_SHAPE.rawValue)
    self.message = message
  }

  /// Throws for any status other than success.
  static func check(_ status: scse_status) throws(ScseError) {
    if status != SCSE_STATUS_SUCCESS { throw ScseError(status: status) }
  }
}
