//go:build !race

package video

const raceDetector = false
