package onlineretail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files are the dataset files as they are named in the shared folder.
const (
	OnlineRetail   = "online_retail.csv.gz"
	OnlineRetailII = "online_retail_ii_2009_2010.csv.gz"
)

// ErrNotFound means the shared dataset folder is not beside the checkout.
var ErrNotFound = errors.New("onlineretail: dataset not found")

// Find returns the path of the named dataset file in
// ../shared/datasets/online-retail/ beside the repository that contains dir
// (found by walking up to go.work), where CI and developers keep it.
func Find(dir, file string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "datasets", "online-retail", file)
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("%w: %s", ErrNotFound, p)
			}
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w: no go.work above %s", ErrNotFound, abs)
		}
	}
}
