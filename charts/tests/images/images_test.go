package imagecheck_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// imagesDirEnv names the directory `make images` wrote the OCI layouts to,
// one per service (.images/<service>).
const imagesDirEnv = "AFFINITY_IMAGES_DIR"

var services = []string{"loyalty", "referral", "recommendation", "segmentation", "console"}

func TestEveryServiceImageIsStaticNonRootAndShellFree(t *testing.T) {
	t.Parallel()
	dir := os.Getenv(imagesDirEnv)
	if dir == "" {
		// Building the images takes minutes; `make images` builds them and
		// runs this test with the variable set.
		t.Skipf("%s is not set: run `make images` to build and check the images", imagesDirEnv)
	}
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			imgs, err := layoutImages(filepath.Join(dir, svc))
			if err != nil {
				t.Fatalf("expected an OCI layout of %s in %s, got: %v", svc, dir, err)
			}
			if len(imgs) == 0 {
				t.Fatalf("expected at least one image in the %s layout, got none", svc)
			}
			for _, img := range imgs {
				for _, problem := range imageProblems(img, svc) {
					t.Error(problem)
				}
			}
		})
	}
}

// layoutImages returns every image of a layout, platform images of an
// index included.
func layoutImages(dir string) ([]v1.Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	return indexImages(idx)
}

func indexImages(idx v1.ImageIndex) ([]v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Image
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			imgs, err := indexImages(child)
			if err != nil {
				return nil, err
			}
			out = append(out, imgs...)
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			out = append(out, img)
		}
	}
	return out, nil
}

// imageProblems lists what is wrong with one service image.
func imageProblems(img v1.Image, svc string) []string {
	var p []string
	cf, err := img.ConfigFile()
	if err != nil {
		return []string{fmt.Sprintf("config: %v", err)}
	}
	where := fmt.Sprintf("%s (%s/%s)", svc, cf.OS, cf.Architecture)
	if msg := userProblem(cf.Config.User); msg != "" {
		p = append(p, where+": "+msg)
	}
	if len(cf.Config.Entrypoint) == 0 {
		return append(p, where+": no entrypoint")
	}
	entry := cf.Config.Entrypoint[0]
	if base := path.Base(entry); base != svc {
		p = append(p, fmt.Sprintf("%s: expected the entrypoint to be the %s binary, got %s", where, svc, entry))
	}
	files, err := readFiles(img, strings.TrimPrefix(entry, "/"), "etc/passwd", "bin/sh", "usr/bin/sh")
	if err != nil {
		return append(p, fmt.Sprintf("%s: reading the filesystem: %v", where, err))
	}
	bin, ok := files[strings.TrimPrefix(entry, "/")]
	if !ok {
		return append(p, fmt.Sprintf("%s: entrypoint %s is not a file in the image", where, entry))
	}
	if err := staticELF(bin); err != nil {
		p = append(p, fmt.Sprintf("%s: %s: %v", where, entry, err))
	}
	for _, sh := range []string{"bin/sh", "usr/bin/sh"} {
		if _, ok := files[sh]; ok {
			p = append(p, fmt.Sprintf("%s: expected no shell, found /%s", where, sh))
		}
	}
	uid := strings.SplitN(cf.Config.User, ":", 2)[0]
	if !passwdHasUID(files["etc/passwd"], uid) {
		p = append(p, fmt.Sprintf("%s: user %s is not in /etc/passwd, so tools that resolve it fail", where, uid))
	}
	return p
}

// userProblem says why a config user would run the process as root, or "".
func userProblem(user string) string {
	if user == "" {
		return "config has no user: the process would run as root"
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "root" {
		return fmt.Sprintf("config user %q is root", user)
	}
	uid, err := strconv.Atoi(name)
	if err != nil {
		// A name is resolved at run time and Kubernetes' runAsNonRoot
		// cannot verify it; a numeric user is required.
		return fmt.Sprintf("config user %q is not numeric, so runAsNonRoot cannot verify it", user)
	}
	if uid == 0 {
		return fmt.Sprintf("config user %q is uid 0", user)
	}
	return ""
}

// staticELF returns an error unless data is an ELF executable that needs no
// dynamic loader: no PT_INTERP program header and no dynamic section.
func staticELF(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	var errs []error
	for _, prog := range f.Progs {
		switch prog.Type {
		case elf.PT_INTERP:
			errs = append(errs, errors.New("has a PT_INTERP header: it needs a dynamic loader"))
		case elf.PT_DYNAMIC:
			errs = append(errs, errors.New("has a PT_DYNAMIC header: it is dynamically linked"))
		}
	}
	if s := f.Section(".interp"); s != nil {
		errs = append(errs, errors.New("has an .interp section"))
	}
	if s := f.Section(".dynamic"); s != nil {
		errs = append(errs, errors.New("has a .dynamic section"))
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		errs = append(errs, fmt.Errorf("imports shared libraries %v", libs))
	}
	return errors.Join(errs...)
}

func passwdHasUID(passwd []byte, uid string) bool {
	for line := range strings.SplitSeq(string(passwd), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) >= 3 && fields[2] == uid {
			return true
		}
	}
	return false
}

// readFiles returns the contents of the named regular files (paths without
// a leading slash) of the image's flattened filesystem.
func readFiles(img v1.Image, names ...string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if !want[name] {
			continue
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeSymlink {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
}

// The checks themselves must be able to fail.

func TestTheStaticCheckRejectsADynamicallyLinkedBinary(t *testing.T) {
	t.Parallel()
	// Debian's coreutils are dynamically linked against glibc.
	data, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatalf("expected /bin/ls on this Debian machine, got: %v", err)
	}
	if err := staticELF(data); err == nil || !strings.Contains(err.Error(), "PT_INTERP") {
		t.Errorf("expected /bin/ls to be reported as needing a dynamic loader, got: %v", err)
	}
}

func TestTheStaticCheckAgreesWithTheHeadersOfThisTestBinary(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	f.Close()
	// Test binaries link dynamically when cgo is on (the default here) and
	// statically when it is off; the check must agree with the headers.
	if got := staticELF(data) == nil; got == dynamic {
		t.Errorf("expected staticELF to accept the test binary exactly when it has no PT_INTERP (dynamic=%v), got accepted=%v", dynamic, got)
	}
}

func TestTheUserCheckRejectsRootAndNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		user string
		ok   bool
	}{
		{"65532:65532", true},
		{"65532", true},
		{"", false},
		{"0", false},
		{"0:0", false},
		{"root", false},
		{"root:root", false},
		{"nonroot", false},
	}
	for _, c := range cases {
		t.Run(c.user, func(t *testing.T) {
			t.Parallel()
			if msg := userProblem(c.user); (msg == "") != c.ok {
				t.Errorf("expected user %q accepted=%v, got message %q", c.user, c.ok, msg)
			}
		})
	}
}
