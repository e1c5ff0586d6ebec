package safetensors

import (
	"encoding/binary"
	"strings"
)

// rawFile builds a file from a header string, padding it with spaces to a
// multiple of 8 as writers do, followed by dataLen bytes of data.
func rawFile(header string, dataLen int) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	return rawFileExact(uint64(len(header)), header, dataLen)
}

// rawFileExact builds a file whose length field is n whatever the header is.
func rawFileExact(n uint64, header string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, n)
	b = append(b, header...)
	for i := range dataLen {
		b = append(b, byte(i))
	}
	return b
}

type fileCase struct {
	name string
	file []byte
	want string // a substring the error must contain
}

// validFiles are well-formed files, hand-built, that every reader must accept.
func validFiles() []fileCase {
	return []fileCase{
		{name: "empty", file: rawFile(`{}`, 0)},
		{name: "one_f32", file: rawFile(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, 16)},
		{name: "scalar_and_empty", file: rawFile(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}}`, 8)},
		{name: "metadata", file: rawFile(`{"__metadata__":{"format":"pt","step":"7"},"b":{"dtype":"BF16","shape":[3],"data_offsets":[8,14]},"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, 14)},
		{name: "all_dtypes", file: rawFile(`{"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"c":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},"d":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},"e":{"dtype":"U32","shape":[1],"data_offsets":[28,32]},"f":{"dtype":"I32","shape":[1],"data_offsets":[32,36]},"g":{"dtype":"BF16","shape":[1],"data_offsets":[36,38]},"h":{"dtype":"F16","shape":[1],"data_offsets":[38,40]},"i":{"dtype":"U16","shape":[1],"data_offsets":[40,42]},"j":{"dtype":"I16","shape":[1],"data_offsets":[42,44]},"k":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[44,45]},"l":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[45,46]},"m":{"dtype":"I8","shape":[1],"data_offsets":[46,47]},"n":{"dtype":"U8","shape":[1],"data_offsets":[47,48]},"o":{"dtype":"BOOL","shape":[1],"data_offsets":[48,49]}}`, 49)},
		{name: "unknown_field_null_metadata", file: rawFile(`{"__metadata__":null,"w":{"extra":[1,{"x":2}],"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2)},
		{name: "unpadded_leading_space", file: rawFileExact(uint64(len(` {"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`)), ` {"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1)},
	}
}

// invalidFiles each break one rule of the format.
func invalidFiles() []fileCase {
	w := func(body string) string { return `{"w":` + body + `}` }
	return []fileCase{
		{"too_short", []byte{1, 0, 0}, "shorter than the 8-byte header length"},
		{"header_too_large", rawFileExact(100_000_001, "{}", 0), "exceeds the limit"},
		{"header_length_huge", rawFileExact(1<<63, "{}", 0), "exceeds the limit"},
		{"header_past_end", rawFileExact(64, "{}      ", 0), "exceeds the 8 bytes that follow"},
		{"not_utf8", rawFile("{\"\xff\":1}", 0), "not valid UTF-8"},
		{"not_json", rawFile(`{"w":`, 0), "JSON ends early"},
		{"bad_json_syntax", rawFile(`{"w" 1}`, 0), "malformed JSON"},
		{"not_object", rawFile(`[]`, 0), `expected "{"`},
		{"trailing_garbage", rawFile(`{}x`, 0), "after the top-level object"},
		{"second_object", rawFile(`{}{}`, 0), "after the top-level object"},
		{"nul_padding", rawFileExact(8, "{}\x00\x00\x00\x00\x00\x00", 0), "after the top-level object"},
		{"entry_not_object", rawFile(`{"w":3}`, 0), `tensor "w": found 3; expected "{"`},
		{"unknown_dtype", rawFile(w(`{"dtype":"F128","shape":[1],"data_offsets":[0,16]}`), 16), `unknown dtype "F128"`},
		{"dtype_not_string", rawFile(w(`{"dtype":4,"shape":[1],"data_offsets":[0,4]}`), 4), "expected a string"},
		{"negative_dim", rawFile(w(`{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}`), 4), "element 0 is negative"},
		{"fractional_dim", rawFile(w(`{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}`), 4), "expected a non-negative integer"},
		{"dim_not_number", rawFile(w(`{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}`), 4), "expected a non-negative integer"},
		{"dim_too_large", rawFile(w(`{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}`), 4), "below 2^64"},
		{"shape_not_array", rawFile(w(`{"dtype":"F32","shape":1,"data_offsets":[0,4]}`), 4), `expected "["`},
		{"one_offset", rawFile(w(`{"dtype":"F32","shape":[1],"data_offsets":[4]}`), 4), "expected [begin, end]"},
		{"three_offsets", rawFile(w(`{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}`), 4), "expected [begin, end]"},
		{"missing_dtype", rawFile(w(`{"shape":[1],"data_offsets":[0,4]}`), 4), "missing field dtype"},
		{"missing_shape", rawFile(w(`{"dtype":"F32","data_offsets":[0,4]}`), 4), "missing field shape"},
		{"missing_offsets", rawFile(w(`{"dtype":"F32","shape":[1]}`), 4), "missing field data_offsets"},
		{"duplicate_field", rawFile(w(`{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}`), 4), "duplicate field dtype"},
		{"duplicate_name", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), `duplicate entry "w"`},
		{"duplicate_metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, 0), `duplicate entry "__metadata__"`},
		{"duplicate_metadata_key", rawFile(`{"__metadata__":{"k":"1","k":"2"}}`, 0), `duplicate key "k"`},
		{"metadata_not_string", rawFile(`{"__metadata__":{"k":1}}`, 0), "expected a string"},
		{"metadata_not_object", rawFile(`{"__metadata__":"k"}`, 0), "expected an object of strings"},
		{"end_before_begin", rawFile(w(`{"dtype":"U8","shape":[0],"data_offsets":[4,0]}`), 4), "end before they begin"},
		{"past_buffer", rawFile(w(`{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`), 4), "extend past the 4-byte data buffer"},
		{"offsets_huge", rawFile(w(`{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}`), 0), "end before they begin"},
		{"gap_at_start", rawFile(w(`{"dtype":"F32","shape":[1],"data_offsets":[4,8]}`), 8), "leave a gap: expected the tensor to begin at 0"},
		{"gap_between", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}`, 3), `tensor "b": data_offsets [2, 3] leave a gap`},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 3), `overlap tensor "a"`},
		{"same_range", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2), `overlap tensor "a"`},
		{"size_mismatch", rawFile(w(`{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}`), 20), "needs 24 bytes, data_offsets [0, 20] hold 20"},
		{"dtype_size_mismatch", rawFile(w(`{"dtype":"F16","shape":[4],"data_offsets":[0,16]}`), 16), "needs 8 bytes"},
		{"shape_overflow", rawFile(w(`{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}`), 0), "overflows 64 bits"},
		{"shape_overflow_before_zero", rawFile(w(`{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}`), 0), "overflows 64 bits"},
		{"bytes_overflow", rawFile(w(`{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}`), 0), "byte count overflows"},
		{"dim_beyond_int", rawFile(w(`{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]}`), 0), "too large"},
		{"extra_data", rawFile(w(`{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`), 8), "cover 4 bytes of the 8-byte data buffer"},
		{"no_tensors_extra_data", rawFile(`{}`, 1), "cover 0 bytes of the 1-byte data buffer"},
		{"truncated_data", rawFile(w(`{"dtype":"F32","shape":[4],"data_offsets":[0,16]}`), 12), "extend past the 12-byte data buffer"},
	}
}

// corpusName turns a case name into a fuzz corpus file name.
func corpusName(prefix, name string) string {
	return prefix + "_" + strings.ReplaceAll(name, " ", "_")
}
