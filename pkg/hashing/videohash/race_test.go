//go:build race

package videohash

// raceEnabled: the race detector slows PDQ down about fifteen times, so the
// heaviest tests hash fewer videos.
const raceEnabled = true
