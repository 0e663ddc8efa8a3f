// The C entry points declared in include/scse.h. `@c @implementation` makes
// the compiler check each signature against the header. Each one only
// gathers its arguments, validates them and runs the kernels.
import CScse

private func forward(_ call: RawCall) -> scse_status {
  do {
    let valid = try validate(call)
    return runForward(valid.plan, x: valid.x, y: valid.out) ? SCSE_STATUS_SUCCESS : SCSE_STATUS_OUT_OF_MEMORY
  } catch {
    return error.status
  }
}

private func backward(_ call: RawCall) -> scse_status {
  var call = call
  call.isBackward = true
  do {
    let valid = try validate(call)
    let done = runBackward(valid.plan, x: valid.x, gradY: valid.gradY!, gradX: valid.out,
                           channelGrads: valid.channelGrads, spatialGrads: valid.spatialGrads)
    return done ? SCSE_STATUS_SUCCESS : SCSE_STATUS_OUT_OF_MEMORY
  } catch {
    return error.status
  }
}

@c @implementation
public func scse_cse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                             _ layout: scse_layout, _ gate: UnsafePointer<scse_channel_gate>?,
                             _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  forward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                  usesChannelGate: true, usesSpatialGate: false, channelGate: gate, x: x, out: y_out))
}

@c @implementation
public func scse_sse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                             _ layout: scse_layout, _ gate: UnsafePointer<scse_spatial_gate>?,
                             _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  forward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                  usesChannelGate: false, usesSpatialGate: true, spatialGate: gate, x: x, out: y_out))
}

@c @implementation
public func scse_scse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ aggregate: scse_aggregate,
                              _ channel_gate: UnsafePointer<scse_channel_gate>?,
                              _ spatial_gate: UnsafePointer<scse_spatial_gate>?,
                              _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  forward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                  aggregate: aggregate, usesChannelGate: true, usesSpatialGate: true,
                  channelGate: channel_gate, spatialGate: spatial_gate, x: x, out: y_out))
}

@c @implementation
public func scse_cse_backward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ gate: UnsafePointer<scse_channel_gate>?,
                              _ x: UnsafePointer<Float>?, _ grad_y: UnsafePointer<Float>?,
                              _ grad_x_out: UnsafeMutablePointer<Float>?,
                              _ grad_out: UnsafePointer<scse_channel_gate_grad>?) -> scse_status {
  backward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                   usesChannelGate: true, usesSpatialGate: false, channelGate: gate, x: x,
                   gradY: grad_y, out: grad_x_out, channelGrads: grad_out))
}

@c @implementation
public func scse_sse_backward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ gate: UnsafePointer<scse_spatial_gate>?,
                              _ x: UnsafePointer<Float>?, _ grad_y: UnsafePointer<Float>?,
                              _ grad_x_out: UnsafeMutablePointer<Float>?,
                              _ grad_out: UnsafePointer<scse_spatial_gate_grad>?) -> scse_status {
  backward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                   usesChannelGate: false, usesSpatialGate: true, spatialGate: gate, x: x,
                   gradY: grad_y, out: grad_x_out, spatialGrads: grad_out))
}

@c @implementation
public func scse_scse_backward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                               _ layout: scse_layout, _ aggregate: scse_aggregate,
                               _ channel_gate: UnsafePointer<scse_channel_gate>?,
                               _ spatial_gate: UnsafePointer<scse_spatial_gate>?,
                               _ x: UnsafePointer<Float>?, _ grad_y: UnsafePointer<Float>?,
                               _ grad_x_out: UnsafeMutablePointer<Float>?,
                               _ channel_grad_out: UnsafePointer<scse_channel_gate_grad>?,
                               _ spatial_grad_out: UnsafePointer<scse_spatial_gate_grad>?) -> scse_status {
  backward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                   aggregate: aggregate, usesChannelGate: true, usesSpatialGate: true,
                   channelGate: channel_gate, spatialGate: spatial_gate, x: x, gradY: grad_y,
                   out: grad_x_out, channelGrads: channel_grad_out, spatialGrads: spatial_grad_out))
}
