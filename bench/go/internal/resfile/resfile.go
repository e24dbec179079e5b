// Package resfile reads the resource files the fan-out driver writes: one JSON object per line,
// {"type": "<type URL>", "name": "<name>", "b64": "<base64 of the encoded resource message>"}.
package resfile

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
)

// Entry is one encoded resource.
type Entry struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	B64   string `json:"b64"`
	Bytes []byte `json:"-"`
}

// Read loads every entry of a resource file and decodes its bytes.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		b, err := base64.StdEncoding.DecodeString(e.B64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad base64: %w", path, line, err)
		}
		e.Bytes = b
		e.B64 = ""
		out = append(out, e)
	}
	return out, sc.Err()
}
