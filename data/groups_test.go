package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// groupedFolder writes <class>/<subject>_<n>.png files: subjects s1..s5,
// two classes, two images per subject and class.
func groupedFolder(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, class := range []string{"fist", "palm"} {
		for s := 1; s <= 5; s++ {
			for n := 0; n < 2; n++ {
				writeGrayPNG(t, filepath.Join(root, class, "subject"+string(rune('0'+s))+"_"+string(rune('a'+n))+".png"), 4, 4, uint8(10*s+n))
			}
		}
	}
	return root
}

// TestGroupByPattern: a regexp's first capture group (or its whole match)
// names each file's group; a group-wise split then holds out whole
// subjects.
func TestGroupByPattern(t *testing.T) {
	root := groupedFolder(t)
	for _, tc := range []struct{ spec, first string }{
		{`^(subject\d+)_`, "subject1"},
		{`^subject\d+_`, "subject1_"}, // no capture group: the whole match
	} {
		g, err := ParseGroupBy(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := LoadFolder(root, FolderOptions{GroupBy: g})
		if err != nil {
			t.Fatal(err)
		}
		names := d.GroupNames()
		if len(names) != 5 || names[0] != tc.first {
			t.Fatalf("%s: groups %v, want 5 starting with %q", tc.spec, names, tc.first)
		}
		train, val, warning, err := Split(d, SplitOptions{ValFraction: 0.2, Seed: 3})
		if err != nil || warning != "" {
			t.Fatalf("split: %v %q", err, warning)
		}
		for _, vg := range val.GroupNames() {
			if slices.Contains(train.GroupNames(), vg) {
				t.Errorf("%s: group %s in both parts (train %v, val %v)", tc.spec, vg, train.GroupNames(), val.GroupNames())
			}
		}
		if val.Len() != 4 || train.Len() != 16 {
			t.Errorf("%s: split %d/%d, want one subject (4 images) held out", tc.spec, train.Len(), val.Len())
		}
		if s := GroupSummary(val, 10); !strings.HasPrefix(s, "1 group: subject") {
			t.Errorf("summary %q", s)
		}
	}
	// Explicit groups by name.
	g, _ := ParseGroupBy(`^(subject\d+)_`)
	d, _, err := LoadFolder(root, FolderOptions{GroupBy: g})
	if err != nil {
		t.Fatal(err)
	}
	_, val, _, err := Split(d, SplitOptions{ValGroups: []string{"subject2", "subject5"}})
	if err != nil || strings.Join(val.GroupNames(), ",") != "subject2,subject5" || val.Len() != 8 {
		t.Fatalf("val groups: %v %v", err, val.GroupNames())
	}
}

// TestGroupByManifest: a path,group CSV (columns in any order, extra
// columns ignored, paths relative to the root) groups the files.
func TestGroupByManifest(t *testing.T) {
	root := groupedFolder(t)
	var b strings.Builder
	b.WriteString("group,note,path\n")
	for _, class := range []string{"fist", "palm"} {
		for s := 1; s <= 5; s++ {
			for n := 0; n < 2; n++ {
				session := "morning"
				if s > 3 {
					session = "evening"
				}
				b.WriteString(session + ",x," + class + "/subject" + string(rune('0'+s)) + "_" + string(rune('a'+n)) + ".png\n")
			}
		}
	}
	manifest := filepath.Join(t.TempDir(), "groups.csv")
	os.WriteFile(manifest, []byte(b.String()), 0o644)
	g, err := ParseGroupBy(manifest)
	if err != nil || g.Manifest == nil {
		t.Fatalf("manifest: %v", err)
	}
	d, _, err := LoadFolder(root, FolderOptions{GroupBy: g})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.GroupNames(), ","); got != "evening,morning" || d.Groups[0] != "morning" {
		t.Fatalf("groups %v", d.GroupNames())
	}
}

// TestGroupByErrors: files without a group, bad regexps and bad manifests
// are errors naming the file, the line or the pattern.
func TestGroupByErrors(t *testing.T) {
	root := groupedFolder(t)
	writeGrayPNG(t, filepath.Join(root, "palm", "stray.png"), 4, 4, 1)
	g, _ := ParseGroupBy(`^(subject\d+)_`)
	if _, _, err := LoadFolder(root, FolderOptions{GroupBy: g}); err == nil || !strings.Contains(err.Error(), "palm/stray.png") || !strings.Contains(err.Error(), "1 of 21 files") {
		t.Errorf("unmatched file: %v", err)
	}
	if _, err := ParseGroupBy(`^(subject\d+_`); err == nil || !strings.Contains(err.Error(), `^(subject\d+_`) {
		t.Errorf("bad regexp: %v", err)
	}
	if _, err := ParseGroupBy(""); err == nil {
		t.Error("empty spec accepted")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"nogroup.csv": "path,session\na/x.png,1\n",
		"dup.csv":     "path,group\nfist/subject1_a.png,1\nfist/subject1_a.png,2\n",
		"empty.csv":   "path,group\n",
		"blank.csv":   "path,group\nfist/subject1_a.png,\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ParseGroupBy(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
	// A manifest that misses files.
	p := filepath.Join(dir, "partial.csv")
	os.WriteFile(p, []byte("path,group\nfist/subject1_a.png,1\n"), 0o644)
	g, err := ParseGroupBy(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadFolder(root, FolderOptions{GroupBy: g}); err == nil || !strings.Contains(err.Error(), "20 of 21 files") || !strings.Contains(err.Error(), "partial.csv") {
		t.Errorf("partial manifest: %v", err)
	}
}
