// Command baseimage builds the base image of the service images without
// network access and stores it where ko looks first.
//
// The images are meant to sit on a distroless "static:nonroot" base: no
// shell, no package manager, CA certificates, time zone data and the user
// nonroot (65532). That base is pulled from a registry, which a machine with
// only a Go module proxy cannot reach, so this command assembles the same
// contents from the build machine's Debian files (ca-certificates, tzdata)
// and writes the image into ko's on-disk cache (an OCI layout at
// $KOCACHE/img). Given the printed digest reference as its base image, ko
// finds it there and never contacts the registry named in it.
//
// Usage:
//
//	baseimage -cache .images/kocache/img [-platforms linux/amd64,linux/arm64]
//
// It prints the reference to pass to ko as KO_DEFAULTBASEIMAGE.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user and group the services run as: distroless's nonroot.
const (
	nonrootID = 65532
	repo      = "base.affinity.invalid/static-nonroot"
)

// epoch is the modification time of every file, so the same inputs give the
// same digest on every machine.
var epoch = time.Unix(0, 0).UTC()

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "baseimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("baseimage", flag.ContinueOnError)
	cache := fl.String("cache", "", "ko image cache: the OCI layout at $KOCACHE/img (required)")
	platforms := fl.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list of the index")
	certs := fl.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install")
	zoneinfo := fl.String("zoneinfo", "/usr/share/zoneinfo", "time zone database to install; empty skips it")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *cache == "" {
		return errors.New("-cache is required")
	}

	layer, err := filesystemLayer(*certs, *zoneinfo)
	if err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var images []v1.Image
	for _, p := range strings.Split(*platforms, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("platform %q: want os/arch", p)
		}
		img, err := image(layer, osName, arch)
		if err != nil {
			return err
		}
		images = append(images, img)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}},
		})
	}

	lp, err := layout.FromPath(*cache)
	if err != nil {
		if lp, err = layout.Write(*cache, empty.Index); err != nil {
			return fmt.Errorf("create layout %s: %w", *cache, err)
		}
	}
	// ko looks a digest up among the layout's top-level manifests, both for
	// the index and, per platform, for its images.
	for _, img := range images {
		if err := appendOnce(lp, img); err != nil {
			return err
		}
	}
	if err := appendOnce(lp, idx); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", repo, d)
	return nil
}

// appendOnce adds an image or index to the layout unless its digest is
// already listed, so repeated builds do not grow index.json.
func appendOnce(lp layout.Path, x interface{ Digest() (v1.Hash, error) }) error {
	d, err := x.Digest()
	if err != nil {
		return err
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(m.Manifests, func(desc v1.Descriptor) bool { return desc.Digest == d }) {
		return nil
	}
	switch v := x.(type) {
	case v1.Image:
		return lp.AppendImage(v)
	case v1.ImageIndex:
		return lp.AppendIndex(v)
	}
	return fmt.Errorf("cannot store %T", x)
}

// image is the base for one platform: the shared layer and a config that
// runs as nonroot.
func image(layer v1.Layer, osName, arch string) (v1.Image, error) {
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = osName
	cf.Architecture = arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.User = fmt.Sprintf("%d:%d", nonrootID, nonrootID)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.description": "static nonroot base: CA certificates, tzdata, user nonroot (65532)",
	}
	return mutate.ConfigFile(img, cf)
}

// filesystemLayer holds what distroless static:nonroot holds.
func filesystemLayer(certs, zoneinfo string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: epoch})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"etc", "etc/ssl", "etc/ssl/certs", "home", "usr", "usr/share", "var"} {
		if err := dir(d, 0o755, 0); err != nil {
			return nil, err
		}
	}
	if err := dir("root", 0o700, 0); err != nil {
		return nil, err
	}
	if err := dir("home/nonroot", 0o700, nonrootID); err != nil {
		return nil, err
	}
	if err := dir("tmp", 0o1777, 0); err != nil {
		return nil, err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonrootID, nonrootID)
	group := fmt.Sprintf("root:x:0:\nnobody:x:65534:\nnonroot:x:%d:\n", nonrootID)
	for name, data := range map[string]string{"etc/passwd": passwd, "etc/group": group, "etc/nsswitch.conf": "hosts: files dns\n"} {
		if err := file(name, 0o644, []byte(data)); err != nil {
			return nil, err
		}
	}
	pem, err := os.ReadFile(certs)
	if err != nil {
		return nil, fmt.Errorf("CA certificates (install Debian's ca-certificates): %w", err)
	}
	if err := file("etc/ssl/certs/ca-certificates.crt", 0o644, pem); err != nil {
		return nil, err
	}
	if zoneinfo != "" {
		if err := addTree(tw, zoneinfo, "usr/share/zoneinfo"); err != nil {
			return nil, fmt.Errorf("time zone data (install Debian's tzdata): %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// addTree copies a directory tree into the tar in lexical order; symbolic
// links stay links (zoneinfo has many).
func addTree(tw *tar.Writer, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(filepath.Join(dst, rel))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: epoch})
		case info.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch})
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
}
