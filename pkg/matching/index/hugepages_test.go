package index

import (
	"testing"
	"unsafe"
)

// TestAdviseHugePagesKeepsContents runs the advice over unaligned and small
// ranges: whatever the kernel does with it, the memory must read the same.
func TestAdviseHugePagesKeepsContents(t *testing.T) {
	b := make([]byte, 9<<20)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	for _, r := range []struct{ off, n int }{{0, len(b)}, {12345, 5 << 20}, {100, 4096}, {0, 0}} {
		adviseHugePages(unsafe.Pointer(&b[r.off]), r.n)
	}
	for i := range b {
		if b[i] != byte(i*7+i>>12) {
			t.Fatalf("byte %d changed after adviseHugePages", i)
		}
	}
}
