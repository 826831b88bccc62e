package db

// Pipelines is how many pipelines p's shared reads have sent.
func Pipelines(p *Pool) int64 { return p.shared.pipelines.Load() }
