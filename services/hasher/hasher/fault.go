package hasher

// decodeFault, when set, runs on the fetched bytes just before they are
// decoded. Only a build with the faultinject tag sets it (fault_inject.go),
// for tests that need a decoder to crash the process the way a native crash
// would; a production build has no way to set it.
var decodeFault func(data []byte)
