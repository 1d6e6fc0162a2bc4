package model

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes to the same bytes. Each input is tried as it is and resealed
// with a correct checksum, so that the fuzzer reaches the parser behind the
// CRC. The JSON header is the one part that may be spelled differently (key
// case, spacing, number format): for it the check is that the re-encoded
// header decodes to the same model and every byte outside it is identical.
func FuzzDecode(f *testing.F) {
	for _, m := range testModels() {
		var buf bytes.Buffer
		if err := Encode(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("LRSPMODL"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) >= 4 {
			checkDecode(t, withCRC(data[:len(data)-4]))
		}
	})
}

func checkDecode(t *testing.T, data []byte) {
	m, err := Decode(data)
	if err != nil {
		return
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m); err != nil {
		t.Fatalf("decoded model does not encode: %v", err)
	}
	out := buf.Bytes()
	back, err := Decode(out)
	if err != nil {
		t.Fatalf("re-encoded model does not decode: %v", err)
	}
	if diff := sameModel(m, back); diff != "" {
		t.Fatalf("re-encoding changed the model: %s", diff)
	}
	// Splice the re-encoded header into the input: the result must be
	// exactly the re-encoded file.
	hlen := int(binary.LittleEndian.Uint32(data[12:]))
	olen := int(binary.LittleEndian.Uint32(out[12:]))
	want := append([]byte(nil), out[:16+olen]...)
	want = append(want, data[16+hlen:len(data)-4]...)
	if want = withCRC(want); !bytes.Equal(want, out) {
		t.Fatalf("re-encoding changed bytes outside the header:\n in  %x\n out %x", data, out)
	}
}
