// The C entry points declared in include/scse.h. `@c @implementation` makes
// the compiler check each signature against the header. Each one only
// gathers its arguments and hands them to ScseDispatch. The functions are
// public because an internal one is a hidden symbol in a whole-module build
// (Swift 6.3.1), which libscse.so could not export; no library product
// contains this module, so `import Scse` offers no raw-pointer entry point.
import CScse
import ScseCore
import ScseDispatch

@c @implementation
public func scse_cse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                             _ layout: scse_layout, _ gate: UnsafePointer<scse_channel_gate>?,
                             _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  runForward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                     usesChannelGate: true, usesSpatialGate: false, channelGate: gate, x: x, out: y_out))
}

@c @implementation
public func scse_sse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                             _ layout: scse_layout, _ gate: UnsafePointer<scse_spatial_gate>?,
                             _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  runForward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                     usesChannelGate: false, usesSpatialGate: true, spatialGate: gate, x: x, out: y_out))
}

@c @implementation
public func scse_scse_forward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ aggregate: scse_aggregate,
                              _ channel_gate: UnsafePointer<scse_channel_gate>?,
                              _ spatial_gate: UnsafePointer<scse_spatial_gate>?,
                              _ x: UnsafePointer<Float>?, _ y_out: UnsafeMutablePointer<Float>?) -> scse_status {
  runForward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                     aggregate: aggregate, usesChannelGate: true, usesSpatialGate: true,
                     channelGate: channel_gate, spatialGate: spatial_gate, x: x, out: y_out))
}

@c @implementation
public func scse_cse_backward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ gate: UnsafePointer<scse_channel_gate>?,
                              _ x: UnsafePointer<Float>?, _ grad_y: UnsafePointer<Float>?,
                              _ grad_x_out: UnsafeMutablePointer<Float>?,
                              _ grad_out: UnsafePointer<scse_channel_gate_grad>?) -> scse_status {
  runBackward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                      usesChannelGate: true, usesSpatialGate: false, channelGate: gate, x: x,
                      gradY: grad_y, out: grad_x_out, channelGrads: grad_out))
}

@c @implementation
public func scse_sse_backward(_ batch: Int64, _ channels: Int64, _ spatial: Int64,
                              _ layout: scse_layout, _ gate: UnsafePointer<scse_spatial_gate>?,
                              _ x: UnsafePointer<Float>?, _ grad_y: UnsafePointer<Float>?,
                              _ grad_x_out: UnsafeMutablePointer<Float>?,
                              _ grad_out: UnsafePointer<scse_spatial_gate_grad>?) -> scse_status {
  runBackward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
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
  runBackward(RawCall(batch: batch, channels: channels, spatial: spatial, layout: layout,
                      aggregate: aggregate, usesChannelGate: true, usesSpatialGate: true,
                      channelGate: channel_gate, spatialGate: spatial_gate, x: x, gradY: grad_y,
                      out: grad_x_out, channelGrads: channel_grad_out, spatialGrads: spatial_grad_out))
}
