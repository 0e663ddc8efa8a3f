// scse_info: prints the version and thread count of the libscse it runs
// with, and checks that the library keeps a tensor unchanged when every gate
// is 0.5 (all parameters zero), which needs no reference to verify.
// Also shows that scse.h is usable from C++ as is.
#include <cstdio>
#include <cstring>
#include <vector>

#include <scse.h>

int main() {
  const int64_t n = 2, c = 4, s = 3;
  std::vector<float> x(n * c * s), y(x.size());
  for (std::size_t i = 0; i < x.size(); i++) x[i] = 0.25f * static_cast<float>(i) - 2.0f;

  std::vector<float> fc1_w(2 * c, 0.0f), fc2_w(c * 2, 0.0f), sse_w(c, 0.0f);
  const scse_channel_gate cse = {2, fc1_w.data(), nullptr, fc2_w.data(), nullptr};
  const scse_spatial_gate sse = {1, sse_w.data(), nullptr};

  const scse_status st = scse_scse_forward(n, c, s, SCSE_LAYOUT_CHANNELS_FIRST,
                                           SCSE_AGGREGATE_SUM, &cse, &sse, x.data(), y.data());
  if (st != SCSE_STATUS_SUCCESS) {
    std::fprintf(stderr, "scse_scse_forward: %s\n", scse_status_string(st));
    return 1;
  }
  if (y != x) {
    std::fprintf(stderr, "scse_info: zero parameters changed the tensor\n");
    return 1;
  }

  char header[32];
  std::snprintf(header, sizeof header, "%d.%d.%d", SCSE_VERSION_MAJOR, SCSE_VERSION_MINOR,
                SCSE_VERSION_PATCH);
  std::printf("libscse %s (header %s), %d threads\n", scse_version(), header,
              static_cast<int>(scse_get_num_threads()));
  if (std::strcmp(scse_version(), header) != 0) {
    std::fprintf(stderr, "scse_info: library and header versions differ\n");
    return 1;
  }
  return 0;
}
