package pglocal

import "context"

// Shutdown stops the server running on dir, if one is, cleanly (pg_ctl's
// fast mode: clients are disconnected, and the server checkpoints and
// exits), whoever started it: what stops a cluster left running on
// purpose, such as `make cluster`'s.
func Shutdown(ctx context.Context, dir string) error {
	c, err := cluster(dir)
	if err != nil {
		return err
	}
	if _, running := c.runningPort(ctx); !running {
		return nil
	}
	_, err = c.run(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", "fast", "-w")
	return err
}

// Password is the cluster's password, for the tools beside it that must
// authenticate to it (a connection pooler's user list).
func (c *Cluster) Password() string { return c.password }
