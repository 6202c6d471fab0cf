package contract

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/affinity-platform/affinity/proto/openapi"
)

// docsAPIPath finds docs/api.md from the test's directory.
func docsAPIPath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "docs", "api.md")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

// The endpoint table of docs/api.md must list exactly the REST paths of the
// contract, so the documentation cannot drift from the API.
func TestTheAPIDocumentListsEveryRESTPathOfTheContract(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(docsAPIPath(t))
	if err != nil {
		t.Fatalf("read docs/api.md: %v", err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z]+ /[^`]+)` \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		documented = append(documented, m[1])
	}
	var contract []string
	for _, name := range openapi.Services() {
		doc, err := openapi.Service(name)
		if err != nil {
			t.Fatal(err)
		}
		var sw struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if err := json.Unmarshal(doc, &sw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for path, ops := range sw.Paths {
			for method := range ops {
				contract = append(contract, fmt.Sprintf("%s %s", strings.ToUpper(method), path))
			}
		}
	}
	slices.Sort(documented)
	slices.Sort(contract)
	for _, c := range contract {
		if !slices.Contains(documented, c) {
			t.Errorf("docs/api.md does not list %s", c)
		}
	}
	for _, d := range documented {
		if !slices.Contains(contract, d) {
			t.Errorf("docs/api.md lists %s, which the contract does not have", d)
		}
	}
}
