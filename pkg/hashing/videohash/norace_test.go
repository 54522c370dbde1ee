//go:build !race

package videohash

const raceEnabled = false
