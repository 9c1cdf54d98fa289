package cpufeat

import (
	"os"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	i := Get()
	t.Logf("%s", i)
	if i.Model == "" {
		t.Fatal("empty model name")
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		flags := string(b)
		// The kernel's flag names for what Get reports from CPUID.
		for _, c := range []struct {
			have bool
			flag string
		}{{i.AVX512BF16, " avx512_bf16"}, {i.AMXBF16, " amx_bf16"}, {i.AMXTile, " amx_tile"}} {
			if c.have != strings.Contains(flags, c.flag) {
				t.Errorf("CPUID says %v for%s, /proc/cpuinfo disagrees", c.have, c.flag)
			}
		}
	}
	if (i.AMXErr == nil) != (i.AMXTile && i.AMXBF16 && AMX() == nil) {
		t.Errorf("AMXErr %v with AMX-TILE %v, AMX-BF16 %v", i.AMXErr, i.AMXTile, i.AMXBF16)
	}
	if !i.AMXBF16 {
		if i.AMXErr == nil {
			t.Fatal("AMX granted on a CPU without AMX-BF16")
		}
		t.Logf("no AMX on this CPU (%v): the tile permission request cannot be tested here", i.AMXErr)
	}
}
