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
	if a.EntryID != b.EntryID || a.EntryID != strings.Repeat("ab", 8) {
		t.Errorf("entry ids %s %s: want both derived from the SHA-256", a.EntryID, b.EntryID)
	}
}
