package outbox

import "io/fs"

// mustSub narrows the embedded files to dir. fs.Sub fails only for an
// invalid path, and dir is a constant valid one.
func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		return f
	}
	return sub
}
