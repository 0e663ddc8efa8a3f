// Errors of the Swift API: a library status, or a Swift-side size mismatch.
import CScse

/// An error raised by the Swift API.
public struct ScseError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The library status (`scse_status`) raw value; 0 for Swift-side checks.
  public let status: Int
  /// What went wrong.
  public let message: String

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
