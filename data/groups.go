package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// GroupBy assigns each image file of a <class>/ folder dataset to a group
// (a subject, a session, a recording), so that Split can hold out whole
// groups: validation on people the model never saw. Build it with
// ParseGroupBy.
type GroupBy struct {
	// Spec is the specification it was parsed from (a regexp, or the
	// manifest's path).
	Spec string
	// Pattern, when set, is matched against each file's base name: the
	// group is its first capture group, or the whole match when it has
	// none (so a prefix pattern such as ^subject\d+_ works as is). A file
	// it does not match is an error naming the file.
	Pattern *regexp.Regexp
	// Manifest, when set, maps a file's path relative to the data root,
	// with "/" separators ("happy/img_001.png"), to its group. A file it
	// does not list is an error naming the file.
	Manifest map[string]string
}

// ParseGroupBy parses a --group-by value: the path of an existing CSV
// manifest (a header with the columns path and group, in any order; other
// columns are ignored; paths relative to the data root), or else a
// regular expression matched against file names (see GroupBy.Pattern).
// Errors name the spec, the manifest's line or the regexp's problem.
func ParseGroupBy(spec string) (*GroupBy, error) {
	if spec == "" {
		return nil, fmt.Errorf("data: group-by: empty pattern")
	}
	if strings.EqualFold(filepath.Ext(spec), ".csv") {
		if st, err := os.Stat(spec); err == nil && st.Mode().IsRegular() {
			m, err := readGroupManifest(spec)
			if err != nil {
				return nil, err
			}
			return &GroupBy{Spec: spec, Manifest: m}, nil
		}
	}
	re, err := regexp.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("data: group-by %q is neither an existing .csv manifest nor a valid regular expression: %v", spec, err)
	}
	return &GroupBy{Spec: spec, Pattern: re}, nil
}

// readGroupManifest reads a path,group CSV manifest.
func readGroupManifest(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: group manifest: reading the header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	pc, ok1 := col["path"]
	gc, ok2 := col["group"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: group manifest: header %q lacks the columns path and group", path, strings.Join(header, ","))
	}
	m := map[string]string{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: group manifest: %w", path, err)
		}
		if len(rec) <= max(pc, gc) {
			return nil, fmt.Errorf("%s:%d: group manifest: %d fields, want at least %d", path, line, len(rec), max(pc, gc)+1)
		}
		p := cleanRel(rec[pc])
		g := strings.TrimSpace(rec[gc])
		if p == "" || g == "" {
			return nil, fmt.Errorf("%s:%d: group manifest: empty path or group (%q, %q)", path, line, rec[pc], rec[gc])
		}
		if old, dup := m[p]; dup && old != g {
			return nil, fmt.Errorf("%s:%d: group manifest: %s is in group %q and, earlier, in %q", path, line, p, g, old)
		}
		m[p] = g
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: group manifest has no rows", path)
	}
	return m, nil
}

// cleanRel normalises a manifest path: trimmed, "/" separators, no
// leading "./".
func cleanRel(p string) string {
	p = filepath.ToSlash(filepath.Clean(strings.TrimSpace(p)))
	return strings.TrimPrefix(p, "./")
}

// assign sets the group of every entry (paths under root). Every file
// must get a group: the error names the first files without one and
// their count.
func (g *GroupBy) assign(root string, entries []fileEntry) error {
	var missing []string
	for i := range entries {
		rel, err := filepath.Rel(root, entries[i].path)
		if err != nil {
			rel = entries[i].path
		}
		rel = filepath.ToSlash(rel)
		var group string
		if g.Manifest != nil {
			group = g.Manifest[rel]
		} else if m := g.Pattern.FindStringSubmatch(filepath.Base(rel)); m != nil {
			group = m[0]
			if len(m) > 1 {
				group = m[1]
			}
		}
		if group == "" {
			missing = append(missing, rel)
			continue
		}
		entries[i].group = group
	}
	if len(missing) > 0 {
		how := fmt.Sprintf("the pattern %q does not match (or captures an empty group in) their names", g.Spec)
		if g.Manifest != nil {
			how = fmt.Sprintf("the manifest %s does not list them", g.Spec)
		}
		shown := missing[:min(len(missing), 3)]
		return fmt.Errorf("data: %s: %d of %d files have no group (%s): %s", root, len(missing), len(entries), how, strings.Join(shown, ", "))
	}
	return nil
}

// GroupSummary describes the groups of a dataset in one line: how many,
// and their names (the first max, then how many more), e.g.
// "5 groups: s01, s02, s03, s04, s05". Empty when d has no groups.
func GroupSummary(d *Dataset, limit int) string {
	names := d.GroupNames()
	if len(names) == 0 {
		return ""
	}
	shown := slices.Clone(names)
	more := ""
	if len(shown) > limit {
		shown, more = shown[:limit], fmt.Sprintf(" and %d more", len(names)-limit)
	}
	word := "groups"
	if len(names) == 1 {
		word = "group"
	}
	return fmt.Sprintf("%d %s: %s%s", len(names), word, strings.Join(shown, ", "), more)
}
