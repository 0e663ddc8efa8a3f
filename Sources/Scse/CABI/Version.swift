// Must equal SCSE_VERSION_MAJOR.MINOR.PATCH in include/scse.h; the test
// suites check that the two agree.
let libraryVersion: StaticString = "0.1.0"
