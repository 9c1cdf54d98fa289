// Package atomicfile writes files so that a crash leaves either the old
// file or the new one, never a torn one: the bytes go to a temporary file
// with a unique name in the same directory, which is synced, renamed over
// the target, and the directory is synced so the rename itself survives
// a power cut. Temporary files left by a crash are recognised by IsTemp
// and removed by RemoveStale.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// tempInfix separates the target's name from the random suffix:
// ".<name>.tmp-<random>".
const tempInfix = ".tmp-"

// Write writes path with the bytes write produces (buffered), through a
// unique temporary file, and gives the file mode perm. On error the
// temporary file is removed and path is unchanged.
func Write(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil { // CreateTemp makes 0600
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Some file systems cannot sync a directory (EINVAL, ENOTSUP): the
	// rename is then as durable as they make it.
	if err := SyncDir(dir); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// WriteBytes writes b to path atomically (see Write).
func WriteBytes(path string, b []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// SyncDir flushes a directory's entries (a rename into it) to disk. It
// does nothing on Windows, where directories cannot be synced.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// IsTemp reports whether name (a base name) is a temporary file of Write,
// or of the fixed-name writers of earlier versions ("<name>.tmp",
// "<name>.tmp<digits>").
func IsTemp(name string) bool {
	if strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix) {
		return true
	}
	i := strings.LastIndex(name, ".tmp")
	if i <= 0 {
		return false
	}
	for _, r := range name[i+len(".tmp"):] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// RemoveStale deletes the temporary files (IsTemp) of regular files in
// dir, left by a writer that crashed, and returns their names. Call it
// only while no other writer uses dir (under its lock).
func RemoveStale(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsTemp(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}
