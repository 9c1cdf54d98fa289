package main

import (
	"testing"

	"github.com/residual-go/residual/internal/fixtures"
)

// TestMain prints one line when tests skipped for want of a dataset.
func TestMain(m *testing.M) { fixtures.Main(m) }
