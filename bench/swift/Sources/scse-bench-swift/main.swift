// scse-bench-swift: the Swift driver of the benchmark (see Package.swift).
//
//   scse-bench-swift DATA_DIR N C SPATIAL HIDDEN first|last sum|max [THREADS]
//
// Same arguments, files and commands as bench/native/scse_bench.c ("check
// OUT_DIR", "time fwd|fwdbwd COUNT", "quit"; one reply line each), but every
// call goes through the Swift API: ChannelSpatialSELayer.forward(_:shape:into:)
// and backward(_:outputGradient:shape:inputGradient:) on buffers allocated
// once. THREADS (0 or absent: the library default) goes to ScseSettings.threadCount.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Scse

func reply(_ line: String) {
  print(line)
  fflush(nil)  // every stream: the reply must leave before the next command
}

func fail(_ message: String) -> Never {
  reply("error \(message)")
  exit(1)
}

func load(_ dir: String, _ name: String, _ count: Int) -> [Float] {
  var data = [Float](repeating: 0, count: count)
  guard let file = fopen("\(dir)/\(name)", "rb") else { fail("cannot open: \(dir)/\(name)") }
  defer { fclose(file) }
  let read = data.withUnsafeMutableBufferPointer { fread($0.baseAddress, 4, count, file) }
  if read != count { fail("short file: \(dir)/\(name)") }
  return data
}

func save(_ dir: String, _ name: String, _ data: UnsafeBufferPointer<Float>) {
  guard let file = fopen("\(dir)/\(name)", "wb"),
        fwrite(data.baseAddress, 4, data.count, file) == data.count
  else { fail("cannot write: \(dir)/\(name)") }
  fclose(file)
}

func nowNs() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec)
}

let args = CommandLine.arguments
guard args.count == 8 || args.count == 9 else {
  fail("usage: scse-bench-swift DATA_DIR N C SPATIAL HIDDEN first|last sum|max [THREADS]")
}
guard let n = Int(args[2]), let c = Int(args[3]), let s = Int(args[4]), let hidden = Int(args[5])
else { fail("not an integer") }
let dir = args[1]
let layout: TensorLayout = args[6] == "last" ? .channelsLast : .channelsFirst
let aggregate: Aggregate = args[7] == "max" ? .max : .sum
let shape = TensorShape(batch: n, channels: c, spatial: [s], layout: layout)
let total = n * c * s

var block = ChannelSpatialSELayer(channels: c, hidden: hidden, aggregate: aggregate, bias: true)
block.channelGate.fc1Weight = load(dir, "fc1_weight", hidden * c)
block.channelGate.fc1Bias = load(dir, "fc1_bias", hidden)
block.channelGate.fc2Weight = load(dir, "fc2_weight", c * hidden)
block.channelGate.fc2Bias = load(dir, "fc2_bias", c)
block.spatialGate.weight = load(dir, "conv_weight", c)
block.spatialGate.bias = load(dir, "conv_bias", 1)[0]
let x = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
let gradY = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
let y = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
let gradX = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
_ = x.initialize(from: load(dir, "x", total))
_ = gradY.initialize(from: load(dir, "grad_y", total))
y.initialize(repeating: 0)  // touched now, so first-touch faults stay out of the timings
gradX.initialize(repeating: 0)

@MainActor func forward() {
  do { try block.forward(UnsafeBufferPointer(x), shape: shape, into: y) } catch { fail("forward: \(error)") }
}

@MainActor func backward() -> ChannelSpatialSELayer.Gradients {
  do {
    return try block.backward(UnsafeBufferPointer(x), outputGradient: UnsafeBufferPointer(gradY),
                              shape: shape, inputGradient: gradX)
  } catch { fail("backward: \(error)") }
}

@MainActor func check(_ out: String) {
  forward()
  let grads = backward()
  save(out, "y", UnsafeBufferPointer(y))
  save(out, "grad_x", UnsafeBufferPointer(gradX))
  let named: [(String, [Float])] = [
    ("fc1_weight", grads.channelGate.fc1Weight), ("fc1_bias", grads.channelGate.fc1Bias ?? []),
    ("fc2_weight", grads.channelGate.fc2Weight), ("fc2_bias", grads.channelGate.fc2Bias ?? []),
    ("conv_weight", grads.spatialGate.weight), ("conv_bias", [grads.spatialGate.bias ?? 0]),
  ]
  for (name, values) in named { values.withUnsafeBufferPointer { save(out, name, $0) } }
  reply("ok")
}

@MainActor func time(_ pass: String, _ count: Int) {
  guard pass == "fwd" || pass == "fwdbwd", count >= 1 else { fail("bad time command: \(pass)") }
  let start = nowNs()
  for _ in 0..<count {
    forward()
    if pass == "fwdbwd" { _ = backward() }
  }
  reply("ns \(Int(nowNs() - start))")
}

guard let threads = Int(args.count == 9 ? args[8] : "0"), threads >= 0 else { fail("bad thread count") }
ScseSettings.threadCount = threads
reply("ready threads=\(ScseSettings.threadCount) version=swift isa=\(ScseSettings.instructionSet)")
while let line = readLine() {
  let words = line.split(separator: " ").map(String.init)
  switch (words.first, words.count) {
  case ("quit", _): exit(0)
  case ("check", 2): check(words[1])
  case ("time", 3): time(words[1], Int(words[2]) ?? 0)
  default: fail("unknown command: \(line)")
  }
}
