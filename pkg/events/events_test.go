package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeRefusesBadEvents(t *testing.T) {
	good := MediaUploaded{Meta: NewMeta(TypeMediaUploaded, "c1", ""), MediaURL: "https://x.test/a.jpg",
		ContentType: ContentImage, UploaderID: "u1", UploadedAt: time.Now()}
	enc := func(mut func(m map[string]any)) []byte {
		b, _ := json.Marshal(good)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mut(m)
		b, _ = json.Marshal(m)
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("{nope"), "invalid character"},
		{"no content id", enc(func(m map[string]any) { delete(m, "content_id") }), "missing content_id"},
		{"wrong type", enc(func(m map[string]any) { m["event_type"] = "media.hashed" }), `event_type "media.hashed"`},
		{"future version", enc(func(m map[string]any) { m["schema_version"] = 2 }), "schema_version 2"},
		{"bad content type", enc(func(m map[string]any) { m["content_type"] = "audio" }), `content_type "audio"`},
		{"no url", enc(func(m map[string]any) { delete(m, "media_url") }), "missing media_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ev MediaUploaded
			err := Decode(c.data, TypeMediaUploaded, &ev)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
	var ev MediaUploaded
	if err := Decode(enc(func(m map[string]any) { m["added_later"] = true }), TypeMediaUploaded, &ev); err != nil {
		t.Fatalf("an unknown field from a newer producer was refused: %v", err)
	}
}

func TestBankUpdateValidation(t *testing.T) {
	sig := []Signal{{Type: SignalSHA256, Value: strings.Repeat("ab", 32)}}
	cases := []struct {
		name string
		u    BankUpdate
		ok   bool
	}{
		{"add", NewBankAdd("gifct", nil, sig), true},
		{"slash in bank", NewBankAdd("a/b", nil, sig), false},
		{"no signals", NewBankAdd("gifct", nil, nil), false},
		{"bad op", func() BankUpdate { u := NewBankAdd("gifct", nil, sig); u.Op = "delete"; return u }(), false},
		{"disable", NewBankDisable("gifct", "e1"), true},
		{"disable without entry", NewBankDisable("gifct", ""), false},
		{"add with a config", func() BankUpdate {
			u := NewBankAdd("gifct", nil, sig)
			c := DefaultBankConfig()
			u.Config = &c
			return u
		}(), false},
		{"configure", NewBankConfigure("gifct", DefaultBankConfig()), true},
		{"configure allow", cfg(func(c *BankConfig) { c.Kind = BankKindAllow; c.Labels = []string{"source:x"} }), true},
		{"configure with entry", func() BankUpdate { u := NewBankConfigure("gifct", DefaultBankConfig()); u.EntryID = "e1"; return u }(), false},
		{"configure without config", func() BankUpdate { u := NewBankConfigure("gifct", DefaultBankConfig()); u.Config = nil; return u }(), false},
		{"configure with signals", func() BankUpdate { u := NewBankConfigure("gifct", DefaultBankConfig()); u.Signals = sig; return u }(), false},
		{"kind empty", cfg(func(c *BankConfig) { c.Kind = "" }), false},
		{"kind unknown", cfg(func(c *BankConfig) { c.Kind = "deny" }), false},
		{"pdq 256", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalPDQ, Enabled: true, Threshold: 256}} }), true},
		{"pdq 257", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalPDQ, Enabled: true, Threshold: 257}} }), false},
		{"phash 64", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalPHash, Threshold: 64}} }), true},
		{"phash 65", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalPHash, Threshold: 65}} }), false},
		{"dhash -1", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalDHash, Threshold: -1}} }), false},
		{"md5 threshold", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalMD5, Threshold: 1}} }), false},
		{"md5 disabled", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: SignalMD5}} }), true},
		{"unknown type", cfg(func(c *BankConfig) { c.Signals = []BankSignalConfig{{Type: "tmk", Threshold: 1}} }), false},
		{"type twice", cfg(func(c *BankConfig) {
			c.Signals = []BankSignalConfig{{Type: SignalPDQ, Threshold: 1}, {Type: SignalPDQ, Threshold: 2}}
		}), false},
		{"empty label", cfg(func(c *BankConfig) { c.Labels = []string{""} }), false},
	}
	for _, c := range cases {
		b, _ := json.Marshal(c.u)
		var got BankUpdate
		err := Decode(b, TypeBankUpdate, &got)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
	a, b := NewBankAdd("x", nil, sig), NewBankAdd("y", nil, sig)
	if k := NewBankConfigure("gifct", DefaultBankConfig()); k.Key() != "gifct/" {
		t.Errorf("configure key %q, want %q", k.Key(), "gifct/")
	}
	if a.EntryID != b.EntryID || a.EntryID != strings.Repeat("ab", 8) {
		t.Errorf("entry ids %s %s: want both derived from the SHA-256", a.EntryID, b.EntryID)
	}
}

// cfg returns a configure update of bank gifct with the default settings
// changed by mut.
func cfg(mut func(*BankConfig)) BankUpdate {
	c := DefaultBankConfig()
	mut(&c)
	return NewBankConfigure("gifct", c)
}
