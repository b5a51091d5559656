package frame

import (
	"bytes"
	"errors"
	"testing"
)

func TestAppendSplitRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 300)
	fields := [][]byte{[]byte("head"), {}, big}
	b := Append([]byte{0x02}, fields...)
	if len(b) != 1+Size(fields...) {
		t.Fatalf("Size %d, appended %d", Size(fields...), len(b)-1)
	}
	b = append(b, "rest"...)
	got, rest, err := Split(b[1:], 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fields {
		if !bytes.Equal(got[i], fields[i]) {
			t.Errorf("field %d = %q", i, got[i])
		}
	}
	if string(rest) != "rest" {
		t.Errorf("rest %q", rest)
	}
}

func TestSplitRefusesMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":          nil,
		"length too big": {0x05, 'a', 'b'},
		"bad varint":     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"second missing": Append(nil, []byte("one")),
	} {
		if _, _, err := Split(b, 2); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(Append(nil, []byte("a"), []byte("bc")), 2)
	f.Add([]byte{0x80}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 8 {
			return
		}
		fields, rest, err := Split(b, n)
		if err != nil {
			return
		}
		if len(rest) > len(b) {
			t.Fatalf("rest longer than the input")
		}
		// Split accepts non-minimal varints; Append writes minimal ones:
		// what they agree on is the fields.
		again, tail, err := Split(append(Append(nil, fields...), rest...), n)
		if err != nil || !bytes.Equal(tail, rest) {
			t.Fatalf("re-split of %x: %v", b, err)
		}
		for i := range fields {
			if !bytes.Equal(again[i], fields[i]) {
				t.Fatalf("field %d of %x changed", i, b)
			}
		}
	})
}
