//go:build unix

package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the run directory's lock: a trainer holds an exclusive
// flock on it for as long as it writes the directory, with its PID in the
// file, so that a second trainer on the same directory fails at once with
// an error naming the first one's PID instead of interleaving checkpoints.
// The kernel drops the lock when the process dies, so a crash never leaves
// a stale lock (the file itself stays, harmlessly).
const LockFile = "train.lock"

// LockRunDir takes the lock of the run directory dir (Run does) and returns
// its release.
func LockRunDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: lock %s: %w", path, err)
	}
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("train: %s is in use by another trainer (PID %s, lock %s); wait for it to end or stop it", dir, pid, path)
		}
		return nil, fmt.Errorf("train: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		f.Truncate(0)
		syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}
