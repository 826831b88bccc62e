package vaultsync

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Fields are the fields of a task the sync merges, as last synced.
type Fields struct {
	Title    string   `json:"title"`
	Status   string   `json:"status"`
	Priority string   `json:"priority"`
	Due      string   `json:"due,omitempty"` // YYYY-MM-DD, "" for none
	Tags     []string `json:"tags,omitempty"`
	Parent   int64    `json:"parent,omitempty"`
	File     string   `json:"file,omitempty"` // the vault file (slash-separated, relative)
	// Updated and Line say whether a side changed at all since, fields
	// the sync does not merge included (a description on the server, a
	// 🔁 in the vault): the task's updated_at and the line (without its
	// indentation) as the sync left them. Empty in a state written before
	// they were kept; the merged fields decide then.
	Updated string `json:"updated,omitempty"`
	Line    string `json:"line,omitempty"`
}

// field names, in the order they are merged and reported.
var fieldNames = []string{"title", "status", "priority", "due", "tags", "parent"}

func (f Fields) get(name string) string {
	switch name {
	case "title":
		return f.Title
	case "status":
		return f.Status
	case "priority":
		return f.Priority
	case "due":
		return f.Due
	case "tags":
		return strings.Join(f.Tags, " ")
	case "parent":
		if f.Parent == 0 {
			return ""
		}
		return strconv.FormatInt(f.Parent, 10)
	}
	return ""
}

func (f *Fields) set(name, v string) {
	switch name {
	case "title":
		f.Title = v
	case "status":
		f.Status = v
	case "priority":
		f.Priority = v
	case "due":
		f.Due = v
	case "tags":
		f.Tags = nil
		if v != "" {
			f.Tags = strings.Split(v, " ")
		}
	case "parent":
		f.Parent, _ = strconv.ParseInt(v, 10, 64)
	}
}

func (f Fields) equal(g Fields) bool {
	for _, n := range fieldNames {
		if f.get(n) != g.get(n) {
			return false
		}
	}
	return true
}

// State is what DIR/.taskd/state.json keeps between runs.
type State struct {
	Version int              `json:"version"`
	Tasks   map[int64]Fields `json:"tasks"`
	// Pending are the Idempotency-Keys of creates that may have reached
	// the server without the vault or this file knowing: by what is
	// created (a line, a re-created task, a project).
	Pending map[string]string `json:"pending,omitempty"`
}

func stateDir(vault string) string  { return filepath.Join(vault, ".taskd") }
func statePath(vault string) string { return filepath.Join(stateDir(vault), "state.json") }

func loadState(vault string) (*State, error) {
	s := &State{Version: 1, Tasks: map[int64]Fields{}, Pending: map[string]string{}}
	raw, err := os.ReadFile(statePath(vault))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, err
	}
	if s.Tasks == nil {
		s.Tasks = map[int64]Fields{}
	}
	if s.Pending == nil {
		s.Pending = map[string]string{}
	}
	return s, nil
}

func (s *State) save(vault string) error {
	if err := os.MkdirAll(stateDir(vault), 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(statePath(vault), append(raw, '\n'), 0o644)
}

// writeAtomic writes a file through a temporary file in the same
// directory and a rename: a reader (or a crash) sees the old or the new
// content, never a mix.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".taskd-tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func sortedTags(tags []string) []string {
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out)
}
