import Scse
import Testing

/// In-place calls through buffer pointers: forward `into:` the memory of x,
/// backward with `inputGradient:` the memory of `outputGradient:`.
@Suite struct SwiftAPIInPlaceTests {
  @Test(arguments: APICase.all)
  func channelLayer(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.cse))
    let layer = c.channelLayer(p)
    let y = try BufferCall.forward(p.x, inPlace: true) { x, y throws(ScseError) in
      #expect(x.baseAddress == UnsafePointer(y.baseAddress))
      try layer.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, Expected(p, backward: false), "\(c) in place")
    let (dx, grads) = try BufferCall.backward(p.x, p.gy, inPlace: true) { x, gy, dx throws(ScseError) in
      #expect(gy.baseAddress == UnsafePointer(dx.baseAddress))
      return try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    expectBackward(dx: dx, gradientSlots(grads), p, Expected(p, backward: true), "\(c) in place")
  }

  @Test(arguments: APICase.all)
  func spatialLayer(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.sse))
    let layer = c.spatialLayer(p)
    let y = try BufferCall.forward(p.x, inPlace: true) { x, y throws(ScseError) in
      try layer.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, Expected(p, backward: false), "\(c) in place")
    let (dx, grads) = try BufferCall.backward(p.x, p.gy, inPlace: true) { x, gy, dx throws(ScseError) in
      try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    expectBackward(dx: dx, gradientSlots(grads), p, Expected(p, backward: true), "\(c) in place")
  }

  @Test(arguments: APICase.all)
  func spatialLayerWithFewShotWeights(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.sse, rows: c.rows, bias: false))
    let layer = SpatialSELayer(channels: c.channels, bias: c.bias, seed: c.seed)
    let fewShot = p.params[.sw]!
    let y = try BufferCall.forward(p.x, inPlace: true) { x, y throws(ScseError) in
      try layer.forward(x, shape: c.shape, into: y, fewShotWeights: fewShot)
    }
    expectForward(y, Expected(p, backward: false), "\(c) few-shot in place")
    let (dx, grads) = try BufferCall.backward(p.x, p.gy, inPlace: true) { x, gy, dx throws(ScseError) in
      try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx, fewShotWeights: fewShot)
    }
    expectBackward(
      dx: dx, [.sw: grads.fewShotWeights ?? []], p, Expected(p, backward: true), "\(c) few-shot in place")
  }

  @Test(arguments: APICase.all, [Aggregate.sum, .max])
  func block(_ c: APICase, _ aggregate: Aggregate) throws {
    let p = Problem.wellConditioned(c.spec(.scse(aggregate)))
    let block = c.block(p, apiAggregate(aggregate))
    let y = try BufferCall.forward(p.x, inPlace: true) { x, y throws(ScseError) in
      try block.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, Expected(p, backward: false), "\(c) \(aggregate) in place")
    let (dx, grads) = try BufferCall.backward(p.x, p.gy, inPlace: true) { x, gy, dx throws(ScseError) in
      try block.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    expectBackward(
      dx: dx, gradientSlots(grads), p, Expected(p, backward: true), "\(c) \(aggregate) in place")
  }
}
