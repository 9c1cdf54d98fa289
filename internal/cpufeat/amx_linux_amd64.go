//go:build linux && amd64

package cpufeat

import (
	"fmt"
	"syscall"
	"unsafe"
)

// Linux's arch_prctl codes for the dynamically enabled XSAVE features
// (arch/x86/include/uapi/asm/prctl.h) and the tile data feature number.
const (
	archGetXCompPerm  = 0x1022
	archReqXCompPerm  = 0x1023
	xfeatureXTileData = 18
)

// requestAMX asks Linux for the tile data state and checks it was granted.
func requestAMX() error {
	if _, _, errno := syscall.Syscall(syscall.SYS_ARCH_PRCTL, archReqXCompPerm, xfeatureXTileData, 0); errno != 0 {
		return fmt.Errorf("arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) refused: %v", errno)
	}
	var mask uint64
	if _, _, errno := syscall.Syscall(syscall.SYS_ARCH_PRCTL, archGetXCompPerm, uintptr(unsafe.Pointer(&mask)), 0); errno != 0 {
		return fmt.Errorf("arch_prctl(ARCH_GET_XCOMP_PERM) failed: %v", errno)
	}
	if mask&(1<<xfeatureXTileData) == 0 {
		return fmt.Errorf("the kernel did not grant the tile data state (permitted features %#x)", mask)
	}
	return nil
}
