//go:build !linux || !amd64

package cpufeat

// requestAMX: only Linux on amd64 is known to need and grant the tile
// state this way; elsewhere AMX is not used.
func requestAMX() error { return amxError("AMX is only used on linux/amd64") }
