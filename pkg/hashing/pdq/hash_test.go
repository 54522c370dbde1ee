package pdq

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// A reference hash (bridge-1-original.jpg, C++ output) in its published
// form.
const bridgeHex = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"

func TestParseHex(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" for an error
	}{
		{"lower", bridgeHex, bridgeHex},
		{"upper", strings.ToUpper(bridgeHex), bridgeHex},
		{"zero", strings.Repeat("0", 64), strings.Repeat("0", 64)},
		{"ones", strings.Repeat("F", 64), strings.Repeat("f", 64)},
		{"short", bridgeHex[:63], ""},
		{"long", bridgeHex + "0", ""},
		{"empty", "", ""},
		{"not hex", "g" + bridgeHex[1:], ""},
		{"space", " " + bridgeHex[1:], ""},
		{"prefix", "0x" + bridgeHex[2:], ""},
		{"multibyte", "é" + bridgeHex[2:], ""},
		{"huge", strings.Repeat("a", 1<<16), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHex(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseHex(%.70q) = %v, want an error", tc.in, h)
				}
				if !errors.Is(err, ErrInvalidHash) {
					t.Errorf("error %v does not wrap ErrInvalidHash", err)
				}
				if len(err.Error()) > 300 {
					t.Errorf("error message is %d bytes long", len(err.Error()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := h.String(); got != tc.want {
				t.Errorf("String() = %s, want %s", got, tc.want)
			}
			if got := hex.EncodeToString(h[:]); got != tc.want {
				t.Errorf("bytes are %s, want those of the hex form %s", got, tc.want)
			}
		})
	}
}

func TestBinaryForm(t *testing.T) {
	h, err := ParseHex(bridgeHex)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 32 || hex.EncodeToString(b) != bridgeHex {
		t.Fatalf("MarshalBinary = %x, want the 32 bytes %s", b, bridgeHex)
	}
	b[0] ^= 0xff // the returned slice must not alias the hash
	if h.String() != bridgeHex {
		t.Fatal("changing MarshalBinary's result changed the hash")
	}
	var back Hash
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if Distance(back, h) != 8 {
		t.Errorf("round trip of a changed byte: distance %d, want 8", Distance(back, h))
	}
	for _, n := range []int{0, 31, 33, 64} {
		var x Hash
		if err := x.UnmarshalBinary(make([]byte, n)); !errors.Is(err, ErrInvalidHash) {
			t.Errorf("UnmarshalBinary(%d bytes) = %v, want ErrInvalidHash", n, err)
		}
	}
}

func TestDistance(t *testing.T) {
	mustParse := func(s string) Hash {
		h, err := ParseHex(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	zero := Hash{}
	ones := mustParse(strings.Repeat("f", 64))
	bridge := mustParse(bridgeHex)
	// The Python reference's published hash of the same file.
	bridgePy := mustParse("d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22")
	tests := []struct {
		a, b Hash
		want int
	}{
		{zero, zero, 0},
		{zero, ones, 256},
		{bridge, bridge, 0},
		{bridge, bridgePy, 4},
		{zero, mustParse("8000" + strings.Repeat("0", 59) + "1"), 2},
		{zero, mustParse(strings.Repeat("0f", 32)), 128},
	}
	for _, tc := range tests {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance is not symmetric: %d", got)
		}
	}
	if !zero.IsZero() || bridge.IsZero() {
		t.Error("IsZero is wrong")
	}
}

// TestBitLayout checks bit k against the reference's packing: word
// w[k/16] |= 1 << (k%16), written w[15] .. w[0], four hex digits each.
func TestBitLayout(t *testing.T) {
	tests := []struct {
		k    int
		want string
	}{
		{0, strings.Repeat("0", 63) + "1"},
		{15, strings.Repeat("0", 60) + "8000"},
		{16, strings.Repeat("0", 59) + "10000"},
		{255, "8" + strings.Repeat("0", 63)},
		{16*15 + 3, "0008" + strings.Repeat("0", 60)},
	}
	for _, tc := range tests {
		var h Hash
		h.setBit(tc.k)
		if got := h.String(); got != tc.want {
			t.Errorf("bit %d: %s, want %s", tc.k, got, tc.want)
		}
		if !h.bit(tc.k) || Distance(h, Hash{}) != 1 {
			t.Errorf("bit %d: bit() or Distance wrong", tc.k)
		}
	}
}

// FuzzParseHex checks that parsing never panics, that what parses is 64 hex
// digits, and that String gives it back in lower case.
func FuzzParseHex(f *testing.F) {
	f.Add(bridgeHex)
	f.Add(strings.ToUpper(bridgeHex))
	f.Add("")
	f.Add(strings.Repeat("0", 64))
	f.Add(bridgeHex[:63] + "g")
	f.Add(bridgeHex[:62] + "é")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHex(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("error %v does not wrap ErrInvalidHash", err)
			}
			if _, herr := hex.DecodeString(s); herr == nil && len(s) == 64 {
				t.Fatalf("ParseHex(%q) failed on valid hex: %v", s, err)
			}
			return
		}
		if got := h.String(); got != strings.ToLower(s) {
			t.Fatalf("ParseHex(%q).String() = %q", s, got)
		}
		back, err := ParseHex(h.String())
		if err != nil || back != h {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
		b, _ := h.MarshalBinary()
		var h2 Hash
		if err := h2.UnmarshalBinary(b); err != nil || h2 != h {
			t.Fatalf("binary round trip of %q: %v, %v", s, h2, err)
		}
	})
}

// Banding is 0 for a product pattern whatever its rows, small for one with a
// few bits off, and large for a photograph's hash and for pictures drawn of
// bands only in one place.
func TestBanding(t *testing.T) {
	product := func(row uint16, flip uint16) Hash {
		var h Hash
		for i := range 16 {
			r := row
			if flip&(1<<i) != 0 {
				r = ^r
			}
			h[30-2*i], h[31-2*i] = byte(r>>8), byte(r)
		}
		return h
	}
	bridge, err := ParseHex(bridgeHex)
	if err != nil {
		t.Fatal(err)
	}
	noisy := product(0x2aaa, 0x5a3c)
	noisy[3] ^= 0x81
	noisy[17] ^= 0x10
	tests := []struct {
		name     string
		h        Hash
		min, max int
	}{
		{"zero", Hash{}, 0, 0},
		{"chequer", product(0x5555, 0xaaaa), 0, 0},
		{"tricolour", product(0x00ff, 0x0f0f), 0, 0},
		{"product with 3 bits off", noisy, 3, 3},
		{"photograph", bridge, 33, 256},
	}
	for _, tt := range tests {
		if got := tt.h.Banding(); got < tt.min || got > tt.max {
			t.Errorf("%s: Banding %d, want %d..%d", tt.name, got, tt.min, tt.max)
		}
	}
}
