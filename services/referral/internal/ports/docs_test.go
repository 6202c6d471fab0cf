package ports_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/rejection"
	"github.com/affinity-platform/affinity/services/referral/internal/ports"
)

// repoRoot is the directory holding go.work, above the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

func TestEveryReasonCodeIsDocumentedAndHasAnAPIEnumValue(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "referral.md"))
	if err != nil {
		t.Fatalf("read docs/referral.md: %v", err)
	}
	doc := string(raw)
	for _, r := range rejection.Reasons() {
		if !strings.Contains(doc, "| `"+string(r)+"` |") {
			t.Errorf("docs/referral.md has no table row for reason code %s", r)
		}
		e := app.ReasonToProto(r)
		if e == referralv1.RejectionReason_REJECTION_REASON_UNSPECIFIED {
			t.Errorf("reason code %s has no RejectionReason enum value", r)
		}
		short := strings.TrimPrefix(e.String(), "REJECTION_REASON_")
		if !strings.Contains(doc, "| `"+string(r)+"` | `"+short+"` |") {
			t.Errorf("docs/referral.md does not map %s to %s", r, short)
		}
	}
}

func TestEverySettingIsDocumented(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "referral.md"))
	if err != nil {
		t.Fatalf("read docs/referral.md: %v", err)
	}
	ct := reflect.TypeFor[ports.Config]()
	for i := range ct.NumField() {
		name := ct.Field(i).Tag.Get("env")
		if name == "" {
			t.Errorf("Config.%s has no env tag", ct.Field(i).Name)
			continue
		}
		if !strings.Contains(string(raw), "`"+name+"`") {
			t.Errorf("docs/referral.md does not document %s (Config.%s)", name, ct.Field(i).Name)
		}
	}
}
