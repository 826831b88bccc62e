// Command obsidian-vaultgen writes a test vault for taskd obsidian sync:
//
//	go run ./cmd/obsidian-vaultgen -dir /tmp/vault -files 200 -tasks 5000
package main

import (
	"flag"
	"log"

	"taskd/internal/vaultsync"
)

func main() {
	dir := flag.String("dir", "", "where to write the vault")
	files := flag.Int("files", 200, "notes")
	tasks := flag.Int("tasks", 5000, "task lines in all")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *dir == "" {
		log.Fatal("-dir is needed")
	}
	if err := vaultsync.Generate(*dir, *files, *tasks, *seed); err != nil {
		log.Fatal(err)
	}
}
