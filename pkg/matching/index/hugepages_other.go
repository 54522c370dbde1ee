//go:build !linux

package index

import "unsafe"

func adviseHugePages(unsafe.Pointer, int) {}
