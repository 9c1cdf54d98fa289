//go:build !unix

package train

// LockFile is the run directory's lock file (see lock_unix.go). Without
// flock (this platform) run directories are not locked.
const LockFile = "train.lock"

// LockRunDir does nothing on platforms without flock.
func LockRunDir(dir string) (release func(), err error) { return func() {}, nil }
