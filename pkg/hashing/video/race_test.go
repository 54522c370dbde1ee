//go:build race

package video

// raceDetector: the race detector slows PDQ's arithmetic about tenfold, so
// the heaviest tests hash a stride of the frames they decode.
const raceDetector = true
