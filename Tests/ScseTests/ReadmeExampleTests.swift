import Foundation
import Scse
import Testing

/// The Swift examples of the documentation, run as a test. In docs/swift.md
/// the ```swift block between `<!-- swift-example:begin -->` and
/// `<!-- swift-example:end -->` must be `import Scse`, a blank line and the
/// code between the `docs-swift-example` comments below (unindented, without
/// the `front-page-swift-example` marker lines); in README.md the block
/// between the same markers must be `import Scse`, a blank line and the code
/// between the `front-page-swift-example` comments. So the documentation
/// cannot drift from code that compiles and runs.
@Suite struct ReadmeExampleTests {
  @Test func exampleRunsAndMatchesTheReference() throws {
    // docs-swift-example:begin
    // front-page-swift-example:begin
    // An scSE block for 64 channels with a bottleneck of 64 / 16 = 4, its
    // parameters drawn as PyTorch initialises them (the seed makes them
    // reproducible). Trained values can be assigned to its parameter arrays,
    // e.g. block.channelGate.fc1Weight, in PyTorch's layout.
    let block = ChannelSpatialSELayer(channels: 64, reductionRatio: 16, aggregate: .sum, seed: 7)

    // Two feature maps of 64 channels x 16 x 16, flat in PyTorch's NCHW order
    // (layout: .channelsLast for NHWC).
    let shape = TensorShape(batch: 2, channels: 64, spatial: [16, 16], layout: .channelsFirst)
    let x = (0..<shape.elementCount!).map { Float($0 % 97) / 97 }

    let y = try block.forward(x, shape: shape)  // same shape and layout as x
    // front-page-swift-example:end

    // Backward: given dL/dy, the gradients for x and for every parameter.
    let dy = y.map { 2 * $0 }  // for L = sum(y * y)
    let (dx, grads) = try block.backward(x, outputGradient: dy, shape: shape)
    print(dx.count, grads.channelGate.fc1Weight.count, grads.spatialGate.weight.count)  // 32768 256 64

    // No copies: run on memory you own, here in place.
    var features = x
    try features.withUnsafeMutableBufferPointer { buffer in
      try block.forward(UnsafeBufferPointer(buffer), shape: shape, into: buffer)
    }
    // docs-swift-example:end

    #expect(dx.count == 32768 && grads.channelGate.fc1Weight.count == 256)
    #expect(grads.spatialGate.weight.count == 64)
    let p = referenceProblem(
      .scse(.sum), shape: shape, x: x, gy: dy, channel: block.channelGate, spatial: block.spatialGate)
    // float32 and float64 may only be compared away from ReLU kinks.
    try #require(Reference.reluMargin(p.reference) >= 1e-3)
    let forward = Expected(p, backward: false)
    expectForward(y, forward, "README example")
    expectForward(features, forward, "README example in place")
    expectBackward(dx: dx, gradientSlots(grads), p, Expected(p, backward: true), "README example")
  }

  static let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// The lines strictly between the lines equal (after trimming) to `begin`
  /// and `end`; nil unless each occurs exactly once, in that order.
  static func lines(of text: String, between begin: String, and end: String) -> [Substring]? {
    // \.isNewline also splits "\r\n", a single Character in Swift.
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    let trimmed = lines.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    guard trimmed.filter({ $0 == begin }).count == 1, trimmed.filter({ $0 == end }).count == 1,
      let first = trimmed.firstIndex(of: begin), let last = trimmed.firstIndex(of: end), first < last
    else { return nil }
    return Array(lines[(first + 1)..<last])
  }

  /// The example code between `// <name>:begin` and `// <name>:end` in this
  /// file, unindented, with the marker lines of nested regions left out,
  /// after `import Scse` and a blank line: what the documentation must show.
  static func example(_ name: String) throws -> [String] {
    let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
    let region = try #require(Self.lines(of: source, between: "// \(name):begin", and: "// \(name):end"))
    let indent = "    "
    var code: [String] = []
    for line in region {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.hasPrefix("// ") && (trimmed.hasSuffix("-example:begin") || trimmed.hasSuffix("-example:end")) {
        continue
      }
      if line.isEmpty {
        code.append("")
        continue
      }
      try #require(line.hasPrefix(indent), "example line not indented by 4 spaces: \(line)")
      code.append(String(line.dropFirst(indent.count)))
    }
    return ["import Scse", ""] + code
  }

  /// Records an issue unless `path`'s ```swift block between its
  /// swift-example markers is exactly `expected`.
  static func expectDocument(_ path: String, shows expected: [String]) {
    let url = Self.root.appending(path: path)
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
      Issue.record("\(url.path) is missing")
      return
    }
    guard let section = Self.lines(of: text, between: "<!-- swift-example:begin -->", and: "<!-- swift-example:end -->")
    else {
      Issue.record("\(path) needs one <!-- swift-example:begin --> and one <!-- swift-example:end --> line")
      return
    }
    guard let block = Self.lines(of: section.joined(separator: "\n"), between: "```swift", and: "```") else {
      Issue.record("\(path) has no ```swift block between its swift-example markers")
      return
    }
    let shown = block.map(String.init)
    let lineCount = max(shown.count, expected.count)
    if let i = (0..<lineCount).first(where: { $0 >= shown.count || $0 >= expected.count || shown[$0] != expected[$0] }) {
      Issue.record(
        """
        \(path)'s Swift example differs from ReadmeExampleTests at line \(i + 1) of the block:
          doc:  \(i < shown.count ? shown[i] : "<end of block>")
          test: \(i < expected.count ? expected[i] : "<end of example>")
        """)
    }
  }

  @Test func swiftGuideShowsExactlyThisExample() throws {
    Self.expectDocument("docs/swift.md", shows: try Self.example("docs-swift-example"))
  }

  @Test func readmeShowsExactlyTheFrontPagePart() throws {
    Self.expectDocument("README.md", shows: try Self.example("front-page-swift-example"))
  }
}
