package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sseStream is one open GET /v1/changes/stream, on a TCP connection of
// its own, read line by line by its own goroutine. It is plain HTTP/1.1
// over net.Conn rather than an http.Client request so that 10 000 of them
// cost this process little (one goroutine and two small buffers each)
// and leave the machine to taskd.
type sseStream struct {
	conn    net.Conn
	opened  time.Time
	closing atomic.Bool // closed by us: not a failure

	mu      sync.Mutex
	endedAt time.Time // when it ended without our closing it
	endErr  error
}

// openStream opens a stream as the holder of token; onData (may be nil)
// gets each `data:` line's JSON and the moment the line was read.
func (b *bench) openStream(ctx context.Context, token string, onData func(data []byte, at time.Time)) (*sseStream, error) {
	addr := strings.TrimPrefix(b.base, "http://")
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = fmt.Fprintf(conn, "GET /v1/changes/stream HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", addr, token)
	if err != nil {
		conn.Close()
		return nil, err
	}
	// The status and headers come with the stream's first flush (": stream
	// of changes"), after taskd has subscribed it: from here on a change
	// reaches it.
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		conn.Close()
		return nil, fmt.Errorf("GET /v1/changes/stream: %d %s", res.StatusCode, bytes.TrimSpace(body))
	}
	_ = conn.SetDeadline(time.Time{})
	s := &sseStream{conn: conn, opened: time.Now()}
	go s.read(bufio.NewReaderSize(res.Body, 1024), onData)
	return s, nil
}

func (s *sseStream) read(r *bufio.Reader, onData func([]byte, time.Time)) {
	for {
		line, err := r.ReadSlice('\n')
		at := time.Now()
		if err == bufio.ErrBufferFull {
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if !s.closing.Load() {
				s.mu.Lock()
				s.endedAt, s.endErr = at, err
				s.mu.Unlock()
			}
			return
		}
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok && onData != nil {
			onData(data, at)
		}
	}
}

// ended tells whether and when the stream ended without our closing it.
func (s *sseStream) ended() (time.Time, error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endedAt, s.endErr, !s.endedAt.IsZero()
}

func (s *sseStream) close() {
	s.closing.Store(true)
	s.conn.Close()
}

// openStreams opens one stream per token, concurrently; it returns the
// streams that opened, in no particular order, the number that failed
// and the first failure.
func (b *bench) openStreams(ctx context.Context, tokens []string, onData func(data []byte, at time.Time)) ([]*sseStream, int, string) {
	var (
		mu      sync.Mutex
		streams = make([]*sseStream, 0, len(tokens))
		failed  int
		first   string
		next    atomic.Int64
		wg      sync.WaitGroup
	)
	for range min(len(tokens), 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tokens) || ctx.Err() != nil {
					return
				}
				s, err := b.openStream(ctx, tokens[i], onData)
				mu.Lock()
				if err != nil {
					failed++
					if first == "" {
						first = err.Error()
					}
				} else {
					streams = append(streams, s)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return streams, failed, first
}

func closeStreams(streams []*sseStream) {
	for _, s := range streams {
		s.close()
	}
}
