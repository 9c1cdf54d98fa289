package main

// Numeric flags are checked when they are parsed, so that a bad value
// fails at start with the flag's name, never after an epoch:
//
//	floatVar   a finite float64 (NaN and ±Inf are errors)
//	posFloatVar a finite float64 > 0
//	countVar   an int >= min (negative counts are errors; min 1 for sizes)
//	optFloat   a finite float64 whose default depends on other flags:
//	           the pointer stays nil unless the flag is given
//
// Every flag's default is the value it is registered with, shown in
// --help, and an explicit value, zero included, is always kept: commands
// never read 0 as "use the default". For train, the defaults come from
// train.Defaults() (the Config constructor that documents them); a flag
// given on the command line overrides the --config file because
// applyFlags copies exactly the flags whose Changed state is set.

import (
	"fmt"
	"math"
	"strconv"

	"github.com/spf13/pflag"
)

// finiteFloat is a float64 flag that rejects NaN and infinities (and,
// when positive, values <= 0).
type finiteFloat struct {
	p        *float64
	positive bool
}

func (f finiteFloat) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}
func (f finiteFloat) Type() string { return "float" }
func (f finiteFloat) Set(s string) error {
	v, err := parseFinite(s)
	if err != nil {
		return err
	}
	if f.positive && !(v > 0) {
		return fmt.Errorf("%g, want > 0", v)
	}
	*f.p = v
	return nil
}

func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%g is not a finite number", v)
	}
	return v, nil
}

// floatVar defines a finite float64 flag with default value.
func floatVar(fs *pflag.FlagSet, p *float64, name string, value float64, usage string) {
	*p = value
	fs.Var(finiteFloat{p: p}, name, usage)
}

// posFloatVar defines a finite float64 flag > 0 with default value (a
// default of 0 stands for "not given": the flag cannot be set to it).
func posFloatVar(fs *pflag.FlagSet, p *float64, name string, value float64, usage string) {
	*p = value
	fs.Var(finiteFloat{p: p, positive: true}, name, usage)
}

// optFloat is a finite float64 flag stored behind a pointer that stays
// nil (the default, which depends on other settings) until the flag is
// given.
type optFloat struct{ p **float64 }

func (f optFloat) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.FormatFloat(**f.p, 'g', -1, 64)
}
func (f optFloat) Type() string { return "float" }
func (f optFloat) Set(s string) error {
	v, err := parseFinite(s)
	if err != nil {
		return err
	}
	*f.p = &v
	return nil
}

// optFloatVar defines a finite float64 flag without a fixed default
// (usage says what the default is).
func optFloatVar(fs *pflag.FlagSet, p **float64, name, usage string) {
	fs.Var(optFloat{p}, name, usage)
}

// count is an int flag with a lower bound checked at parse time.
type count struct {
	p   *int
	min int
}

func (c count) String() string {
	if c.p == nil {
		return "0"
	}
	return strconv.Itoa(*c.p)
}
func (c count) Type() string { return "int" }
func (c count) Set(s string) error {
	v, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return fmt.Errorf("not an integer")
	}
	if int(v) < c.min {
		if c.min == 0 {
			return fmt.Errorf("%d is negative, want >= 0", v)
		}
		return fmt.Errorf("%d, want at least %d", v, c.min)
	}
	*c.p = int(v)
	return nil
}

// countVar defines an int flag with default value that must be >= min.
func countVar(fs *pflag.FlagSet, p *int, name string, value, min int, usage string) {
	*p = value
	fs.Var(count{p, min}, name, usage)
}
