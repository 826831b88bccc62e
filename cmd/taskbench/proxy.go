package main

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// proxy sits between taskd (or pgbench) and PostgreSQL. It delays every
// chunk of bytes by a fixed time in each direction, so that a database
// "across the network" can be simulated on one machine, and it counts
// round trips: each time a client speaks again after the server answered.
type proxy struct {
	ln         net.Listener
	target     string
	delay      time.Duration
	roundTrips atomic.Int64
	opened     atomic.Int64 // connections accepted
}

func startProxy(target string, delay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, delay: delay}
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) close() { p.ln.Close() }

func (p *proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.opened.Add(1)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		// turn is who spoke last: 0 the client, 1 the server. A client
		// chunk after a server chunk starts a new round trip.
		var turn atomic.Int32
		turn.Store(1)
		go p.pipe(client, server, func() {
			if turn.Swap(0) == 1 {
				p.roundTrips.Add(1)
			}
		})
		go p.pipe(server, client, func() { turn.Store(1) })
	}
}

// pipe copies src to dst, each chunk held for the delay (chunks keep their
// order; the delay is latency, not bandwidth).
func (p *proxy) pipe(src, dst net.Conn, onChunk func()) {
	type chunk struct {
		data []byte
		due  time.Time
	}
	queue := make(chan chunk, 1024)
	go func() {
		defer dst.Close()
		for c := range queue {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.data); err != nil {
				for range queue {
				}
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			onChunk()
			queue <- chunk{data: append([]byte(nil), buf[:n]...), due: time.Now().Add(p.delay)}
		}
		if err != nil {
			close(queue)
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}
