// Byte ranges of the caller's buffers, to reject overlaps the header forbids.

/// A buffer's bytes `[start, end)`; empty buffers overlap nothing.
struct ByteRange {
  let start: UInt
  let end: UInt

  /// - Precondition: `start + byteCount` does not wrap (checked by the caller).
  init?(_ pointer: UnsafeRawPointer?, byteCount: Int) {
    guard let pointer, byteCount > 0 else { return nil }
    start = UInt(bitPattern: pointer)
    end = start + UInt(byteCount)
  }

  func overlaps(_ other: ByteRange) -> Bool { start < other.end && other.start < end }
}

/// True when a buffer of `byteCount` bytes at `pointer` would run past the
/// end of the address space.
func wrapsAddressSpace(_ pointer: UnsafeRawPointer?, byteCount: Int) -> Bool {
  guard let pointer else { return false }
  let (_, overflow) = UInt(bitPattern: pointer).addingReportingOverflow(UInt(byteCount))
  return overflow
}

/// Checks the aliasing rule shared by every entry point: outputs overlap no
/// input and no other output, except that `outputs[0]` may be exactly
/// `inputs[inPlacePartner]` (y over x in forward, grad x over grad y in
/// backward). The exemption is by position, so another input that merely
/// starts at the same address is still an overlap.
func aliasingAllowed(inputs: [ByteRange?], outputs: [ByteRange?], inPlacePartner: Int) -> Bool {
  for (i, output) in outputs.enumerated() {
    guard let output else { continue }
    for (j, input) in inputs.enumerated() {
      guard let input, output.overlaps(input) else { continue }
      let exactInPlace = i == 0 && j == inPlacePartner
        && input.start == output.start && input.end == output.end
      if !exactInPlace { return false }
    }
    for other in outputs[(i + 1)...] {
      if let other, output.overlaps(other) { return false }
    }
  }
  return true
}
