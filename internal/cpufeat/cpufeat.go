// Package cpufeat reports the CPU model and the features the kernels and
// benchmarks care about (AVX-512, AVX512-BF16, AVX512-VNNI, AMX), and asks
// Linux for the AMX tile state, which a process must request before its
// first tile instruction.
package cpufeat

import (
	"bufio"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/cpu"
)

// Info describes this machine's CPU.
type Info struct {
	Model      string // "model name" of /proc/cpuinfo, or "unknown"
	AVX512     bool   // AVX-512 F (with the OS saving the zmm state)
	AVX512BF16 bool   // VDPBF16PS and the bf16 conversions
	AVX512VNNI bool
	AMXTile    bool // the CPU reports AMX-TILE
	AMXBF16    bool // the CPU reports AMX-BF16
	// AMXErr is nil when the tile state is granted (AMX() == nil), else
	// why AMX cannot be used here.
	AMXErr error
}

// Get returns the CPU's description. The first call requests the AMX
// tile state when the CPU has AMX (see AMX).
func Get() Info {
	return Info{
		Model:      Model(),
		AVX512:     cpu.X86.HasAVX512F,
		AVX512BF16: cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16,
		AVX512VNNI: cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI,
		AMXTile:    cpu.X86.HasAMXTile,
		AMXBF16:    cpu.X86.HasAMXBF16,
		AMXErr:     AMX(),
	}
}

// Features lists the features present, in a fixed order, by their usual
// names: a subset of AVX-512, AVX512-BF16, AVX512-VNNI, AMX-BF16 (the last
// only when Linux granted the tile state).
func (i Info) Features() []string {
	var f []string
	for _, c := range []struct {
		on   bool
		name string
	}{{i.AVX512, "AVX-512"}, {i.AVX512BF16, "AVX512-BF16"}, {i.AVX512VNNI, "AVX512-VNNI"}, {i.AMXErr == nil, "AMX-BF16"}} {
		if c.on {
			f = append(f, c.name)
		}
	}
	return f
}

// String is the model and the features, e.g.
// "AMD EPYC 9R14 (AVX-512, AVX512-BF16, AVX512-VNNI; no AMX: ...)".
func (i Info) String() string {
	s := i.Model + " (" + strings.Join(i.Features(), ", ")
	if i.AMXErr != nil {
		s += "; no AMX: " + i.AMXErr.Error()
	}
	return s + ")"
}

var (
	modelOnce sync.Once
	model     string
)

// Model returns the CPU's model name from /proc/cpuinfo, or "unknown".
func Model() string {
	modelOnce.Do(func() {
		model = "unknown"
		f, err := os.Open("/proc/cpuinfo")
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				return
			}
		}
	})
	return model
}

var (
	amxOnce sync.Once
	amxErr  error
)

// AMX returns nil when AMX-BF16 tile instructions may run in this process:
// the CPU reports AMX-TILE and AMX-BF16 and the OS granted the tile data
// state (on Linux, arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA),
// requested once, on the first call). Otherwise it says why not; callers
// then use the AVX-512 or plain kernels.
func AMX() error {
	amxOnce.Do(func() {
		switch {
		case !cpu.X86.HasAMXTile || !cpu.X86.HasAMXBF16:
			amxErr = errNoAMX
		default:
			amxErr = requestAMX()
		}
	})
	return amxErr
}

type amxError string

func (e amxError) Error() string { return string(e) }

const errNoAMX = amxError("the CPU reports no AMX-TILE/AMX-BF16")
