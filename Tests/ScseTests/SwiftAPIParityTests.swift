import Scse
import Testing

/// The Swift API's layers against the float64 reference: forward and
/// backward over arrays and over buffer pointers, both layouts, with and
/// without biases, every spatial rank, hidden widths from the reduction
/// ratio and explicit (0 included), few-shot weights, sum and max.
@Suite struct SwiftAPIParityTests {
  @Test(arguments: APICase.all)
  func channelLayer(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.cse))
    let layer = c.channelLayer(p)
    let forward = Expected(p, backward: false)
    let backward = Expected(p, backward: true)

    expectForward(try layer.forward(p.x, shape: c.shape), forward, "\(c) arrays")
    let (dx, grads) = try layer.backward(p.x, outputGradient: p.gy, shape: c.shape)
    expectBackward(dx: dx, gradientSlots(grads), p, backward, "\(c) arrays")

    let y = try BufferCall.forward(p.x) { x, y throws(ScseError) in
      try layer.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, forward, "\(c) buffers")
    let (bdx, bgrads) = try BufferCall.backward(p.x, p.gy) { x, gy, dx throws(ScseError) in
      try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    expectBackward(dx: bdx, gradientSlots(bgrads), p, backward, "\(c) buffers")
  }

  @Test(arguments: APICase.all)
  func spatialLayer(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.sse))
    let layer = c.spatialLayer(p)
    let forward = Expected(p, backward: false)
    let backward = Expected(p, backward: true)

    expectForward(try layer.forward(p.x, shape: c.shape), forward, "\(c) arrays")
    let (dx, grads) = try layer.backward(p.x, outputGradient: p.gy, shape: c.shape)
    #expect(grads.fewShotWeights == nil)
    expectBackward(dx: dx, gradientSlots(grads), p, backward, "\(c) arrays")

    let y = try BufferCall.forward(p.x) { x, y throws(ScseError) in
      try layer.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, forward, "\(c) buffers")
    let (bdx, bgrads) = try BufferCall.backward(p.x, p.gy) { x, gy, dx throws(ScseError) in
      try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    #expect(bgrads.fewShotWeights == nil)
    expectBackward(dx: bdx, gradientSlots(bgrads), p, backward, "\(c) buffers")
  }

  /// Few-shot weights [K, C] replace the layer's weight and bias: the
  /// reference is the K-row gate without bias, whatever the layer holds. The
  /// gradient goes to the few-shot weights ([K, C]); the layer's own
  /// parameters get zeros.
  @Test(arguments: APICase.all)
  func spatialLayerWithFewShotWeights(_ c: APICase) throws {
    let p = Problem.wellConditioned(c.spec(.sse, rows: c.rows, bias: false))
    let fewShot = p.params[.sw]!
    #expect(fewShot.count == c.rows * c.channels)
    // The layer's own (initialised) parameters must play no part.
    let layer = SpatialSELayer(channels: c.channels, bias: c.bias, seed: c.seed &+ 99)
    let forward = Expected(p, backward: false)
    let backward = Expected(p, backward: true)

    func check(_ dx: [Float], _ grads: SpatialSELayer.Gradients, _ what: String) {
      #expect(grads.weight == [Float](repeating: 0, count: c.channels), "\(what): layer weight gradient")
      #expect(grads.bias == (c.bias ? 0 : nil), "\(what): layer bias gradient")
      expectBackward(dx: dx, [.sw: grads.fewShotWeights ?? []], p, backward, what)
    }

    let y = try layer.forward(p.x, shape: c.shape, fewShotWeights: fewShot)
    expectForward(y, forward, "\(c) few-shot arrays")
    let (dx, grads) = try layer.backward(p.x, outputGradient: p.gy, shape: c.shape, fewShotWeights: fewShot)
    check(dx, grads, "\(c) few-shot arrays")

    let by = try BufferCall.forward(p.x) { x, y throws(ScseError) in
      try layer.forward(x, shape: c.shape, into: y, fewShotWeights: fewShot)
    }
    expectForward(by, forward, "\(c) few-shot buffers")
    let (bdx, bgrads) = try BufferCall.backward(p.x, p.gy) { x, gy, dx throws(ScseError) in
      try layer.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx, fewShotWeights: fewShot)
    }
    check(bdx, bgrads, "\(c) few-shot buffers")
  }

  @Test(arguments: APICase.all, [Aggregate.sum, .max])
  func block(_ c: APICase, _ aggregate: Aggregate) throws {
    let p = Problem.wellConditioned(c.spec(.scse(aggregate)))
    let block = c.block(p, apiAggregate(aggregate))
    #expect(block.channels == c.channels && block.aggregate == apiAggregate(aggregate))
    let forward = Expected(p, backward: false)
    let backward = Expected(p, backward: true)

    expectForward(try block.forward(p.x, shape: c.shape), forward, "\(c) \(aggregate) arrays")
    let (dx, grads) = try block.backward(p.x, outputGradient: p.gy, shape: c.shape)
    #expect(grads.spatialGate.fewShotWeights == nil)
    expectBackward(dx: dx, gradientSlots(grads), p, backward, "\(c) \(aggregate) arrays")

    let y = try BufferCall.forward(p.x) { x, y throws(ScseError) in
      try block.forward(x, shape: c.shape, into: y)
    }
    expectForward(y, forward, "\(c) \(aggregate) buffers")
    let (bdx, bgrads) = try BufferCall.backward(p.x, p.gy) { x, gy, dx throws(ScseError) in
      try block.backward(x, outputGradient: gy, shape: c.shape, inputGradient: dx)
    }
    expectBackward(dx: bdx, gradientSlots(bgrads), p, backward, "\(c) \(aggregate) buffers")
  }

  /// Layers used with the parameters their initialisers drew (hidden 0
  /// included, where fc2's bias is zeros and so the channel gate is 0.5).
  @Test(arguments: [(4, 2), (3, 4), (16, 16)], TensorLayout.allCases)
  func initialisedLayers(_ widths: (Int, Int), _ layout: TensorLayout) throws {
    let (channels, ratio) = widths
    let shape = TensorShape(batch: 2, channels: channels, spatial: [3, 5], layout: layout)
    var rng = SplitMix64(seed: UInt64(channels * 10 + ratio))
    let x = rng.uniformArray(shape.elementCount!, -2, 2)
    let gy = rng.uniformArray(shape.elementCount!, -1, 1)
    let what = "C=\(channels) r=\(ratio) \(layout)"

    func check(_ p: Problem<Float>, y: [Float], dx: [Float], grads: [Slot: [Float]]) throws {
      // Kinks (ReLU at 0, ties of max) would make float32 and float64
      // legitimately disagree; these fixed inputs are well away from them.
      try #require(Reference.reluMargin(p.reference) >= 1e-3, "\(what) \(p.spec.op): ReLU input near 0")
      try #require(Reference.nearTies(p.reference, margin: 1e-4).isEmpty, "\(what) \(p.spec.op): near tie")
      expectForward(y, Expected(p, backward: false), "\(what) \(p.spec.op)")
      expectBackward(dx: dx, grads, p, Expected(p, backward: true), "\(what) \(p.spec.op)")
    }

    for aggregate in [Aggregate.sum, .max] {
      let block = ChannelSpatialSELayer(
        channels: channels, reductionRatio: ratio, aggregate: apiAggregate(aggregate), seed: 11)
      let (cse, sse) = (block.channelGate, block.spatialGate)
      #expect(cse.hidden == channels / ratio)

      let (cdx, cgrads) = try cse.backward(x, outputGradient: gy, shape: shape)
      try check(
        referenceProblem(.cse, shape: shape, x: x, gy: gy, channel: cse),
        y: try cse.forward(x, shape: shape), dx: cdx, grads: gradientSlots(cgrads))

      let (sdx, sgrads) = try sse.backward(x, outputGradient: gy, shape: shape)
      try check(
        referenceProblem(.sse, shape: shape, x: x, gy: gy, spatial: sse),
        y: try sse.forward(x, shape: shape), dx: sdx, grads: gradientSlots(sgrads))

      let (bdx, bgrads) = try block.backward(x, outputGradient: gy, shape: shape)
      try check(
        referenceProblem(.scse(aggregate), shape: shape, x: x, gy: gy, channel: cse, spatial: sse),
        y: try block.forward(x, shape: shape), dx: bdx, grads: gradientSlots(bgrads))
    }
  }
}
