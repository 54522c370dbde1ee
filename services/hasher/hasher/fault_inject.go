//go:build faultinject

package hasher

import (
	"bytes"
	"os"
)

// TAKEDOWN_FAULT_CRASH_ON=MARKER crashes the hasher, as a segfault in a
// native decoder would, whenever it is about to decode bytes that hold
// MARKER: an unrecovered panic on another goroutine kills the process,
// whatever the handler's recovery does.
func init() {
	marker := os.Getenv("TAKEDOWN_FAULT_CRASH_ON")
	if marker == "" {
		return
	}
	decodeFault = func(data []byte) {
		if !bytes.Contains(data, []byte(marker)) {
			return
		}
		go panic("fault injection: simulated native crash in a decoder (TAKEDOWN_FAULT_CRASH_ON)")
		select {} // the panic ends the process
	}
}
